package protocol

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// readBufferSize batches the reads of small pipelined requests; larger
	// frames are read straight into their own buffers.
	readBufferSize = 16 << 10
	// writeBufferSize batches small responses into one write; it is
	// flushed whenever no further reply is queued.
	writeBufferSize = 32 << 10
	// maxRetainedEncodeBuffer is the largest response encoding buffer a
	// connection keeps between responses; one big fetch response should
	// not pin its size for the connection's lifetime.
	maxRetainedEncodeBuffer = 16 << 20
)

// errHandlerPanic is returned in place of a recovered panic, which has
// already been logged with its stack.
var errHandlerPanic = errors.New("handler panicked")

// queuedReply is one response owed to the client, in request order.
type queuedReply struct {
	header  Header
	version int16 // version to encode the response at
	resp    kmsg.Response
	wait    func() kmsg.Response
}

// conn is one client connection. Its reader goroutine (serve) owns the writer
// goroutine; the server owns the reader.
type conn struct {
	srv     *Server
	nc      net.Conn
	info    *ConnInfo
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	replies chan queuedReply

	closeOnce sync.Once
	// owed counts replies queued or being written. The idle timer leaves a
	// connection alone while it owes a response, since Kafka counts any
	// activity on a channel against connections.max.idle.ms.
	owed atomic.Int32
	// lastWrite is when a response was last written (UnixNano).
	lastWrite atomic.Int64
}

func newConn(s *Server, nc net.Conn) *conn {
	info := &ConnInfo{
		ID:       fmt.Sprintf("%s-%s-%d", nc.LocalAddr(), nc.RemoteAddr(), s.connSeq.Add(1)),
		Listener: s.cfg.Listener,
		Local:    nc.LocalAddr(),
		Remote:   nc.RemoteAddr(),
	}
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{
		srv:     s,
		nc:      nc,
		info:    info,
		log:     s.log.With(slog.String("remote", info.Remote.String()), slog.String("conn", info.ID)),
		ctx:     ctx,
		cancel:  cancel,
		replies: make(chan queuedReply, s.cfg.MaxInFlight),
	}
}

// close cancels the connection's context and closes the socket, which
// unblocks both goroutines. Safe to call from anywhere, more than once.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		_ = c.nc.Close()
	})
}

// serve runs the connection: it starts the writer, reads until the
// connection ends, then closes it and waits for the writer.
func (c *conn) serve() {
	c.log.Debug("connection opened")
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.close()
	<-writerDone
	c.log.Debug("connection closed")
}

// readLoop reads, decodes and dispatches requests in order until an error.
func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, readBufferSize)
	for {
		payload, err := c.nextFrame(br)
		if err != nil {
			c.logReadError(err)
			return
		}
		received := time.Now()
		d, err := decodeRequest(payload, c.srv.versions)
		if err != nil {
			var attrs []any
			if len(payload) >= 8 { // the fixed header fields were read
				attrs = headerAttrs(d.Header)
			}
			c.log.Warn("closing connection: invalid request", append(attrs, slog.Any("err", err))...)
			return
		}
		var q queuedReply
		if d.Header.APIKey == apiVersionsKey {
			q = c.answerAPIVersions(d)
		} else {
			var ok bool
			if q, ok = c.dispatch(d, received); !ok {
				return
			}
			if q.resp == nil && q.wait == nil {
				continue // NoResponse
			}
		}
		c.owed.Add(1)
		select {
		case c.replies <- q:
		case <-c.ctx.Done():
			return
		}
	}
}

// nextFrame waits for the next frame under the idle timeout, then reads it.
// A read deadline that passes while a response is owed, or soon after one was
// written, is pushed back: only a connection quiet in both directions is idle.
// A deadline passing mid-frame closes the connection.
func (c *conn) nextFrame(br *bufio.Reader) ([]byte, error) {
	if idle := c.srv.cfg.IdleTimeout; idle > 0 {
		if err := c.nc.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return nil, fmt.Errorf("set read deadline: %w", err)
		}
		for {
			_, err := br.Peek(1)
			if err == nil {
				break
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, err
			}
			next := time.Unix(0, c.lastWrite.Load()).Add(idle)
			if c.owed.Load() > 0 {
				next = time.Now().Add(idle)
			}
			if !next.After(time.Now()) {
				return nil, fmt.Errorf("idle for %v: %w", idle, err)
			}
			if err := c.nc.SetReadDeadline(next); err != nil {
				return nil, fmt.Errorf("set read deadline: %w", err)
			}
		}
	}
	return readFrame(br, c.srv.cfg.MaxRequestBytes)
}

