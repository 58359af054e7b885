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
//
// Requests do not wait for each other: each borrows an idle connection to
// the controller it targets (or dials one) and returns it afterwards. A
// request stuck on a controller that stopped answering (paused, cut off)
// therefore holds up nothing else, and each attempt is bounded by
// attemptTimeout, so its retry follows the newly active controller.
type controllerChannel struct {
	voters map[int32]string // voter ID -> host:port
	order  []int32
	// active names the active controller when this node knows it.
	active         func() (int32, bool)
	formatter      *kmsg.RequestFormatter
	logger         *slog.Logger
	attemptTimeout time.Duration

	mu      sync.Mutex // guards the fields below; never held across network I/O
	idle    map[int32][]*kafkaConn
	nextTry int
	closed  bool
}

// controllerAttemptTimeout bounds one attempt of a controller request. The
// active controller answers in milliseconds (a raft commit on a local
// quorum); an attempt this slow is talking to a controller that is gone.
const controllerAttemptTimeout = 5 * time.Second

// maxIdleControllerConns is how many idle connections per controller are
// kept for reuse; controller traffic is light, so concurrency beyond this
// is rare and its extra connections are simply closed.
const maxIdleControllerConns = 4

func newControllerChannel(voters map[int32]string, order []int32, active func() (int32, bool), nodeID int32, logger *slog.Logger) *controllerChannel {
	return &controllerChannel{
		voters:         voters,
		order:          order,
		active:         active,
		formatter:      kmsg.NewRequestFormatter(kmsg.FormatterClientID(fmt.Sprintf("samsa-node-%d", nodeID))),
		logger:         logger,
		attemptTimeout: controllerAttemptTimeout,
		idle:           make(map[int32][]*kafkaConn),
	}
}

// errRetryController marks an answer that means "ask another controller".
var errRetryController = errors.New("not the active controller")

// Request sends req to the active controller and returns its response,
// retrying on another voter while the answer is NOT_CONTROLLER, the
// connection fails or an attempt times out, until ctx ends. notController
// reports whether a response says the node asked is not the active
// controller.
func (c *controllerChannel) Request(ctx context.Context, req kmsg.Request, notController func(kmsg.Response) bool) (kmsg.Response, error) {
	backoff := 10 * time.Millisecond
	for {
		resp, err := c.try(ctx, req)
		if err == nil && (notController == nil || !notController(resp)) {
			return resp, nil
		}
		if err == nil {
			err = errRetryController
		}
		c.mu.Lock()
		c.nextTry++
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no active controller answered: %v", kerr.RequestTimedOut, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// try sends req once to the controller believed active.
func (c *controllerChannel) try(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	id := c.target()
	conn, err := c.borrow(ctx, id)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	resp, err := conn.roundTrip(actx, req)
	cancel()
	if err != nil {
		conn.close()
		return nil, err
	}
	c.giveBack(id, conn)
	return resp, nil
}

// target is the active controller if known, else the next voter in turn.
func (c *controllerChannel) target() int32 {
	if id, ok := c.active(); ok {
		return id
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order[c.nextTry%len(c.order)]
}

// borrow takes an idle connection to controller id, or dials one.
func (c *controllerChannel) borrow(ctx context.Context, id int32) (*kafkaConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("controller channel closed")
	}
	if conns := c.idle[id]; len(conns) > 0 {
		conn := conns[len(conns)-1]
		c.idle[id] = conns[:len(conns)-1]
		c.mu.Unlock()
		return conn, nil
	}
	c.mu.Unlock()
	addr, ok := c.voters[id]
	if !ok {
		return nil, fmt.Errorf("controller %d is not in controller.quorum.voters", id)
	}
	return dialKafka(ctx, fmt.Sprintf("controller %d", id), addr, c.formatter)
}

// giveBack returns a healthy connection for reuse.
func (c *controllerChannel) giveBack(id int32, conn *kafkaConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle[id]) >= maxIdleControllerConns {
		conn.close()
		return
	}
	c.idle[id] = append(c.idle[id], conn)
}

// Close drops the idle connections; connections in use are closed when
// their request ends.
func (c *controllerChannel) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for id, conns := range c.idle {
		for _, conn := range conns {
			conn.close()
		}
		delete(c.idle, id)
	}
}
