package controller

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// brokerSession is what the active controller knows about one broker
// incarnation between heartbeats (Kafka's BrokerHeartbeatManager and
// BrokerHeartbeatTracker state). It is never written to the metadata log.
type brokerSession struct {
	// Epoch is the broker epoch the session belongs to; a session for
	// another epoch is a leftover of an older incarnation.
	Epoch int64
	// LastContact is when the broker was last heard from, or when this
	// controller became active (the grace period every broker gets).
	LastContact time.Time
	// HeardFrom is set once this incarnation registered or heartbeated to
	// this active controller, as opposed to holding only the grace period.
	HeardFrom bool
	// MetadataOffset is the last metadata offset the broker reported; -1
	// before its first heartbeat.
	MetadataOffset int64
	// ShutdownOffset is -1, or, while the broker is in controlled shutdown,
	// the metadata offset every active broker must reach before it may stop
	// (Kafka's controlledShutdownOffset).
	ShutdownOffset int64
}

// inControlledShutdown reports whether the broker asked to shut down and is
// waiting for its leaderships to move.
func (s brokerSession) inControlledShutdown() bool { return s.ShutdownOffset >= 0 }

func newSession(epoch int64, now time.Time) brokerSession {
	return brokerSession{Epoch: epoch, LastContact: now, MetadataOffset: -1, ShutdownOffset: -1}
}

// sessionExpired is Kafka's BrokerHeartbeatTracker.isExpired: the session
// ends once more than the session timeout passed since the last contact.
func sessionExpired(s brokerSession, now time.Time, timeout time.Duration) bool {
	return now.After(s.LastContact.Add(timeout))
}

// staleBrokerIDs returns, sorted by ID, the unfenced brokers whose session
// expired at now. A broker without a session for its current epoch is not
// stale: the caller gives it one first.
func staleBrokerIDs(img *Image, sessions map[int32]brokerSession, now time.Time, timeout time.Duration) []int32 {
	var stale []int32
	for _, b := range img.LiveBrokers() {
		s, ok := sessions[b.NodeID]
		if ok && s.Epoch == b.Epoch && sessionExpired(s, now, timeout) {
			stale = append(stale, b.NodeID)
		}
	}
	return stale
}

// usableFrom returns the brokers that may lead or join an ISR: unfenced in
// the image and not in controlled shutdown.
func usableFrom(img *Image, sessions map[int32]brokerSession) usableBrokers {
	usable := usableBrokers{}
	for id, b := range img.Brokers {
		if b.Fenced {
			continue
		}
		if s, ok := sessions[id]; ok && s.Epoch == b.Epoch && s.inControlledShutdown() {
			continue
		}
		usable[id] = true
	}
	return usable
}

// lowestActiveOffset is the smallest metadata offset reported by an active
// broker (unfenced, not shutting down), or MaxInt64 without one (Kafka's
// BrokerHeartbeatManager.lowestActiveOffset). A broker that has not
// heartbeated since this controller became active counts as -1.
func lowestActiveOffset(img *Image, sessions map[int32]brokerSession) int64 {
	lowest := int64(math.MaxInt64)
	for id, b := range img.Brokers {
		if b.Fenced {
			continue
		}
		off := int64(-1)
		if s, ok := sessions[id]; ok && s.Epoch == b.Epoch {
			if s.inControlledShutdown() {
				continue
			}
			off = s.MetadataOffset
		}
		lowest = min(lowest, off)
	}
	return lowest
}

// brokerLifecycle holds the active controller's broker sessions and owns
// the goroutine that fences brokers whose sessions expire. As in KRaft the
// sessions live only in the active controller's memory: a controller that
// becomes active starts them over and gives every registered broker a
// fresh session (ClusterControlManager.activate), so a failover fences no
// one; a controller that stops being active drops them.
//
// Lock order: Controller.opMu, then mu, then checker.mu. mu is never held
// across a Propose, and activate/deactivate take only mu (and checker.mu),
// so the quorum may call them from any goroutine that does not hold opMu.
type brokerLifecycle struct {
	c              *Controller
	logger         *slog.Logger
	sessionTimeout time.Duration
	// checker fences brokers whose sessions expired while active.
	checker *periodicTask

	mu       sync.Mutex
	active   bool
	closed   bool
	sessions map[int32]brokerSession
}

