package controller

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftConnMagic is the first byte of every raft connection. The node shares
// one port between Kafka clients and the metadata quorum (the CONTROLLER
// listener, and a broker-only node's first broker listener): a Kafka frame
// starts with the top byte of a non-negative size of at most
// socket.request.max.bytes (100 MiB), never 0xFE, so the first byte tells
// the two apart.
const RaftConnMagic byte = 0xFE

// errStreamClosed is returned by Accept and Dial after Close.
var errStreamClosed = fmt.Errorf("raft stream closed: %w", net.ErrClosed)

// RaftStream carries the metadata quorum's connections. The node's listener
// reads the first byte of each accepted connection and hands the ones that
// start with RaftConnMagic to HandOff; Dial connects to another node and
// sends RaftConnMagic first. Closing the stream closes every connection it
// handed out, so none of the raft transport's readers outlives it. A stream
// is used by one RaftQuorum and closed with it.
type RaftStream struct {
	advertise net.Addr
	handoff   chan net.Conn
	closing   chan struct{}

	mu     sync.Mutex
	closed bool
	conns  map[*streamConn]struct{}
}

// NewRaftStream returns a stream whose Addr is advertise, the address other
// nodes reach this node's raft at.
func NewRaftStream(advertise net.Addr) *RaftStream {
	return &RaftStream{
		advertise: advertise,
		handoff:   make(chan net.Conn),
		closing:   make(chan struct{}),
		conns:     map[*streamConn]struct{}{},
	}
}

// HandOff passes an accepted connection whose first byte, RaftConnMagic, the
// caller has already read (and nothing more) to the raft transport. It blocks
// until the transport accepts it; after Close it closes c.
func (s *RaftStream) HandOff(c net.Conn) {
	sc, ok := s.track(c)
	if !ok {
		c.Close()
		return
	}
	select {
	case s.handoff <- sc:
	case <-s.closing:
		sc.Close()
	}
}

// Accept returns the next handed-off connection (net.Listener).
func (s *RaftStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.handoff:
		return c, nil
	case <-s.closing:
		return nil, errStreamClosed
	}
}

// Close unblocks Accept and closes every connection the stream handed out.
func (s *RaftStream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
	return nil
}

// Addr returns the advertised address (net.Listener).
func (s *RaftStream) Addr() net.Addr { return s.advertise }

// Dial connects to the raft of the node at address (host:port) and announces
// the connection with RaftConnMagic, all within timeout.
func (s *RaftStream) Dial(address string, timeout time.Duration) (net.Conn, error) {
	if s.isClosed() {
		return nil, errStreamClosed
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("dial raft at %s: %w", address, err)
	}
	if timeout > 0 {
		c.SetWriteDeadline(time.Now().Add(timeout))
	}
	if _, err := c.Write([]byte{RaftConnMagic}); err != nil {
		c.Close()
		return nil, fmt.Errorf("announce raft connection to %s: %w", address, err)
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("clear write deadline on %s: %w", address, err)
	}
	sc, ok := s.track(c)
	if !ok {
		c.Close()
		return nil, errStreamClosed
	}
	return sc, nil
}

func (s *RaftStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers c so Close can close it; false after Close.
func (s *RaftStream) track(c net.Conn) (*streamConn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	sc := &streamConn{Conn: c, stream: s}
	s.conns[sc] = struct{}{}
	return sc, true
}

func (s *RaftStream) untrack(c *streamConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// streamConn is a connection the stream handed out; closing it forgets it.
type streamConn struct {
	net.Conn
	stream *RaftStream
	once   sync.Once
}

func (c *streamConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		c.stream.untrack(c)
		err = c.Conn.Close()
	})
	return err
}

// raftStreamLayer adapts RaftStream to hashicorp/raft's StreamLayer, keeping
// raft's types out of RaftStream's API.
type raftStreamLayer struct{ *RaftStream }

func (l raftStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return l.RaftStream.Dial(string(address), timeout)
}
