package replica

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	plog "github.com/samsa-broker/samsa/log"
)

// ManagerConfig wires a Manager. Everything after Now is optional: a
// Manager without FetchTransport and ISRChanger is the single-node replica
// manager (it hosts, leads and serves; it cannot follow, and ISRs never
// change).
type ManagerConfig struct {
	NodeID int32
	Logs   *plog.Manager
	Logger *slog.Logger
	Now    func() time.Time

	// FetchTransport carries follower fetches to other brokers.
	FetchTransport FetchTransport
	// ISRChanger commits ISR changes (AlterPartition to the controller).
	ISRChanger ISRChanger
	// BrokerEpoch returns this broker's current epoch, sent in follower
	// fetches (ReplicaState.Epoch, KIP-903); nil sends -1.
	BrokerEpoch func() int64
	// BrokerState returns broker id's registered epoch and whether it may
	// join an ISR: registered, unfenced, not in controlled shutdown (Kafka's
	// isReplicaIsrEligible). nil treats every replica as eligible and skips
	// the stale broker epoch check on follower fetches.
	BrokerState func(id int32) (epoch int64, isrEligible bool)

	// ReplicaLagTimeMax is replica.lag.time.max.ms (default 30 s).
	ReplicaLagTimeMax time.Duration
	// ReplicaFetchWaitMax is replica.fetch.wait.max.ms (default 500 ms).
	ReplicaFetchWaitMax time.Duration
	// ReplicaFetchMinBytes is replica.fetch.min.bytes (default 1).
	ReplicaFetchMinBytes int32
	// ReplicaFetchMaxBytes is replica.fetch.max.bytes, per partition
	// (default 1 MiB).
	ReplicaFetchMaxBytes int32
	// ReplicaFetchResponseMaxBytes is replica.fetch.response.max.bytes
	// (default 10 MiB).
	ReplicaFetchResponseMaxBytes int32
	// ReplicaFetchBackoff is replica.fetch.backoff.ms (default 1 s).
	ReplicaFetchBackoff time.Duration
	// FetchVersion is the Fetch version followers send, 12 to 17 (default
	// 17): v13+ name topics by ID, v15+ carry ReplicaState.
	FetchVersion int16
	// AlterPartitionTimeout bounds one ISR change proposal (default 30 s,
	// Kafka's request.timeout.ms).
	AlterPartitionTimeout time.Duration

	// Registry receives the replica metrics (metrics.go); nil: none.
	Registry *prometheus.Registry
}

// withDefaults fills unset fields with Kafka's defaults.
func (c ManagerConfig) withDefaults() ManagerConfig {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReplicaLagTimeMax, 30*time.Second)
	def(&c.ReplicaFetchWaitMax, 500*time.Millisecond)
	def(&c.ReplicaFetchBackoff, time.Second)
	def(&c.AlterPartitionTimeout, 30*time.Second)
	if c.ReplicaFetchMinBytes <= 0 {
		c.ReplicaFetchMinBytes = 1
	}
	if c.ReplicaFetchMaxBytes <= 0 {
		c.ReplicaFetchMaxBytes = 1 << 20
	}
	if c.ReplicaFetchResponseMaxBytes <= 0 {
		c.ReplicaFetchResponseMaxBytes = 10 << 20
	}
	if c.FetchVersion < minFollowerFetchVersion || c.FetchVersion > maxFollowerFetchVersion {
		c.FetchVersion = maxFollowerFetchVersion
	}
	return c
}

// replication is what every Partition of a Manager shares: settings and
// the Manager's hooks.
type replication struct {
	lagMax      time.Duration
	logger      *slog.Logger
	brokerState func(id int32) (int64, bool)
	// submitISR sends an ISR proposal; nil when ISRs cannot change.
	submitISR func(*Partition, *isrProposal)
	metrics   *metrics
}

