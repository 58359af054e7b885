package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// OpenOptions says how to open a log; the Manager fills it from its log
// dir's checkpoints.
type OpenOptions struct {
	Dir            string // "<log dir>/<topic>-<partition>", created if missing
	Config         Config
	RecoveryPoint  int64 // from recovery-point-offset-checkpoint; 0 when unknown
	LogStartOffset int64 // from log-start-offset-checkpoint; 0 when unknown
	CleanShutdown  bool  // the log dir had its clean-shutdown marker
	// CleanerCheckpoint is the log's entry in cleaner-offset-checkpoint: the
	// first offset compaction has not yet covered; 0 when unknown.
	CleanerCheckpoint int64
	Logger            *slog.Logger
	Now               func() time.Time // nil: time.Now
	Codecs            *record.Codecs   // shared decompressors for timestamp lookups; nil: a new set
}

// OpenLog opens (or creates) the log in opts.Dir, as Kafka's LogLoader does.
// First a cleaner swap that a crash interrupted is finished or undone (see
// recoverInterruptedSwap). After a clean shutdown nothing is scanned: the segment files are opened,
// their indexes are read lazily, the log end offset comes from the last
// index entry of the last segment, and the producer state from the snapshot
// taken at close. After an unclean shutdown every segment from the one
// holding the recovery point on is recovered: its batches are checked
// (framing, CRC-32C, increasing offsets), the file is cut at the first bad
// or torn batch and every later segment deleted, its indexes are rebuilt;
// then the leader-epoch cache is cut at the new log end offset and the
// producer state is rebuilt from its newest snapshot by replaying batch
// headers. A segment whose index is missing or malformed is recovered in
// either case.
func OpenLog(opts OpenOptions) (*Log, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", opts.Dir, err)
	}
	tp, err := ParseTopicPartitionDir(filepath.Base(opts.Dir))
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log %s: %w", tp, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Codecs == nil {
		opts.Codecs = record.NewCodecs()
	}
	cfg := opts.Config
	l := &Log{tp: tp, dir: opts.Dir, logger: opts.Logger.With(slog.String("partition", tp.String())), codecs: opts.Codecs, now: opts.Now}
	l.cfg.Store(&cfg)
	l.flushCond = sync.NewCond(&l.flushMu)
	if err := l.load(opts); err != nil {
		for _, s := range l.segments {
			_ = s.closeFiles()
		}
		return nil, fmt.Errorf("open log %s: %w", tp, err)
	}
	return l, nil
}

// load opens the segments, recovers what needs it and sets the offsets and
// the producer state. The log is not shared yet, but the methods it calls
// expect writeMu.
func (l *Log) load(opts OpenOptions) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	now := opts.Now()
	if err := l.recoverInterruptedSwap(); err != nil {
		return err
	}
	bases, err := l.cleanDirectory()
	if err != nil {
		return err
	}
	if l.epochs, err = OpenLeaderEpochCache(l.dir); err != nil {
		return err
	}
	l.producers = NewProducerStateManager(l.dir, time.Duration(opts.Config.ProducerIDExpirationMs)*time.Millisecond, l.logger)

	needsRecovery := make([]bool, len(bases))
	for i, base := range bases {
		s, needs, err := openSegment(l.dir, base, opts.Config, now)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
		needsRecovery[i] = needs
	}
	if len(l.segments) == 0 {
		s, err := createSegment(l.dir, max(opts.LogStartOffset, 0), opts.Config, now)
		if err != nil {
			return err
		}
		l.segments = []*segment{s}
		needsRecovery = []bool{false}
		l.dirDirty.Store(true)
	}

	leo, err := l.recoverSegmentsLocked(opts, needsRecovery)
	if err != nil {
		return err
	}
	l.leo.Store(leo)
	l.logStart.Store(min(max(opts.LogStartOffset, l.segments[0].baseOffset), leo))
	if opts.CleanShutdown {
		l.recoveryPoint.Store(leo)
	} else {
		l.recoveryPoint.Store(min(max(opts.RecoveryPoint, 0), leo))
	}
	l.lastFlushMs.Store(now.UnixMilli())
	l.cleanerOffset.Store(max(opts.CleanerCheckpoint, 0))

	// Kafka's LogLoader: epochs past the log end are gone, and the first
	// entry may predate the log start if the last checkpoint was lost.
	if err := l.epochs.TruncateFromEnd(leo); err != nil {
		return err
	}
	if err := l.epochs.TruncateFromStart(l.logStart.Load()); err != nil {
		return err
	}
	if err := l.rebuildProducerStateLocked(leo); err != nil {
		return err
	}
	l.producers.ExpireProducers(now.UnixMilli())
	return nil
}