// newBrokerLifecycle builds c's lifecycle state, inactive. The session
// check runs every broker.heartbeat.interval.ms / 2, so a dead broker is
// fenced at most that long after broker.session.timeout.ms.
func newBrokerLifecycle(c *Controller) *brokerLifecycle {
	timeout := time.Duration(c.cfg.Broker.BrokerSessionTimeoutMs) * time.Millisecond
	interval := time.Duration(c.cfg.Broker.BrokerHeartbeatIntervalMs) * time.Millisecond / 2
	l := &brokerLifecycle{
		c:              c,
		logger:         c.logger,
		sessionTimeout: max(timeout, time.Millisecond),
	}
	l.checker = newPeriodicTask(c.logger, max(interval, time.Millisecond), l.checkSessions,
		"broker session check failed; retrying every tick")
	return l
}

// activate starts the sessions over, every registered broker's from now,
// and starts the session checker. Calling it while active does nothing.
func (l *brokerLifecycle) activate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.active {
		return
	}
	now := l.c.cfg.Now()
	img := l.c.Image()
	l.sessions = make(map[int32]brokerSession, len(img.Brokers))
	for id, b := range img.Brokers {
		l.sessions[id] = newSession(b.Epoch, now)
	}
	l.active = true
	l.checker.start()
	l.logger.Info("broker lifecycle active: every registered broker gets a new session",
		slog.Int("brokers", len(img.Brokers)), slog.Duration("session_timeout", l.sessionTimeout))
}

// deactivate drops the sessions and stops the session checker without
// waiting for it (it may be waiting for opMu; close waits for it).
func (l *brokerLifecycle) deactivate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopLocked()
}

// close stops the lifecycle for good and waits for the session checker.
// It must not be called with opMu held: the checker takes opMu.
func (l *brokerLifecycle) close() {
	l.mu.Lock()
	l.closed = true
	l.stopLocked()
	l.mu.Unlock()
	l.checker.close()
}

func (l *brokerLifecycle) stopLocked() {
	if !l.active {
		return
	}
	l.active = false
	l.sessions = nil
	l.checker.stop()
}

// checkSessions runs one session check. It is bounded by the session
// timeout so a quorum that cannot commit does not keep opMu, and with it
// every other operation, forever.
func (l *brokerLifecycle) checkSessions(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.sessionTimeout)
	defer cancel()
	if err := l.c.FenceStaleBrokers(ctx, l.c.cfg.Now()); err != nil {
		return err
	}
	return l.c.electLeaderlessPartitions(ctx)
}

// isActive reports whether activate ran and deactivate did not since.
func (l *brokerLifecycle) isActive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

// sessionsLocked returns the sessions, first giving every broker of img
// that has none for its current epoch a new one starting now.
func (l *brokerLifecycle) sessionsLocked(img *Image, now time.Time) map[int32]brokerSession {
	for id, b := range img.Brokers {
		if s, ok := l.sessions[id]; !ok || s.Epoch != b.Epoch {
			l.sessions[id] = newSession(b.Epoch, now)
		}
	}
	return l.sessions
}

// view returns the usable brokers and the stale ones at now.
func (l *brokerLifecycle) view(img *Image, now time.Time) (usableBrokers, []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.active {
		return usableFrom(img, nil), nil
	}
	sessions := l.sessionsLocked(img, now)
	return usableFrom(img, sessions), staleBrokerIDs(img, sessions, now, l.sessionTimeout)
}

// session returns broker id's session, creating it if needed.
func (l *brokerLifecycle) session(img *Image, id int32, now time.Time) (brokerSession, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.active {
		return brokerSession{}, false
	}
	s, ok := l.sessionsLocked(img, now)[id]
	return s, ok
}

// heartbeat records a heartbeat from broker id at now and returns its
// session, the usable brokers and the lowest active offset as they are
// after it.
func (l *brokerLifecycle) heartbeat(img *Image, id int32, now time.Time, metadataOffset int64) (brokerSession, usableBrokers, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.active {
		return newSession(img.Brokers[id].Epoch, now), usableFrom(img, nil), lowestActiveOffset(img, nil)
	}
	sessions := l.sessionsLocked(img, now)
	s := sessions[id]
	s.LastContact, s.HeardFrom, s.MetadataOffset = now, true, metadataOffset
	sessions[id] = s
	return s, usableFrom(img, sessions), lowestActiveOffset(img, sessions)
}

// contact records that broker id of epoch was heard from at now, if it has
// a session for that epoch. It needs no image, so heartbeats call it before
// they wait for opMu.
func (l *brokerLifecycle) contact(id int32, epoch int64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sessions[id]; l.active && ok && s.Epoch == epoch && now.After(s.LastContact) {
		s.LastContact = now
		l.sessions[id] = s
	}
}

