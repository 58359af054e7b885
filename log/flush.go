package log

import (
	"fmt"
	"slices"
	"time"
)

// WaitFlushed blocks until every offset below upTo (capped at the log end
// offset) is fsynced. It is a group commit: the first waiter in runs one
// flush covering everything appended so far, and the waiters that arrive
// meanwhile share the next one; no goroutine is involved. Used for
// flush.messages = 1 (fsync before acknowledging). An fsync failure is
// returned to every waiter and sticks: after a failed fsync the page cache
// may have dropped the data, so the log is not trusted again until reopened.
func (l *Log) WaitFlushed(upTo int64) error {
	for {
		if l.isClosed() {
			return fmt.Errorf("flush %s: %w", l.tp, ErrLogClosed)
		}
		if l.recoveryPoint.Load() >= min(upTo, l.leo.Load()) {
			return nil
		}
		l.flushMu.Lock()
		for l.flushing && l.flushErr == nil {
			l.flushCond.Wait()
		}
		if err := l.flushErr; err != nil {
			l.flushMu.Unlock()
			return err
		}
		if l.recoveryPoint.Load() >= min(upTo, l.leo.Load()) {
			l.flushMu.Unlock()
			return nil
		}
		l.flushing = true
		l.flushMu.Unlock()

		err := l.flushOnce()

		l.flushMu.Lock()
		l.flushing = false
		if err != nil {
			l.flushErr = err
		}
		l.flushCond.Broadcast()
		l.flushMu.Unlock()
		if err != nil {
			return err
		}
	}
}

// Flush fsyncs everything appended so far (flush.ms, close).
func (l *Log) Flush() error { return l.WaitFlushed(l.leo.Load()) }

// flushOnce fsyncs every segment with unflushed data, the index files of
// every segment but the active one (whose index recovery rebuilds anyway,
// since it holds the recovery point) and the directory when segments were
// created or removed, then advances the recovery point to the log end
// offset read before the fsyncs. A truncation during the flush leaves the
// recovery point alone: the offsets the flush covered may have been
// replaced.
func (l *Log) flushOnce() error {
	l.flushes.Add(1)
	gen := l.truncations.Load()
	target := l.leo.Load()
	l.mu.RLock()
	segs := slices.Clone(l.segments)
	l.mu.RUnlock()
	for i, s := range segs {
		if err := s.sync(i < len(segs)-1); err != nil {
			return fmt.Errorf("flush %s: %w", l.tp, err)
		}
	}
	if l.dirDirty.Swap(false) {
		if err := fsyncDirectory(l.dir); err != nil {
			l.dirDirty.Store(true)
			return fmt.Errorf("flush %s: %w", l.tp, err)
		}
	}
	l.lastFlushMs.Store(l.now().UnixMilli())
	if l.truncations.Load() == gen {
		l.advanceRecoveryPoint(target)
	}
	return nil
}

// maybeFlushMessages fsyncs when flush.messages = N > 1 records are
// unflushed (Kafka counts log end offset minus recovery point, as here).
func (l *Log) maybeFlushMessages() error {
	n := l.config().FlushMessages
	if n <= 1 || l.leo.Load()-l.recoveryPoint.Load() < n {
		return nil
	}
	return l.Flush()
}

// flushIfDue is the Manager's periodic flush: it flushes when flush.ms has
// passed since the last flush, or when a rolled segment is not yet flushed
// (Kafka flushes a segment asynchronously once it is rolled, which bounds
// recovery after a crash to the active segment).
func (l *Log) flushIfDue(now time.Time) error {
	rp, leo := l.recoveryPoint.Load(), l.leo.Load()
	if rp >= leo {
		return nil
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil
	}
	activeBase := l.activeSegmentLocked().baseOffset
	l.mu.RUnlock()
	if rp < activeBase || now.UnixMilli()-l.lastFlushMs.Load() >= l.config().FlushMs {
		return l.Flush()
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}
