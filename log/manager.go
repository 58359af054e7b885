package log

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// ManagerConfig configures a Manager. Zero durations take Kafka's defaults.
type ManagerConfig struct {
	Dirs                            []string      // log.dirs
	NodeID                          int32         // node.id, checked against meta.properties
	Defaults                        Config        // config of the logs opened at start, until SetConfig/GetOrCreate
	RetentionCheckInterval          time.Duration // log.retention.check.interval.ms (5 min)
	FlushCheckInterval              time.Duration // how often flush.ms and rolled segments are checked (1 s)
	RecoveryPointCheckpointInterval time.Duration // log.flush.offset.checkpoint.interval.ms (1 min), also for log start offsets
	Logger                          *slog.Logger
	Now                             func() time.Time

	// The log cleaner (compaction of logs with cleanup.policy=compact);
	// zero values take Kafka's defaults.
	CleanerDisabled               bool          // log.cleaner.enable=false (or log.cleaner.threads=0): no compaction
	CleanerBackoff                time.Duration // log.cleaner.backoff.ms (15 s): pause when no log needs cleaning
	CleanerDedupeBufferSize       int64         // log.cleaner.dedupe.buffer.size (128 MiB): memory of the key -> offset map
	CleanerDedupeBufferLoadFactor float64       // log.cleaner.io.buffer.load.factor (0.9): how full that map may get
	CleanerIOBufferSize           int           // log.cleaner.io.buffer.size (512 KiB): the cleaner's read and write buffers
}

// LogDirInfo describes one log dir.
type LogDirInfo struct {
	Path        string
	DirectoryID [16]byte // directory.id of meta.properties (KIP-858)
}

// Manager holds every log of a node, one per partition, spread over the log
// dirs (Kafka's LogManager). It owns the per-dir files (meta.properties, the
// offset checkpoints, the clean-shutdown marker, the dir lock) and two
// background goroutines, the periodic tasks and the log cleaner, started by
// Start and stopped by Close.
type Manager struct {
	cfg    ManagerConfig
	logger *slog.Logger
	codecs *record.Codecs
	dirs   []*logDir

	mu        sync.RWMutex
	logs      map[TopicPartition]*managedLog
	clusterID string
	closed    bool

	highWatermarks map[TopicPartition]int64 // as read at start; not changed

	cleaner *cleaner // used only by the cleaner goroutine (and tests, without it)

	checkpointMu sync.Mutex // serialises checkpoint file writes

	stop      chan struct{}
	wg        sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error
}

type logDir struct {
	path          string
	meta          metaProperties
	lock          *os.File
	cleanShutdown bool
}

type managedLog struct {
	log     *Log
	dir     *logDir
	topicID [16]byte // zero when unknown
}

// NewManager opens the log dirs: each is created if missing and locked,
// its meta.properties read (or written: version 1, node.id, a new
// directory.id), its clean-shutdown marker noted, its checkpoints read, and
// every "<topic>-<partition>" directory in it opened as a log, in parallel
// over GOMAXPROCS workers, with recovery when the dir was not shut down
// cleanly. The metadata quorum's directory is not a partition log and is
// left alone. Directories left by a deletion ("*-delete") are removed. Once
// all logs are open the clean-shutdown markers are removed, so that a crash
// from then on is detected.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("log manager: no log dirs")
	}
	if err := cfg.Defaults.Validate(); err != nil {
		return nil, fmt.Errorf("log manager: default log config: %w", err)
	}
	cfg.RetentionCheckInterval = cmp.Or(cfg.RetentionCheckInterval, 5*time.Minute)
	cfg.FlushCheckInterval = cmp.Or(cfg.FlushCheckInterval, time.Second)
	cfg.RecoveryPointCheckpointInterval = cmp.Or(cfg.RecoveryPointCheckpointInterval, time.Minute)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.CleanerBackoff = cmp.Or(cfg.CleanerBackoff, defaultCleanerBackoff)
	cfg.CleanerDedupeBufferSize = cmp.Or(cfg.CleanerDedupeBufferSize, defaultCleanerDedupeBufferSize)
	if !(cfg.CleanerDedupeBufferLoadFactor > 0 && cfg.CleanerDedupeBufferLoadFactor <= 1) {
		cfg.CleanerDedupeBufferLoadFactor = defaultCleanerLoadFactor
	}
	cfg.CleanerIOBufferSize = cmp.Or(cfg.CleanerIOBufferSize, defaultCleanerIOBufferSize)
	m := &Manager{cfg: cfg, logger: cfg.Logger, codecs: record.NewCodecs(), logs: map[TopicPartition]*managedLog{},
		highWatermarks: map[TopicPartition]int64{}, stop: make(chan struct{})}
	m.cleaner = &cleaner{dedupeBufferSize: cfg.CleanerDedupeBufferSize, loadFactor: cfg.CleanerDedupeBufferLoadFactor,
		ioBufferSize: cfg.CleanerIOBufferSize, codecs: m.codecs, stop: m.stop, uncleanable: map[*Log]error{}}
	if err := m.open(); err != nil {
		for _, ml := range m.logs {
			_ = ml.log.Close()
		}
		m.unlockDirs()
		return nil, err
	}
	return m, nil
}

