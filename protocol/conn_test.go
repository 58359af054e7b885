package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func never(int) bool { return false }

// TestPipelinedResponsesKeepRequestOrder sends 50 requests in one write before
// reading anything and expects the responses in request order with their
// correlation IDs, whether replies are immediate, Waits that block until every
// request has been handled (so later immediate replies are queued behind
// them), or NoResponse.
func TestPipelinedResponsesKeepRequestOrder(t *testing.T) {
	const n = 50
	tests := []struct {
		name     string
		blocking func(i int) bool
		silent   func(i int) bool
	}{
		{"all immediate", never, never},
		{"early Waits block, later replies immediate", func(i int) bool { return i < 10 }, never},
		{"alternating Waits and immediate replies", func(i int) bool { return i%2 == 0 }, never},
		{"NoResponse in the middle", func(i int) bool { return i < 5 }, func(i int) bool { return i%7 == 3 }},
		{"NoResponse first and last", never, func(i int) bool { return i == 0 || i == n-1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var handled atomic.Int32
			allHandled := make(chan struct{})
			handler := HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
				defer func() {
					if handled.Add(1) == n {
						close(allHandled)
					}
				}()
				i := int(req.Header.CorrelationID)
				resp := echoResponse(req)
				switch {
				case tt.silent(i):
					return Reply{NoResponse: true}, nil
				case tt.blocking(i):
					return Reply{Wait: func() kmsg.Response {
						select {
						case <-allHandled:
							return resp
						case <-ctx.Done():
							return nil
						}
					}}, nil
				}
				return Reply{Response: resp}, nil
			})
			srv := startServer(t, Config{Handler: handler, MaxInFlight: 64})
			c := dial(t, srv.addr)

			reqs := make([]kmsg.Request, n)
			var batch []byte
			for i := range n {
				reqs[i] = metadataRequest(int16(i%14), fmt.Sprintf("topic-%d", i))
				batch = append(batch, encodeRequest(reqs[i], int32(i), "c")...)
			}
			c.write(batch)
			for i := range n {
				if tt.silent(i) {
					continue
				}
				resp := c.receive(reqs[i], int32(i)).(*kmsg.MetadataResponse)
				if len(resp.Topics) != 1 || deref(resp.Topics[0].Topic) != fmt.Sprintf("topic-%d", i) {
					t.Fatalf("response %d answers %+v", i, resp.Topics)
				}
			}
		})
	}
}

// countingListener counts the Write calls on the connections it accepts.
type countingListener struct {
	net.Listener
	writes atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: nc, writes: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestQueuedResponsesShareWrites holds the writer on a Wait until 40 more
// replies are queued behind it, and expects them to leave in one or two
// writes rather than one each.
func TestQueuedResponsesShareWrites(t *testing.T) {
	const n = 41
	var handled atomic.Int32
	allHandled := make(chan struct{})
	handler := HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
		defer func() {
			if handled.Add(1) == n {
				close(allHandled)
			}
		}()
		resp := echoResponse(req)
		if req.Header.CorrelationID == 0 {
			return Reply{Wait: func() kmsg.Response { <-allHandled; return resp }}, nil
		}
		return Reply{Response: resp}, nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingListener{Listener: ln}
	s := NewServer(Config{Handler: handler, Versions: testVersions(), MaxInFlight: 64})
	served := make(chan error, 1)
	go func() { served <- s.Serve(counting) }()
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	c := dial(t, ln.Addr().String())
	var batch []byte
	for i := range n {
		batch = append(batch, encodeRequest(metadataRequest(12, "t"), int32(i), "c")...)
	}
	c.write(batch)
	for i := range n {
		c.receive(metadataRequest(12, "t"), int32(i))
	}
	if w := counting.writes.Load(); w > 2 {
		t.Fatalf("%d queued responses took %d writes", n, w)
	}
}

// TestReaderStopsReadingAtMaxInFlight blocks the writer on a Wait and checks
// the reader handles no more than MaxInFlight queued replies beyond it (plus
// the one it is trying to queue), then that everything drains in order.
func TestReaderStopsReadingAtMaxInFlight(t *testing.T) {
	const maxInFlight, n = 2, 10
	release := make(chan struct{})
	handledCh := make(chan int32, n)
	handler := HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
		handledCh <- req.Header.CorrelationID
		resp := echoResponse(req)
		return Reply{Wait: func() kmsg.Response {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return resp
		}}, nil
	})
	srv := startServer(t, Config{Handler: handler, MaxInFlight: maxInFlight})
	c := dial(t, srv.addr)
	var batch []byte
	for i := range n {
		batch = append(batch, encodeRequest(metadataRequest(12, "t"), int32(i), "c")...)
	}
	c.write(batch)

	// One reply in the writer's Wait, maxInFlight queued, one in the
	// reader's hands waiting for room.
	const want = 1 + maxInFlight + 1
	for i := range want {
		select {
		case id := <-handledCh:
			if id != int32(i) {
				t.Fatalf("handled correlation %d, want %d", id, i)
			}
		case <-time.After(testTimeout):
			t.Fatalf("only %d requests handled", i)
		}
	}
	select {
	case id := <-handledCh:
		t.Fatalf("request %d handled while %d replies were queued", id, maxInFlight)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	for i := range n {
		c.receive(metadataRequest(12, "t"), int32(i))
	}
}

