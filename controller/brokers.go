package controller

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// BrokerRegistration is what a broker tells the controller when it starts
// (Kafka's BrokerRegistrationRequest, trimmed).
type BrokerRegistration struct {
	NodeID int32
	// ClusterID, when not empty, must match the image's cluster ID.
	ClusterID     string
	IncarnationID [16]byte
	Listeners     []Endpoint
	Rack          string
}

// ProducerIDBlockSize is the number of producer IDs one
// AllocateProducerIDs hands out (Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE).
const ProducerIDBlockSize = 1000

// RegisterBroker records a broker incarnation and returns its broker epoch:
// like KRaft, the offset of its RegisterBrokerRecord, so every registration
// gets a larger one. Following Kafka's ClusterControlManager.registerBroker:
//
//   - A non-empty ClusterID must be the cluster's (INCONSISTENT_CLUSTER_ID).
//     An empty one is accepted: a broker that never reached the cluster does
//     not know the ID yet and learns it from the metadata it then receives.
//   - The same incarnation registering again with the same listeners and
//     rack gets its existing epoch back: a retried request changes nothing.
//   - Another incarnation of a registered broker whose session is alive
//     (unfenced and heard from within broker.session.timeout.ms) is refused
//     with DUPLICATE_BROKER_REGISTRATION: two processes claim one node ID.
//     The one exception is this controller's own node ID when that
//     incarnation has not been heard from since this controller became
//     active: it is this very node's previous run, which a restart replaced.
//   - A new registration starts fenced; BrokerHeartbeat unfences it once the
//     broker has applied its registration record. When it replaces an
//     unfenced incarnation, that one's leaderships and ISR places are given
//     up first, in the same entry, so a fenced broker never leads.
func (c *Controller) RegisterBroker(ctx context.Context, reg BrokerRegistration) (int64, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return -1, err
	}
	img := c.Image()
	if reg.NodeID < 0 {
		return -1, fmt.Errorf("%w: invalid broker id %d", kerr.InvalidRequest, reg.NodeID)
	}
	if reg.ClusterID != "" && reg.ClusterID != img.ClusterID {
		return -1, fmt.Errorf("%w: expected cluster ID %s, but got cluster ID %s", kerr.InconsistentClusterID, img.ClusterID, reg.ClusterID)
	}
	names := map[string]bool{}
	for _, l := range reg.Listeners {
		if names[l.Name] {
			return -1, fmt.Errorf("%w: listener %q is registered twice", kerr.InvalidRequest, l.Name)
		}
		names[l.Name] = true
	}
	now := c.cfg.Now()
	existing, registered := img.Brokers[reg.NodeID]
	if registered {
		sess, _ := c.lifecycle.session(img, reg.NodeID, now)
		switch {
		case existing.IncarnationID == reg.IncarnationID && existing.Rack == reg.Rack && slices.Equal(existing.Listeners, reg.Listeners):
			c.lifecycle.update(reg.NodeID, existing.Epoch, func(s *brokerSession) { s.LastContact, s.HeardFrom = now, true })
			return existing.Epoch, nil
		case existing.IncarnationID != reg.IncarnationID && !existing.Fenced &&
			!sessionExpired(sess, now, c.lifecycle.sessionTimeout) &&
			(reg.NodeID != c.cfg.NodeID || sess.HeardFrom):
			return -1, fmt.Errorf("%w: another broker is registered with broker id %d (incarnation %s, broker epoch %d); "+
				"if that broker was restarted, this resolves once its session of %v expires",
				kerr.DuplicateBrokerRegistration, reg.NodeID, formatUUID(existing.IncarnationID), existing.Epoch, c.lifecycle.sessionTimeout)
		}
	}
	var recs []Record
	if registered && !existing.Fenced {
		usable, _ := c.lifecycle.view(img, now)
		recs = brokerRemovalRecords(img, reg.NodeID, usable, c.uncleanPolicy(img))
	}
	epoch := img.Offset + int64(len(recs)) + 1
	recs = append(recs, RegisterBrokerRecord{
		NodeID: reg.NodeID, Epoch: epoch, IncarnationID: reg.IncarnationID,
		Listeners: slices.Clone(reg.Listeners), Rack: reg.Rack, Fenced: true,
	})
	if err := c.proposeLocked(ctx, recs); err != nil {
		return -1, err
	}
	s := newSession(epoch, now)
	s.HeardFrom = true
	c.lifecycle.replace(reg.NodeID, &s)
	attrs := []any{slog.Int("node.id", int(reg.NodeID)), slog.Int64("broker_epoch", epoch),
		slog.String("incarnation_id", formatUUID(reg.IncarnationID))}
	if registered {
		attrs = append(attrs, slog.Int64("previous_broker_epoch", existing.Epoch))
	}
	c.logger.Info("registered broker, fenced until it catches up", attrs...)
	logPartitionChanges(c.logger, fmt.Sprintf("broker %d re-registered", reg.NodeID), img, c.Image(), recs)
	return epoch, nil
}