func (m *Manager) open() error {
	seen := map[string]bool{}
	for _, path := range m.cfg.Dirs {
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("log dir %s: %w", path, err)
		}
		if seen[abs] {
			return fmt.Errorf("log dir %s is listed twice", path)
		}
		seen[abs] = true
		d, err := m.openDir(abs)
		if err != nil {
			return err
		}
		m.dirs = append(m.dirs, d)
		if cid := d.meta.clusterID; cid != "" {
			if m.clusterID != "" && m.clusterID != cid {
				return fmt.Errorf("log dir %s belongs to cluster %s, another log dir to cluster %s", abs, cid, m.clusterID)
			}
			m.clusterID = cid
		}
	}
	if err := m.loadLogs(); err != nil {
		return err
	}
	for _, d := range m.dirs {
		if err := removeCleanShutdownMarker(d.path); err != nil {
			return fmt.Errorf("log dir %s: %w", d.path, err)
		}
	}
	return nil
}

// openDir prepares one log dir: create, lock, meta.properties, marker.
func (m *Manager) openDir(path string) (d *logDir, err error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir %s: %w", path, err)
	}
	lock, err := lockDir(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	mp, found, err := readMetaProperties(path)
	if err != nil {
		return nil, fmt.Errorf("log dir %s: %w", path, err)
	}
	if found && mp.nodeID != m.cfg.NodeID {
		return nil, fmt.Errorf("log dir %s belongs to node %d, this is node %d", path, mp.nodeID, m.cfg.NodeID)
	}
	if !found || mp.directoryID == ([16]byte{}) {
		mp.nodeID = m.cfg.NodeID
		mp.directoryID = randomDirectoryID()
		if err := writeMetaProperties(path, mp); err != nil {
			return nil, fmt.Errorf("log dir %s: %w", path, err)
		}
	}
	_, statErr := os.Stat(filepath.Join(path, cleanShutdownFile))
	return &logDir{path: path, lock: lock, meta: mp, cleanShutdown: statErr == nil}, nil
}

// loadLogs opens every partition directory of every log dir in parallel.
func (m *Manager) loadLogs() error {
	type job struct {
		dir          *logDir
		name         string
		checkpoints  dirCheckpoints
		removeDelete bool
	}
	var jobs []job
	for _, d := range m.dirs {
		var cps dirCheckpoints
		var err error
		if cps.recovery, err = ReadOffsetCheckpoint(filepath.Join(d.path, recoveryPointCheckpoint)); err != nil {
			return fmt.Errorf("log dir %s: %w", d.path, err)
		}
		if cps.logStarts, err = ReadOffsetCheckpoint(filepath.Join(d.path, logStartOffsetCheckpoint)); err != nil {
			return fmt.Errorf("log dir %s: %w", d.path, err)
		}
		if cps.cleaner, err = ReadOffsetCheckpoint(filepath.Join(d.path, cleanerOffsetCheckpoint)); err != nil {
			return fmt.Errorf("log dir %s: %w", d.path, err)
		}
		hws, err := ReadOffsetCheckpoint(filepath.Join(d.path, replicationCheckpoint))
		if err != nil {
			return fmt.Errorf("log dir %s: %w", d.path, err)
		}
		for tp, hw := range hws {
			m.highWatermarks[tp] = hw
		}
		des, err := os.ReadDir(d.path)
		if err != nil {
			return fmt.Errorf("list log dir %s: %w", d.path, err)
		}
		for _, de := range des {
			// The metadata quorum keeps its own files under
			// __cluster_metadata-0; like Kafka's LogManager, skip it.
			if !de.IsDir() || de.Name() == metadataLogDir {
				continue
			}
			jobs = append(jobs, job{dir: d, name: de.Name(), checkpoints: cps,
				removeDelete: strings.HasSuffix(de.Name(), deleteDirSuffix)})
		}
	}

	var (
		mu   sync.Mutex
		errs []error
	)
	forEachParallel(jobs, func(j job) {
		path := filepath.Join(j.dir.path, j.name)
		if j.removeDelete {
			if err := os.RemoveAll(path); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("remove deleted log %s: %w", path, err))
				mu.Unlock()
			}
			return
		}
		tp, err := ParseTopicPartitionDir(j.name)
		if err != nil {
			m.logger.Warn("skipping directory that is not a partition log", slog.String("path", path), slog.Any("error", err))
			return
		}
		ml, err := m.openLog(j.dir, tp, j.checkpoints)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			errs = append(errs, err)
		case m.logs[tp] != nil:
			errs = append(errs, fmt.Errorf("partition %s is in two log dirs: %s and %s", tp, m.logs[tp].dir.path, j.dir.path))
			_ = ml.log.Close()
		default:
			m.logs[tp] = ml
		}
	})
	return errors.Join(errs...)
}

