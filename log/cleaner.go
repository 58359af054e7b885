package log

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// Kafka's defaults for the cleaner's broker settings.
const (
	defaultCleanerBackoff          = 15 * time.Second // log.cleaner.backoff.ms
	defaultCleanerDedupeBufferSize = 128 << 20        // log.cleaner.dedupe.buffer.size
	defaultCleanerLoadFactor       = 0.9              // log.cleaner.io.buffer.load.factor
	defaultCleanerIOBufferSize     = 512 << 10        // log.cleaner.io.buffer.size
	// cleanerDoneCheckBatches is how many batches the cleaner handles
	// between checks that it should stop (Kafka's checkDone).
	cleanerDoneCheckBatches = 64
)

// errCleaningAborted means a cleaning stopped because the Manager is
// closing or the log changed under it (closed, truncated, segments
// deleted); the log is cleaned again later, as after Kafka's
// LogCleaningAbortedException.
var errCleaningAborted = errors.New("log cleaning aborted")

// cleaner is Kafka's LogCleaner with one cleaner thread: it picks the
// compacted log most worth cleaning (LogCleanerManager
// .grabFilthiestCompactedLog) and compacts it (Cleaner.doClean). The
// Manager's cleaner goroutine is its only user.
type cleaner struct {
	dedupeBufferSize int64
	loadFactor       float64
	ioBufferSize     int
	codecs           *record.Codecs
	stop             <-chan struct{}

	// uncleanable holds the logs whose cleaning failed with an error that
	// is not an abort (Kafka's uncleanablePartitions): they are skipped
	// until the next start, so one damaged log does not stop the cleaner.
	uncleanable map[*Log]error
	// hook, set by tests, is called at each stage of a swap; an error
	// stops the swap there and leaves the files as a crash would.
	hook func(swapStage) error
}

// logToClean is Kafka's LogToClean: a compacted log with its clean section
// (below the first dirty offset) and the dirty part that may be cleaned now
// (up to the first uncleanable offset, a segment base).
type logToClean struct {
	log               *Log
	segments          []*segment // the log's segments when it was measured, the active one last
	truncations       int64      // the log's truncation count before they were taken
	firstDirty        int64
	firstUncleanable  int64
	cleanBytes        int64
	cleanableBytes    int64
	needCompactionNow bool // a dirty record is older than max.compaction.lag.ms
}

// ratio is the share of the log's bytes that may be cleaned now.
func (c *logToClean) ratio() float64 {
	return float64(c.cleanableBytes) / float64(c.cleanBytes+c.cleanableBytes)
}

// cleanFilthiestLog is one iteration of Kafka's CleanerThread: it picks the
// filthiest compacted log and cleans it. It returns the log when it
// cleaned one (its cleaner checkpoint moved) and whether it found work at
// all (an aborted cleaning is work: the cleaner tries again without
// backing off, as Kafka's does).
func (c *cleaner) cleanFilthiestLog(logs []*Log, now time.Time) (cleaned *Log, worked bool) {
	c.forgetDeleted(logs)
	ltc := c.grabFilthiestLog(logs, now.UnixMilli())
	if ltc == nil {
		return nil, false
	}
	l := ltc.log
	start := time.Now()
	end, stats, err := c.clean(ltc, now)
	switch {
	case err == nil:
		if l.advanceCleanerOffset(end, ltc.truncations) {
			cleaned = l
		}
		l.logger.Info("cleaned log", slog.Int64("first_dirty_offset", ltc.firstDirty), slog.Int64("cleaned_up_to", end),
			slog.Int64("bytes_before", stats.bytesRead), slog.Int64("bytes_after", stats.bytesWritten),
			slog.Int64("records_read", stats.recordsRead), slog.Int64("records_kept", stats.recordsKept),
			slog.Int("segments_replaced", stats.segmentsReplaced), slog.Duration("took", time.Since(start)))
	case errors.Is(err, errCleaningAborted):
		l.logger.Info("log cleaning aborted; it will be retried", slog.Any("reason", err))
	default:
		c.uncleanable[l] = err
		l.logger.Error("log cleaning failed; the log is not cleaned again until restart", slog.Any("error", err))
	}
	return cleaned, true
}

// forgetDeleted drops uncleanable entries of logs the Manager no longer holds.
func (c *cleaner) forgetDeleted(logs []*Log) {
	if len(c.uncleanable) == 0 {
		return
	}
	held := make(map[*Log]bool, len(logs))
	for _, l := range logs {
		held[l] = true
	}
	for l := range c.uncleanable {
		if !held[l] {
			delete(c.uncleanable, l)
		}
	}
}

