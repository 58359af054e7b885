package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// File name suffixes of a segment, as Kafka names them (LogFileUtils).
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
	offsetDigits    = 20
)

// segmentFileName returns "<dir>/<20-digit base offset><suffix>".
func segmentFileName(dir string, baseOffset int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%0*d%s", offsetDigits, baseOffset, suffix))
}

// parseSegmentBase parses the base offset out of a "<20 digits>.<ext>" name.
func parseSegmentBase(name, suffix string) (int64, bool) {
	digits := name[:len(name)-len(suffix)]
	if len(digits) != offsetDigits {
		return 0, false
	}
	off, err := strconv.ParseInt(digits, 10, 64)
	return off, err == nil && off >= 0
}

// segment is one "<base offset>.log" file with its offset and time indexes
// (Kafka's LogSegment). Its files are opened once and stay open; readers use
// ReadAt and see only the first size bytes, which the writer publishes after
// each write.
type segment struct {
	baseOffset int64
	logPath    string
	log        *os.File
	offsets    *offsetIndex
	times      *timeIndex

	size        atomic.Int64 // readable bytes of the .log
	flushedSize atomic.Int64 // bytes known to be on disk

	statsMu     sync.Mutex
	maxTs       int64 // largest batch max timestamp so far, -1 if none
	maxTsOffset int64 // last offset of the first batch with maxTs

	// Guarded by Log.writeMu.
	created         time.Time // wall clock at creation or open, for segment.ms without timestamps
	bytesSinceIndex int64
	rollTs          int64 // first batch's max timestamp, Kafka's rollingBasedTimestamp
	rollTsLoaded    bool
	markedDeleted   bool // files renamed to *.deleted

	closeMu sync.RWMutex // sync vs close: a deleted segment's files may close under a flush
	closed  bool
}

// batchInfo describes one batch of the data handed to segment.append.
type batchInfo struct {
	relPos     int // position within the appended data
	size       int
	lastOffset int64
	maxTs      int64
}

