// Package node wires one samsa node: storage, the metadata quorum and
// controller, the replica manager, the request handlers and the listeners.
// A Node is a plain struct with Start and Close, so tests can run several
// in one process.
package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/group"
	"github.com/samsa-broker/samsa/handlers"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// Node is one running samsa process's worth of broker and controller.
type Node struct {
	cfg         *config.Broker
	logger      *slog.Logger
	incarnation [16]byte

	logs      *plog.Manager
	raft      *controller.RaftStream
	ctrl      *controller.Controller
	replicas  *replica.Manager
	groups    *group.Coordinator
	channel   *controllerChannel
	pids      *producerIDs
	meta      metadataWatch
	transport *brokerTransport
	metrics   *metricsServer

	// offsetsLeads maps the __consumer_offsets partitions the group
	// coordinator was told this node leads to their leader epochs; only
	// applyGroupRoles touches it.
	offsetsLeads map[int32]int32

	brokerHandlers     *handlers.Handlers
	controllerHandlers *handlers.Handlers

	// listeners are bound in New so that port 0 resolves before the broker
	// registers its endpoints; servers serve them from Start.
	listeners map[string]*routedListener
	servers   []*protocol.Server
	wg        sync.WaitGroup

	stopLifecycle context.CancelFunc
	lifecycleDone chan struct{}
	// unfenced is closed when the controller first unfences this broker.
	unfenced     chan struct{}
	unfencedOnce sync.Once
	// clusterMismatch holds the error when the quorum's cluster ID is not
	// the one in this node's meta.properties: the broker then never
	// registers, so it joins no cluster it does not belong to.
	clusterMismatch atomic.Pointer[error]

	closeOnce sync.Once
	closeErr  error
}

// New opens the node's storage and metadata quorum and binds its
// listeners. It serves nothing until Start.
func New(cfg *config.Broker, logger *slog.Logger) (*Node, error) {
	n := &Node{cfg: cfg, logger: logger, listeners: make(map[string]*routedListener), unfenced: make(chan struct{})}
	_, _ = rand.Read(n.incarnation[:])
	if err := n.open(); err != nil {
		n.closeResources()
		return nil, err
	}
	return n, nil
}

// open builds the node's parts; on error, New closes what was opened.
func (n *Node) open() error {
	cfg, logger := n.cfg, n.logger
	var err error
	if len(cfg.LogDirs) == 0 {
		return errors.New("log.dirs names no directory")
	}
	cleaner := logCleanerConfig(cfg)
	n.logs, err = plog.NewManager(plog.ManagerConfig{
		CleanerDisabled:                 cleaner.CleanerDisabled,
		CleanerBackoff:                  cleaner.CleanerBackoff,
		CleanerDedupeBufferSize:         cleaner.CleanerDedupeBufferSize,
		CleanerDedupeBufferLoadFactor:   cleaner.CleanerDedupeBufferLoadFactor,
		CleanerIOBufferSize:             cleaner.CleanerIOBufferSize,
		Dirs:                            cfg.LogDirs,
		NodeID:                          cfg.NodeID,
		Defaults:                        logConfig(cfg.ResolveTopic(nil, nil, nil)),
		RetentionCheckInterval:          interval(cfg.LogRetentionCheckIntervalMs, 5*time.Minute),
		FlushCheckInterval:              interval(cfg.LogFlushSchedulerIntervalMs, time.Second),
		RecoveryPointCheckpointInterval: interval(int64(cfg.LogFlushOffsetCheckpointIntervalMs), time.Minute),
		Logger:                          logger.With(slog.String("component", "log")),
	})
	if err != nil {
		return fmt.Errorf("open log dirs: %w", err)
	}
	if n.metrics, err = newMetricsServer(cfg.MetricsListener); err != nil {
		return err
	}
	if err := n.bindListeners(); err != nil {
		return err
	}
	raftAddr, err := n.raftAdvertise()
	if err != nil {
		return err
	}
	n.raft = controller.NewRaftStream(raftAddr)
	ctrlLogger := logger.With(slog.String("component", "controller"))
	n.ctrl, err = controller.Open(controller.Config{
		NodeID: cfg.NodeID,
		Dir:    filepath.Join(cfg.LogDirs[0], "__cluster_metadata-0"),
		Broker: cfg,
		Logger: ctrlLogger,
		Now:    time.Now,
		Rand:   rand.Reader,
		NewQuorum: func(sm controller.StateMachine) (controller.Quorum, error) {
			return controller.OpenRaftQuorum(controller.RaftQuorumConfig{
				NodeID:    cfg.NodeID,
				Dir:       filepath.Join(cfg.LogDirs[0], "__cluster_metadata-0"),
				Voters:    cfg.ControllerQuorumVoters,
				Voter:     n.isController(),
				Advertise: raftAddr.String(),
				Stream:    n.raft,
				Logger:    ctrlLogger,
			}, sm)
		},
	})
	if err != nil {
		return fmt.Errorf("open metadata: %w", err)
	}
	voters := make(map[int32]string)
	var order []int32
	for _, v := range cfg.ControllerQuorumVoters {
		voters[v.ID] = v.Address()
		order = append(order, v.ID)
	}
	n.channel = newControllerChannel(voters, order, n.ctrl.ActiveController, cfg.NodeID, logger)
	n.pids = newProducerIDs(n.channel, cfg.NodeID)
	n.transport = newBrokerTransport(n.ctrl.Image, interBrokerListener(cfg), cfg.NodeID)
	n.replicas = replica.NewManager(replica.ManagerConfig{
		NodeID:         cfg.NodeID,
		Logs:           n.logs,
		Logger:         logger.With(slog.String("component", "replica")),
		Now:            time.Now,
		FetchTransport: n.transport,
		ISRChanger: isrChanger{
			channel: n.channel, image: n.ctrl.Image, nodeID: cfg.NodeID,
			brokerEpoch: n.pids.brokerEpoch.Load,
		},
		BrokerEpoch:       n.pids.brokerEpoch.Load,
		BrokerState:       brokerState(n.ctrl.Image),
		ReplicaLagTimeMax: time.Duration(cfg.ReplicaLagTimeMaxMs) * time.Millisecond,
		Registry:          n.metrics.registry,
	})
	codecs := record.NewCodecs()
	n.groups = newGroupCoordinator(cfg, n.replicas, n.ctrl, codecs, logger)
	n.offsetsLeads = make(map[int32]int32)
	deps := handlers.Deps{
		NodeID:       cfg.NodeID,
		Config:       cfg,
		Replicas:     n.replicas,
		Logs:         n.logs,
		Controller:   n.ctrl,
		ProducerIDs:  n.pids,
		Codecs:       codecs,
		Logger:       logger.With(slog.String("component", "handlers")),
		Now:          time.Now,
		Forward:      forwarder{n.channel},
		WaitMetadata: n.meta.wait(n.ctrl),
		Groups:       n.groups,
	}
	n.brokerHandlers = handlers.New(deps)
	n.controllerHandlers = handlers.NewController(deps)
	return nil
}