// grabFilthiestLog is Kafka's grabFilthiestCompactedLog: among the
// compacted logs with bytes to clean, those whose cleanable ratio exceeds
// min.cleanable.dirty.ratio, or that hold a dirty record older than
// max.compaction.lag.ms, are eligible; the one with the highest ratio wins.
func (c *cleaner) grabFilthiestLog(logs []*Log, nowMs int64) *logToClean {
	var best *logToClean
	for _, l := range logs {
		cfg := l.config()
		if !cfg.CleanupPolicy.Compact || c.uncleanable[l] != nil || l.failed.Load() {
			continue
		}
		ltc := measureLog(l, cfg, nowMs)
		if ltc == nil || ltc.cleanBytes+ltc.cleanableBytes == 0 {
			continue
		}
		if !(ltc.needCompactionNow && ltc.cleanableBytes > 0) && !(ltc.ratio() > cfg.MinCleanableDirtyRatio) {
			continue
		}
		if best == nil || ltc.ratio() > best.ratio() {
			best = ltc
		}
	}
	return best
}

// measureLog computes Kafka's cleanableOffsets and calculateCleanableBytes
// for l; nil when l is closed.
func measureLog(l *Log, cfg Config, nowMs int64) *logToClean {
	truncations := l.truncations.Load()
	segs := l.segmentsSnapshot()
	if segs == nil {
		return nil
	}
	ltc := &logToClean{log: l, segments: segs, truncations: truncations}
	ltc.firstDirty = l.firstDirtyOffset()
	active := segs[len(segs)-1]

	// Not past the active segment, nor into a segment holding a record
	// younger than min.compaction.lag.ms. Kafka also stops at the last
	// stable offset; samsa has no transactions yet, so its log has none
	// below the high watermark, and the log does not know the high
	// watermark: the active segment bound is the one that applies.
	uncleanable := active.baseOffset
	if lag := cfg.MinCompactionLagMs; lag > 0 {
		for _, s := range nonActiveSegmentsFrom(segs, ltc.firstDirty) {
			if s.largestTimestamp() > nowMs-lag {
				uncleanable = min(uncleanable, s.baseOffset)
				break
			}
		}
	}
	uncleanable = max(uncleanable, ltc.firstDirty)
	// Rounded down to a segment base: only whole segments are cleaned.
	if i := floorSegment(segs, uncleanable); i >= 0 && i < len(segs)-1 {
		ltc.firstUncleanable = segs[i].baseOffset
	} else {
		ltc.firstUncleanable = active.baseOffset
	}
	ltc.cleanableBytes = totalSize(segmentsOverlapping(segs, min(ltc.firstDirty, ltc.firstUncleanable), ltc.firstUncleanable))
	ltc.cleanBytes = totalSize(segmentsOverlapping(segs, -1, ltc.firstDirty))
	ltc.needCompactionNow = maxCompactionDelay(segs, ltc.firstDirty, nowMs, cfg.MaxCompactionLagMs) > 0
	return ltc
}

// maxCompactionDelay is Kafka's: how long past max.compaction.lag.ms the
// oldest dirty non-active segment's first batch is (0 when none is).
func maxCompactionDelay(segs []*segment, firstDirty, nowMs, maxLagMs int64) int64 {
	cleanUntil := nowMs - max(maxLagMs, 0)
	if cleanUntil <= 0 {
		return 0 // the default, Long.MAX_VALUE: no record is that old
	}
	earliest := int64(math.MaxInt64)
	for _, s := range nonActiveSegmentsFrom(segs, firstDirty) {
		if ts, ok := s.firstBatchTimestamp(); ok && ts > 0 {
			earliest = min(earliest, ts)
		}
	}
	if earliest < cleanUntil {
		return cleanUntil - earliest
	}
	return 0
}

// cleanStats summarises one cleaning.
type cleanStats struct {
	bytesRead, bytesWritten  int64
	recordsRead, recordsKept int64
	segmentsReplaced         int
}