func (c *conn) logReadError(err error) {
	var sizeErr *FrameSizeError
	switch {
	case c.ctx.Err() != nil:
		// Closed by us (server close, writer error, bad reply): already
		// logged where it happened, if it needed to be.
	case errors.Is(err, io.EOF):
		c.log.Debug("client closed connection")
	case errors.As(err, &sizeErr):
		c.log.Warn("closing connection: invalid frame size", slog.Int("size", int(sizeErr.Size)), slog.Int("max", int(sizeErr.Max)))
	case errors.Is(err, errShortFrame):
		c.log.Debug("connection ended mid-frame", slog.Any("err", err))
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Debug("closing idle connection", slog.Any("err", err))
	default:
		c.log.Debug("read failed", slog.Any("err", err))
	}
}

// answerAPIVersions answers ApiVersions here, on the read goroutine, so that
// its response takes its place in the request order like any other.
func (c *conn) answerAPIVersions(d decodedRequest) queuedReply {
	if req, ok := d.Body.(*kmsg.ApiVersionsRequest); ok && req.Version >= apiVersionsFlexibleVersion {
		c.info.software.Store(&clientSoftware{name: req.ClientSoftwareName, version: req.ClientSoftwareVersion})
		c.log.Debug("client software", slog.String("software", req.ClientSoftwareName), slog.String("software_version", req.ClientSoftwareVersion))
	}
	if d.unsupportedAPIVersions {
		c.log.Debug("ApiVersions version not served; answering v0 with UNSUPPORTED_VERSION (KIP-511)", slog.Int("version", int(d.Header.APIVersion)))
	}
	resp, version := c.srv.versions.apiVersionsResponse(d)
	return queuedReply{header: d.Header, version: version, resp: resp}
}

// dispatch calls the handler. ok is false when the connection must close.
func (c *conn) dispatch(d decodedRequest, received time.Time) (q queuedReply, ok bool) {
	req := &Request{Header: d.Header, Body: d.Body, Conn: c.info, Received: received}
	rep, err := c.handle(req)
	attrs := headerAttrs(d.Header)
	switch {
	case errors.Is(err, errHandlerPanic):
		return q, false
	case err != nil:
		c.log.Warn("closing connection: handler error", append(attrs, slog.Any("err", err))...)
		return q, false
	}
	set := 0
	for _, b := range []bool{rep.Response != nil, rep.Wait != nil, rep.NoResponse} {
		if b {
			set++
		}
	}
	if set != 1 {
		c.log.Error("closing connection: handler reply must set exactly one of Response, Wait, NoResponse", attrs...)
		return q, false
	}
	if rep.Response != nil && !c.responseMatches(d.Header, rep.Response) {
		return q, false
	}
	return queuedReply{header: d.Header, version: d.Header.APIVersion, resp: rep.Response, wait: rep.Wait}, true
}

// handle calls the handler, turning a panic into errHandlerPanic after
// logging it: a bug in one request's handling closes that connection only.
func (c *conn) handle(req *Request) (rep Reply, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("closing connection: panic in handler",
				append(headerAttrs(req.Header), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))...)
			rep, err = Reply{}, errHandlerPanic
		}
	}()
	return c.srv.cfg.Handler.Handle(c.ctx, req)
}

// responseMatches reports whether resp answers a request with header h,
// logging an ERROR when it does not.
func (c *conn) responseMatches(h Header, resp kmsg.Response) bool {
	if resp.Key() != h.APIKey {
		c.log.Error("closing connection: handler returned a response of another api",
			append(headerAttrs(h), slog.String("response_api", kmsg.NameForKey(resp.Key())))...)
		return false
	}
	return true
}

// headerAttrs are the log attributes of a request.
func headerAttrs(h Header) []any {
	attrs := []any{
		slog.String("api", kmsg.NameForKey(h.APIKey)),
		slog.Int("api_key", int(h.APIKey)),
		slog.Int("version", int(h.APIVersion)),
		slog.Int("correlation_id", int(h.CorrelationID)),
	}
	if h.ClientID != nil {
		attrs = append(attrs, slog.String("client_id", *h.ClientID))
	}
	return attrs
}
