package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestTimeout bounds one request on a kafkaConn when the context has no
// earlier deadline, so a broker that accepts but never answers cannot hang a
// probe.
const requestTimeout = 5 * time.Second

// maxResponseBytes guards against a corrupt size prefix; Kafka's own default
// socket.request.max.bytes is 100 MiB.
const maxResponseBytes = 100 << 20

// kafkaConn is one raw Kafka protocol connection built from kmsg, with no
// client library in between, so probes measure exactly one round trip per
// request and see every error a broker answers. Not safe for concurrent use.
type kafkaConn struct {
	addr          string
	conn          net.Conn
	formatter     *kmsg.RequestFormatter
	correlationID int32
	buf           []byte
	maxVersions   map[int16]int16 // API key -> highest version the broker serves
}

// dialKafka connects to addr and negotiates API versions with ApiVersions,
// the first request every Kafka client sends.
func dialKafka(ctx context.Context, addr string) (*kafkaConn, error) {
	d := net.Dialer{Timeout: requestTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &kafkaConn{
		addr:      addr,
		conn:      conn,
		formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID("samsa-bench")),
	}
	if err := c.negotiateVersions(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *kafkaConn) Close() error { return c.conn.Close() }

// negotiateVersions sends ApiVersions v3 and falls back to v0 when the broker
// answers UNSUPPORTED_VERSION, as KIP-511 specifies: a broker that does not
// know the request's version answers in v0 form with its own version range.
func (c *kafkaConn) negotiateVersions(ctx context.Context) error {
	for _, version := range []int16{3, 0} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = version
		req.ClientSoftwareName = "samsa-bench"
		req.ClientSoftwareVersion = "1.0.0"
		body, err := c.roundTripRaw(ctx, req)
		if err != nil {
			return err
		}
		if len(body) >= 2 && int16(binary.BigEndian.Uint16(body)) == kerr.UnsupportedVersion.Code && version > 0 {
			continue
		}
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.Version = version
		if err := resp.ReadFrom(body); err != nil {
			return fmt.Errorf("decode ApiVersions v%d response from %s: %w", version, c.addr, err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("ApiVersions v%d on %s: %w", version, c.addr, err)
		}
		c.maxVersions = make(map[int16]int16, len(resp.ApiKeys))
		for _, k := range resp.ApiKeys {
			c.maxVersions[k.ApiKey] = k.MaxVersion
		}
		return nil
	}
	return fmt.Errorf("ApiVersions on %s: every version refused", c.addr)
}

// request sends req at the highest version kmsg, the broker and versionCap
// all allow, and decodes the response.
func (c *kafkaConn) request(ctx context.Context, req kmsg.Request, versionCap int16) (kmsg.Response, error) {
	brokerMax, ok := c.maxVersions[req.Key()]
	if !ok {
		return nil, fmt.Errorf("broker %s does not serve API key %d (%s)", c.addr, req.Key(), kmsg.NameForKey(req.Key()))
	}
	req.SetVersion(min(brokerMax, req.MaxVersion(), versionCap))
	body, err := c.roundTripRaw(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s v%d response from %s: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), c.addr, err)
	}
	return resp, nil
}

// roundTripRaw writes req and returns the response body after the response
// header.
func (c *kafkaConn) roundTripRaw(ctx context.Context, req kmsg.Request) ([]byte, error) {
	name := kmsg.NameForKey(req.Key())
	// The connection's own deadline is only the per-request bound; ctx's
	// end arrives through the AfterFunc below, so an interrupted request
	// always reports ctx's error (a deadline copied from ctx could fire a
	// moment before ctx itself is done and look like a broker timeout).
	if err := c.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return nil, fmt.Errorf("set deadline on %s: %w", c.addr, err)
	}
	// A deadline in the past is the only way to interrupt a blocked read
	// when ctx ends first; the caller discards the connection on error.
	// If the interruption has started, wait for it, so it cannot land on
	// the connection's next request after that request set its deadline.
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted
		}
	}()

	c.correlationID++
	c.buf = c.formatter.AppendRequest(c.buf[:0], req, c.correlationID)
	if _, err := c.conn.Write(c.buf); err != nil {
		return nil, fmt.Errorf("write %s request to %s: %w", name, c.addr, ctxErrOr(ctx, err))
	}

	var sizeBuf [4]byte
	if _, err := io.ReadFull(c.conn, sizeBuf[:]); err != nil {
		return nil, fmt.Errorf("read %s response size from %s: %w", name, c.addr, ctxErrOr(ctx, err))
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 4 || size > maxResponseBytes {
		return nil, fmt.Errorf("%s response from %s: invalid size %d", name, c.addr, size)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(c.conn, frame); err != nil {
		return nil, fmt.Errorf("read %s response from %s: %w", name, c.addr, ctxErrOr(ctx, err))
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != c.correlationID {
		return nil, fmt.Errorf("%s response from %s: correlation ID %d, want %d", name, c.addr, got, c.correlationID)
	}
	body := frame[4:]
	// Flexible responses carry a tagged-field section in their header,
	// except ApiVersions, whose response header stays v0 so that any client
	// can parse it (KIP-511).
	if req.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		rest, err := skipTaggedFields(body)
		if err != nil {
			return nil, fmt.Errorf("%s response header from %s: %w", name, c.addr, err)
		}
		body = rest
	}
	return body, nil
}

// skipTaggedFields skips a KIP-482 tagged-field section: a uvarint count,
// then per field a uvarint tag, a uvarint size and that many bytes.
func skipTaggedFields(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("truncated tagged field count")
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("truncated tag")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return nil, errors.New("truncated tagged field")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// ctxErrOr prefers the context's error, which explains a forced deadline,
// over the I/O error it caused.
func ctxErrOr(ctx context.Context, err error) error {
	if ctxErr := context.Cause(ctx); ctxErr != nil {
		return ctxErr
	}
	return err
}