func (n *Node) isController() bool { return slices.Contains(n.cfg.ProcessRoles, "controller") }
func (n *Node) isBroker() bool     { return slices.Contains(n.cfg.ProcessRoles, "broker") }

func (n *Node) isControllerListener(name string) bool {
	return slices.Contains(n.cfg.ControllerListenerNames, name)
}

// bindListeners binds the broker listeners (when a broker) and the
// controller listener (when a controller).
func (n *Node) bindListeners() error {
	for _, l := range n.cfg.Listeners {
		ctrl := n.isControllerListener(l.Name)
		if (ctrl && !n.isController()) || (!ctrl && !n.isBroker()) {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(l.Host, strconv.Itoa(l.Port)))
		if err != nil {
			return fmt.Errorf("listen %s on %s:%d: %w", l.Name, l.Host, l.Port, err)
		}
		n.listeners[l.Name] = newRoutedListener(ln, controller.RaftConnMagic, func(c net.Conn) { n.raft.HandOff(c) }, n.logger.With(slog.String("listener", l.Name)))
	}
	return nil
}

// raftAdvertise is where other nodes reach this node's raft: its voter
// entry in controller.quorum.voters, or, for a broker-only node (a raft
// observer), its first broker listener.
func (n *Node) raftAdvertise() (net.Addr, error) {
	for _, v := range n.cfg.ControllerQuorumVoters {
		if v.ID == n.cfg.NodeID && n.isController() {
			return net.ResolveTCPAddr("tcp", v.Address())
		}
	}
	if n.isController() {
		return nil, fmt.Errorf("node %d has process.roles=controller but is not in controller.quorum.voters", n.cfg.NodeID)
	}
	for _, l := range n.cfg.AdvertisedListeners {
		if rl, ok := n.listeners[l.Name]; ok {
			port := l.Port
			if port == 0 {
				port = rl.Addr().(*net.TCPAddr).Port
			}
			return net.ResolveTCPAddr("tcp", net.JoinHostPort(l.Host, strconv.Itoa(port)))
		}
	}
	return nil, errors.New("no advertised broker listener to reach this node's metadata replica at")
}

// Start serves every listener, applies metadata to the replica manager and
// registers the broker with the active controller.
func (n *Node) Start() error {
	// Subscribe hands the image as of now to applyDelta as a delta from
	// nothing, then every later change, in order.
	n.ctrl.Subscribe(n.applyDelta)
	n.logs.Start()
	n.metrics.start(n.logger)
	for name, ln := range n.listeners {
		h := n.brokerHandlers
		if n.isControllerListener(name) {
			h = n.controllerHandlers
		}
		srv := protocol.NewServer(protocol.Config{
			Listener:        name,
			MaxRequestBytes: n.cfg.SocketRequestMaxBytes,
			Versions:        h.Versions(),
			Handler:         h,
			Logger:          n.logger.With(slog.String("listener", name)),
			IdleTimeout:     time.Duration(n.cfg.ConnectionsMaxIdleMs) * time.Millisecond,
		})
		n.servers = append(n.servers, srv)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := srv.Serve(ln); err != nil {
				n.logger.Error("listener stopped", slog.String("listener", name), slog.Any("err", err))
			}
		}()
	}
	if n.isBroker() {
		ctx, cancel := context.WithCancel(context.Background())
		n.stopLifecycle = cancel
		n.lifecycleDone = make(chan struct{})
		go func() {
			defer close(n.lifecycleDone)
			n.runLifecycle(ctx)
		}()
	}
	n.logger.Info("samsa node started", slog.Int("node.id", int(n.cfg.NodeID)), slog.Any("process.roles", n.cfg.ProcessRoles), slog.Any("listeners", n.Addrs()), slog.String("metrics", n.metrics.addr()))
	return nil
}

