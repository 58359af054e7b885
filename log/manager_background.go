package log

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"
)

// Start starts the Manager's background goroutines. The first, every
// RetentionCheckInterval, applies retention and expires idle producers,
// every FlushCheckInterval flushes logs whose flush.ms passed or whose
// rolled segments are unflushed and removes segment files whose
// file.delete.delay.ms passed, every RecoveryPointCheckpointInterval writes
// the recovery-point, log-start-offset and cleaner-offset checkpoints. The
// second, unless CleanerDisabled, is the log cleaner: it compacts the
// compacted log most in need of it, and when none is, waits CleanerBackoff
// (Kafka's CleanerThread). Close stops both. Calling Start more than once
// has no further effect.
func (m *Manager) Start() {
	m.startOnce.Do(func() {
		m.wg.Add(1)
		go m.run()
		if !m.cfg.CleanerDisabled {
			m.wg.Add(1)
			go m.runCleaner()
		}
	})
}

// runCleaner is the cleaner goroutine.
func (m *Manager) runCleaner() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		if m.cleanOnce(m.cfg.Now()) {
			continue
		}
		backoff := time.NewTimer(m.cfg.CleanerBackoff)
		select {
		case <-m.stop:
			backoff.Stop()
			return
		case <-backoff.C:
		}
	}
}

// cleanOnce runs one cleaner iteration and writes the cleaner checkpoint of
// the cleaned log's dir (Kafka's doneCleaning). It reports whether there
// was work.
func (m *Manager) cleanOnce(now time.Time) bool {
	cleaned, worked := m.cleaner.cleanFilthiestLog(m.Logs(), now)
	if cleaned != nil {
		if err := m.writeCleanerCheckpoint(cleaned); err != nil {
			m.logger.Error("writing the cleaner checkpoint failed", slog.Any("error", err))
		}
	}
	return worked
}

// writeCleanerCheckpoint writes the cleaner-offset-checkpoint of l's dir.
func (m *Manager) writeCleanerCheckpoint(l *Log) error {
	var dir *logDir
	offsets := map[TopicPartition]int64{}
	m.mu.RLock()
	for _, ml := range m.logs {
		if ml.log == l {
			dir = ml.dir
		}
	}
	for tp, ml := range m.logs {
		if ml.dir == dir {
			if off := ml.log.cleanerOffset.Load(); off > 0 {
				offsets[tp] = off
			}
		}
	}
	m.mu.RUnlock()
	if dir == nil {
		return nil // deleted meanwhile
	}
	m.checkpointMu.Lock()
	defer m.checkpointMu.Unlock()
	return WriteOffsetCheckpoint(filepath.Join(dir.path, cleanerOffsetCheckpoint), offsets)
}

func (m *Manager) run() {
	defer m.wg.Done()
	retention := time.NewTicker(m.cfg.RetentionCheckInterval)
	defer retention.Stop()
	flush := time.NewTicker(m.cfg.FlushCheckInterval)
	defer flush.Stop()
	checkpoint := time.NewTicker(m.cfg.RecoveryPointCheckpointInterval)
	defer checkpoint.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-retention.C:
			m.applyRetention(m.cfg.Now())
		case <-flush.C:
			m.flushDue(m.cfg.Now())
		case <-checkpoint.C:
			if err := m.writeCheckpoints(); err != nil {
				m.logger.Error("writing log checkpoints failed", slog.Any("error", err))
			}
		}
	}
}

// applyRetention is one retention pass over every log.
func (m *Manager) applyRetention(now time.Time) {
	for _, l := range m.Logs() {
		if _, err := l.ApplyRetention(now); err != nil && !errors.Is(err, ErrLogClosed) {
			m.logger.Error("retention failed", slog.String("partition", l.tp.String()), slog.Any("error", err))
		}
		l.expireProducers(now)
	}
}

// flushDue is one periodic flush pass over every log.
func (m *Manager) flushDue(now time.Time) {
	for _, l := range m.Logs() {
		if err := l.flushIfDue(now); err != nil && !errors.Is(err, ErrLogClosed) {
			m.logger.Error("flush failed", slog.String("partition", l.tp.String()), slog.Any("error", err))
		}
		l.removeDueDeletions(now)
	}
}

// writeCheckpoints writes every log dir's recovery-point-offset-checkpoint,
// log-start-offset-checkpoint and cleaner-offset-checkpoint from its logs'
// current values. The cleaner checkpoint lists the logs the cleaner has
// compacted (or reset), as Kafka's does.
func (m *Manager) writeCheckpoints() error {
	recovery := map[*logDir]map[TopicPartition]int64{}
	starts := map[*logDir]map[TopicPartition]int64{}
	cleaned := map[*logDir]map[TopicPartition]int64{}
	m.mu.RLock()
	for _, d := range m.dirs {
		recovery[d] = map[TopicPartition]int64{}
		starts[d] = map[TopicPartition]int64{}
		cleaned[d] = map[TopicPartition]int64{}
	}
	for tp, ml := range m.logs {
		recovery[ml.dir][tp] = ml.log.RecoveryPoint()
		starts[ml.dir][tp] = ml.log.LogStartOffset()
		if off := ml.log.cleanerOffset.Load(); off > 0 {
			cleaned[ml.dir][tp] = off
		}
	}
	m.mu.RUnlock()
	m.checkpointMu.Lock()
	defer m.checkpointMu.Unlock()
	var errs []error
	for _, d := range m.dirs {
		if err := WriteOffsetCheckpoint(filepath.Join(d.path, recoveryPointCheckpoint), recovery[d]); err != nil {
			errs = append(errs, err)
		}
		if err := WriteOffsetCheckpoint(filepath.Join(d.path, logStartOffsetCheckpoint), starts[d]); err != nil {
			errs = append(errs, err)
		}
		if err := WriteOffsetCheckpoint(filepath.Join(d.path, cleanerOffsetCheckpoint), cleaned[d]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops the background goroutines (a cleaning in progress is
// abandoned, its files removed) and waits for them, closes every log
// (each flushes and snapshots its producer state), writes the checkpoints,
// then writes the clean-shutdown marker in every log dir whose logs all
// closed cleanly, and releases the dir locks. The Manager cannot be used
// afterwards.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		m.mu.Lock()
		m.closed = true
		logs := make([]*managedLog, 0, len(m.logs))
		for _, ml := range m.logs {
			logs = append(logs, ml)
		}
		m.mu.Unlock()

		failedDirs := map[*logDir]bool{}
		var errs []error
		for ml, err := range closeLogsInParallel(logs) {
			failedDirs[ml.dir] = true
			errs = append(errs, err)
		}
		if err := m.writeCheckpoints(); err != nil {
			errs = append(errs, err)
			for _, d := range m.dirs {
				failedDirs[d] = true
			}
		}
		for _, d := range m.dirs {
			if failedDirs[d] {
				m.logger.Warn("log dir not shut down cleanly; it will be recovered at next start", slog.String("dir", d.path))
				continue
			}
			if err := writeCleanShutdownMarker(d.path); err != nil {
				errs = append(errs, fmt.Errorf("log dir %s: %w", d.path, err))
			}
		}
		m.unlockDirs()
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// closeLogsInParallel closes the logs over GOMAXPROCS workers and returns
// the ones that failed with their errors.
func closeLogsInParallel(logs []*managedLog) map[*managedLog]error {
	var mu sync.Mutex
	failed := map[*managedLog]error{}
	forEachParallel(logs, func(ml *managedLog) {
		if err := ml.log.Close(); err != nil {
			mu.Lock()
			failed[ml] = err
			mu.Unlock()
		}
	})
	return failed
}