// update changes broker id's session with fn, if the lifecycle is still
// active and the session is for epoch.
func (l *brokerLifecycle) update(id int32, epoch int64, fn func(*brokerSession)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.active {
		return
	}
	s, ok := l.sessions[id]
	if !ok || s.Epoch != epoch {
		return
	}
	fn(&s)
	l.sessions[id] = s
}

// replace starts a new session for broker id (a new registration), or
// drops it when s is nil (an unregistration).
func (l *brokerLifecycle) replace(id int32, s *brokerSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.active {
		return
	}
	if s == nil {
		delete(l.sessions, id)
		return
	}
	l.sessions[id] = *s
}

// checkActiveLocked refuses operations of the active controller on a node
// that is not (or not yet fully) the active controller.
func (c *Controller) checkActiveLocked() error {
	if c.closed {
		return fmt.Errorf("%w: the controller is shut down", kerr.NotController)
	}
	if !c.IsActive() || !c.lifecycle.isActive() {
		return fmt.Errorf("%w: node %d is not the active controller", kerr.NotController, c.cfg.NodeID)
	}
	return nil
}

// uncleanPolicy resolves unclean.leader.election.enable per topic as Kafka's
// ConfigurationControlManager.uncleanLeaderElectionEnabledForTopic does: the
// topic's override, else this controller's dynamic broker config, else the
// cluster-wide dynamic default, else the static config. Answers are cached
// for the one operation the policy is built for.
func (c *Controller) uncleanPolicy(img *Image) uncleanPolicy {
	cache := map[string]bool{}
	var dynBroker, dynCluster map[string]string
	return func(topic string) bool {
		if v, ok := cache[topic]; ok {
			return v
		}
		if dynBroker == nil {
			dynBroker, dynCluster = img.BrokerConfig(c.cfg.NodeID), img.ClusterBrokerConfig()
		}
		v := c.cfg.Broker.ResolveTopic(img.TopicConfig(topic), dynBroker, dynCluster).UncleanLeaderElectionEnable
		cache[topic] = v
		return v
	}
}

// FenceStaleBrokers fences every unfenced broker whose session expired at
// now (no heartbeat for broker.session.timeout.ms), one broker per metadata
// entry so each fencing sees the leaders the previous one elected (Kafka's
// maybeFenceOneStaleBroker). A fenced broker leaves every ISR it is not the
// last member of, and each partition it led gets a new leader from the rest
// of its ISR (leader epoch bumped), or, with no ISR member left to lead,
// goes offline unless unclean.leader.election.enable lets another replica
// lead. The session checker calls it on the active controller; it is
// deterministic in now, so tests call it directly.
func (c *Controller) FenceStaleBrokers(ctx context.Context, now time.Time) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fence stale brokers: %w", err)
		}
		img := c.Image()
		usable, stale := c.lifecycle.view(img, now)
		if len(stale) == 0 {
			return nil
		}
		id := stale[0]
		s, _ := c.lifecycle.session(img, id, now)
		recs := fenceBrokerRecords(img, id, usable, c.uncleanPolicy(img))
		if err := c.proposeLocked(ctx, recs); err != nil {
			return fmt.Errorf("fence broker %d: %w", id, err)
		}
		c.logger.Warn("fenced broker: its session expired",
			slog.Int("node.id", int(id)), slog.Int64("broker_epoch", img.Brokers[id].Epoch),
			slog.Duration("since_last_contact", now.Sub(s.LastContact)),
			slog.Duration("session_timeout", c.lifecycle.sessionTimeout))
		logPartitionChanges(c.logger, fmt.Sprintf("broker %d fenced", id), img, c.Image(), recs)
		c.lifecycle.update(id, img.Brokers[id].Epoch, func(s *brokerSession) { s.ShutdownOffset = -1 })
	}
}

// electLeaderlessPartitions gives a leader to every partition without one
// that can now have one: an ISR member that became usable, or, where
// unclean.leader.election.enable was turned on, any usable replica (Kafka's
// periodic unclean election).
func (c *Controller) electLeaderlessPartitions(ctx context.Context) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return err
	}
	img := c.Image()
	usable, _ := c.lifecycle.view(img, c.cfg.Now())
	recs := leaderlessElectionRecords(img, usable, c.uncleanPolicy(img))
	if len(recs) == 0 {
		return nil
	}
	if err := c.proposeLocked(ctx, recs); err != nil {
		return fmt.Errorf("elect leaders for offline partitions: %w", err)
	}
	logPartitionChanges(c.logger, "offline partition election", img, c.Image(), recs)
	return nil
}