// createSegment creates the files of a new, empty segment.
func createSegment(dir string, baseOffset int64, cfg Config, now time.Time) (*segment, error) {
	path := segmentFileName(dir, baseOffset, logSuffix)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	s := &segment{baseOffset: baseOffset, logPath: path, log: f, maxTs: -1, maxTsOffset: baseOffset,
		created: now, rollTs: -1, rollTsLoaded: true}
	// Index files left by an earlier segment with this base, intact or
	// not, are emptied below.
	if _, err := s.openIndexes(dir, cfg); err != nil {
		_ = f.Close()
		return nil, err
	}
	// Stale index files of an earlier segment with this base are emptied.
	if err := s.resetIndexes(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// openSegment opens an existing segment. needsRecovery reports a missing or
// malformed index, which recovery rebuilds from the .log.
func openSegment(dir string, baseOffset int64, cfg Config, now time.Time) (s *segment, needsRecovery bool, err error) {
	path := segmentFileName(dir, baseOffset, logSuffix)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, fmt.Errorf("open segment %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("stat segment %s: %w", path, err)
	}
	s = &segment{baseOffset: baseOffset, logPath: path, log: f, maxTs: -1, maxTsOffset: baseOffset, created: now, rollTs: -1}
	s.size.Store(st.Size())
	s.flushedSize.Store(st.Size())
	intact, err := s.openIndexes(dir, cfg)
	if err != nil {
		_ = f.Close()
		return nil, false, err
	}
	if !intact {
		return s, true, nil
	}
	// Kafka's readMaxTimestampAndOffsetSoFar: the last time index entry,
	// which a closed or rolled segment always has (onBecomeInactiveSegment).
	ts, off, err := s.times.lastEntry()
	if err != nil {
		s.closeFiles()
		return nil, false, err
	}
	s.maxTs, s.maxTsOffset = ts, off
	return s, false, nil
}

// openIndexes opens both index files, creating missing ones. intact is
// false when either was missing or malformed: the segment's indexes must
// then be rebuilt (recovery) or emptied (a new segment).
func (s *segment) openIndexes(dir string, cfg Config) (intact bool, err error) {
	oi, oExisted, oErr := openIndexFile(segmentFileName(dir, s.baseOffset, indexSuffix), s.baseOffset, offsetIndexEntrySize, 0, cfg.MaxIndexBytes)
	if oi == nil {
		return false, oErr
	}
	ti, tExisted, tErr := openIndexFile(segmentFileName(dir, s.baseOffset, timeIndexSuffix), s.baseOffset, timeIndexEntrySize, 8, cfg.MaxIndexBytes)
	if ti == nil {
		_ = oi.close()
		return false, tErr
	}
	s.offsets = &offsetIndex{oi}
	s.times = &timeIndex{ti}
	return oErr == nil && tErr == nil && oExisted && tExisted, nil
}

func (s *segment) resetIndexes() error {
	if err := s.offsets.replace(nil); err != nil {
		return err
	}
	return s.times.replace(nil)
}

// stats returns the largest timestamp in the segment and the last offset of
// the batch holding it (-1 and the base offset when empty).
func (s *segment) stats() (maxTs, maxTsOffset int64) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.maxTs, s.maxTsOffset
}

func (s *segment) setStats(maxTs, maxTsOffset int64) {
	s.statsMu.Lock()
	s.maxTs, s.maxTsOffset = maxTs, maxTsOffset
	s.statsMu.Unlock()
}

// largestTimestamp is what retention.ms compares: the largest record
// timestamp, or the file's modification time when no batch has one (Kafka's
// LogSegment.largestTimestamp).
func (s *segment) largestTimestamp() int64 {
	if ts, _ := s.stats(); ts >= 0 {
		return ts
	}
	st, err := s.log.Stat()
	if err != nil {
		return -1
	}
	return st.ModTime().UnixMilli()
}

// appendLocked writes data, which holds the batches described by batches,
// at the end of the segment, indexes them as Kafka's LogSegment.append does
// (an offset index entry, keyed by the batch's last offset, once more than
// index.interval.bytes were written since the previous one, plus a time
// index entry when the largest timestamp grew), then publishes the new size.
// Requires Log.writeMu.
func (s *segment) appendLocked(data []byte, batches []batchInfo, indexInterval int) error {
	start := s.size.Load()
	if start == 0 && len(batches) > 0 {
		s.rollTs, s.rollTsLoaded = batches[0].maxTs, true
	}
	if _, err := s.log.WriteAt(data, start); err != nil {
		return fmt.Errorf("write segment %s at %d: %w", s.logPath, start, err)
	}
	maxTs, maxTsOffset := s.stats()
	for _, b := range batches {
		if b.maxTs > maxTs {
			maxTs, maxTsOffset = b.maxTs, b.lastOffset
		}
		if s.bytesSinceIndex > int64(indexInterval) {
			if err := s.offsets.append(b.lastOffset, start+int64(b.relPos)); err != nil {
				return err
			}
			if err := s.times.maybeAppend(maxTs, maxTsOffset); err != nil {
				return err
			}
			s.bytesSinceIndex = 0
		}
		s.bytesSinceIndex += int64(b.size)
	}
	s.setStats(maxTs, maxTsOffset)
	s.size.Store(start + int64(len(data)))
	return nil
}

// shouldRollLocked is Kafka's LogSegment.shouldRoll without jitter, for a
// batch h of size bytes: it would not fit in segment.bytes, the segment is
// older than segment.ms (measured, like Kafka, between the first batch's
// timestamp and this one's, or by the wall clock when the first has none),
// an index is full, or an offset would not fit in a relative index entry.
func (s *segment) shouldRollLocked(h record.Header, size int, cfg Config, now time.Time) (bool, error) {
	cur := s.size.Load()
	if cur > cfg.SegmentBytes-int64(size) {
		return true, nil
	}
	if cur > 0 {
		if !s.rollTsLoaded {
			if err := s.loadRollTimestampLocked(); err != nil {
				return false, err
			}
		}
		waited := now.Sub(s.created).Milliseconds()
		if s.rollTs >= 0 {
			waited = h.MaxTimestamp - s.rollTs
		}
		if waited > cfg.SegmentMs {
			return true, nil
		}
	}
	if s.offsets.isFull() || s.times.isFull() {
		return true, nil
	}
	return h.LastOffset()-s.baseOffset > math.MaxInt32, nil
}

// loadRollTimestampLocked reads the first batch's max timestamp of a segment
// that was opened from disk.
func (s *segment) loadRollTimestampLocked() error {
	hdr := make([]byte, record.HeaderSize)
	if _, err := s.log.ReadAt(hdr, 0); err != nil {
		return fmt.Errorf("read first batch of %s: %w", s.logPath, err)
	}
	h, err := record.ParseHeader(hdr)
	if err != nil {
		return fmt.Errorf("read first batch of %s: %w", s.logPath, err)
	}
	s.rollTs, s.rollTsLoaded = h.MaxTimestamp, true
	return nil
}

// onBecomeInactiveLocked gives the time index its closing entry, the largest
// timestamp of the segment, as Kafka's onBecomeInactiveSegment and close do:
// retention and reopening read it from there.
func (s *segment) onBecomeInactiveLocked() error {
	ts, off := s.stats()
	return s.times.maybeAppend(ts, off)
}

// findBatch returns the position and header of the first batch in the
// segment, within its first end bytes, whose last offset is >= offset
// (Kafka's translateOffset); found is false when there is none.
func (s *segment) findBatch(offset, end int64) (pos int64, h record.Header, found bool, err error) {
	_, start, err := s.offsets.lookup(offset)
	if err != nil {
		return 0, h, false, err
	}
	return s.scanFor(start, end, func(h record.Header) bool { return h.LastOffset() >= offset })
}

// scanFor walks batch headers from start to end and returns the first batch
// for which match is true.
func (s *segment) scanFor(start, end int64, match func(record.Header) bool) (pos int64, h record.Header, found bool, err error) {
	err = s.walkHeaders(start, end, searchChunkSize, func(bh record.Header, bpos int64) bool {
		if match(bh) {
			pos, h, found = bpos, bh, true
		}
		return !found
	})
	return pos, h, found, err
}

// walkHeaders calls visit with the header and position of each batch from
// start to end, reading chunk bytes at a time, until visit returns false.
// Bytes that are not a whole batch are an error wrapping errTornBatch.
func (s *segment) walkHeaders(start, end int64, chunk int, visit func(h record.Header, pos int64) bool) error {
	sc := newBatchScanner(s.log, start, end, chunk, false)
	for {
		h, _, pos, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("scan segment %s: %w", s.logPath, err)
		}
		if !visit(h, pos) {
			return nil
		}
	}
}

