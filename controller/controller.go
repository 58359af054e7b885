package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/config"
)

// Config configures a Controller.
type Config struct {
	NodeID int32
	// Dir is the metadata log dir (<first log dir>/__cluster_metadata-0).
	Dir string
	// Broker is the static broker config: defaults for new topics.
	Broker *config.Broker
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of topic and cluster IDs; nil means crypto/rand.
	Rand io.Reader
	// SnapshotEvery is the number of log entries between LocalQuorum
	// snapshots; 0 means DefaultSnapshotEvery.
	SnapshotEvery int
	// NewQuorum builds the quorum that orders this node's metadata, driving
	// sm. Nil means a LocalQuorum in Dir. This is the one place a replicated
	// quorum plugs in.
	NewQuorum func(sm StateMachine) (Quorum, error)
	// LeaderImbalanceCheckInterval, when positive, replaces
	// leader.imbalance.check.interval.seconds (whose unit is too coarse
	// for tests).
	LeaderImbalanceCheckInterval time.Duration
}

// Controller is this node's active controller and its broker-side metadata
// view. Its operations validate against the current image, turn the request
// into records, propose them and return per-item results; validation errors
// are kerr errors wrapped with a message. Operations run one at a time, so
// each one validates against the image every earlier one produced.
//
// Every node applies the committed metadata; only the active controller
// (KRaft's term: the node leading the metadata quorum) runs operations, the
// others answer NOT_CONTROLLER. With a LeaderAware quorum (RaftQuorum) the
// activation goroutine follows the quorum's leadership: on becoming leader
// it commits the cluster ID if there is none yet, runs the OnActivate hooks
// and then accepts operations; on losing it, it refuses operations and runs
// the OnDeactivate hooks. A quorum that is not LeaderAware (LocalQuorum) is
// always the leader: the controller is active from Open on.
//
// Locks: opMu is taken first (doc.go); hooksMu and appliedMu are leaves,
// never held while calling out.
type Controller struct {
	cfg        Config
	logger     *slog.Logger
	loader     *loader
	quorum     Quorum
	leadership LeaderAware // nil: the quorum always leads
	lifecycle  *brokerLifecycle
	balancer   *leaderBalancer

	// active is set once the activation hooks ran for the current term of
	// leadership, cleared before the deactivation hooks run.
	active     atomic.Bool
	activation activation
	closeOnce  sync.Once
	closing    chan struct{} // closed by Close: waits end

	hooksMu         sync.Mutex
	activateHooks   []func()
	deactivateHooks []func()

	// appliedCh is closed and replaced after every applied entry or
	// restored snapshot (WaitForOffset).
	appliedMu sync.Mutex
	appliedCh chan struct{}

	// opMu serialises operations and Close.
	opMu   sync.Mutex
	closed bool
}