// cleanDirectory removes what a crash may leave (segment files renamed for
// deletion, index files without a .log) and returns the base offsets of the
// segments, ascending.
func (l *Log) cleanDirectory() ([]int64, error) {
	des, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", l.dir, err)
	}
	var bases []int64
	var indexes []string
	for _, de := range des {
		name := de.Name()
		switch {
		case de.IsDir():
		case strings.HasSuffix(name, deletedSuffix):
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("remove deleted segment file: %w", err)
			}
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseSegmentBase(name, logSuffix); ok {
				bases = append(bases, base)
			}
		case strings.HasSuffix(name, indexSuffix), strings.HasSuffix(name, timeIndexSuffix):
			indexes = append(indexes, name)
		}
	}
	slices.Sort(bases)
	for _, name := range indexes {
		suffix := filepath.Ext(name)
		if base, ok := parseSegmentBase(name, suffix); ok {
			if _, found := slices.BinarySearch(bases, base); found {
				continue
			}
		}
		l.logger.Warn("removing index file without a segment", slog.String("file", name))
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove orphan index: %w", err)
		}
	}
	return bases, nil
}

// recoverSegmentsLocked recovers the segments that need it and returns the
// log end offset. Requires writeMu.
func (l *Log) recoverSegmentsLocked(opts OpenOptions, needsRecovery []bool) (int64, error) {
	firstUnflushed := len(l.segments)
	if !opts.CleanShutdown {
		firstUnflushed = l.segmentIndexLocked(opts.RecoveryPoint)
	}
	recovered := -1 // index of the last segment recovered, whose end we then know
	var next int64
	for i := 0; i < len(l.segments); i++ {
		if i < firstUnflushed && !needsRecovery[i] {
			continue
		}
		s := l.segments[i]
		end, cut, reason, err := s.recoverLocked(opts.Config, l.assignEpochsLocked)
		if err != nil {
			return 0, err
		}
		recovered, next = i, end
		if cut == 0 {
			continue
		}
		gone := slices.Clone(l.segments[i+1:])
		if i < firstUnflushed {
			gone = nil // a flushed segment with a bad tail: later ones are intact
		}
		l.logger.Warn("recovery truncated a corrupt or torn segment tail",
			slog.String("segment", s.logPath), slog.Int64("truncated_bytes", cut), slog.Int64("next_offset", end),
			slog.Int("deleted_later_segments", len(gone)), slog.Any("reason", reason))
		if len(gone) > 0 {
			l.segments = l.segments[:i+1]
			for _, g := range gone {
				if err := g.markDeleted(); err != nil {
					return 0, err
				}
				if err := g.removeDeleted(); err != nil {
					return 0, err
				}
			}
			l.dirDirty.Store(true)
		}
	}
	last := len(l.segments) - 1
	if recovered == last {
		return next, nil
	}
	next, err := l.segments[last].readNextOffset()
	if err == nil {
		return next, nil
	}
	// The clean-shutdown promise did not hold for the tail: recover it.
	l.logger.Warn("active segment tail unreadable after clean shutdown, recovering it", slog.Any("error", err))
	end, cut, reason, err := l.segments[last].recoverLocked(opts.Config, l.assignEpochsLocked)
	if err != nil {
		return 0, err
	}
	if cut > 0 {
		l.logger.Warn("recovery truncated a corrupt or torn segment tail", slog.String("segment", l.segments[last].logPath),
			slog.Int64("truncated_bytes", cut), slog.Int64("next_offset", end), slog.Any("reason", reason))
	}
	return end, nil
}

