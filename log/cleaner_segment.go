package log

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// Suffixes of a cleaned segment's files while the cleaner writes them and
// while it swaps them in (Kafka's LogFileUtils CLEANED_FILE_SUFFIX and
// SWAP_FILE_SUFFIX), appended to the segment's own names.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// cleanSegments is Kafka's Cleaner.cleanSegments: it copies what survives
// of the group's segments into one new segment, "<first base>.log.cleaned"
// with its indexes, and swaps it in for them. It returns the bytes written.
func (c *cleaner) cleanSegments(ltc *logToClean, group []*segment, f *batchFilter, cfg Config, now time.Time) (int64, error) {
	l := ltc.log
	out, err := createCleanedSegment(l.dir, group[0].baseOffset, cfg.IndexIntervalBytes, c.readChunk())
	if err != nil {
		return 0, err
	}
	removeOnReturn := true
	defer func() {
		if removeOnReturn {
			out.remove()
		}
	}()
	for _, s := range group {
		if err := c.cleanInto(l, s, out, f); err != nil {
			return 0, fmt.Errorf("clean segment %d: %w", s.baseOffset, err)
		}
	}
	mtime := group[len(group)-1].modTime()
	if err := out.finish(mtime); err != nil {
		return 0, err
	}
	err = l.replaceWithCleaned(group, out, ltc.truncations, c.hook, now)
	if err != nil && !errors.Is(err, errCleaningAborted) {
		// The swap failed part way (the log is offline) or a test stopped
		// it: the files stay for the next start to finish or undo it.
		removeOnReturn = false
		out.closeFiles()
	}
	if err == nil {
		removeOnReturn = false // the log owns the files now
	}
	return out.size, err
}

// cleanInto is Kafka's Cleaner.cleanInto: every batch of s through the
// filter into out.
func (c *cleaner) cleanInto(l *Log, s *segment, out *cleanedSegment, f *batchFilter) error {
	sc := newBatchScanner(s.log, 0, s.size.Load(), c.readChunk(), true)
	for n := 0; ; n++ {
		if n%cleanerDoneCheckBatches == 0 {
			if err := c.checkDone(l); err != nil {
				return err
			}
		}
		h, body, _, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		kept, err := f.filter(body, h)
		if err != nil {
			return err
		}
		if kept == nil {
			continue
		}
		if len(kept) != len(body) || &kept[0] != &body[0] {
			if h, err = record.ParseHeader(kept); err != nil {
				return err
			}
		}
		if err := out.append(kept, h); err != nil {
			return err
		}
	}
}

// cleanedSegment is the segment the cleaner writes: "<base>.log.cleaned"
// written through a buffer, its indexes built in memory by the rules
// appends follow and written when it is finished.
type cleanedSegment struct {
	dir  string
	base int64
	log  *os.File
	w    *bufio.Writer

	indexInterval   int64
	bytesSinceIndex int64
	index           *indexBuilder
	size            int64
	maxTs           int64
	maxTsOffset     int64
	firstMaxTs      int64 // the first batch's max timestamp (segment.ms's reference)

	offsetsFile, timesFile *os.File // set by finish
}

func createCleanedSegment(dir string, base int64, indexInterval, bufSize int) (*cleanedSegment, error) {
	path := segmentFileName(dir, base, logSuffix) + cleanedSuffix
	// A leftover of this base can only be an earlier failed attempt's.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create cleaned segment %s: %w", path, err)
	}
	return &cleanedSegment{dir: dir, base: base, log: f, w: bufio.NewWriterSize(f, bufSize),
		indexInterval: int64(indexInterval), index: newIndexBuilder(base), maxTs: -1, maxTsOffset: base, firstMaxTs: -1}, nil
}

// append writes one batch, indexing it as segment.appendLocked would: an
// offset index entry (keyed by the batch's last offset) once more than
// index.interval.bytes were written since the last one, with a time index
// entry for the largest timestamp so far.
func (c *cleanedSegment) append(batch []byte, h record.Header) error {
	pos := c.size
	if pos+int64(len(batch)) > math.MaxUint32 {
		return fmt.Errorf("cleaned segment %d would exceed %d bytes", c.base, uint32(math.MaxUint32))
	}
	if h.LastOffset()-c.base > math.MaxInt32 {
		return fmt.Errorf("cleaned segment %d: offset %d is beyond its relative range", c.base, h.LastOffset())
	}
	if pos == 0 {
		c.firstMaxTs = h.MaxTimestamp
	}
	if h.MaxTimestamp > c.maxTs {
		c.maxTs, c.maxTsOffset = h.MaxTimestamp, h.LastOffset()
	}
	if c.bytesSinceIndex > c.indexInterval {
		c.index.addOffset(h.LastOffset(), pos)
		c.index.maybeAddTime(c.maxTs, c.maxTsOffset)
		c.bytesSinceIndex = 0
	}
	c.bytesSinceIndex += int64(len(batch))
	if _, err := c.w.Write(batch); err != nil {
		return fmt.Errorf("write cleaned segment %d: %w", c.base, err)
	}
	c.size += int64(len(batch))
	return nil
}