// forEachParallel calls fn for every item on up to GOMAXPROCS goroutines
// and returns when all calls have.
func forEachParallel[T any](items []T, fn func(T)) {
	var wg sync.WaitGroup
	work := make(chan T)
	for range min(runtime.GOMAXPROCS(0), len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for item := range work {
				fn(item)
			}
		}()
	}
	for _, item := range items {
		work <- item
	}
	close(work)
	wg.Wait()
}

// dirCheckpoints are the offset checkpoints of one log dir, read at start.
type dirCheckpoints struct {
	recovery, logStarts, cleaner map[TopicPartition]int64
}

func (m *Manager) openLog(d *logDir, tp TopicPartition, cps dirCheckpoints) (*managedLog, error) {
	path := filepath.Join(d.path, tp.String())
	topicID, _, err := readPartitionMetadata(path)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	l, err := OpenLog(OpenOptions{Dir: path, Config: m.cfg.Defaults, RecoveryPoint: cps.recovery[tp], LogStartOffset: cps.logStarts[tp],
		CleanerCheckpoint: cps.cleaner[tp], CleanShutdown: d.cleanShutdown, Logger: m.logger, Now: m.cfg.Now, Codecs: m.codecs})
	if err != nil {
		return nil, err
	}
	if !d.cleanShutdown {
		m.logger.Info("recovered log", slog.String("partition", tp.String()), slog.Int64("log_end_offset", l.LogEndOffset()),
			slog.Duration("took", time.Since(start)))
	}
	return &managedLog{log: l, dir: d, topicID: topicID}, nil
}

// ClusterID returns the cluster ID of the log dirs' meta.properties, "" if
// none was written yet.
func (m *Manager) ClusterID() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.clusterID
}

// SetClusterID records the cluster ID in every log dir's meta.properties.
// Log dirs of another cluster are refused, as Kafka refuses to start on them.
func (m *Manager) SetClusterID(id string) error {
	if id == "" {
		return errors.New("set cluster ID: empty ID")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clusterID != "" && m.clusterID != id {
		return fmt.Errorf("set cluster ID %s: the log dirs belong to cluster %s", id, m.clusterID)
	}
	for _, d := range m.dirs {
		if d.meta.clusterID == id {
			continue
		}
		mp := d.meta
		mp.clusterID = id
		if err := writeMetaProperties(d.path, mp); err != nil {
			return fmt.Errorf("set cluster ID: %w", err)
		}
		d.meta = mp
	}
	m.clusterID = id
	return nil
}

// LogDirs describes the log dirs, in configuration order.
func (m *Manager) LogDirs() []LogDirInfo {
	out := make([]LogDirInfo, len(m.dirs))
	for i, d := range m.dirs {
		out[i] = LogDirInfo{Path: d.path, DirectoryID: d.meta.directoryID}
	}
	return out
}

// GetOrCreate returns the log of tp, creating it in the log dir holding the
// fewest partitions (Kafka's nextLogDirs) if there is none, and applies cfg
// to it. A non-zero topicID is written to partition.metadata; a log whose
// recorded topic ID differs is an error (Kafka's InconsistentTopicIdException:
// the directory belongs to a deleted topic of the same name).
func (m *Manager) GetOrCreate(tp TopicPartition, topicID [16]byte, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("create log %s: %w", tp, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("create log %s: %w", tp, ErrLogClosed)
	}
	var zero [16]byte
	if ml, ok := m.logs[tp]; ok {
		if topicID != zero && ml.topicID != zero && topicID != ml.topicID {
			return nil, fmt.Errorf("log %s belongs to topic ID %s, not %s", tp, encodeUUID(ml.topicID), encodeUUID(topicID))
		}
		if topicID != zero && ml.topicID == zero {
			if err := writePartitionMetadata(ml.log.Dir(), topicID); err != nil {
				return nil, err
			}
			ml.topicID = topicID
		}
		ml.log.SetConfig(cfg)
		return ml.log, nil
	}
	d := m.leastLoadedDirLocked()
	path := filepath.Join(d.path, tp.String())
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("create log %s: %w", tp, err)
	}
	if err := fsyncDirectory(d.path); err != nil {
		return nil, fmt.Errorf("create log %s: %w", tp, err)
	}
	if topicID != zero {
		if err := writePartitionMetadata(path, topicID); err != nil {
			return nil, fmt.Errorf("create log %s: %w", tp, err)
		}
	}
	l, err := OpenLog(OpenOptions{Dir: path, Config: cfg, CleanShutdown: true, Logger: m.logger, Now: m.cfg.Now, Codecs: m.codecs})
	if err != nil {
		return nil, err
	}
	m.logs[tp] = &managedLog{log: l, dir: d, topicID: topicID}
	m.logger.Info("created log", slog.String("partition", tp.String()), slog.String("dir", d.path))
	return l, nil
}