// clean is Kafka's Cleaner.doClean: it maps the keys of the dirty section
// to their latest offsets, as far as the offset map holds, then rewrites
// every segment from the log's start up to where the map ends, group by
// group, keeping each record that is the latest of its key. It returns the
// offset the map ended at, the new cleaner checkpoint.
func (c *cleaner) clean(ltc *logToClean, now time.Time) (int64, cleanStats, error) {
	l := ltc.log
	var stats cleanStats
	offsets, err := c.buildOffsetMap(ltc)
	if err != nil {
		return 0, stats, abortIfChanged(ltc, ltc.segments, err)
	}
	if offsets.latest < ltc.firstDirty {
		return ltc.firstDirty, stats, nil // nothing dirty was mapped
	}
	end := offsets.latest + 1
	cfg := l.config()
	lastRecords := l.lastRecordsOfActiveProducers()
	f := &batchFilter{codecs: c.codecs, offsets: offsets, nowMs: now.UnixMilli(), deleteRetentionMs: cfg.DeleteRetentionMs,
		lastRecords: lastRecords, upperBound: ltc.firstUncleanable}
	for _, group := range groupSegmentsBySize(segmentsBelow(ltc.segments, end), cfg.SegmentBytes, cfg.MaxIndexBytes, ltc.firstUncleanable) {
		written, err := c.cleanSegments(ltc, group, f, cfg, now)
		if err != nil {
			return 0, stats, abortIfChanged(ltc, group, err)
		}
		stats.bytesRead += totalSize(group)
		stats.bytesWritten += written
		stats.segmentsReplaced += len(group)
	}
	stats.recordsRead, stats.recordsKept = f.recordsRead, f.recordsKept
	return end, stats, nil
}

// abortIfChanged turns err into an abort when the log changed under the
// cleaning (closed, truncated, or segs, the segments being read, deleted by
// retention or DeleteRecords): the failed read was of files being cut or
// closed, and the cleaning is retried rather than the log blamed.
func abortIfChanged(ltc *logToClean, segs []*segment, err error) error {
	if errors.Is(err, errCleaningAborted) || errors.Is(err, errSwapInterrupted) || !ltc.log.changedSince(ltc.truncations, segs) {
		return err
	}
	return fmt.Errorf("%w: the log changed while it was read: %v", errCleaningAborted, err)
}

// buildOffsetMap is Kafka's Cleaner.buildOffsetMap: the keys of the dirty
// segments, from the first dirty offset, until the map is full; the map's
// latest offset then says how far it got. A segment read whole moves it to
// the segment's end even past a gap (compaction of an earlier pass).
func (c *cleaner) buildOffsetMap(ltc *logToClean) (*offsetMap, error) {
	offsets := newOffsetMap(c.dedupeBufferSize, c.loadFactor)
	dirty := segmentsOverlapping(ltc.segments, ltc.firstDirty, ltc.firstUncleanable)
	for i, s := range dirty {
		next := ltc.firstUncleanable
		if i+1 < len(dirty) {
			next = dirty[i+1].baseOffset
		}
		full, err := c.mapSegment(ltc.log, s, offsets, ltc.firstDirty, next)
		if err != nil {
			return nil, fmt.Errorf("build offset map of segment %d: %w", s.baseOffset, err)
		}
		if full {
			ltc.log.logger.Debug("cleaner offset map is full", slog.Int("segments_fully_mapped", i),
				slog.Int64("partly_mapped_segment", s.baseOffset), slog.Int64("mapped_up_to", offsets.latest))
			break
		}
	}
	return offsets, nil
}

// errOffsetMapFull stops a record walk when the offset map is full.
var errOffsetMapFull = errors.New("offset map full")

// mapSegment is Kafka's buildOffsetMapForSegment: it adds the keys of s's
// records at or above firstDirty and reports whether the map filled up
// first. Unlike Kafka, the first dirty batch is always mapped whole, past
// the map's capacity if it must be, so that every pass makes progress
// whatever log.cleaner.dedupe.buffer.size is.
func (c *cleaner) mapSegment(l *Log, s *segment, offsets *offsetMap, firstDirty, nextSegmentBase int64) (full bool, err error) {
	_, pos, err := s.offsets.lookup(firstDirty)
	if err != nil {
		return false, err
	}
	sc := newBatchScanner(s.log, pos, s.size.Load(), c.readChunk(), true)
	for n := 0; ; n++ {
		if n%cleanerDoneCheckBatches == 0 {
			if err := c.checkDone(l); err != nil {
				return false, err
			}
		}
		h, body, _, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
		if h.LastOffset() < firstDirty {
			continue
		}
		if !h.Control() {
			_, err := c.codecs.Records(body, maxDecompressedLookup, func(r record.Record) error {
				if r.Key == nil || r.Offset < firstDirty {
					return nil
				}
				if offsets.full() && offsets.latest >= firstDirty {
					return errOffsetMapFull
				}
				offsets.put(hashKey(r.Key), r.Offset)
				return nil
			})
			if errors.Is(err, errOffsetMapFull) {
				return true, nil
			}
			if err != nil {
				return false, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
			}
		}
		offsets.updateLatest(h.LastOffset())
	}
	offsets.updateLatest(nextSegmentBase - 1)
	return false, nil
}