// Open opens the quorum and starts following its leadership. With a
// LocalQuorum it replays the log into the image and, on a brand new cluster,
// commits a random cluster ID before it returns. With a LeaderAware quorum it
// does not wait for an election: the image fills as entries commit, and the
// first elected controller commits the cluster ID (WaitForClusterID).
func Open(cfg Config) (*Controller, error) {
	if cfg.Broker == nil {
		return nil, errors.New("controller: Config.Broker is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	c := &Controller{
		cfg:       cfg,
		logger:    cfg.Logger,
		loader:    newLoader(cfg.Logger),
		closing:   make(chan struct{}),
		appliedCh: make(chan struct{}),
	}
	c.activation = activation{c: c, kick: make(chan struct{}, 1), done: make(chan struct{})}
	sm := appliedNotifier{StateMachine: c.loader, c: c}
	var err error
	if cfg.NewQuorum != nil {
		c.quorum, err = cfg.NewQuorum(sm)
	} else {
		if cfg.Dir == "" {
			return nil, errors.New("controller: Config.Dir is empty")
		}
		c.quorum, err = OpenLocalQuorum(LocalQuorumConfig{
			Dir: cfg.Dir, SnapshotEvery: cfg.SnapshotEvery, Logger: cfg.Logger,
		}, sm)
	}
	if err != nil {
		return nil, fmt.Errorf("open metadata quorum: %w", err)
	}
	c.leadership, _ = c.quorum.(LeaderAware)
	c.lifecycle = newBrokerLifecycle(c)
	c.followActivation(c.lifecycle.activate, c.lifecycle.deactivate)
	c.balancer = newLeaderBalancer(c)
	c.followActivation(c.balancer.activate, c.balancer.deactivate)
	ctx, cancel := context.WithCancel(context.Background())
	c.activation.cancel = cancel
	if c.leadership == nil {
		// Always the leader: become active before returning, so operations
		// work as soon as Open returns.
		if c.Image().ClusterID == "" {
			if err := c.bootstrapClusterID(ctx); err != nil {
				cancel()
				c.quorum.Close()
				return nil, err
			}
		}
		c.activation.step(ctx)
	}
	go c.activation.run(ctx)
	if c.leadership != nil {
		c.leadership.OnLeaderChange(func(bool, int32) { c.activation.wake() })
	}
	return c, nil
}

// bootstrapClusterID commits a new cluster ID, Kafka style: a random UUID in
// URL-safe base64, 22 characters (what kafka-storage.sh random-uuid prints).
func (c *Controller) bootstrapClusterID(ctx context.Context) error {
	id, err := randomUUID(c.cfg.Rand)
	if err != nil {
		return err
	}
	clusterID := formatUUID(id)
	if err := c.quorum.Propose(ctx, []Record{ClusterIDRecord{ClusterID: clusterID}}); err != nil {
		return fmt.Errorf("commit cluster ID: %w", err)
	}
	c.logger.Info("created cluster", slog.String("cluster.id", clusterID))
	return nil
}

// Image returns the current metadata image; never nil after Open.
func (c *Controller) Image() *Image { return c.loader.current() }

// Subscribe calls fn for every committed change, in order, one at a time,
// after Image() reflects it. Its first call, before Subscribe returns, hands
// fn the whole current image as a delta from the empty image, so fn misses
// nothing and sees nothing twice. fn must not call Propose, Subscribe or any
// operation of the Controller; it may call Image.
func (c *Controller) Subscribe(fn func(*Delta)) { c.loader.subscribe(fn) }

// Close stops the controller: it stops following the quorum's leadership
// (running the OnDeactivate hooks if it was active) and the broker
// lifecycle, lets operations still running finish, then closes the quorum.
// Later operations fail with NOT_CONTROLLER.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		// Without opMu: hooks and the session checker may be waiting for it.
		c.activation.stop()
		c.lifecycle.close()
		c.balancer.close()
	})
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.quorum.Close(); err != nil {
		return fmt.Errorf("close controller: %w", err)
	}
	return nil
}

// proposeLocked commits recs as one entry. It first applies them to the
// current image: the operations built them from that image, so a failure
// here is a bug, and it must not reach the log, where every replay would
// meet it again.
func (c *Controller) proposeLocked(ctx context.Context, recs []Record) error {
	if err := c.checkActiveLocked(); err != nil {
		return err
	}
	if _, _, err := Apply(c.Image(), recs); err != nil {
		c.logger.Error("controller built records that do not apply", slog.Any("err", err))
		return fmt.Errorf("%w: %w", kerr.UnknownServerError, err)
	}
	start := c.cfg.Now()
	err := c.quorum.Propose(ctx, recs)
	if err != nil {
		var ke *kerr.Error
		switch {
		case errors.As(err, &ke):
			return err
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
		}
		return fmt.Errorf("%w: commit metadata: %w", kerr.UnknownServerError, err)
	}
	c.logger.Debug("committed metadata", slog.Int("records", len(recs)),
		slog.Int64("offset", c.Image().Offset), slog.Duration("took", c.cfg.Now().Sub(start)))
	return nil
}

// randomUUID returns a random version 4 UUID, skipping the values Kafka's
// Uuid.randomUuid skips: the zero UUID, the reserved metadata topic ID
// (version bits rule it out) and any whose string form starts with '-',
// which command lines would take for an option.
func randomUUID(r io.Reader) ([16]byte, error) {
	for {
		var id [16]byte
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return id, fmt.Errorf("%w: read random ID: %w", kerr.UnknownServerError, err)
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if !strings.HasPrefix(base64.RawURLEncoding.EncodeToString(id[:]), "-") {
			return id, nil
		}
	}
}

// IsActive reports whether this node is the active controller: it leads the
// metadata quorum, has applied everything committed before, and its
// OnActivate hooks ran. Operations on any other node return NOT_CONTROLLER.
func (c *Controller) IsActive() bool {
	return c.active.Load() && c.quorumLeads()
}

// ActiveController returns the node ID of the active controller as far as
// this node knows (KIP-919's controller endpoint, DescribeQuorum's leader).
func (c *Controller) ActiveController() (int32, bool) {
	if c.leadership != nil {
		return c.leadership.Leader()
	}
	select {
	case <-c.closing:
		return -1, false
	default:
		return c.cfg.NodeID, true
	}
}

