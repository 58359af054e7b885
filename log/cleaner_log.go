package log

import (
	"log/slog"
	"slices"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// segmentsSnapshot returns a copy of the segment list (the active segment
// last), nil when the log is closed.
func (l *Log) segmentsSnapshot() []*segment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil
	}
	return slices.Clone(l.segments)
}

// firstDirtyOffset is where the cleaner's next pass starts: the cleaner
// checkpoint, reset to the log start offset when it is below it (retention
// or DeleteRecords removed what it pointed into) or past the log end
// (Kafka's cleanableOffsets: the log was cut after a crash; all of it is
// taken as dirty).
func (l *Log) firstDirtyOffset() int64 {
	start, leo, checkpoint := l.logStart.Load(), l.leo.Load(), l.cleanerOffset.Load()
	switch {
	case checkpoint < start:
		if checkpoint > 0 && !l.config().CleanupPolicy.Delete {
			l.logger.Warn("resetting the cleaner's first dirty offset to the log start offset: the checkpointed one is below it",
				slog.Int64("checkpoint", checkpoint), slog.Int64("log_start_offset", start))
		}
	case checkpoint > leo:
		l.logger.Warn("resetting the cleaner's first dirty offset to the log start offset: the checkpointed one is past the log end",
			slog.Int64("checkpoint", checkpoint), slog.Int64("log_end_offset", leo), slog.Int64("log_start_offset", start))
	default:
		return checkpoint
	}
	l.cleanerOffset.CompareAndSwap(checkpoint, start)
	return start
}

// advanceCleanerOffset records that the log is clean below offset, unless
// it was truncated since truncations was read (the cleaned offsets may be
// gone). It reports whether it moved the checkpoint.
func (l *Log) advanceCleanerOffset(offset, truncations int64) bool {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.truncations.Load() != truncations {
		return false
	}
	l.cleanerOffset.Store(offset)
	return true
}

// changedSince reports whether the log was closed, taken offline or
// truncated since truncations was read, or lost one of segs (retention,
// DeleteRecords): a cleaning that failed meanwhile may have read files
// being cut or closed, and is retried rather than blamed.
func (l *Log) changedSince(truncations int64, segs []*segment) bool {
	if l.failed.Load() || l.truncations.Load() != truncations {
		return true
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return true
	}
	for _, s := range segs {
		if !slices.Contains(l.segments, s) {
			return true
		}
	}
	return false
}

// lastRecordsOfActiveProducers is Kafka's: per idempotent producer, the
// last offset of its last data batch and its epoch. The cleaner keeps the
// batch at that offset, even emptied, so the producer's last sequence stays
// in the log for the producer state to be rebuilt from.
func (l *Log) lastRecordsOfActiveProducers() map[int64]producerLastRecord {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	out := make(map[int64]producerLastRecord, len(l.producers.producers))
	for id, e := range l.producers.producers {
		last := int64(-1)
		if n := len(e.Batches); n > 0 {
			last = e.Batches[n-1].LastOffset
		}
		out[id] = producerLastRecord{lastDataOffset: last, epoch: e.Epoch}
	}
	return out
}

// firstBatchTimestamp returns the max timestamp of the segment's first
// batch (what Kafka's getFirstBatchTimestamp reads for
// max.compaction.lag.ms); false for an empty or unreadable segment.
func (s *segment) firstBatchTimestamp() (int64, bool) {
	if s.size.Load() < record.HeaderSize {
		return 0, false
	}
	hdr := make([]byte, record.HeaderSize)
	if err := s.readAt(hdr, 0); err != nil {
		return 0, false
	}
	h, err := record.ParseHeader(hdr)
	if err != nil {
		return 0, false
	}
	return h.MaxTimestamp, true
}

// modTime returns the .log file's modification time, zero if unknown.
func (s *segment) modTime() time.Time {
	st, err := s.log.Stat()
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}
