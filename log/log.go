package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// AppendResult describes an append. For a duplicate idempotent batch it
// carries the offsets the original got and Duplicate is true; nothing was
// written.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // the broker's timestamp if the batch got LogAppendTime, else -1
	LogStartOffset int64
	Duplicate      bool
}

// Log is one partition's log (Kafka's UnifiedLog and LocalLog): a sequence
// of segments in one directory. It is safe for concurrent use: appends and
// other changes are serialised, reads run concurrently with them (see the
// package doc for the locks).
type Log struct {
	tp     TopicPartition
	dir    string
	logger *slog.Logger
	cfg    atomic.Pointer[Config]
	epochs *LeaderEpochCache
	codecs *record.Codecs
	now    func() time.Time // for what no caller times (segment deletion, flush times)

	writeMu   sync.Mutex
	producers *ProducerStateManager // guarded by writeMu
	pending   []pendingDeletion     // guarded by writeMu
	offline   error                 // guarded by writeMu: a failed write; nothing more is appended
	failed    atomic.Bool           // offline != nil, readable without writeMu (the cleaner skips such logs)

	mu       sync.RWMutex
	segments []*segment // ascending base offsets; changed under writeMu and mu
	closed   bool       // guarded by mu

	leo           atomic.Int64
	logStart      atomic.Int64
	recoveryPoint atomic.Int64
	lastFlushMs   atomic.Int64
	dirDirty      atomic.Bool  // segment files were created or removed since the directory's last fsync
	truncations   atomic.Int64 // bumped by every truncation, so a flush or cleaning racing one does not act on replaced data
	cleanerOffset atomic.Int64 // first offset the cleaner has not compacted (cleaner-offset-checkpoint), 0 if unknown

	flushMu   sync.Mutex
	flushCond *sync.Cond   // signalled when a flush ends
	flushing  bool         // guarded by flushMu
	flushErr  error        // guarded by flushMu: a failed fsync, sticky
	flushes   atomic.Int64 // flush rounds run, for tests and metrics
}

// TopicPartition returns the partition this log holds.
func (l *Log) TopicPartition() TopicPartition { return l.tp }

// Dir returns the log's directory, "<log dir>/<topic>-<partition>".
func (l *Log) Dir() string { return l.dir }

// LogEndOffset returns the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// LogStartOffset returns the first offset still readable.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// RecoveryPoint returns the offset below which everything is fsynced.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// LeaderEpochCache returns the log's leader-epoch cache.
func (l *Log) LeaderEpochCache() *LeaderEpochCache { return l.epochs }

// Config returns the log's current configuration.
func (l *Log) Config() Config { return *l.cfg.Load() }

// SetConfig applies a changed topic configuration. The caller validates it
// (config package); a config the log cannot use is refused with a WARN and
// the old one stays. ProducerIDExpirationMs takes effect when the log is
// next opened.
func (l *Log) SetConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		l.logger.Warn("ignoring invalid log config", slog.Any("error", err))
		return
	}
	l.cfg.Store(&cfg)
}

// Size returns the bytes of all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size.Load()
	}
	return n
}

// NumSegments returns the number of segments.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segments)
}

// Producers returns the state of every idempotent producer of the partition
// (for DescribeProducers), ascending by producer ID.
func (l *Log) Producers() []ProducerEntry {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.producers.Producers()
}

// Producer returns the state of one producer; false if the log has none.
func (l *Log) Producer(producerID int64) (ProducerEntry, bool) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.producers.Entry(producerID)
}

// lowerCleanerOffset follows a truncation to offset, as Kafka's
// LogCleanerManager.maybeTruncateCheckpoint does: what the cleaner
// compacted at or above offset is gone, so it is dirty again.
func (l *Log) lowerCleanerOffset(offset int64) {
	for {
		c := l.cleanerOffset.Load()
		if c <= offset || l.cleanerOffset.CompareAndSwap(c, offset) {
			return
		}
	}
}

// expireProducers forgets producers idle for producer.id.expiration.ms
// (KIP-854) and returns how many; the Manager calls it periodically.
func (l *Log) expireProducers(now time.Time) int {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.producers.ExpireProducers(now.UnixMilli())
}

func (l *Log) config() Config { return *l.cfg.Load() }

// advanceRecoveryPoint moves the recovery point up to offset, never down.
func (l *Log) advanceRecoveryPoint(offset int64) {
	for {
		rp := l.recoveryPoint.Load()
		if rp >= offset || l.recoveryPoint.CompareAndSwap(rp, offset) {
			return
		}
	}
}

// activeSegmentLocked returns the last segment. Requires writeMu or mu.
func (l *Log) activeSegmentLocked() *segment { return l.segments[len(l.segments)-1] }

// checkWritableLocked refuses changes to a closed or failed log. Requires writeMu.
func (l *Log) checkWritableLocked() error {
	if l.offline != nil {
		return fmt.Errorf("%s: %w: offline after a storage error: %v", l.tp, ErrLogClosed, l.offline)
	}
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return fmt.Errorf("%s: %w", l.tp, ErrLogClosed)
	}
	return nil
}

// failLocked takes the log offline after a failed write, as Kafka marks a
// log dir offline on an IOException: the file may hold a partial write.
func (l *Log) failLocked(err error) error {
	l.offline = err
	l.failed.Store(true)
	l.logger.Error("log write failed, partition offline", slog.Any("error", err))
	return err
}

// Close flushes the log, gives the active segment's time index its closing
// entry, snapshots the producer state at the log end offset (so the next
// open replays nothing) and closes the files. Reads and appends afterwards
// fail with ErrLogClosed.
func (l *Log) Close() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return nil
	}
	// An offline log closes without the durability promises; the error
	// keeps the Manager from marking its dir as cleanly shut down.
	err := l.offline
	if err == nil {
		err = l.closeDurablyLocked()
	}
	l.mu.Lock()
	l.closed = true
	segs := l.segments
	l.mu.Unlock()
	for _, s := range segs {
		err = errors.Join(err, s.closeFiles())
	}
	err = errors.Join(err, l.removePendingLocked(time.Time{}, true))
	if err != nil {
		return fmt.Errorf("close log %s: %w", l.tp, err)
	}
	return nil
}

// closeDurablyLocked writes what a clean shutdown promises: indexes and data
// on disk, producer state at the log end offset. Requires writeMu.
func (l *Log) closeDurablyLocked() error {
	active := l.activeSegmentLocked()
	if err := active.onBecomeInactiveLocked(); err != nil {
		return err
	}
	if err := l.Flush(); err != nil {
		return err
	}
	if err := active.sync(true); err != nil {
		return err
	}
	return l.producers.TakeSnapshot(l.leo.Load())
}

// Delete closes the log and removes its directory. A log owned by a
// Manager is deleted through Manager.Delete, which also forgets it.
func (l *Log) Delete() error {
	cerr := l.Close()
	if err := os.RemoveAll(l.dir); err != nil {
		return errors.Join(cerr, fmt.Errorf("delete log %s: %w", l.tp, err))
	}
	if err := fsyncDirectory(filepath.Dir(l.dir)); err != nil {
		return errors.Join(cerr, fmt.Errorf("delete log %s: %w", l.tp, err))
	}
	return cerr
}
