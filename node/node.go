// Package node wires one samsa node: storage, the metadata controller, the
// replica manager, the request handlers and the listeners. A Node is a plain
// struct with Start and Close, so tests can run several in one process.
package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/handlers"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// Node is one running samsa process's worth of broker and controller.
type Node struct {
	cfg    *config.Broker
	logger *slog.Logger

	logs     *plog.Manager
	ctrl     *controller.Controller
	replicas *replica.Manager
	handlers *handlers.Handlers
	pids     *producerIDs

	// listeners are bound in New so that port 0 resolves before the broker
	// registers its endpoints; servers serve them from Start.
	listeners map[string]net.Listener
	servers   []*protocol.Server
	wg        sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// New opens the node's storage and metadata and binds its listeners. It
// serves nothing until Start.
func New(cfg *config.Broker, logger *slog.Logger) (n *Node, err error) {
	n = &Node{cfg: cfg, logger: logger, listeners: make(map[string]net.Listener)}
	defer func() {
		if err != nil {
			n.closeResources()
		}
	}()
	if len(cfg.LogDirs) == 0 {
		return nil, errors.New("log.dirs names no directory")
	}
	n.logs, err = plog.NewManager(plog.ManagerConfig{
		Dirs:                            cfg.LogDirs,
		NodeID:                          cfg.NodeID,
		Defaults:                        logConfig(cfg.ResolveTopic(nil, nil, nil)),
		RetentionCheckInterval:          interval(cfg.LogRetentionCheckIntervalMs, 5*time.Minute),
		FlushCheckInterval:              interval(cfg.LogFlushSchedulerIntervalMs, time.Second),
		RecoveryPointCheckpointInterval: interval(int64(cfg.LogFlushOffsetCheckpointIntervalMs), time.Minute),
		Logger:                          logger.With(slog.String("component", "log")),
	})
	if err != nil {
		return nil, fmt.Errorf("open log dirs: %w", err)
	}
	n.ctrl, err = controller.Open(controller.Config{
		NodeID: cfg.NodeID,
		Dir:    filepath.Join(cfg.LogDirs[0], "__cluster_metadata-0"),
		Broker: cfg,
		Logger: logger.With(slog.String("component", "controller")),
		Now:    time.Now,
		Rand:   rand.Reader,
	})
	if err != nil {
		return nil, fmt.Errorf("open metadata: %w", err)
	}
	if err := n.logs.SetClusterID(n.ctrl.Image().ClusterID); err != nil {
		return nil, fmt.Errorf("log dirs belong to another cluster: %w", err)
	}
	n.replicas = replica.NewManager(replica.ManagerConfig{
		NodeID: cfg.NodeID,
		Logs:   n.logs,
		Logger: logger.With(slog.String("component", "replica")),
		Now:    time.Now,
	})
	n.pids = newProducerIDs(n.ctrl, cfg.NodeID)
	n.handlers = handlers.New(handlers.Deps{
		NodeID:      cfg.NodeID,
		Config:      cfg,
		Replicas:    n.replicas,
		Controller:  n.ctrl,
		ProducerIDs: n.pids,
		Codecs:      record.NewCodecs(),
		Logger:      logger.With(slog.String("component", "handlers")),
		Now:         time.Now,
	})
	if err := n.bindListeners(); err != nil {
		return nil, err
	}
	return n, nil
}

// brokerListeners are the listeners clients and brokers connect to: every
// listener except the controller's.
func (n *Node) brokerListeners() []config.Listener {
	var out []config.Listener
	for _, l := range n.cfg.Listeners {
		if !containsString(n.cfg.ControllerListenerNames, l.Name) {
			out = append(out, l)
		}
	}
	return out
}

func (n *Node) bindListeners() error {
	for _, l := range n.brokerListeners() {
		ln, err := net.Listen("tcp", net.JoinHostPort(l.Host, fmt.Sprint(l.Port)))
		if err != nil {
			return fmt.Errorf("listen %s on %s:%d: %w", l.Name, l.Host, l.Port, err)
		}
		n.listeners[l.Name] = ln
	}
	return nil
}

// Start registers the broker, applies the current metadata, and serves
// every listener.
func (n *Node) Start() error {
	ctx := context.Background()
	// Subscribe hands the image as of now to applyDelta as a delta from
	// nothing, then every later change, in order.
	n.ctrl.Subscribe(n.applyDelta)
	epoch, err := n.ctrl.RegisterBroker(ctx, n.registration())
	if err != nil {
		return fmt.Errorf("register broker %d: %w", n.cfg.NodeID, err)
	}
	n.pids.brokerEpoch.Store(epoch)
	n.logs.Start()
	for name, ln := range n.listeners {
		srv := protocol.NewServer(protocol.Config{
			Listener:        name,
			MaxRequestBytes: n.cfg.SocketRequestMaxBytes,
			Versions:        n.handlers.Versions(),
			Handler:         n.handlers,
			Logger:          n.logger.With(slog.String("listener", name)),
			MaxInFlight:     128,
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
	n.logger.Info("samsa node started", slog.Int("node.id", int(n.cfg.NodeID)), slog.String("cluster.id", n.ctrl.Image().ClusterID), slog.Any("listeners", n.Addrs()))
	return nil
}

// Addrs returns the bound address of every broker listener by name.
func (n *Node) Addrs() map[string]string {
	out := make(map[string]string, len(n.listeners))
	for name, ln := range n.listeners {
		out[name] = ln.Addr().String()
	}
	return out
}

// Addr returns the bound address of the first broker listener.
func (n *Node) Addr() string {
	for _, l := range n.brokerListeners() {
		if ln, ok := n.listeners[l.Name]; ok {
			return ln.Addr().String()
		}
	}
	return ""
}

// Close stops serving, then closes the replica manager, metadata and logs,
// in that order, so the clean-shutdown marker is written only after every
// request is answered and every log is flushed.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
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
	}
	if n.replicas != nil {
		errs = append(errs, n.replicas.Close())
	}
	if n.ctrl != nil {
		errs = append(errs, n.ctrl.Close())
	}
	if n.logs != nil {
		errs = append(errs, n.logs.Close())
	}
	return errors.Join(errs...)
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
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