// Manager owns every Partition hosted on this node, the follower fetchers
// (one per source broker) and the ISR expiration loop. Partitions are
// created, changed and removed only by ApplyState / UpdateConfig / Remove,
// which the node calls in metadata order.
//
// Goroutines (fetchers, ISR proposals, the ISR loop) are started under bgMu
// only while not closed, and Close waits for them; doc.go has the lock
// order.
type Manager struct {
	cfg    ManagerConfig
	nodeID int32
	logs   *plog.Manager
	logger *slog.Logger
	now    func() time.Time
	repl   *replication

	// startHW holds the high watermarks read from the checkpoint at start-up,
	// consumed as partitions are created.
	startHW map[plog.TopicPartition]int64

	mu         sync.RWMutex
	partitions map[plog.TopicPartition]*Partition

	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup
	bgMu   sync.Mutex
	closed bool
	// fetchers by source broker, and which one each followed partition is in.
	fetchers    map[int32]*fetcher
	fetchSource map[plog.TopicPartition]int32

	lagWarnMu sync.Mutex
	lagWarned map[int32]time.Time
}

// NewManager returns a Manager with no partitions. With an ISRChanger it
// starts the ISR expiration loop; Close stops it.
func NewManager(cfg ManagerConfig) *Manager {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg:         cfg,
		nodeID:      cfg.NodeID,
		logs:        cfg.Logs,
		logger:      cfg.Logger,
		now:         cfg.Now,
		startHW:     cfg.Logs.HighWatermarks(),
		partitions:  make(map[plog.TopicPartition]*Partition),
		ctx:         ctx,
		cancel:      cancel,
		fetchers:    make(map[int32]*fetcher),
		fetchSource: make(map[plog.TopicPartition]int32),
		lagWarned:   make(map[int32]time.Time),
	}
	m.repl = &replication{lagMax: cfg.ReplicaLagTimeMax, logger: cfg.Logger, brokerState: cfg.BrokerState}
	if cfg.ISRChanger != nil {
		m.repl.submitISR = m.submitISRProposal
		m.bg.Add(1)
		go m.runISRExpiration()
	}
	if cfg.Registry != nil {
		m.repl.metrics = newMetrics(m, cfg.Registry)
	}
	return m
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
// log if needed, and takes on the role the metadata names: leading, or
// following through the fetcher of the leader's broker (Kafka's
// ReplicaManager.applyDelta).
func (m *Manager) ApplyState(tp plog.TopicPartition, st State, cfg Config) error {
	m.mu.Lock()
	p, ok := m.partitions[tp]
	if !ok {
		l, err := m.logs.GetOrCreate(tp, st.TopicID, cfg.Log)
		if err != nil {
			m.mu.Unlock()
			return fmt.Errorf("open log for %s: %w", tp, err)
		}
		p = newPartition(tp, m.nodeID, l, m.startHW[tp], m.now, m.repl)
		delete(m.startHW, tp)
		m.partitions[tp] = p
	}
	m.mu.Unlock()
	rc, err := p.applyState(st, cfg)
	if err != nil {
		return err
	}
	if rc.follow {
		m.follow(p, rc.restartFetch)
	} else {
		m.stopFollowing(tp)
	}
	return nil
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
	m.stopFollowing(tp)
	if !ok {
		if deleteData {
			if _, has := m.logs.Get(tp); has {
				return m.logs.Delete(tp)
			}
		}
		return nil
	}
	p.stop()
	if deleteData {
		if err := m.logs.Delete(tp); err != nil {
			return fmt.Errorf("delete %s: %w", tp, err)
		}
	}
	return nil
}

// stop ends the partition's role: parked requests wake and find it neither
// leader nor follower of anyone.
func (p *Partition) stop() {
	p.mu.Lock()
	p.isLeader = false
	p.state.Leader = -1
	p.mu.Unlock()
	p.rmu.Lock()
	p.followers = nil
	p.isr.reset()
	p.rmu.Unlock()
	p.watchers.wakeAll()
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

// Close stops the fetchers, the ISR loop and proposals in flight and waits
// for them, wakes every parked request and checkpoints high watermarks. The
// logs themselves belong to the log manager, which the node closes after.
func (m *Manager) Close() error {
	m.bgMu.Lock()
	m.closed = true
	m.bgMu.Unlock()
	m.cancel()
	m.bg.Wait()
	for _, p := range m.Partitions() {
		p.stop()
	}
	m.repl.metrics.unregister()
	return m.CheckpointHighWatermarks()
}