// checkDone aborts a cleaning when the Manager is closing or the log was
// closed (Kafka's checkDone).
func (c *cleaner) checkDone(l *Log) error {
	select {
	case <-c.stop:
		return fmt.Errorf("%w: the log manager is closing", errCleaningAborted)
	default:
	}
	if l.isClosed() || l.failed.Load() {
		return fmt.Errorf("%w: the log was closed", errCleaningAborted)
	}
	return nil
}

// readChunk is the size of the cleaner's reads: Kafka splits
// log.cleaner.io.buffer.size between a read and a write buffer.
func (c *cleaner) readChunk() int { return max(c.ioBufferSize/2, 4096) }

// groupSegmentsBySize is Kafka's Cleaner.groupSegmentsBySize: consecutive
// segments are cleaned into one while their total size stays within
// segment.bytes, their offset and time indexes within segment.index.bytes,
// and their offsets within the int32 range of one segment's relative
// offsets.
func groupSegmentsBySize(segs []*segment, maxSize int64, maxIndexSize int, firstUncleanable int64) [][]*segment {
	var groups [][]*segment
	for len(segs) > 0 {
		group := []*segment{segs[0]}
		logSize := segs[0].size.Load()
		indexSize := segs[0].offsets.entries() * offsetIndexEntrySize
		timeIndexSize := segs[0].times.entries() * timeIndexEntrySize
		segs = segs[1:]
		for len(segs) > 0 {
			next := segs[0]
			if logSize+next.size.Load() > maxSize ||
				indexSize+next.offsets.entries()*offsetIndexEntrySize > maxIndexSize ||
				timeIndexSize+next.times.entries()*timeIndexEntrySize > maxIndexSize ||
				(next.size.Load() > 0 && lastOffsetForFirstSegment(segs, firstUncleanable)-group[0].baseOffset > math.MaxInt32) {
				break
			}
			group = append(group, next)
			logSize += next.size.Load()
			indexSize += next.offsets.entries() * offsetIndexEntrySize
			timeIndexSize += next.times.entries() * timeIndexEntrySize
			segs = segs[1:]
		}
		groups = append(groups, group)
	}
	return groups
}

// lastOffsetForFirstSegment bounds the last offset of segs[0] by the next
// segment's base, or by the first uncleanable offset for the last one.
func lastOffsetForFirstSegment(segs []*segment, firstUncleanable int64) int64 {
	if len(segs) > 1 {
		return segs[1].baseOffset - 1
	}
	return firstUncleanable - 1
}

// floorSegment returns the index of the last segment whose base is <=
// offset, -1 when there is none.
func floorSegment(segs []*segment, offset int64) int {
	i := -1
	for j, s := range segs {
		if s.baseOffset > offset {
			break
		}
		i = j
	}
	return i
}

// segmentsOverlapping returns the segments holding offsets in [from, to),
// as Kafka's LogSegments.values(from, to): from the one holding from (or
// the first) to the last whose base is below to.
func segmentsOverlapping(segs []*segment, from, to int64) []*segment {
	if from >= to {
		return nil
	}
	i := max(floorSegment(segs, from), 0)
	j := i
	for j < len(segs) && segs[j].baseOffset < to {
		j++
	}
	return segs[i:j]
}

// segmentsBelow returns the segments whose base is below offset.
func segmentsBelow(segs []*segment, offset int64) []*segment {
	j := 0
	for j < len(segs) && segs[j].baseOffset < offset {
		j++
	}
	return segs[:j]
}

// nonActiveSegmentsFrom returns the segments from the one holding offset up
// to, not including, the active (last) one.
func nonActiveSegmentsFrom(segs []*segment, offset int64) []*segment {
	return segmentsOverlapping(segs[:len(segs)-1], offset, math.MaxInt64)
}

func totalSize(segs []*segment) int64 {
	var n int64
	for _, s := range segs {
		n += s.size.Load()
	}
	return n
}
