package protocol

import (
	"bufio"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeLoop writes queued replies in order until the connection closes. It
// flushes when the queue runs empty, so a burst of pipelined responses goes
// out in few writes, and before running a Wait, so a response already encoded
// is not held back by a later one that blocks.
func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, writeBufferSize)
	var encoded []byte
	for {
		var q queuedReply
		select {
		case q = <-c.replies:
		default:
			if !c.flush(bw) {
				return
			}
			select {
			case q = <-c.replies:
			case <-c.ctx.Done():
				return
			}
		}

		resp := q.resp
		if q.wait != nil {
			if !c.flush(bw) {
				return
			}
			var ok bool
			if resp, ok = c.runWait(q); !ok {
				c.close()
				return
			}
		}
		if c.ctx.Err() != nil {
			return // closing: what is owed is dropped, as Kafka drops it
		}
		if resp == nil {
			c.log.Error("closing connection: Wait returned no response", headerAttrs(q.header)...)
			c.close()
			return
		}
		if !c.responseMatches(q.header, resp) {
			c.close()
			return
		}

		resp.SetVersion(q.version)
		encoded = appendResponseFrame(encoded[:0], q.header.CorrelationID, resp)
		if !c.setWriteDeadline() {
			return
		}
		_, err := bw.Write(encoded)
		if cap(encoded) > maxRetainedEncodeBuffer {
			encoded = nil
		}
		c.owed.Add(-1)
		if err != nil {
			c.writeFailed(err)
			return
		}
		c.lastWrite.Store(time.Now().UnixNano())
	}
}

// flush writes out buffered responses; false means the connection is done.
func (c *conn) flush(bw *bufio.Writer) bool {
	if bw.Buffered() == 0 {
		return true
	}
	if !c.setWriteDeadline() {
		return false
	}
	if err := bw.Flush(); err != nil {
		c.writeFailed(err)
		return false
	}
	c.lastWrite.Store(time.Now().UnixNano())
	return true
}

// setWriteDeadline bounds each write by the idle timeout: a client that
// stops reading for that long is as idle as one that stops writing.
func (c *conn) setWriteDeadline() bool {
	idle := c.srv.cfg.IdleTimeout
	if idle <= 0 {
		return true
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(idle)); err != nil {
		c.writeFailed(err)
		return false
	}
	return true
}

func (c *conn) writeFailed(err error) {
	if c.ctx.Err() == nil {
		c.log.Debug("closing connection: write failed", slog.Any("err", err))
	}
	c.close()
}

// runWait runs a reply's Wait, recovering a panic: ok is false (and the
// panic logged with its stack) if it panicked.
func (c *conn) runWait(q queuedReply) (resp kmsg.Response, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("closing connection: panic in reply Wait",
				append(headerAttrs(q.header), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))...)
			resp, ok = nil, false
		}
	}()
	return q.wait(), true
}
