package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerIDs hands out producer IDs from blocks the controller allocates
// (Kafka's RPCProducerIdManager, KIP-730): a block is committed to the
// metadata log before any of its IDs is used, so no ID is ever handed out
// twice, across restarts included.
type producerIDs struct {
	channel *controllerChannel
	nodeID  int32
	// brokerEpoch is this node's registration epoch, which the controller
	// checks so a stale incarnation cannot take blocks.
	brokerEpoch atomic.Int64

	mu        sync.Mutex
	next, end int64
}

func newProducerIDs(channel *controllerChannel, nodeID int32) *producerIDs {
	p := &producerIDs{channel: channel, nodeID: nodeID}
	p.brokerEpoch.Store(-1)
	return p
}

// NextProducerID returns an unused producer ID.
func (p *producerIDs) NextProducerID(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		req := kmsg.NewPtrAllocateProducerIDsRequest()
		req.BrokerID, req.BrokerEpoch = p.nodeID, p.brokerEpoch.Load()
		kr, err := p.channel.Request(ctx, req, notControllerCode)
		if err != nil {
			return -1, fmt.Errorf("allocate producer ID block: %w", err)
		}
		resp := kr.(*kmsg.AllocateProducerIDsResponse)
		if resp.ErrorCode != 0 {
			return -1, fmt.Errorf("allocate producer ID block: %w", kerr.ErrorForCode(resp.ErrorCode))
		}
		p.next, p.end = resp.ProducerIDStart, resp.ProducerIDStart+int64(resp.ProducerIDLen)
	}
	id := p.next
	p.next++
	return id, nil
}
