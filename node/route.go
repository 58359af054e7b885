package node

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// routedListener splits one TCP listener between the Kafka protocol server
// and the metadata quorum's raft transport. A raft connection announces
// itself with a first byte no Kafka frame can start with (design.md: "One
// controller port"); every other connection is handed to the protocol
// server with its first byte intact.
type routedListener struct {
	ln     net.Listener
	raft   func(net.Conn) // receives raft connections, first byte consumed
	magic  byte
	logger *slog.Logger

	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	// pending are accepted connections not yet routed; Close closes them
	// so no routing goroutine waits out routeTimeout on a silent peer.
	mu      sync.Mutex
	pending map[net.Conn]struct{}
}

// routeTimeout bounds how long a new connection may take to send its first
// byte before it is dropped.
const routeTimeout = 10 * time.Second

func newRoutedListener(ln net.Listener, magic byte, raft func(net.Conn), logger *slog.Logger) *routedListener {
	r := &routedListener{ln: ln, raft: raft, magic: magic, logger: logger, conns: make(chan net.Conn), done: make(chan struct{}), pending: make(map[net.Conn]struct{})}
	r.wg.Add(1)
	go r.acceptLoop()
	return r
}

func (r *routedListener) acceptLoop() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.logger.Error("accept failed", slog.Any("err", err))
			}
			r.Close()
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.route(c)
		}()
	}
}

// route reads the first byte and passes the connection on.
func (r *routedListener) route(c net.Conn) {
	r.mu.Lock()
	select {
	case <-r.done:
		r.mu.Unlock()
		c.Close()
		return
	default:
	}
	r.pending[c] = struct{}{}
	r.mu.Unlock()
	br := bufio.NewReaderSize(c, 512)
	c.SetReadDeadline(time.Now().Add(routeTimeout))
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	r.mu.Lock()
	delete(r.pending, c)
	r.mu.Unlock()
	if err != nil {
		c.Close()
		return
	}
	if first[0] == r.magic && r.raft != nil {
		br.Discard(1)
		r.raft(&bufferedConn{Conn: c, r: br})
		return
	}
	select {
	case r.conns <- &bufferedConn{Conn: c, r: br}:
	case <-r.done:
		c.Close()
	}
}

// Accept returns the next Kafka connection.
func (r *routedListener) Accept() (net.Conn, error) {
	select {
	case c := <-r.conns:
		return c, nil
	case <-r.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting. Connections already routed stay open; their
// owners close them.
func (r *routedListener) Close() error {
	r.once.Do(func() {
		r.mu.Lock()
		close(r.done)
		for c := range r.pending {
			c.Close()
		}
		r.mu.Unlock()
		r.ln.Close()
	})
	return nil
}

// wait returns once the accept loop and every routing goroutine are done.
func (r *routedListener) wait() { r.wg.Wait() }

func (r *routedListener) Addr() net.Addr { return r.ln.Addr() }

// bufferedConn replays bytes already buffered while routing.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
