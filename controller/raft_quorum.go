package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.etcd.io/bbolt"
)

// RaftQuorum is the replicated Quorum: hashicorp/raft with a bbolt log and
// file snapshots in Dir, its transport over a RaftStream. Voters bootstrap
// the configuration from controller.quorum.voters; observers (broker-only
// nodes) start empty and receive the log once the leader adds them. Every
// node applies the committed entries to its own image through raftFSM.
//
// mu guards closed, closeErr and listeners; it is a leaf: nothing is called
// while it is held.
type RaftQuorum struct {
	nodeID    int32
	single    bool // the only voter: raise timeouts after the first election
	logger    *slog.Logger
	raft      *raft.Raft
	fsm       *raftFSM
	transport *raft.NetworkTransport
	store     *raftboltdb.BoltStore
	observer  *raft.Observer
	quiet     atomic.Bool // closing: raft's complaints go to DEBUG

	// readyTerm is the term in which this node, as leader, applied every
	// entry committed before (its barrier); 0 before.
	readyTerm atomic.Uint64

	observations  chan raft.Observation
	listenerAdded chan struct{}
	stop          chan struct{}
	watcherDone   chan struct{}

	mu        sync.Mutex
	closed    bool
	closeErr  error
	listeners []*leaderListener
	waiters   sync.WaitGroup // goroutines waiting on raft futures (Propose, AddNonVoter)
}

// leaderListener is one OnLeaderChange registration; last and delivered are
// touched by the watcher goroutine only.
type leaderListener struct {
	fn        func(isLeader bool, leaderID int32)
	delivered bool
	last      leaderState
}

type leaderState struct {
	isLeader bool
	leaderID int32
}

// OpenRaftQuorum opens (or creates) the quorum in cfg.Dir and starts raft.
// It does not wait for an election: raft replays the latest snapshot into sm
// now and the later entries once this node learns they are committed.
func OpenRaftQuorum(cfg RaftQuorumConfig, sm StateMachine) (*RaftQuorum, error) {
	if err := checkRaftQuorumConfig(&cfg); err != nil {
		if cfg.Stream != nil {
			cfg.Stream.Close()
		}
		return nil, err
	}
	q := &RaftQuorum{
		nodeID:        cfg.NodeID,
		single:        cfg.Voter && len(cfg.Voters) == 1,
		logger:        cfg.Logger,
		fsm:           newRaftFSM(sm, cfg.Logger),
		observations:  make(chan raft.Observation, 16),
		listenerAdded: make(chan struct{}, 1),
		stop:          make(chan struct{}),
		watcherDone:   make(chan struct{}),
	}
	hlog := newRaftLogger(cfg.Logger.With(slog.String("component", "raft")), &q.quiet, time.Now)
	// Until raft runs, a failed open closes what it opened itself; after,
	// shutdownRaft does.
	cleanup := true
	defer func() {
		if cleanup {
			cfg.Stream.Close()
			if q.store != nil {
				q.store.Close()
			}
		}
	}()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create metadata dir %s: %w", cfg.Dir, err)
	}
	var err error
	q.store, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.Dir, raftStoreFileName),
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("open raft store %s (is another node using this directory?): %w",
			filepath.Join(cfg.Dir, raftStoreFileName), err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsRetained, hlog)
	if err != nil {
		return nil, fmt.Errorf("open raft snapshots in %s: %w", cfg.Dir, err)
	}
	hasState, err := raft.HasExistingState(q.store, q.store, snaps)
	if err != nil {
		return nil, fmt.Errorf("read raft state in %s: %w", cfg.Dir, err)
	}
	if !hasState {
		if err := refuseLocalQuorumFiles(cfg.Dir); err != nil {
			return nil, err
		}
	}
	logs, err := raft.NewLogCache(trailingLogs, q.store)
	if err != nil {
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	q.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftStreamLayer{cfg.Stream},
		MaxPool: 3,
		Timeout: transportTimeout,
		Logger:  hlog,
	})
	rc := raftConfig(cfg, q.single, hlog)
	q.raft, err = raft.NewRaft(rc, q.fsm, logs, q.store, snaps, q.transport)
	if err != nil {
		q.transport.Close()
		return nil, fmt.Errorf("start raft in %s: %w", cfg.Dir, err)
	}
	cleanup = false
	q.observer = raft.NewObserver(q.observations, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	q.raft.RegisterObserver(q.observer)
	if err := q.bootstrapOrCheck(cfg, hasState); err != nil {
		q.shutdownRaft()
		return nil, err
	}
	if q.single && cfg.HeartbeatTimeout == 0 && cfg.LeaderLeaseTimeout == 0 {
		q.electNow()
	}
	go q.watchLeadership()
	q.logger.Info("opened metadata quorum", slog.String("dir", cfg.Dir), slog.Bool("voter", cfg.Voter),
		slog.String("voters", formatVoters(cfg.Voters)), slog.String("advertise", cfg.Advertise),
		slog.Bool("existing_state", hasState), slog.Int64("snapshot_offset", q.fsm.offset.Load()))
	return q, nil
}

