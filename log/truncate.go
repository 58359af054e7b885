package log

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// Truncate removes every record at or above offset, for a follower whose log
// diverged from its leader's (KIP-101, KIP-279: the caller finds offset by
// leader epoch). A batch that straddles offset is removed whole, so the log
// end offset becomes offset or that batch's base offset, whichever is lower.
// The leader-epoch cache loses the epochs that started at or after the new
// end, and the producer state is rebuilt from its newest snapshot below it.
// An offset at or past the log end offset keeps every record and drops only
// epochs that start at the log end; one below the first segment empties the
// log and restarts it at offset.
func (l *Log) Truncate(offset int64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("truncate %s to %d: negative offset", l.tp, offset)
	}
	oldLEO := l.leo.Load()
	if offset >= oldLEO {
		// The log stays, but an epoch starting at the log end holds no
		// record: this node led it and appended nothing before another
		// leader took over. Kafka's UnifiedLog.truncateTo drops such
		// entries here too; kept, a follower would fetch with that epoch
		// forever and get the same divergence back.
		if err := l.epochs.TruncateFromEnd(oldLEO); err != nil {
			return l.failLocked(fmt.Errorf("truncate leader epochs of %s from %d: %w", l.tp, oldLEO, err))
		}
		return nil
	}
	if offset < l.segments[0].baseOffset {
		return l.truncateFullyLocked(offset)
	}
	i := l.segmentIndexLocked(offset)
	s := l.segments[i]
	l.mu.Lock()
	gone := slices.Clone(l.segments[i+1:])
	l.segments = slices.Clone(l.segments[:i+1])
	newLEO, err := s.truncateToLocked(offset, l.now())
	if err == nil {
		l.leo.Store(newLEO)
		if l.logStart.Load() > newLEO {
			l.logStart.Store(newLEO)
		}
		l.truncations.Add(1)
		if l.recoveryPoint.Load() > newLEO {
			l.recoveryPoint.Store(newLEO)
		}
		l.lowerCleanerOffset(newLEO)
	}
	l.mu.Unlock()
	if err != nil {
		return l.failLocked(fmt.Errorf("truncate %s to %d: %w", l.tp, offset, err))
	}
	l.scheduleDeletionLocked(gone, l.now())
	l.logger.Warn("truncated log", slog.Int64("requested_offset", offset),
		slog.Int64("old_log_end_offset", oldLEO), slog.Int64("log_end_offset", newLEO), slog.Int("deleted_segments", len(gone)))
	if err := l.epochs.TruncateFromEnd(newLEO); err != nil {
		return l.failLocked(fmt.Errorf("truncate %s to %d: %w", l.tp, offset, err))
	}
	if err := l.producers.TruncateTo(newLEO); err != nil {
		return l.failLocked(fmt.Errorf("truncate %s to %d: %w", l.tp, offset, err))
	}
	if err := l.rebuildProducerStateLocked(newLEO); err != nil {
		return l.failLocked(fmt.Errorf("truncate %s to %d: %w", l.tp, offset, err))
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset, which
// becomes both its start and end offset (a follower whose fetch offset is
// out of the leader's range; Kafka's truncateFullyAndStartAt). The epoch
// cache and producer state are cleared.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("truncate %s fully at %d: negative offset", l.tp, offset)
	}
	return l.truncateFullyLocked(offset)
}

func (l *Log) truncateFullyLocked(offset int64) error {
	now := l.now()
	l.mu.Lock()
	gone := l.segments
	var err error
	for _, s := range gone {
		err = errors.Join(err, s.markDeleted())
	}
	var seg *segment
	if err == nil {
		seg, err = createSegment(l.dir, offset, l.config(), now)
	}
	if err == nil {
		l.segments = []*segment{seg}
		l.leo.Store(offset)
		l.logStart.Store(offset)
		l.truncations.Add(1)
		l.recoveryPoint.Store(offset)
		l.lowerCleanerOffset(offset)
	}
	l.mu.Unlock()
	if err != nil {
		return l.failLocked(fmt.Errorf("truncate %s fully at %d: %w", l.tp, offset, err))
	}
	l.scheduleDeletionLocked(gone, now)
	l.logger.Warn("truncated log fully", slog.Int64("log_start_offset", offset))
	if err := l.epochs.Reset(); err != nil {
		return l.failLocked(fmt.Errorf("truncate %s fully at %d: %w", l.tp, offset, err))
	}
	// Every snapshot describes records that are gone.
	if err := l.producers.TruncateTo(-1); err != nil {
		return l.failLocked(fmt.Errorf("truncate %s fully at %d: %w", l.tp, offset, err))
	}
	return nil
}

