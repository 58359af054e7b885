package protocol

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInvalidRequestsCloseTheConnection sends one bad frame per connection
// and expects the connection closed with a WARN naming the reason, while a
// second connection to the same server still works.
func TestInvalidRequestsCloseTheConnection(t *testing.T) {
	const maxBytes = 1024
	sizePrefix := func(size int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(size)) }
	header := func(key, version int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 1)
		return append(b, 0, 1, 'c')
	}
	tests := []struct {
		name    string
		frame   []byte
		wantLog []string
	}{
		{"size over socket.request.max.bytes", sizePrefix(maxBytes + 1), []string{"invalid frame size", "size=1025", "max=1024"}},
		{"negative size", sizePrefix(-5), []string{"invalid frame size", "size=-5"}},
		{"size of 2 GiB", sizePrefix(math.MaxInt32), []string{"invalid frame size", "size=2147483647"}},
		{"HTTP on the Kafka port", []byte("GET / HTTP/1.1\r\n\r\n"), []string{"invalid frame size", "size=1195725856"}},
		{"empty frame", rawFrame(nil), []string{"invalid request", "malformed request header"}},
		{"unknown api key", rawFrame(header(9999, 0)), []string{"invalid request", "unknown api key 9999"}},
		{"key known to kmsg but not advertised", rawFrame(payloadOf(kmsg.NewPtrFetchRequest(), 1, "c")), []string{"invalid request", "api=Fetch", "not advertised"}},
		{"version above the advertised range", rawFrame(payloadOf(&kmsg.ListGroupsRequest{Version: 6}, 1, "c")), []string{"invalid request", "unsupported api version", "api=ListGroups", "version=6"}},
		{"version below the advertised range", rawFrame(payloadOf(&kmsg.ProduceRequest{Version: 2, Acks: 1}, 1, "c")), []string{"invalid request", "unsupported api version", "version=2"}},
		{"garbage body", rawFrame(append(header(3, 1), 0x7f, 0xff, 0xff, 0xff)), []string{"invalid request", "malformed request body"}},
		{"trailing bytes", rawFrame(append(payloadOf(metadataRequest(4, "t"), 1, "c"), 1, 2, 3)), []string{"invalid request", "trailing bytes"}},
		{"client id longer than the frame", rawFrame(append(header(3, 1)[:8], 0, 50, 'x')), []string{"invalid request", "malformed request header"}},
	}
	srv := startServer(t, Config{MaxRequestBytes: maxBytes})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, srv.addr)
			c.write(tt.frame)
			c.expectClosed()
			want := append([]string{"level=WARN", "remote=" + c.nc.LocalAddr().String(), "listener=PLAINTEXT"}, tt.wantLog...)
			if lines := srv.logs.lines(want...); len(lines) != 1 {
				t.Fatalf("want one log line with %q, log:\n%s", want, srv.logs)
			}

			other := dial(t, srv.addr)
			req := apiVersionsRequest(4)
			other.send(req, 2)
			other.receive(req, 2)
		})
	}
}

// TestTruncatedFrameClosesQuietly: a client that goes away mid-frame is
// logged at DEBUG only.
func TestTruncatedFrameClosesQuietly(t *testing.T) {
	srv := startServer(t, Config{})
	c := dial(t, srv.addr)
	frame := rawFrame(payloadOf(metadataRequest(12, "topic"), 1, "c"))
	c.write(frame[:len(frame)-3])
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	if lines := srv.logs.lines("level=DEBUG", "connection ended mid-frame"); len(lines) != 1 {
		t.Fatalf("no DEBUG line for the cut frame:\n%s", srv.logs)
	}
	if lines := srv.logs.lines("level=WARN"); len(lines) != 0 {
		t.Fatalf("a cut frame is not worth a WARN: %q", lines)
	}
}

