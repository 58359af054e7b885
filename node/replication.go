package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	plog "github.com/samsa-broker/samsa/log"
)

// brokerTransport carries follower fetches to partition leaders over their
// inter-broker listener: one connection per leader, used by that leader's
// single fetcher goroutine (replica.FetchTransport).
type brokerTransport struct {
	image     func() *controller.Image
	listener  string
	formatter *kmsg.RequestFormatter

	mu    sync.Mutex
	conns map[int32]*brokerLink
}

// brokerLink is the connection to one broker; its mutex serialises use.
type brokerLink struct {
	mu   sync.Mutex
	conn *kafkaConn
}

func newBrokerTransport(image func() *controller.Image, listener string, nodeID int32) *brokerTransport {
	return &brokerTransport{
		image:     image,
		listener:  listener,
		formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(fmt.Sprintf("samsa-replica-fetcher-%d", nodeID))),
		conns:     make(map[int32]*brokerLink),
	}
}

// Fetch sends a follower fetch to broker id. The response's record
// batches live in a buffer the next Fetch to the same broker reuses (see
// roundTripReusing); replica's fetcher appends them before it fetches again.
func (t *brokerTransport) Fetch(ctx context.Context, id int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	t.mu.Lock()
	link, ok := t.conns[id]
	if !ok {
		link = &brokerLink{}
		t.conns[id] = link
	}
	t.mu.Unlock()

	link.mu.Lock()
	defer link.mu.Unlock()
	if link.conn == nil {
		b, ok := t.image().Broker(id)
		if !ok {
			return nil, fmt.Errorf("broker %d is not registered", id)
		}
		ep, ok := b.Listener(t.listener)
		if !ok {
			return nil, fmt.Errorf("broker %d has no %s listener", id, t.listener)
		}
		conn, err := dialKafka(ctx, fmt.Sprintf("broker %d", id), fmt.Sprintf("%s:%d", ep.Host, ep.Port), t.formatter)
		if err != nil {
			return nil, err
		}
		link.conn = conn
	}
	resp, err := link.conn.roundTripReusing(ctx, req)
	if err != nil {
		link.conn.close()
		link.conn = nil
		return nil, err
	}
	return resp.(*kmsg.FetchResponse), nil
}

// Close drops every connection.
func (t *brokerTransport) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.conns {
		l.mu.Lock()
		if l.conn != nil {
			l.conn.close()
			l.conn = nil
		}
		l.mu.Unlock()
	}
}

// alterPartitionAttempt bounds one AlterPartition attempt. The node's
// controller channel carries one request at a time, and a proposal sent
// just before the active controller stopped answering (paused, cut off)
// would otherwise hold it, and every forwarded admin request and producer
// ID allocation behind it, for the whole proposal timeout (30 s). A retry
// of a proposal that did commit is refused as stale (INVALID_UPDATE_VERSION)
// and the leader then waits for the metadata, as after any refusal.
const alterPartitionAttempt = 3 * time.Second

// isrChanger proposes ISR changes to the active controller with
// AlterPartition v3, naming each member with its broker epoch (KIP-903)
// (replica.ISRChanger).
type isrChanger struct {
	channel     *controllerChannel
	image       func() *controller.Image
	nodeID      int32
	brokerEpoch func() int64
}

func (c isrChanger) AlterPartition(ctx context.Context, tp plog.TopicPartition, topicID [16]byte, leaderEpoch, partitionEpoch int32, newISR []int32) ([]int32, int32, error) {
	img := c.image()
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 3
	req.BrokerID, req.BrokerEpoch = c.nodeID, c.brokerEpoch()
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.TopicID = topicID
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = tp.Partition, leaderEpoch, partitionEpoch
	for _, id := range newISR {
		m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
		m.BrokerID, m.BrokerEpoch = id, -1
		if b, ok := img.Broker(id); ok {
			m.BrokerEpoch = b.Epoch
		}
		rp.NewEpochISR = append(rp.NewEpochISR, m)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	var kr kmsg.Response
	var err error
	for {
		// Attempts are bounded (see alterPartitionAttempt); the retry goes
		// to whichever controller is active by then.
		actx, cancel := context.WithTimeout(ctx, alterPartitionAttempt)
		kr, err = c.channel.Request(actx, req, notControllerCode)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("alter ISR of %s: %w", tp, err)
	}
	resp := kr.(*kmsg.AlterPartitionResponse)
	if resp.ErrorCode != 0 {
		return nil, 0, fmt.Errorf("alter ISR of %s: %w", tp, kerr.ErrorForCode(resp.ErrorCode))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, 0, fmt.Errorf("alter ISR of %s: malformed answer", tp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return nil, 0, fmt.Errorf("alter ISR of %s: %w", tp, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.ISR, p.PartitionEpoch, nil
}

// brokerState tells the replica manager whether a broker may be in an ISR
// (registered and unfenced) and its epoch.
func brokerState(image func() *controller.Image) func(int32) (int64, bool) {
	return func(id int32) (int64, bool) {
		b, ok := image().Broker(id)
		if !ok {
			return -1, false
		}
		return b.Epoch, !b.Fenced
	}
}
