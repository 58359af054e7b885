package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// controllerChannel sends requests to the active controller over the
// CONTROLLER listeners named by controller.quorum.voters, as a KRaft
// broker's NodeToControllerChannelManager does. Every node uses it, the
// active controller itself included, so a one-node cluster takes the same
// path as a three-node one.
type controllerChannel struct {
	voters map[int32]string // voter ID -> host:port
	order  []int32
	// active names the active controller when this node knows it.
	active    func() (int32, bool)
	formatter *kmsg.RequestFormatter
	logger    *slog.Logger

	mu      sync.Mutex // serialises requests; controller traffic is light
	conn    *kafkaConn
	connID  int32
	corr    int32
	nextTry int
}

func newControllerChannel(voters map[int32]string, order []int32, active func() (int32, bool), nodeID int32, logger *slog.Logger) *controllerChannel {
	return &controllerChannel{
		voters:    voters,
		order:     order,
		active:    active,
		formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(fmt.Sprintf("samsa-node-%d", nodeID))),
		logger:    logger,
	}
}

// errRetryController marks an answer that means "ask another controller".
var errRetryController = errors.New("not the active controller")

// Request sends req to the active controller and returns its response,
// retrying on another voter while the answer is NOT_CONTROLLER or the
// connection fails, until ctx ends. notController reports whether a
// response says the node asked is not the active controller.
func (c *controllerChannel) Request(ctx context.Context, req kmsg.Request, notController func(kmsg.Response) bool) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	backoff := 10 * time.Millisecond
	for {
		resp, err := c.tryLocked(ctx, req)
		if err == nil && (notController == nil || !notController(resp)) {
			return resp, nil
		}
		if err == nil {
			err = errRetryController
		}
		c.closeLocked()
		c.nextTry++
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no active controller answered: %v", kerr.RequestTimedOut, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// tryLocked sends req once to the controller believed active.
func (c *controllerChannel) tryLocked(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	id, ok := c.active()
	if !ok {
		id = c.order[c.nextTry%len(c.order)]
	}
	if c.conn != nil && c.connID != id {
		c.closeLocked()
	}
	if c.conn == nil {
		addr, ok := c.voters[id]
		if !ok {
			return nil, fmt.Errorf("controller %d is not in controller.quorum.voters", id)
		}
		conn, err := dialKafka(ctx, fmt.Sprintf("controller %d", id), addr, c.formatter)
		if err != nil {
			return nil, err
		}
		c.conn, c.connID = conn, id
	}
	return c.conn.roundTrip(ctx, req)
}

func (c *controllerChannel) closeLocked() {
	if c.conn != nil {
		c.conn.close()
		c.conn = nil
	}
}

// Close drops the connection.
func (c *controllerChannel) Close() {
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
}