// boomHandler panics, fails or misbehaves according to the Metadata topic
// asked for, and echoes otherwise.
func boomHandler() Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
		m, ok := req.Body.(*kmsg.MetadataRequest)
		if !ok || len(m.Topics) == 0 {
			return Reply{Response: echoResponse(req)}, nil
		}
		resp := echoResponse(req)
		switch deref(m.Topics[0].Topic) {
		case "panic":
			panic("handler bug")
		case "panic-in-wait":
			return Reply{Wait: func() kmsg.Response { panic("wait bug") }}, nil
		case "error":
			return Reply{}, errors.New("cannot serve this")
		case "two-replies":
			return Reply{Response: resp, NoResponse: true}, nil
		case "no-reply":
			return Reply{}, nil
		case "wrong-api":
			return Reply{Response: kmsg.NewPtrListGroupsResponse()}, nil
		case "wait-wrong-api":
			return Reply{Wait: func() kmsg.Response { return kmsg.NewPtrListGroupsResponse() }}, nil
		case "wait-nil":
			return Reply{Wait: func() kmsg.Response { return nil }}, nil
		}
		return Reply{Response: resp}, nil
	})
}

// TestHandlerFailuresCloseOnlyThatConnection: a panic (in Handle or Wait), an
// error or an invalid reply closes the connection it happened on, logs it,
// and leaves another connection, opened before, working.
func TestHandlerFailuresCloseOnlyThatConnection(t *testing.T) {
	tests := []struct {
		topic   string
		wantLog []string
	}{
		{"panic", []string{"level=ERROR", "panic in handler", "api=Metadata", "version=12", "panic=\"handler bug\"", "stack=", "goroutine"}},
		{"panic-in-wait", []string{"level=ERROR", "panic in reply Wait", "api=Metadata", "version=12", "panic=\"wait bug\"", "stack="}},
		{"error", []string{"level=WARN", "handler error", "api=Metadata", "cannot serve this"}},
		{"two-replies", []string{"level=ERROR", "exactly one of Response, Wait, NoResponse"}},
		{"no-reply", []string{"level=ERROR", "exactly one of Response, Wait, NoResponse"}},
		{"wrong-api", []string{"level=ERROR", "response of another api", "response_api=ListGroups"}},
		{"wait-wrong-api", []string{"level=ERROR", "response of another api", "response_api=ListGroups"}},
		{"wait-nil", []string{"level=ERROR", "Wait returned no response"}},
	}
	srv := startServer(t, Config{Handler: boomHandler()})
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			bystander := dial(t, srv.addr)
			victim := dial(t, srv.addr)
			victim.send(metadataRequest(12, tt.topic), 1)
			victim.expectClosed()
			if lines := srv.logs.lines(append(tt.wantLog, "remote="+victim.nc.LocalAddr().String())...); len(lines) != 1 {
				t.Fatalf("want one log line with %q, log:\n%s", tt.wantLog, srv.logs)
			}
			req := metadataRequest(12, "fine")
			bystander.send(req, 2)
			if resp := bystander.receive(req, 2).(*kmsg.MetadataResponse); deref(resp.Topics[0].Topic) != "fine" {
				t.Fatalf("bystander got %+v", resp.Topics)
			}
		})
	}
}

// TestCloseCancelsBlockedWaitsAndLeavesNoGoroutines parks Waits on several
// connections, closes the server, and expects every Wait's context cancelled,
// every client disconnected and no goroutine of this package left.
func TestCloseCancelsBlockedWaitsAndLeavesNoGoroutines(t *testing.T) {
	const clients = 3
	started := make(chan struct{}, clients)
	cancelled := make(chan error, clients)
	handler := HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
		return Reply{Wait: func() kmsg.Response {
			started <- struct{}{}
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil
		}}, nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := NewServer(Config{Handler: handler, Versions: testVersions(), Logger: logger})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	var conns []*testClient
	for i := range clients {
		c := dial(t, ln.Addr().String())
		c.send(metadataRequest(12, "t"), int32(i))
		conns = append(conns, c)
	}
	for range clients {
		select {
		case <-started:
		case <-time.After(testTimeout):
			t.Fatal("Waits did not start")
		}
	}
	if len(serverGoroutines()) == 0 {
		t.Fatal("no server goroutines while serving; the leak check below would prove nothing")
	}

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close did not return")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for range clients {
		if err := <-cancelled; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait's ctx.Err() = %v", err)
		}
	}
	for _, c := range conns {
		c.expectClosed()
	}
	checkNoServerGoroutines(t)
	if lines := append(logs.lines("level=WARN"), logs.lines("level=ERROR")...); len(lines) != 0 {
		t.Fatalf("server close logged problems: %q", lines)
	}
}

func TestNewServerRequiresHandler(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "nil Handler") {
			t.Fatalf("recover() = %v, want a nil Handler panic", r)
		}
	}()
	NewServer(Config{})
}
