package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults for zero Config fields, Kafka's where Kafka has the setting.
const (
	// DefaultMaxRequestBytes is socket.request.max.bytes.
	DefaultMaxRequestBytes int32 = 104857600
	// DefaultIdleTimeout is connections.max.idle.ms.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxInFlight bounds the replies queued per connection. Kafka
	// processes one request per connection at a time; samsa pipelines up
	// to this many.
	DefaultMaxInFlight = 128
)

// Request is one decoded request.
type Request struct {
	Header Header
	// Body is the decoded request, with SetVersion(Header.APIVersion)
	// applied. Byte fields (a produce request's records) alias a buffer
	// that belongs to this request alone and is never reused, so a handler
	// may keep them.
	Body     kmsg.Request
	Conn     *ConnInfo
	Received time.Time // when the whole frame had arrived
}

// Reply is what a handler returns for one request: exactly one of Response,
// Wait or NoResponse. The response must be of the request's API key; anything
// else is a bug that closes the connection with an ERROR. Once returned, the
// response belongs to the server, which sets its version to the request's
// (SetVersion) and encodes it on the write goroutine: do not share one
// response value between requests.
type Reply struct {
	// Response is ready now.
	Response kmsg.Response
	// Wait runs on the connection's write goroutine, in request order, once
	// every earlier response has been handed to the socket. It may block
	// (acks=all produce, long-poll fetch) but must return promptly once the
	// context passed to Handle is done, which happens when the connection
	// or the server closes; what it returns then is dropped. It runs after
	// the Waits of earlier requests, so deadlines should count from
	// Request.Received, not from when Wait starts.
	Wait func() kmsg.Response
	// NoResponse writes nothing (acks=0 produce) and holds up nothing.
	NoResponse bool
}

// Handler serves every request except ApiVersions, which Server answers.
type Handler interface {
	// Handle is called on the connection's read goroutine, one request at a
	// time, in request order: this keeps appends from one connection in
	// request order, which idempotent producers depend on. It must not
	// block for long; blocking work goes into Reply.Wait. ctx is done when
	// the connection closes, from either side, or the server closes. An
	// error is logged (WARN) and closes the connection, as Kafka closes a
	// connection whose request it cannot process.
	Handle(ctx context.Context, req *Request) (Reply, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) (Reply, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req *Request) (Reply, error) { return f(ctx, req) }

// VersionRange is an inclusive range of API versions.
type VersionRange struct{ Min, Max int16 }

// ConnInfo describes one client connection, for handlers and logs.
type ConnInfo struct {
	// ID is unique per server, in Kafka's connection ID form:
	// local-remote-sequence.
	ID       string
	Listener string
	Local    net.Addr
	Remote   net.Addr

	software atomic.Pointer[clientSoftware]
}

type clientSoftware struct{ name, version string }

// ClientSoftware returns the client software name and version the client
// sent in ApiVersions v3+ (KIP-511), or empty strings before it has.
func (c *ConnInfo) ClientSoftware() (name, version string) {
	if s := c.software.Load(); s != nil {
		return s.name, s.version
	}
	return "", ""
}

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	// Listener is the listener name, for logs and ConnInfo.
	Listener string
	// MaxRequestBytes is socket.request.max.bytes: a larger (or negative)
	// frame size closes the connection.
	MaxRequestBytes int32
	// Versions are the advertised APIs. ApiVersions (key 18) is answered
	// by the server at v0-v4 whatever this says. Keys kmsg does not know
	// and versions newer than kmsg decodes are left out (with a WARN).
	Versions map[int16]VersionRange
	// Handler serves all other requests. Required.
	Handler Handler
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// MaxInFlight is how many replies may be queued on one connection
	// before its reader stops reading.
	MaxInFlight int
	// IdleTimeout is connections.max.idle.ms: a connection with no request
	// arriving, no response owed and none written for this long is closed.
	// Negative disables it.
	IdleTimeout time.Duration
	// Features are advertised in ApiVersions v3+ (KIP-584). Nil means
	// DefaultFeatures(); an empty non-nil slice advertises none.
	Features []Feature
	// FinalizedFeaturesEpoch is sent with the finalized features (Kafka:
	// the metadata offset of the last feature change); -1 is sent when
	// no feature is finalized.
	FinalizedFeaturesEpoch int64
}

// Server serves the Kafka protocol on one listener.
type Server struct {
	cfg      Config
	log      *slog.Logger
	versions *versionTable
	ctx      context.Context // done when Close starts; parent of every connection's context
	cancel   context.CancelFunc
	connSeq  atomic.Uint64

	mu         sync.Mutex
	ln         net.Listener
	acceptDone chan struct{} // closed when Serve returns
	closed     bool
	conns      map[*conn]struct{}
	connsWG    sync.WaitGroup // one per connection; Add only under mu while !closed
}

// NewServer returns a server for cfg. It panics if cfg.Handler is nil, a
// programming error.
func NewServer(cfg Config) *Server {
	if cfg.Handler == nil {
		panic("protocol.NewServer: nil Handler")
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(slog.String("listener", cfg.Listener))
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:      cfg,
		log:      log,
		versions: newVersionTable(cfg.Versions, cfg.Features, cfg.FinalizedFeaturesEpoch, log),
		ctx:      ctx,
		cancel:   cancel,
		conns:    make(map[*conn]struct{}),
	}
}

// Serve accepts connections on ln until Close, then returns nil. It takes
// ownership of ln. It returns an error if ln fails for another reason (its
// connections keep running until Close) or if Serve was already called.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	if s.ln != nil {
		s.mu.Unlock()
		return errors.New("protocol: Serve called more than once")
	}
	s.ln = ln
	s.acceptDone = make(chan struct{})
	s.mu.Unlock()
	defer close(s.acceptDone)

	s.log.Info("serving", slog.String("addr", ln.Addr().String()))
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
			}
			// Out of descriptors and the like: back off and retry, as
			// net/http does, rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", slog.Duration("backoff", backoff), slog.Any("err", err))
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

// Addr returns the address of the listener given to Serve, or nil before
// Serve is called.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting, closes every connection (cancelling their contexts,
// which Wait funcs must honour) and returns once Serve and every connection
// goroutine have returned. It may be called more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	ln, acceptDone := s.ln, s.acceptDone
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	s.cancel()
	var err error
	if first && ln != nil {
		if cerr := ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("close listener %s: %w", ln.Addr(), cerr)
		}
	}
	for _, c := range conns {
		c.close()
	}
	if acceptDone != nil {
		<-acceptDone
	}
	s.connsWG.Wait()
	return err
}

// startConn registers a new connection and starts its goroutines, or closes
// it if the server is closing.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.connsWG.Add(1)
	go func() {
		defer s.connsWG.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}
