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

// RegisterBroker records a broker incarnation and returns its new broker
// epoch: like KRaft, the offset of its RegisterBrokerRecord, so every
// registration gets a larger one. KRaft registers a broker fenced and
// unfences it once its heartbeats show it caught up; samsa commits the
// unfencing in the same entry until heartbeats exist.
func (c *Controller) RegisterBroker(ctx context.Context, reg BrokerRegistration) (int64, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	img := c.Image()
	if reg.NodeID < 0 {
		return -1, fmt.Errorf("%w: invalid broker id %d", kerr.InvalidRequest, reg.NodeID)
	}
	if reg.ClusterID != "" && reg.ClusterID != img.ClusterID {
		return -1, fmt.Errorf("%w: expected cluster ID %s, but got %s", kerr.InconsistentClusterID, img.ClusterID, reg.ClusterID)
	}
	names := map[string]bool{}
	for _, l := range reg.Listeners {
		if names[l.Name] {
			return -1, fmt.Errorf("%w: listener %q is registered twice", kerr.InvalidRequest, l.Name)
		}
		names[l.Name] = true
	}
	epoch := img.Offset + 1
	recs := []Record{
		RegisterBrokerRecord{
			NodeID: reg.NodeID, Epoch: epoch, IncarnationID: reg.IncarnationID,
			Listeners: slices.Clone(reg.Listeners), Rack: reg.Rack, Fenced: true,
		},
		UnfenceBrokerRecord{NodeID: reg.NodeID, Epoch: epoch},
	}
	if err := c.proposeLocked(ctx, recs); err != nil {
		return -1, err
	}
	c.logger.Info("registered broker", slog.Int("node.id", int(reg.NodeID)), slog.Int64("broker_epoch", epoch))
	return epoch, nil
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