// leastLoadedDirLocked picks the log dir with the fewest partitions, the
// first such in configuration order. Requires mu.
func (m *Manager) leastLoadedDirLocked() *logDir {
	counts := map[*logDir]int{}
	for _, ml := range m.logs {
		counts[ml.dir]++
	}
	best := m.dirs[0]
	for _, d := range m.dirs[1:] {
		if counts[d] < counts[best] {
			best = d
		}
	}
	return best
}

// Get returns the log of tp.
func (m *Manager) Get(tp TopicPartition) (*Log, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ml, ok := m.logs[tp]
	if !ok {
		return nil, false
	}
	return ml.log, true
}

// Logs returns every log, ordered by topic and partition.
func (m *Manager) Logs() []*Log {
	m.mu.RLock()
	logs := make([]*Log, 0, len(m.logs))
	for _, ml := range m.logs {
		logs = append(logs, ml.log)
	}
	m.mu.RUnlock()
	slices.SortFunc(logs, func(a, b *Log) int {
		return cmp.Or(cmp.Compare(a.tp.Topic, b.tp.Topic), cmp.Compare(a.tp.Partition, b.tp.Partition))
	})
	return logs
}

// TopicID returns the topic ID recorded for tp's log (partition.metadata).
func (m *Manager) TopicID(tp TopicPartition) ([16]byte, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ml, ok := m.logs[tp]
	var zero [16]byte
	if !ok || ml.topicID == zero {
		return zero, false
	}
	return ml.topicID, true
}

// Delete removes tp's log as Kafka's asyncDelete does: the log is closed,
// its directory renamed to "<topic>-<partition>.<uuid>-delete" (so a crash
// cannot bring it back: start-up removes such directories), then removed.
func (m *Manager) Delete(tp TopicPartition) error {
	m.mu.Lock()
	ml, ok := m.logs[tp]
	delete(m.logs, tp)
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("delete log %s: no such log", tp)
	}
	closeErr := ml.log.Close()
	var suffix [16]byte
	_, _ = rand.Read(suffix[:])
	doomed := filepath.Join(ml.dir.path, tp.String()+"."+hex.EncodeToString(suffix[:])+deleteDirSuffix)
	if err := os.Rename(ml.log.Dir(), doomed); err != nil {
		return fmt.Errorf("delete log %s: %w", tp, err)
	}
	if err := fsyncDirectory(ml.dir.path); err != nil {
		return fmt.Errorf("delete log %s: %w", tp, err)
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("delete log %s: %w", tp, err)
	}
	if closeErr != nil {
		m.logger.Warn("closing deleted log failed", slog.String("partition", tp.String()), slog.Any("error", closeErr))
	}
	m.logger.Info("deleted log", slog.String("partition", tp.String()))
	return nil
}

// HighWatermarks returns the high watermarks read from the log dirs'
// replication-offset-checkpoint at start.
func (m *Manager) HighWatermarks() map[TopicPartition]int64 {
	out := make(map[TopicPartition]int64, len(m.highWatermarks))
	for tp, hw := range m.highWatermarks {
		out[tp] = hw
	}
	return out
}

// WriteHighWatermarks writes each log dir's replication-offset-checkpoint
// with the high watermarks of the partitions it holds (the replica manager
// calls it periodically and at shutdown, like Kafka's
// checkpointHighWatermarks). Partitions without a log here are skipped.
func (m *Manager) WriteHighWatermarks(hw map[TopicPartition]int64) error {
	perDir := map[*logDir]map[TopicPartition]int64{}
	m.mu.RLock()
	for _, d := range m.dirs {
		perDir[d] = map[TopicPartition]int64{}
	}
	for tp, off := range hw {
		if ml, ok := m.logs[tp]; ok {
			perDir[ml.dir][tp] = off
		}
	}
	m.mu.RUnlock()
	m.checkpointMu.Lock()
	defer m.checkpointMu.Unlock()
	var errs []error
	for d, offsets := range perDir {
		if err := WriteOffsetCheckpoint(filepath.Join(d.path, replicationCheckpoint), offsets); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) unlockDirs() {
	for _, d := range m.dirs {
		if d.lock != nil {
			_ = d.lock.Close()
		}
	}
}

// metadataLogDir is the metadata quorum's directory inside the first log
// dir (KRaft's __cluster_metadata-0), owned by the controller package.
const metadataLogDir = "__cluster_metadata-0"
