package log

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// pendingDeletion is a segment removed from the log whose files, renamed to
// "*.deleted", are removed once file.delete.delay.ms has passed (Kafka's
// asynchronous segment deletion, which lets in-flight reads finish).
type pendingDeletion struct {
	seg *segment
	due time.Time
}

// ApplyRetention deletes the oldest segments that break retention.ms (their
// largest timestamp is older than it), retention.bytes (the log is larger
// than it by at least the segment's size) or lie wholly below the log start
// offset, in that order, as Kafka's deleteOldSegments does, and moves the
// log start offset to the first remaining segment. Unlike Kafka, which
// rolls and deletes even the active segment once all of it expired, the
// segment holding the last record (log end offset - 1) is always kept, so
// the log never empties by retention. retention.ms and retention.bytes
// apply only when cleanup.policy includes delete; a compact-only log loses
// segments only below its log start offset (Kafka's deleteOldSegments). It
// also removes the files of deleted segments whose file.delete.delay.ms has
// passed.
func (l *Log) ApplyRetention(now time.Time) (deletedSegments int, err error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return 0, err
	}
	cfg := l.config()
	if cfg.CleanupPolicy.Delete && cfg.RetentionMs >= 0 {
		nowMs := now.UnixMilli()
		n, err := l.deleteOldestLocked(now, "retention.ms", func(i int) bool {
			return nowMs-l.segments[i].largestTimestamp() > cfg.RetentionMs
		})
		deletedSegments += n
		if err != nil {
			return deletedSegments, err
		}
	}
	if cfg.CleanupPolicy.Delete && cfg.RetentionBytes >= 0 {
		excess := l.Size() - cfg.RetentionBytes
		n, err := l.deleteOldestLocked(now, "retention.bytes", func(i int) bool {
			if size := l.segments[i].size.Load(); excess-size >= 0 {
				excess -= size
				return true
			}
			return false
		})
		deletedSegments += n
		if err != nil {
			return deletedSegments, err
		}
	}
	n, err := l.deleteOldestLocked(now, "log start offset", l.belowLogStartLocked)
	deletedSegments += n
	if err != nil {
		return deletedSegments, err
	}
	return deletedSegments, l.removePendingLocked(now, false)
}

// DeleteRecordsBefore moves the log start offset up to offset (the
// DeleteRecords API; Kafka's maybeIncrementLogStartOffset) and deletes the
// segments wholly below it. The caller bounds offset by the high watermark;
// above the log end offset it is ErrOffsetOutOfRange. Moving it backwards
// changes nothing. It returns the log start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (newLogStart int64, err error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return 0, err
	}
	if leo := l.leo.Load(); offset > leo {
		return 0, fmt.Errorf("delete records of %s before %d: %w: log end offset is %d", l.tp, offset, ErrOffsetOutOfRange, leo)
	}
	if offset <= l.logStart.Load() {
		return l.logStart.Load(), nil
	}
	l.mu.Lock()
	l.logStart.Store(offset)
	l.mu.Unlock()
	if err := l.epochs.TruncateFromStart(offset); err != nil {
		return 0, fmt.Errorf("delete records of %s before %d: %w", l.tp, offset, err)
	}
	if _, err := l.deleteOldestLocked(l.now(), "delete records", l.belowLogStartLocked); err != nil {
		return 0, err
	}
	return offset, nil
}

// belowLogStartLocked reports whether segment i lies wholly below the log
// start offset (Kafka's deleteLogStartOffsetBreachedSegments). Requires
// writeMu; i is never the last segment.
func (l *Log) belowLogStartLocked(i int) bool {
	return l.segments[i+1].baseOffset <= l.logStart.Load()
}

// deleteOldestLocked deletes segments from the oldest while deletable(i)
// says so, never the segment holding the last record nor any after it, then
// moves the log start offset to the first remaining segment if it was
// below. Requires writeMu.
func (l *Log) deleteOldestLocked(now time.Time, reason string, deletable func(i int) bool) (int, error) {
	limit := len(l.segments) - 1 // the active segment
	if limit > 0 && l.segments[limit].size.Load() == 0 {
		limit-- // an empty active segment: the one before holds the last record
	}
	n := 0
	for n < limit && deletable(n) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	gone := l.segments[:n]
	newFirst := l.segments[n].baseOffset
	l.mu.Lock()
	l.segments = slices.Clone(l.segments[n:])
	if newFirst > l.logStart.Load() {
		l.logStart.Store(newFirst)
	}
	l.mu.Unlock()
	start := l.logStart.Load()
	l.advanceRecoveryPoint(start)
	l.logger.Info("deleting segments", slog.String("reason", reason),
		slog.Int("segments", n), slog.Int64("first_base_offset", gone[0].baseOffset), slog.Int64("log_start_offset", start))
	err := l.epochs.TruncateFromStart(start)
	l.scheduleDeletionLocked(gone, now)
	if err != nil {
		return n, fmt.Errorf("delete segments of %s: %w", l.tp, err)
	}
	return n, nil
}

// scheduleDeletionLocked renames the files of segments no longer in the log
// to "*.deleted" and removes them after file.delete.delay.ms (at once when
// it is 0). Requires writeMu.
func (l *Log) scheduleDeletionLocked(gone []*segment, now time.Time) {
	due := now.Add(time.Duration(l.config().FileDeleteDelayMs) * time.Millisecond)
	for _, s := range gone {
		if err := s.markDeleted(); err != nil {
			// The files keep their names; reopening would bring the segment
			// back below the log start offset, where retention deletes it.
			l.logger.Warn("renaming deleted segment failed", slog.Any("error", err))
		}
		l.pending = append(l.pending, pendingDeletion{seg: s, due: due})
	}
	l.dirDirty.Store(true)
	if l.config().FileDeleteDelayMs == 0 {
		if err := l.removePendingLocked(now, false); err != nil {
			l.logger.Warn("removing deleted segment failed", slog.Any("error", err))
		}
	}
}

// removePendingLocked removes the files of deleted segments that are due
// (all of them with all). Requires writeMu.
func (l *Log) removePendingLocked(now time.Time, all bool) error {
	var err error
	keep := l.pending[:0]
	for _, p := range l.pending {
		if all || !p.due.After(now) {
			err = errors.Join(err, p.seg.removeDeleted())
			continue
		}
		keep = append(keep, p)
	}
	clear(l.pending[len(keep):])
	l.pending = keep
	return err
}

// removeDueDeletions removes the files of deleted segments whose
// file.delete.delay.ms has passed.
func (l *Log) removeDueDeletions(now time.Time) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.removePendingLocked(now, false); err != nil {
		l.logger.Warn("removing deleted segment failed", slog.Any("error", err))
	}
}
