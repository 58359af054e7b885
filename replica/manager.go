package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	plog "github.com/samsa-broker/samsa/log"
)

// ManagerConfig wires a Manager.
type ManagerConfig struct {
	NodeID int32
	Logs   *plog.Manager
	Logger *slog.Logger
	Now    func() time.Time
}

// Manager owns every Partition hosted on this node. Partitions are created,
// changed and removed only by ApplyState / UpdateConfig / Remove, which the
// node calls in metadata order.
type Manager struct {
	nodeID int32
	logs   *plog.Manager
	logger *slog.Logger
	now    func() time.Time

	// startHW holds the high watermarks read from the checkpoint at start-up,
	// consumed as partitions are created.
	startHW map[plog.TopicPartition]int64

	mu         sync.RWMutex
	partitions map[plog.TopicPartition]*Partition
}

// NewManager returns a Manager with no partitions.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{
		nodeID:     cfg.NodeID,
		logs:       cfg.Logs,
		logger:     cfg.Logger,
		now:        cfg.Now,
		startHW:    cfg.Logs.HighWatermarks(),
		partitions: make(map[plog.TopicPartition]*Partition),
	}
}

// Partition returns the hosted partition tp.
func (m *Manager) Partition(tp plog.TopicPartition) (*Partition, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.partitions[tp]
	return p, ok
}

// Partitions returns every hosted partition.
func (m *Manager) Partitions() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ps := make([]*Partition, 0, len(m.partitions))
	for _, p := range m.partitions {
		ps = append(ps, p)
	}
	return ps
}

// ApplyState makes this node host tp with the given metadata, creating its
// log if needed, and takes on the role the metadata names.
func (m *Manager) ApplyState(tp plog.TopicPartition, st State, cfg Config) error {
	m.mu.Lock()
	p, ok := m.partitions[tp]
	if !ok {
		l, err := m.logs.GetOrCreate(tp, st.TopicID, cfg.Log)
		if err != nil {
			m.mu.Unlock()
			return fmt.Errorf("open log for %s: %w", tp, err)
		}
		p = newPartition(tp, m.nodeID, l, m.startHW[tp], m.now)
		delete(m.startHW, tp)
		m.partitions[tp] = p
	}
	m.mu.Unlock()
	return p.applyState(st, cfg)
}

// UpdateConfig applies a changed topic configuration to tp.
func (m *Manager) UpdateConfig(tp plog.TopicPartition, cfg Config) {
	if p, ok := m.Partition(tp); ok {
		p.setConfig(cfg)
	}
}

// Remove stops hosting tp; with deleteData its log is deleted (topic
// deletion), otherwise only closed.
func (m *Manager) Remove(tp plog.TopicPartition, deleteData bool) error {
	m.mu.Lock()
	p, ok := m.partitions[tp]
	delete(m.partitions, tp)
	m.mu.Unlock()
	if !ok {
		if deleteData {
			if _, has := m.logs.Get(tp); has {
				return m.logs.Delete(tp)
			}
		}
		return nil
	}
	p.mu.Lock()
	p.isLeader = false
	p.mu.Unlock()
	p.watchers.wakeAll()
	if deleteData {
		if err := m.logs.Delete(tp); err != nil {
			return fmt.Errorf("delete %s: %w", tp, err)
		}
	}
	return nil
}

// CheckpointHighWatermarks persists every partition's high watermark
// (replication-offset-checkpoint), so a restarted node does not expose
// records it had not committed.
func (m *Manager) CheckpointHighWatermarks() error {
	hws := make(map[plog.TopicPartition]int64)
	for _, p := range m.Partitions() {
		hws[p.tp] = p.HighWatermark()
	}
	if err := m.logs.WriteHighWatermarks(hws); err != nil {
		return fmt.Errorf("checkpoint high watermarks: %w", err)
	}
	return nil
}

// Close wakes every parked request and checkpoints high watermarks. The
// logs themselves belong to the log manager, which the node closes after.
func (m *Manager) Close() error {
	var errs []error
	for _, p := range m.Partitions() {
		p.mu.Lock()
		p.isLeader = false
		p.mu.Unlock()
		p.watchers.wakeAll()
	}
	if err := m.CheckpointHighWatermarks(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
