package controller

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
)

// BrokerHeartbeat is what a broker tells the active controller every
// broker.heartbeat.interval.ms (Kafka's BrokerHeartbeatRequest, trimmed).
type BrokerHeartbeat struct {
	NodeID      int32
	BrokerEpoch int64
	// CurrentMetadataOffset is the offset of the last metadata record the
	// broker applied.
	CurrentMetadataOffset int64
	// WantFence asks to be (or stay) fenced, e.g. while the broker starts.
	WantFence bool
	// WantShutDown asks for a controlled shutdown.
	WantShutDown bool
}

// HeartbeatResult is the controller's answer (Kafka's
// BrokerHeartbeatResponse).
type HeartbeatResult struct {
	// IsCaughtUp: the broker has applied its own registration record.
	IsCaughtUp bool
	// IsFenced: the broker is fenced after this heartbeat.
	IsFenced bool
	// ShouldShutDown: the broker may stop now; it leads nothing any more
	// and every active broker knows.
	ShouldShutDown bool
}

// brokerState is a broker's place in Kafka's BrokerControlState machine.
type brokerState uint8

const (
	brokerFenced brokerState = iota
	brokerUnfenced
	brokerControlledShutdown
	brokerShutdownNow
)

func (s brokerState) String() string {
	switch s {
	case brokerFenced:
		return "FENCED"
	case brokerUnfenced:
		return "UNFENCED"
	case brokerControlledShutdown:
		return "CONTROLLED_SHUTDOWN"
	case brokerShutdownNow:
		return "SHUTDOWN_NOW"
	}
	return fmt.Sprintf("brokerState(%d)", uint8(s))
}

// fenced reports whether a broker in this state is fenced.
func (s brokerState) fenced() bool { return s == brokerFenced || s == brokerShutdownNow }

// heartbeatInput is what the next-state decision depends on.
type heartbeatInput struct {
	Current   brokerState
	Heartbeat BrokerHeartbeat
	// RegisterOffset is the offset of the broker's RegisterBrokerRecord, its
	// broker epoch.
	RegisterOffset int64
	// Leads: the broker still leads at least one partition.
	Leads bool
	// ShutdownOffset and LowestActiveOffset decide when a controlled
	// shutdown may finish.
	ShutdownOffset     int64
	LowestActiveOffset int64
}

// nextBrokerState is Kafka's BrokerHeartbeatManager.calculateNextBrokerState:
//
//   - A fenced broker is unfenced once it has applied its own registration
//     record and does not ask to stay fenced; asking to shut down lets it
//     stop at once.
//   - An unfenced broker asking to shut down enters controlled shutdown if
//     it leads anything, else may stop at once; asking to be fenced fences
//     it.
//   - A broker in controlled shutdown may stop once it leads nothing and
//     every active broker has reached the offset at which its leaderships
//     moved, so no client is sent to it by a broker that does not know yet.
func nextBrokerState(in heartbeatInput) brokerState {
	hb := in.Heartbeat
	switch in.Current {
	case brokerFenced:
		switch {
		case hb.WantShutDown:
			return brokerShutdownNow
		case !hb.WantFence && hb.CurrentMetadataOffset >= in.RegisterOffset:
			return brokerUnfenced
		}
		return brokerFenced
	case brokerUnfenced:
		switch {
		case hb.WantFence && hb.WantShutDown:
			return brokerShutdownNow
		case hb.WantFence:
			return brokerFenced
		case hb.WantShutDown && in.Leads:
			return brokerControlledShutdown
		case hb.WantShutDown:
			return brokerShutdownNow
		}
		return brokerUnfenced
	case brokerControlledShutdown:
		if !in.Leads && in.ShutdownOffset <= in.LowestActiveOffset {
			return brokerShutdownNow
		}
		return brokerControlledShutdown
	}
	return brokerShutdownNow
}