// recoverLocked rebuilds the segment from its .log file, as Kafka's
// LogSegment.recover does: it walks the batches in 1 MiB reads, checking
// each (a whole v2 batch, CRC-32C, offsets above the previous batch's and
// within the segment's relative range), rebuilds both indexes in memory by
// the same rule appends use and writes them once, and cuts the file at the
// first batch that fails. onBatch sees every valid batch header (the
// leader-epoch cache). It returns the offset after the last valid batch, the
// bytes cut and why. Requires Log.writeMu.
func (s *segment) recoverLocked(cfg Config, onBatch func([]record.Header) error) (next, cut int64, reason error, err error) {
	st, err := s.log.Stat()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("recover segment %s: %w", s.logPath, err)
	}
	fileSize := st.Size()
	sc := newBatchScanner(s.log, 0, fileSize, scanChunkSize, true)
	ib := newIndexBuilder(s.baseOffset)
	next = s.baseOffset
	var valid, lastIndexed int64
	maxTs, maxTsOffset, rollTs := int64(-1), s.baseOffset, int64(-1)
	var one [1]record.Header
	for {
		h, body, pos, serr := sc.next()
		if serr == io.EOF {
			break
		}
		if serr != nil {
			if !errors.Is(serr, errTornBatch) {
				return 0, 0, nil, fmt.Errorf("recover segment %s: %w", s.logPath, serr)
			}
			reason = serr
			break
		}
		if reason = checkRecoveredBatch(h, body, pos, next, s.baseOffset); reason != nil {
			break
		}
		if pos == 0 {
			rollTs = h.MaxTimestamp
		}
		if h.MaxTimestamp > maxTs {
			maxTs, maxTsOffset = h.MaxTimestamp, h.LastOffset()
		}
		if valid-lastIndexed > int64(cfg.IndexIntervalBytes) {
			ib.addOffset(h.LastOffset(), valid)
			ib.maybeAddTime(maxTs, maxTsOffset)
			lastIndexed = valid
		}
		valid += int64(h.Size())
		next = h.NextOffset()
		one[0] = h
		if err := onBatch(one[:]); err != nil {
			return 0, 0, nil, fmt.Errorf("recover segment %s: %w", s.logPath, err)
		}
	}
	ib.maybeAddTime(maxTs, maxTsOffset) // the closing entry a clean close writes
	if cut = fileSize - valid; cut > 0 {
		if err := s.log.Truncate(valid); err != nil {
			return 0, 0, nil, fmt.Errorf("recover segment %s: truncate to %d bytes: %w", s.logPath, valid, err)
		}
	}
	if err := s.offsets.replace(ib.offsets); err != nil {
		return 0, 0, nil, err
	}
	if err := s.times.replace(ib.times); err != nil {
		return 0, 0, nil, err
	}
	s.size.Store(valid)
	s.flushedSize.Store(-1) // what recovery kept was not necessarily fsynced
	s.setStats(maxTs, maxTsOffset)
	s.rollTs, s.rollTsLoaded = rollTs, true
	s.bytesSinceIndex = valid - lastIndexed
	return next, cut, reason, nil
}

// checkRecoveredBatch is Kafka's batch.ensureValid plus the offset checks
// of recovery; the error says why the batch ends the valid part.
func checkRecoveredBatch(h record.Header, body []byte, pos, next, segmentBase int64) error {
	switch {
	case !record.CheckCRC(body):
		return fmt.Errorf("batch at position %d (offset %d) fails its CRC", pos, h.BaseOffset)
	case h.LastOffsetDelta < 0:
		return fmt.Errorf("batch at position %d has last offset delta %d", pos, h.LastOffsetDelta)
	case h.BaseOffset < next:
		return fmt.Errorf("batch at position %d has offset %d, below %d", pos, h.BaseOffset, next)
	case h.LastOffset()-segmentBase > math.MaxInt32:
		return fmt.Errorf("batch at position %d has offset %d, beyond the segment's relative range", pos, h.LastOffset())
	}
	return nil
}

// readNextOffset finds the offset after the segment's last batch by walking
// the headers from the last offset index entry (Kafka's readNextOffset); an
// error means the tail is not whole batches.
func (s *segment) readNextOffset() (int64, error) {
	_, pos, err := s.offsets.lastEntry()
	if err != nil {
		return 0, err
	}
	next := s.baseOffset
	err = s.walkHeaders(pos, s.size.Load(), searchChunkSize, func(h record.Header, _ int64) bool {
		next = h.NextOffset()
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("read end of segment: %w", err)
	}
	return next, nil
}
