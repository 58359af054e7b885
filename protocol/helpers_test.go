package protocol

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testTimeout bounds every blocking step of a test, so a bug fails the test
// instead of hanging it.
const testTimeout = 10 * time.Second

// testVersions is the table the tests advertise.
func testVersions() map[int16]VersionRange {
	return map[int16]VersionRange{
		0:  {Min: 3, Max: 13}, // Produce
		3:  {Min: 0, Max: 13}, // Metadata
		7:  {Min: 0, Max: 3},  // ControlledShutdown
		16: {Min: 0, Max: 5},  // ListGroups
	}
}

// echoHandler answers Metadata with the first requested topic name echoed
// back and every other request with an empty response of its kind.
func echoHandler() Handler {
	return HandlerFunc(func(_ context.Context, req *Request) (Reply, error) {
		return Reply{Response: echoResponse(req)}, nil
	})
}

func echoResponse(req *Request) kmsg.Response {
	resp := req.Body.ResponseKind()
	if m, ok := req.Body.(*kmsg.MetadataRequest); ok && len(m.Topics) > 0 {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = m.Topics[0].Topic
		resp.(*kmsg.MetadataResponse).Topics = append(resp.(*kmsg.MetadataResponse).Topics, t)
	}
	return resp
}

// logBuffer collects a server's log lines (text format, one line per record).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines that contain every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
next:
	for _, line := range strings.Split(b.buf.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is a running Server on 127.0.0.1 with its log.
type testServer struct {
	*Server
	addr string
	logs *logBuffer
}

// startServer starts a server for cfg (Versions, Handler and Logger filled in
// when empty) and registers its Close, followed by a check that no goroutine
// of this package is left.
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Versions == nil {
		cfg.Versions = testVersions()
	}
	if cfg.Handler == nil {
		cfg.Handler = echoHandler()
	}
	if cfg.Listener == "" {
		cfg.Listener = "PLAINTEXT"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := NewServer(cfg)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Close, want nil", err)
		}
		checkNoServerGoroutines(t)
	})
	return &testServer{Server: s, addr: ln.Addr().String(), logs: logs}
}

// serverGoroutines returns the stacks of goroutines running this package's
// connection or accept code.
func serverGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "protocol.(*conn)") || strings.Contains(g, "protocol.(*Server).Serve") ||
			strings.Contains(g, "protocol.(*Server).startConn") {
			out = append(out, g)
		}
	}
	return out
}

// checkNoServerGoroutines fails if this package's goroutines outlive Close.
// Close has waited for all of them; a goroutine that has signalled its
// WaitGroup may still be unwinding, so this allows it a moment to finish.
func checkNoServerGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := serverGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(time.Millisecond)
	}
}

// testClient is a raw protocol client.
type testClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *testClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if err := nc.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &testClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// encodeRequest returns the frame kgo would send for req.
func encodeRequest(req kmsg.Request, correlationID int32, clientID string) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, correlationID)
}

// rawFrame prefixes payload with its size.
func rawFrame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func (c *testClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *testClient) send(req kmsg.Request, correlationID int32) {
	c.t.Helper()
	c.write(encodeRequest(req, correlationID, "test-client"))
}

// readRawResponse reads one response frame and returns its payload.
func (c *testClient) readRawResponse() []byte {
	c.t.Helper()
	payload, err := readFrame(c.br, DefaultMaxRequestBytes)
	if err != nil {
		c.t.Fatalf("read response frame: %v", err)
	}
	return payload
}

// receive reads one response to req (at req's version), checking the
// correlation ID and that the body decodes exactly: re-encoding it gives the
// bytes received.
func (c *testClient) receive(req kmsg.Request, correlationID int32) kmsg.Response {
	c.t.Helper()
	payload := c.readRawResponse()
	resp, err := parseResponse(payload, req, correlationID)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// parseResponse decodes a response payload to req, strictly.
func parseResponse(payload []byte, req kmsg.Request, correlationID int32) (kmsg.Response, error) {
	if len(payload) < 4 {
		return nil, errors.New("response shorter than its header")
	}
	if got := int32(binary.BigEndian.Uint32(payload)); got != correlationID {
		return nil, fmt.Errorf("correlation id %d, want %d", got, correlationID)
	}
	body := payload[4:]
	if req.IsFlexible() && req.Key() != apiVersionsKey {
		if len(body) == 0 || body[0] != 0 {
			return nil, errors.New("flexible response header without an empty tag section")
		}
		body = body[1:]
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	if again := resp.AppendTo(nil); !bytes.Equal(again, body) {
		return nil, errors.New("response body does not re-encode to the bytes received")
	}
	return resp, nil
}

// expectClosed fails unless the server closes the connection (EOF or reset)
// before sending any further response.
func (c *testClient) expectClosed() {
	c.t.Helper()
	n, err := c.br.Read(make([]byte, 1))
	if n > 0 {
		c.t.Fatalf("read %d bytes, want the connection closed", n)
	}
	if !isClosedErr(err) {
		c.t.Fatalf("read: %v, want EOF or reset", err)
	}
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// apiVersionsRequest returns an ApiVersions request at version as kgo builds it.
func apiVersionsRequest(version int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = version
	req.ClientSoftwareName = "samsa-test"
	req.ClientSoftwareVersion = "1.0.0"
	return req
}

// metadataRequest returns a Metadata request for one topic.
func metadataRequest(version int16, topic string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	return req
}