// UnregisterBroker removes a broker's registration (Kafka's
// ReplicationControlManager.unregisterBroker, the UnregisterBroker API used
// to decommission a node): its partitions change as if it were fenced, then
// an UnregisterBrokerRecord removes it. An unknown broker gets
// BROKER_ID_NOT_REGISTERED.
func (c *Controller) UnregisterBroker(ctx context.Context, id int32) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return err
	}
	img := c.Image()
	b, ok := img.Brokers[id]
	if !ok {
		return fmt.Errorf("%w: broker id %d is not currently registered", kerr.BrokerIDNotRegistered, id)
	}
	usable, _ := c.lifecycle.view(img, c.cfg.Now())
	recs := unregisterBrokerRecords(img, id, usable, c.uncleanPolicy(img))
	if err := c.proposeLocked(ctx, recs); err != nil {
		return fmt.Errorf("unregister broker %d: %w", id, err)
	}
	c.lifecycle.replace(id, nil)
	c.logger.Warn("unregistered broker", slog.Int("node.id", int(id)), slog.Int64("broker_epoch", b.Epoch))
	logPartitionChanges(c.logger, fmt.Sprintf("broker %d unregistered", id), img, c.Image(), recs)
	return nil
}

// AllocateProducerIDs hands broker brokerID the next block of
// ProducerIDBlockSize producer IDs (Kafka's
// ProducerIdControlManager.generateNextProducerId, KIP-730). The block is
// committed before it is returned, so no ID is handed out twice, across
// restarts included. brokerEpoch must be the broker's current epoch.
func (c *Controller) AllocateProducerIDs(ctx context.Context, brokerID int32, brokerEpoch int64) (int64, int32, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	img := c.Image()
	if err := checkBrokerEpoch(img, brokerID, brokerEpoch); err != nil {
		return -1, 0, err
	}
	first := img.NextProducerID
	if first > math.MaxInt64-ProducerIDBlockSize {
		return -1, 0, fmt.Errorf("%w: exhausted all producer IDs", kerr.UnknownServerError)
	}
	rec := ProducerIDsRecord{BrokerID: brokerID, BrokerEpoch: brokerEpoch, NextProducerID: first + ProducerIDBlockSize}
	if err := c.proposeLocked(ctx, []Record{rec}); err != nil {
		return -1, 0, err
	}
	return first, ProducerIDBlockSize, nil
}

// checkBrokerEpoch is Kafka's ClusterControlManager.checkBrokerEpoch: a
// request from an incarnation that is not the registered one is stale.
func checkBrokerEpoch(img *Image, brokerID int32, brokerEpoch int64) error {
	b, ok := img.Brokers[brokerID]
	if !ok {
		return fmt.Errorf("%w: no broker registration found for broker id %d", kerr.StaleBrokerEpoch, brokerID)
	}
	if b.Epoch != brokerEpoch {
		return fmt.Errorf("%w: expected broker epoch %d, but got broker epoch %d", kerr.StaleBrokerEpoch, b.Epoch, brokerEpoch)
	}
	return nil
}