// truncateToLocked cuts the segment before the first batch whose last
// offset is >= offset (Kafka's LogSegment.truncateTo) and returns the new
// end offset. Requires writeMu and mu.
func (s *segment) truncateToLocked(offset int64, now time.Time) (int64, error) {
	pos, h, found, err := s.findBatch(offset, s.size.Load())
	if err != nil {
		return 0, err
	}
	newEnd := offset
	if !found {
		pos = s.size.Load()
	} else {
		newEnd = min(offset, h.BaseOffset)
	}
	if err := s.offsets.truncateTo(offset); err != nil {
		return 0, err
	}
	if err := s.times.truncateTo(offset); err != nil {
		return 0, err
	}
	if err := s.log.Truncate(pos); err != nil {
		return 0, fmt.Errorf("truncate segment %s to %d bytes: %w", s.logPath, pos, err)
	}
	s.size.Store(pos)
	if s.flushedSize.Load() > pos {
		s.flushedSize.Store(pos)
	}
	s.bytesSinceIndex = 0
	if pos == 0 {
		s.created, s.rollTs, s.rollTsLoaded = now, -1, true
	}
	return newEnd, s.recomputeStats()
}

// recomputeStats finds the largest timestamp after a truncation: the last
// time index entry, or a batch after it with a larger one (Kafka's
// readLargestTimestamp).
func (s *segment) recomputeStats() error {
	maxTs, maxTsOffset, err := s.times.lastEntry()
	if err != nil {
		return err
	}
	_, pos, err := s.offsets.lookup(maxTsOffset)
	if err != nil {
		return err
	}
	err = s.walkHeaders(pos, s.size.Load(), scanChunkSize, func(h record.Header, _ int64) bool {
		if h.MaxTimestamp > maxTs {
			maxTs, maxTsOffset = h.MaxTimestamp, h.LastOffset()
		}
		return true
	})
	if err != nil {
		return err
	}
	s.setStats(maxTs, maxTsOffset)
	return nil
}

// rebuildProducerStateLocked loads the newest producer snapshot at or below
// to and replays the batch headers from there (or from the log start) up to
// to (Kafka's rebuildProducerState). Requires writeMu.
func (l *Log) rebuildProducerStateLocked(to int64) error {
	from, err := l.producers.LoadSnapshot(to)
	if err != nil {
		return err
	}
	return l.replayProducerStateLocked(max(from, l.logStart.Load()), to)
}

// replayProducerStateLocked feeds the headers of the batches holding
// offsets [from, to) to the producer state; only headers are read, never
// records. Requires writeMu.
func (l *Log) replayProducerStateLocked(from, to int64) error {
	if from >= to {
		return nil
	}
	for i := l.segmentIndexLocked(from); i < len(l.segments); i++ {
		s := l.segments[i]
		if s.baseOffset >= to {
			break
		}
		var start int64
		if s.baseOffset < from {
			var err error
			if _, start, err = s.offsets.lookup(from); err != nil {
				return err
			}
		}
		err := s.walkHeaders(start, s.size.Load(), scanChunkSize, func(h record.Header, _ int64) bool {
			if h.BaseOffset >= to {
				return false // and the next segment starts even later
			}
			if h.NextOffset() > from && h.ProducerID >= 0 {
				l.producers.Update(h, h.BaseOffset, -1)
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("replay producer state: %w", err)
		}
	}
	return nil
}