// BrokerHeartbeat records that a broker is alive and moves it through its
// lifecycle (Kafka's ReplicationControlManager.processBrokerHeartbeat): a
// caught-up fenced broker is unfenced and leads the leaderless partitions
// whose ISR it is in; a broker asking to shut down has its leaderships moved
// to other ISR members and leaves every ISR it is not the last member of
// (KIP-841), and is told to stop once it leads nothing; a broker stopping is
// fenced. A broker that is not registered gets BROKER_ID_NOT_REGISTERED, an
// old incarnation STALE_BROKER_EPOCH, and a node that is not the active
// controller NOT_CONTROLLER.
func (c *Controller) BrokerHeartbeat(ctx context.Context, hb BrokerHeartbeat) (HeartbeatResult, error) {
	// Note the contact before queueing behind other operations, as Kafka's
	// BrokerHeartbeatTracker does from its request threads: a slow commit
	// must not make live brokers look dead to the session checker.
	c.lifecycle.contact(hb.NodeID, hb.BrokerEpoch, c.cfg.Now())
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return HeartbeatResult{}, err
	}
	img := c.Image()
	b, ok := img.Brokers[hb.NodeID]
	if !ok {
		return HeartbeatResult{}, fmt.Errorf("%w: broker %d is not registered", kerr.BrokerIDNotRegistered, hb.NodeID)
	}
	if b.Epoch != hb.BrokerEpoch {
		return HeartbeatResult{}, fmt.Errorf("%w: expected broker epoch %d, but got broker epoch %d",
			kerr.StaleBrokerEpoch, b.Epoch, hb.BrokerEpoch)
	}
	now := c.cfg.Now()
	// The broker is alive whatever this heartbeat leads to.
	sess, usable, lowest := c.lifecycle.heartbeat(img, hb.NodeID, now, hb.CurrentMetadataOffset)

	current := brokerUnfenced
	switch {
	case b.Fenced:
		current = brokerFenced
	case sess.inControlledShutdown():
		current = brokerControlledShutdown
	}
	// Whether it leads matters only to a broker (about to be) in controlled
	// shutdown; spare the walk over every partition otherwise.
	leads := (hb.WantShutDown || current == brokerControlledShutdown) && leadsAny(img, hb.NodeID)
	next := nextBrokerState(heartbeatInput{
		Current: current, Heartbeat: hb, RegisterOffset: b.Epoch, Leads: leads,
		ShutdownOffset: sess.ShutdownOffset, LowestActiveOffset: lowest,
	})
	unclean := c.uncleanPolicy(img)
	var recs []Record
	switch {
	case next == brokerUnfenced && current == brokerFenced:
		recs = unfenceBrokerRecords(img, hb.NodeID, usable, unclean)
	case next == brokerControlledShutdown:
		// Also while staying in controlled shutdown: a partition placed on
		// the broker meanwhile must move too, or the shutdown never ends.
		recs = controlledShutdownRecords(img, hb.NodeID, usable, unclean)
	case next.fenced() && !current.fenced():
		recs = fenceBrokerRecords(img, hb.NodeID, usable, unclean)
	}
	if len(recs) > 0 {
		if err := c.proposeLocked(ctx, recs); err != nil {
			return HeartbeatResult{}, fmt.Errorf("broker %d heartbeat (%s -> %s): %w", hb.NodeID, current, next, err)
		}
	}
	after := c.Image()
	c.lifecycle.update(hb.NodeID, b.Epoch, func(s *brokerSession) {
		switch {
		case next.fenced():
			// A fenced broker leaves controlled shutdown (Kafka's touch).
			s.ShutdownOffset = -1
		case next == brokerControlledShutdown && (len(recs) > 0 || s.ShutdownOffset < 0):
			s.ShutdownOffset = after.Offset
		}
	})
	c.logHeartbeatTransition(hb, b.Epoch, current, next, img, after, recs)
	return HeartbeatResult{
		IsCaughtUp:     hb.CurrentMetadataOffset >= b.Epoch,
		IsFenced:       next.fenced(),
		ShouldShutDown: next == brokerShutdownNow,
	}, nil
}

func (c *Controller) logHeartbeatTransition(hb BrokerHeartbeat, epoch int64, current, next brokerState, old, new *Image, recs []Record) {
	attrs := []any{slog.Int("node.id", int(hb.NodeID)), slog.Int64("broker_epoch", epoch),
		slog.Int64("metadata_offset", hb.CurrentMetadataOffset)}
	switch {
	case current == next:
	case next == brokerUnfenced:
		c.logger.Info("unfenced broker: it caught up with its registration", attrs...)
	case next == brokerControlledShutdown:
		c.logger.Info("broker entered controlled shutdown; moving its leaderships", attrs...)
	case next == brokerShutdownNow:
		c.logger.Info("broker may shut down now", append(attrs, slog.String("from", current.String()))...)
	case next == brokerFenced:
		c.logger.Warn("fenced broker at its own request", attrs...)
	}
	if len(recs) > 0 {
		logPartitionChanges(c.logger, fmt.Sprintf("broker %d %s", hb.NodeID, next), old, new, recs)
	}
}