// Propose commits recs as one raft entry and returns once this node applied
// it. Only the leader proposes: elsewhere it fails with NOT_CONTROLLER at
// once. It fails with REQUEST_TIMED_OUT when ctx ends first (or after
// defaultProposeTimeout without a deadline); the entry may still commit
// later, as a timed-out request may in Kafka.
func (q *RaftQuorum) Propose(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if !q.IsLeader() {
		return q.notLeaderError()
	}
	data := EncodeRecords(recs)
	if len(data) > maxEntryBytes {
		return fmt.Errorf("metadata entry of %d bytes exceeds the %d byte limit", len(data), maxEntryBytes)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var f raft.ApplyFuture
	err := q.await(ctx, func(timeout time.Duration) raft.Future {
		f = q.raft.Apply(data, timeout)
		return f
	})
	if err != nil {
		return fmt.Errorf("propose metadata: %w", err)
	}
	if applyErr, _ := f.Response().(error); applyErr != nil {
		return fmt.Errorf("committed metadata entry does not apply: %w", applyErr)
	}
	return nil
}

// AddNonVoter makes node id an observer replicating from addr's raft, or
// moves an observer to a new address. A voter is left as it is: it already
// receives everything, and its address is controller.quorum.voters'.
func (q *RaftQuorum) AddNonVoter(ctx context.Context, id int32, addr string) error {
	if !q.IsLeader() {
		return q.notLeaderError()
	}
	f := q.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("add observer %d: read configuration: %w", id, err)
	}
	sid := raftServerID(id)
	for _, s := range f.Configuration().Servers {
		if s.ID != sid {
			continue
		}
		if s.Suffrage == raft.Voter || string(s.Address) == addr {
			return nil
		}
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	err := q.await(ctx, func(timeout time.Duration) raft.Future {
		return q.raft.AddNonvoter(sid, raft.ServerAddress(addr), 0, timeout)
	})
	if err != nil {
		return fmt.Errorf("add observer %d at %s: %w", id, addr, err)
	}
	q.logger.Info("added metadata observer", slog.Int("node.id", int(id)), slog.String("address", addr))
	return nil
}

// RemoveNonVoter removes observer id from the quorum (an unregistered
// broker), so the leader stops replicating to it. An unknown id is already
// removed; a voter is refused: the voter set is controller.quorum.voters.
func (q *RaftQuorum) RemoveNonVoter(ctx context.Context, id int32) error {
	if !q.IsLeader() {
		return q.notLeaderError()
	}
	f := q.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("remove observer %d: read configuration: %w", id, err)
	}
	sid := raftServerID(id)
	idx := slices.IndexFunc(f.Configuration().Servers, func(s raft.Server) bool { return s.ID == sid })
	if idx < 0 {
		return nil
	}
	if f.Configuration().Servers[idx].Suffrage == raft.Voter {
		return fmt.Errorf("%w: node %d is a voter of the metadata quorum, not an observer", kerr.InvalidRequest, id)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	err := q.await(ctx, func(timeout time.Duration) raft.Future {
		return q.raft.RemoveServer(sid, 0, timeout)
	})
	if err != nil {
		return fmt.Errorf("remove observer %d: %w", id, err)
	}
	q.logger.Info("removed metadata observer", slog.Int("node.id", int(id)))
	return nil
}

// await starts a raft operation with ctx's remaining time as its enqueue
// timeout and waits for it or for ctx, whichever ends first; raft's errors
// become kerr ones. The future is waited for in a goroutine the quorum owns:
// it ends when raft answers, at the latest when Close shuts raft down.
func (q *RaftQuorum) await(ctx context.Context, start func(timeout time.Duration) raft.Future) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
	}
	deadline, _ := ctx.Deadline()
	timeout := time.Until(deadline)
	if timeout <= 0 { // raft reads 0 as "no timeout"
		return fmt.Errorf("%w: %w", kerr.RequestTimedOut, context.DeadlineExceeded)
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("%w: %w", kerr.NotController, ErrQuorumClosed)
	}
	q.waiters.Add(1)
	q.mu.Unlock()
	f := start(timeout)
	done := make(chan error, 1)
	go func() {
		defer q.waiters.Done()
		done <- f.Error()
	}()
	select {
	case err := <-done:
		return q.raftError(err)
	case <-ctx.Done():
		return fmt.Errorf("%w: no commit from the metadata quorum in time: %w", kerr.RequestTimedOut, ctx.Err())
	}
}

// raftError maps raft's errors to Kafka's: leadership lost is
// NOT_CONTROLLER (the caller retries on the new leader), a full queue is a
// timeout.
func (q *RaftQuorum) raftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", q.notLeaderError(), err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", kerr.NotController, ErrQuorumClosed)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
	}
	return err
}

func (q *RaftQuorum) notLeaderError() error {
	leader, _ := q.Leader()
	return fmt.Errorf("%w: node %d is not the active controller (leader: %d)", kerr.NotController, q.nodeID, leader)
}

// withDefaultTimeout gives ctx defaultProposeTimeout when it has no deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultProposeTimeout)
}

// Close stops raft and closes the transport (and its stream) and the store.
// The transport goes first so no raft RPC to an unreachable peer holds the
// shutdown up. Later Proposes fail with NOT_CONTROLLER.
func (q *RaftQuorum) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return q.closeErr
	}
	q.closed = true
	q.mu.Unlock()
	err := q.shutdownRaft()
	close(q.stop)
	<-q.watcherDone
	q.waiters.Wait()
	q.mu.Lock()
	q.closeErr = err
	q.mu.Unlock()
	q.logger.Info("closed metadata quorum")
	return err
}

// shutdownRaft tears raft down: transport, raft, store.
func (q *RaftQuorum) shutdownRaft() error {
	q.quiet.Store(true)
	q.transport.Close()
	err := q.raft.Shutdown().Error()
	q.raft.DeregisterObserver(q.observer)
	if cerr := q.store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close raft store: %w", cerr))
	}
	if err != nil {
		return fmt.Errorf("close metadata quorum: %w", err)
	}
	return nil
}