// WaitReady blocks until the controller has unfenced this broker (Kafka's
// BrokerServer completes start-up at that point), so clients that connect
// afterwards see it in Metadata, or until ctx ends. A controller-only node
// is ready at once.
func (n *Node) WaitReady(ctx context.Context) error {
	if !n.isBroker() {
		return nil
	}
	select {
	case <-n.unfenced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker %d not unfenced by the controller yet: %w", n.cfg.NodeID, ctx.Err())
	}
}

// Addrs returns the bound address of every listener by name.
func (n *Node) Addrs() map[string]string {
	out := make(map[string]string, len(n.listeners))
	for name, ln := range n.listeners {
		out[name] = ln.Addr().String()
	}
	return out
}

// Addr returns the bound address of the first broker listener.
func (n *Node) Addr() string {
	for _, l := range n.cfg.Listeners {
		if ln, ok := n.listeners[l.Name]; ok && !n.isControllerListener(l.Name) {
			return ln.Addr().String()
		}
	}
	return ""
}

// MetricsAddr is where the Prometheus endpoint listens, "" if disabled.
func (n *Node) MetricsAddr() string { return n.metrics.addr() }

// Close shuts down in Kafka's order: controlled shutdown (leadership moves
// away), stop serving, then the replica manager, the metadata quorum and
// the logs, so the clean-shutdown marker is written only after every
// request is answered and every log is flushed.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.stopLifecycle != nil {
			n.stopLifecycle()
			<-n.lifecycleDone
			n.controlledShutdown(5 * time.Second)
		}
		for _, s := range n.servers {
			if err := s.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		n.wg.Wait()
		errs = append(errs, n.closeResources())
		n.closeErr = errors.Join(errs...)
		n.logger.Info("samsa node stopped", slog.Int("node.id", int(n.cfg.NodeID)))
	})
	return n.closeErr
}

func (n *Node) closeResources() error {
	var errs []error
	for _, ln := range n.listeners {
		ln.Close()
		ln.wait()
	}
	if n.channel != nil {
		n.channel.Close()
	}
	if n.metrics != nil {
		n.metrics.close()
	}
	// The group coordinator appends to and reads __consumer_offsets
	// through the replica manager: it stops first.
	if n.groups != nil {
		errs = append(errs, n.groups.Close())
	}
	if n.replicas != nil {
		errs = append(errs, n.replicas.Close())
	}
	if n.transport != nil {
		n.transport.Close()
	}
	if n.ctrl != nil {
		errs = append(errs, n.ctrl.Close())
	}
	if n.raft != nil {
		n.raft.Close()
	}
	if n.logs != nil {
		errs = append(errs, n.logs.Close())
	}
	return errors.Join(errs...)
}

// interval converts a Kafka millisecond setting to a ticker period, at most
// limit: several of Kafka's defaults are Long.MAX_VALUE ("never"), which
// would overflow a Duration, and a background check still has to run now
// and then to notice per-topic settings.
func interval(ms int64, limit time.Duration) time.Duration {
	if ms <= 0 || ms > int64(limit/time.Millisecond) {
		return limit
	}
	return time.Duration(ms) * time.Millisecond
}

// forwarder relays broker-received controller requests over the channel.
type forwarder struct{ ch *controllerChannel }

func (f forwarder) Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return f.ch.Request(ctx, req, notControllerCode)
}

// metadataWatch wakes waiters at every applied metadata change.
type metadataWatch struct {
	mu      sync.Mutex
	changed chan struct{}
}

// current returns the channel closed at the next change.
func (w *metadataWatch) current() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	return w.changed
}

// notify wakes every waiter.
func (w *metadataWatch) notify() {
	w.mu.Lock()
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
	w.mu.Unlock()
}

// wait returns the handlers' WaitMetadata: block until pred holds for the
// current image or ctx ends.
func (w *metadataWatch) wait(ctrl *controller.Controller) func(context.Context, func(*controller.Image) bool) bool {
	return func(ctx context.Context, pred func(*controller.Image) bool) bool {
		for {
			ch := w.current()
			if pred(ctrl.Image()) {
				return true
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return false
			}
		}
	}
}

// interBrokerListener names the listener followers fetch from:
// inter.broker.listener.name, else the first advertised listener.
func interBrokerListener(cfg *config.Broker) string {
	if cfg.InterBrokerListenerName != "" {
		return cfg.InterBrokerListenerName
	}
	if len(cfg.AdvertisedListeners) > 0 {
		return cfg.AdvertisedListeners[0].Name
	}
	return "PLAINTEXT"
}
