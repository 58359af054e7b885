package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaConn is one client connection to another node's Kafka listener:
// one request at a time, framed with kmsg. Node-to-node traffic (the
// controller channel, follower fetches) is a single stream per peer, so no
// pipelining is needed; callers serialise their use.
type kafkaConn struct {
	peer      string
	conn      net.Conn
	formatter *kmsg.RequestFormatter
	corr      int32
	// recv is the response buffer roundTripReusing keeps between calls.
	recv []byte
}

func dialKafka(ctx context.Context, peer, addr string, formatter *kmsg.RequestFormatter) (*kafkaConn, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s at %s: %w", peer, addr, err)
	}
	return &kafkaConn{peer: peer, conn: c, formatter: formatter}, nil
}

// roundTrip sends req (its version already set) and decodes the answer.
// Any error leaves the connection unusable; the caller closes it.
func (k *kafkaConn) roundTrip(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return k.exchange(ctx, req, false)
}

// roundTripReusing is roundTrip for the follower fetch loop: the response
// is decoded into a buffer kept for the next call, so its byte fields
// (record batches) are only valid until then. A follower appends what it
// fetched before it fetches again, and a fresh multi-megabyte buffer per
// fetch cost more in allocation, zeroing and GC than the copy itself.
func (k *kafkaConn) roundTripReusing(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return k.exchange(ctx, req, true)
}

func (k *kafkaConn) exchange(ctx context.Context, req kmsg.Request, reuse bool) (kmsg.Response, error) {
	if dl, ok := ctx.Deadline(); ok {
		k.conn.SetDeadline(dl)
	} else {
		k.conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	// Unblock the read if ctx ends first.
	stop := context.AfterFunc(ctx, func() { k.conn.SetDeadline(time.Now()) })
	defer stop()
	k.corr++
	if _, err := k.conn.Write(k.formatter.AppendRequest(nil, req, k.corr)); err != nil {
		return nil, fmt.Errorf("send %s to %s: %w", kmsg.NameForKey(req.Key()), k.peer, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(k.conn, size[:]); err != nil {
		return nil, fmt.Errorf("read %s response from %s: %w", kmsg.NameForKey(req.Key()), k.peer, err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<30 {
		return nil, fmt.Errorf("%s sent a response of %d bytes", k.peer, n)
	}
	var body []byte
	if reuse && cap(k.recv) >= int(n) {
		body = k.recv[:n]
	} else {
		body = make([]byte, n)
		if reuse {
			k.recv = body
		}
	}
	if _, err := io.ReadFull(k.conn, body); err != nil {
		return nil, fmt.Errorf("read %s response from %s: %w", kmsg.NameForKey(req.Key()), k.peer, err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != k.corr {
		return nil, fmt.Errorf("%s answered correlation ID %d, want %d", k.peer, corr, k.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != 18 {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, fmt.Errorf("%s sent a bad response header: %w", k.peer, err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s response from %s: %w", kmsg.NameForKey(req.Key()), k.peer, err)
	}
	return resp, nil
}

// skipTags skips a tagged-field section (response header v1).
func skipTags(b []byte) ([]byte, error) {
	n, m := binary.Uvarint(b)
	if m <= 0 {
		return nil, io.ErrUnexpectedEOF
	}
	b = b[m:]
	for range n {
		if _, m = binary.Uvarint(b); m <= 0 {
			return nil, io.ErrUnexpectedEOF
		}
		b = b[m:]
		size, m := binary.Uvarint(b)
		if m <= 0 || uint64(len(b)-m) < size {
			return nil, io.ErrUnexpectedEOF
		}
		b = b[m+int(size):]
	}
	return b, nil
}

func (k *kafkaConn) close() { k.conn.Close() }