// readAt reads len(buf) bytes at pos.
func (s *segment) readAt(buf []byte, pos int64) error {
	if _, err := s.log.ReadAt(buf, pos); err != nil {
		return fmt.Errorf("read segment %s at %d: %w", s.logPath, pos, err)
	}
	return nil
}

// sync fsyncs the .log if it grew since the last sync and, with indexes,
// both index files. A closed (deleted) segment needs no durability.
func (s *segment) sync(indexes bool) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil
	}
	if size := s.size.Load(); size != s.flushedSize.Load() {
		if err := s.log.Sync(); err != nil {
			return fmt.Errorf("fsync segment %s: %w", s.logPath, err)
		}
		s.flushedSize.Store(size)
	}
	if !indexes {
		return nil
	}
	if err := s.offsets.sync(); err != nil {
		return err
	}
	return s.times.sync()
}

// closeFiles closes the segment's files; errors are reported but the files
// are closed regardless.
func (s *segment) closeFiles() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.log.Close()
	if err != nil {
		err = fmt.Errorf("close segment %s: %w", s.logPath, err)
	}
	if s.offsets != nil {
		err = errors.Join(err, s.offsets.close())
	}
	if s.times != nil {
		err = errors.Join(err, s.times.close())
	}
	return err
}

// paths returns the segment's three files.
func (s *segment) paths() []string {
	paths := []string{s.logPath}
	if s.offsets != nil {
		paths = append(paths, s.offsets.path, s.times.path)
	}
	return paths
}

// markDeleted renames the segment's files to "<name>.deleted", Kafka's
// first step of deleting a segment: a crash after it cannot bring the
// segment back, and open removes such files. Requires Log.writeMu.
func (s *segment) markDeleted() error {
	if s.markedDeleted {
		return nil
	}
	s.markedDeleted = true
	for _, p := range s.paths() {
		if err := os.Rename(p, p+deletedSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete segment file %s: %w", p, err)
		}
	}
	return nil
}

// removeDeleted closes the files of a segment marked deleted and removes them.
func (s *segment) removeDeleted() error {
	err := s.closeFiles()
	for _, p := range s.paths() {
		if rerr := os.Remove(p + deletedSuffix); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove segment file: %w", rerr))
		}
	}
	return err
}
