package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/samsa-broker/samsa/controller"
)

// producerIDs hands out producer IDs from blocks the controller allocates
// (Kafka's RPCProducerIdManager, KIP-730): a block is committed to the
// metadata log before any of its IDs is used, so no ID is ever handed out
// twice, across restarts included.
type producerIDs struct {
	ctrl   *controller.Controller
	nodeID int32
	// brokerEpoch is this node's registration epoch, which the controller
	// checks so a stale incarnation cannot take blocks.
	brokerEpoch atomic.Int64

	mu        sync.Mutex
	next, end int64
}

func newProducerIDs(ctrl *controller.Controller, nodeID int32) *producerIDs {
	p := &producerIDs{ctrl: ctrl, nodeID: nodeID}
	p.brokerEpoch.Store(-1)
	return p
}

// NextProducerID returns an unused producer ID.
func (p *producerIDs) NextProducerID(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		first, count, err := p.ctrl.AllocateProducerIDs(ctx, p.nodeID, p.brokerEpoch.Load())
		if err != nil {
			return -1, fmt.Errorf("allocate producer ID block: %w", err)
		}
		p.next, p.end = first, first+int64(count)
	}
	id := p.next
	p.next++
	return id, nil
}