// finish writes the closing time index entry (Kafka's
// onBecomeInactiveSegment), flushes and fsyncs the .log, writes and fsyncs
// both indexes, and gives the .log the replaced segments' modification time
// (Kafka's setLastModified: retention of batches without timestamps reads
// it).
func (c *cleanedSegment) finish(mtime time.Time) error {
	c.index.maybeAddTime(c.maxTs, c.maxTsOffset)
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("write cleaned segment %d: %w", c.base, err)
	}
	if err := c.log.Sync(); err != nil {
		return fmt.Errorf("fsync cleaned segment %d: %w", c.base, err)
	}
	var err error
	if c.offsetsFile, err = writeCleanedIndex(segmentFileName(c.dir, c.base, indexSuffix)+cleanedSuffix, c.index.offsets); err != nil {
		return err
	}
	if c.timesFile, err = writeCleanedIndex(segmentFileName(c.dir, c.base, timeIndexSuffix)+cleanedSuffix, c.index.times); err != nil {
		return err
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(c.log.Name(), mtime, mtime); err != nil {
			return fmt.Errorf("set modification time of cleaned segment %d: %w", c.base, err)
		}
	}
	return nil
}

// writeCleanedIndex writes and fsyncs an index file and returns it open.
func writeCleanedIndex(path string, data []byte) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create cleaned index %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write cleaned index %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("fsync cleaned index %s: %w", path, err)
	}
	return f, nil
}

// finalPaths returns the segment's three final file names, .log first.
func (c *cleanedSegment) finalPaths() [3]string {
	return [3]string{segmentFileName(c.dir, c.base, logSuffix),
		segmentFileName(c.dir, c.base, indexSuffix), segmentFileName(c.dir, c.base, timeIndexSuffix)}
}

// closeFiles closes whatever files are open.
func (c *cleanedSegment) closeFiles() {
	for _, f := range []*os.File{c.log, c.offsetsFile, c.timesFile} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// remove closes the files and removes them under their .cleaned and .swap
// names (an aborted cleaning leaves nothing behind).
func (c *cleanedSegment) remove() {
	c.closeFiles()
	for _, p := range c.finalPaths() {
		// A file that cannot be removed is removed by the next start.
		_ = os.Remove(p + cleanedSuffix)
		_ = os.Remove(p + swapSuffix)
	}
}

// toSegment returns the finished segment under its final names, sharing the
// open files (a rename does not affect them).
func (c *cleanedSegment) toSegment(cfg Config, now time.Time) *segment {
	paths := c.finalPaths()
	s := &segment{baseOffset: c.base, logPath: paths[0], log: c.log, maxTs: c.maxTs, maxTsOffset: c.maxTsOffset,
		created: now, rollTs: c.firstMaxTs, rollTsLoaded: true, bytesSinceIndex: c.bytesSinceIndex}
	s.offsets = &offsetIndex{loadedIndexFile(paths[1], c.base, offsetIndexEntrySize, 0, cfg.MaxIndexBytes, c.offsetsFile, c.index.offsets)}
	s.times = &timeIndex{loadedIndexFile(paths[2], c.base, timeIndexEntrySize, 8, cfg.MaxIndexBytes, c.timesFile, c.index.times)}
	s.size.Store(c.size)
	s.flushedSize.Store(c.size)
	return s
}

// loadedIndexFile wraps an index file already written with buf.
func loadedIndexFile(path string, base int64, entrySize, relAt, maxIndexBytes int, f *os.File, buf []byte) *indexFile {
	return &indexFile{path: path, baseOffset: base, entrySize: entrySize, relAt: relAt, maxEntries: maxIndexBytes / entrySize,
		file: f, loaded: true, buf: buf, count: len(buf) / entrySize}
}