// OnActivate registers fn to run each time this node becomes the active
// controller, before it accepts operations; registered while the node is
// active, fn runs once soon after. OnDeactivate registers fn to run each time
// it stops being active (and at Close), after it stopped accepting them.
// All hooks run on the controller's activation goroutine, in order of
// registration, activations and deactivations alternating; with a quorum
// that always leads (LocalQuorum) the hooks registered during Open run in
// Open. Register OnDeactivate before its OnActivate so a deactivation can
// never slip between the two. Hooks must not wait for operations (they take
// opMu, which Close may hold).
func (c *Controller) OnActivate(fn func()) {
	c.hooksMu.Lock()
	c.activateHooks = append(c.activateHooks, fn)
	c.hooksMu.Unlock()
	c.activation.wake()
}

// OnDeactivate: see OnActivate.
func (c *Controller) OnDeactivate(fn func()) {
	c.hooksMu.Lock()
	c.deactivateHooks = append(c.deactivateHooks, fn)
	c.hooksMu.Unlock()
}

// followActivation registers a pair of hooks, the deactivation first
// (OnActivate's rule) so none can slip between the two.
func (c *Controller) followActivation(activate, deactivate func()) {
	c.OnDeactivate(deactivate)
	c.OnActivate(activate)
}

// DescribeQuorum describes the metadata quorum (KIP-595 DescribeQuorum) from
// the active controller; elsewhere it returns NOT_CONTROLLER. A quorum that
// is not replicated (LocalQuorum) is described as its one voter.
func (c *Controller) DescribeQuorum() (QuorumInfo, error) {
	if !c.IsActive() {
		return QuorumInfo{}, fmt.Errorf("%w: node %d is not the active controller", kerr.NotController, c.cfg.NodeID)
	}
	if rq, ok := c.quorum.(ReplicatedQuorum); ok {
		return rq.Describe(), nil
	}
	now := c.cfg.Now().UnixMilli()
	hw := c.Image().Offset + 1
	return QuorumInfo{
		LeaderID: c.cfg.NodeID, LeaderEpoch: 0, HighWatermark: hw,
		Voters: []ReplicaState{{ID: c.cfg.NodeID, LogEndOffset: hw, LastFetchTimestamp: now, LastCaughtUpTimestamp: now}},
	}, nil
}

// AddObserver makes broker id (a broker-only node) an observer of the
// metadata quorum, replicating to its raft at addr: it then applies every
// committed change itself. Only the active controller adds observers; a
// voter is left as it is. A quorum that is not replicated has no observers.
func (c *Controller) AddObserver(ctx context.Context, id int32, addr string) error {
	if !c.IsActive() {
		return fmt.Errorf("%w: node %d is not the active controller", kerr.NotController, c.cfg.NodeID)
	}
	rq, ok := c.quorum.(ReplicatedQuorum)
	if !ok {
		return fmt.Errorf("%w: node %d keeps its metadata in a single-node quorum; broker %d cannot observe it",
			kerr.InvalidRequest, c.cfg.NodeID, id)
	}
	if err := rq.AddNonVoter(ctx, id, addr); err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return err
		}
		return fmt.Errorf("%w: %w", kerr.UnknownServerError, err)
	}
	return nil
}

// RemoveObserver removes broker id from the observers of the metadata
// quorum (UnregisterBroker), so the quorum stops replicating to a node that
// left for good. Only the active controller removes observers; a voter
// cannot be removed, and a quorum that is not replicated has none.
func (c *Controller) RemoveObserver(ctx context.Context, id int32) error {
	if !c.IsActive() {
		return fmt.Errorf("%w: node %d is not the active controller", kerr.NotController, c.cfg.NodeID)
	}
	rq, ok := c.quorum.(ReplicatedQuorum)
	if !ok {
		return nil
	}
	if err := rq.RemoveNonVoter(ctx, id); err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return err
		}
		return fmt.Errorf("%w: %w", kerr.UnknownServerError, err)
	}
	return nil
}

// WaitForOffset returns once this node's image reached offset (a broker
// that forwarded a change to the active controller waits for the offset the
// change committed at, so its next answer reflects it), or fails with
// REQUEST_TIMED_OUT when ctx ends first, NOT_CONTROLLER after Close.
func (c *Controller) WaitForOffset(ctx context.Context, offset int64) error {
	return c.waitForImage(ctx, func(img *Image) bool { return img.Offset >= offset },
		fmt.Sprintf("metadata offset %d", offset))
}