func TestRequestCarriesConnectionAndHeader(t *testing.T) {
	got := make(chan *Request, 1)
	handler := HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
		got <- req
		return Reply{Response: echoResponse(req)}, nil
	})
	srv := startServer(t, Config{Handler: handler, Listener: "CLIENTS"})
	c := dial(t, srv.addr)
	before := time.Now()
	req := metadataRequest(7, "t")
	c.write(encodeRequest(req, 31, "my-app"))
	c.receive(req, 31)
	r := <-got
	switch {
	case r.Header.APIKey != 3 || r.Header.APIVersion != 7 || r.Header.CorrelationID != 31 || deref(r.Header.ClientID) != "my-app":
		t.Fatalf("header %+v", r.Header)
	case r.Body.GetVersion() != 7:
		t.Fatalf("body version %d", r.Body.GetVersion())
	case r.Conn.Listener != "CLIENTS" || r.Conn.Remote.String() != c.nc.LocalAddr().String() || r.Conn.Local.String() != srv.addr:
		t.Fatalf("conn info %+v", r.Conn)
	case !strings.HasPrefix(r.Conn.ID, srv.addr+"-"+c.nc.LocalAddr().String()+"-"):
		t.Fatalf("connection id %q", r.Conn.ID)
	case r.Received.Before(before):
		t.Fatalf("received %v before the request was sent (%v)", r.Received, before)
	}
}

// TestClientCloseCancelsConnectionContext: a Wait parked on the connection's
// context returns when the client goes away.
func TestClientCloseCancelsConnectionContext(t *testing.T) {
	waiting := make(chan struct{})
	cancelled := make(chan error, 1)
	handler := HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
		return Reply{Wait: func() kmsg.Response {
			close(waiting)
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil
		}}, nil
	})
	srv := startServer(t, Config{Handler: handler})
	c := dial(t, srv.addr)
	c.send(metadataRequest(12, "t"), 1)
	<-waiting
	_ = c.nc.Close()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ctx.Err() = %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Wait's context not cancelled after the client closed")
	}
}

func TestIdleTimeout(t *testing.T) {
	const idle = 50 * time.Millisecond

	t.Run("quiet connection is closed", func(t *testing.T) {
		srv := startServer(t, Config{IdleTimeout: idle})
		c := dial(t, srv.addr)
		start := time.Now()
		c.expectClosed()
		if waited := time.Since(start); waited < idle {
			t.Fatalf("closed after %v, before the idle timeout", waited)
		}
		if len(srv.logs.lines("level=DEBUG", "closing idle connection")) != 1 {
			t.Fatalf("no idle close logged:\n%s", srv.logs)
		}
	})

	t.Run("connection owing a response is not idle", func(t *testing.T) {
		release := make(chan struct{})
		handler := HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
			resp := echoResponse(req)
			return Reply{Wait: func() kmsg.Response { <-release; return resp }}, nil
		})
		srv := startServer(t, Config{Handler: handler, IdleTimeout: idle})
		c := dial(t, srv.addr)
		req := metadataRequest(12, "t")
		c.send(req, 1)
		time.Sleep(4 * idle) // the behaviour under test is a timeout
		close(release)
		c.receive(req, 1)
		c.expectClosed() // and idle afterwards
	})

	t.Run("negative disables it", func(t *testing.T) {
		srv := startServer(t, Config{IdleTimeout: -1})
		c := dial(t, srv.addr)
		time.Sleep(3 * idle)
		req := apiVersionsRequest(4)
		c.send(req, 1)
		c.receive(req, 1)
	})
}

func TestServerLifecycle(t *testing.T) {
	s := NewServer(Config{Handler: echoHandler()})
	if s.Addr() != nil {
		t.Fatalf("Addr before Serve = %v", s.Addr())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	// Serve records its listener before accepting; a client that
	// connects and is answered proves it.
	c := dial(t, ln.Addr().String())
	req := apiVersionsRequest(4)
	c.send(req, 1)
	c.receive(req, 1)
	if got := s.Addr(); got == nil || got.String() != ln.Addr().String() {
		t.Fatalf("Addr = %v, want %v", got, ln.Addr())
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if err := s.Serve(ln2); err == nil {
		t.Fatal("second Serve returned nil")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close = %v, want nil", err)
	}
	c.expectClosed()
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ln3, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln3); err != nil {
		t.Fatalf("Serve after Close = %v, want nil", err)
	}
	if _, err := net.Dial("tcp", ln3.Addr().String()); err == nil {
		t.Fatal("Serve after Close left its listener open")
	}
	checkNoServerGoroutines(t)
}