// WaitForClusterID returns the cluster ID once this node's image has one:
// at once with a LocalQuorum, after the first election and its commit (or
// this node catching up) with a raft quorum. The node writes it to
// meta.properties and refuses to run when the log dirs name another one.
func (c *Controller) WaitForClusterID(ctx context.Context) (string, error) {
	var id string
	err := c.waitForImage(ctx, func(img *Image) bool { id = img.ClusterID; return id != "" }, "the cluster ID")
	return id, err
}

func (c *Controller) waitForImage(ctx context.Context, done func(*Image) bool, what string) error {
	for {
		c.appliedMu.Lock()
		ch := c.appliedCh
		c.appliedMu.Unlock()
		img := c.Image()
		if done(img) {
			return nil
		}
		select {
		case <-ch:
		case <-c.closing:
			return fmt.Errorf("%w: the controller is shut down while waiting for %s", kerr.NotController, what)
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for %s, the metadata is at offset %d: %w", kerr.RequestTimedOut, what, img.Offset, ctx.Err())
		}
	}
}

// notifyApplied wakes every waitForImage.
func (c *Controller) notifyApplied() {
	c.appliedMu.Lock()
	close(c.appliedCh)
	c.appliedCh = make(chan struct{})
	c.appliedMu.Unlock()
}

// appliedNotifier is the StateMachine the quorum drives: the loader, plus a
// wake-up of waiters after each entry, whether it applied or was skipped
// (its offsets count either way).
type appliedNotifier struct {
	StateMachine
	c *Controller
}

func (n appliedNotifier) ApplyEntry(recs []Record) error {
	defer n.c.notifyApplied()
	return n.StateMachine.ApplyEntry(recs)
}

func (n appliedNotifier) Restore(offset int64, recs []Record) error {
	defer n.c.notifyApplied()
	return n.StateMachine.Restore(offset, recs)
}

func (c *Controller) quorumLeads() bool {
	return c.leadership == nil || c.leadership.IsLeader()
}

// activationRetry paces retries of a new leader's cluster ID commit.
const activationRetry = 100 * time.Millisecond

// activation follows the quorum's leadership on one goroutine (run), which
// Close stops and waits for. Its fields other than kick and done belong to
// that goroutine (or to Open before it starts).
type activation struct {
	c      *Controller
	kick   chan struct{} // buffered 1: a leadership change or a new hook
	done   chan struct{}
	cancel context.CancelFunc

	inOffice bool // the activate hooks of this term of leadership started
	ran      int  // how many activate hooks ran in it
}

// wake makes run look at the leadership again.
func (a *activation) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *activation) stop() {
	a.cancel()
	<-a.done
}

func (a *activation) run(ctx context.Context) {
	defer close(a.done)
	var retry *time.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	var retryC <-chan time.Time
	a.wake()
	for {
		select {
		case <-ctx.Done():
			if a.inOffice {
				a.resign()
			}
			return
		case <-a.kick:
		case <-retryC:
			retryC = nil
		}
		if a.step(ctx) {
			if retry == nil {
				retry = time.NewTimer(activationRetry)
			} else {
				retry.Reset(activationRetry)
			}
			retryC = retry.C
		}
	}
}

// step brings the controller in line with the quorum's leadership. It
// reports whether to try again later (the cluster ID could not be committed
// yet).
func (a *activation) step(ctx context.Context) (retry bool) {
	c := a.c
	if !c.quorumLeads() {
		if a.inOffice {
			a.resign()
		}
		return false
	}
	if !a.inOffice {
		// The first elected controller creates the cluster ID (issue 4);
		// a later one finds it in the image it caught up to.
		if c.Image().ClusterID == "" {
			if err := c.bootstrapClusterID(ctx); err != nil {
				if ctx.Err() == nil {
					c.logger.Warn("new active controller could not commit the cluster ID; retrying", slog.Any("err", err))
				}
				return ctx.Err() == nil
			}
		}
		a.inOffice, a.ran = true, 0
	}
	c.hooksMu.Lock()
	hooks := slices.Clone(c.activateHooks[a.ran:])
	c.hooksMu.Unlock()
	for _, fn := range hooks {
		fn()
	}
	a.ran += len(hooks)
	if !c.active.Swap(true) && c.leadership != nil {
		c.logger.Info("this node is the active controller", slog.Int64("metadata_offset", c.Image().Offset))
	}
	return false
}

// resign stops accepting operations, then runs the deactivate hooks.
func (a *activation) resign() {
	c := a.c
	c.active.Store(false)
	a.inOffice = false
	c.hooksMu.Lock()
	hooks := slices.Clone(c.deactivateHooks)
	c.hooksMu.Unlock()
	for _, fn := range hooks {
		fn()
	}
	if c.leadership != nil {
		c.logger.Info("this node is no longer the active controller")
	}
}
