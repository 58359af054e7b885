package handlers

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// Forwarder sends a request to the active controller and returns its
// answer (Kafka's forwarding of admin requests from brokers to the KRaft
// controller). Brokers always forward, even when the active controller is
// in the same process, so one node and many take the same path.
type Forwarder interface {
	Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// metadataSettleTimeout bounds how long a broker waits, after the
// controller committed a change, for its own metadata image to show it, so
// that a client's next request to this broker already sees the change.
const metadataSettleTimeout = 5 * time.Second

// forwarding reports whether this handler set serves a broker listener,
// whose controller-bound requests go to the active controller.
func (h *Handlers) forwarding() bool { return h.d.Forward != nil }

// forward relays req to the active controller. settled, when set, tells
// when this node's own image reflects the answer; the reply waits for that
// (bounded), so a client that creates a topic and then produces to this
// broker does not race its metadata. The network round trip runs in
// Reply.Wait, off the connection's read goroutine.
func (h *Handlers) forward(ctx context.Context, req *protocol.Request, failed func(kmsg.Response, error), settled func(kmsg.Response, *controller.Image) bool) (protocol.Reply, error) {
	return protocol.Reply{Wait: func() kmsg.Response {
		fctx, cancel := context.WithTimeout(ctx, forwardTimeout(req.Body))
		defer cancel()
		resp, err := h.d.Forward.Forward(fctx, req.Body)
		if err != nil {
			resp = req.Body.ResponseKind()
			failed(resp, err)
			return resp
		}
		if settled != nil {
			wctx, cancel := context.WithTimeout(ctx, metadataSettleTimeout)
			defer cancel()
			h.d.WaitMetadata(wctx, func(img *controller.Image) bool { return settled(resp, img) })
		}
		return resp
	}}, nil
}

// forwardTimeout is the request's own timeout where it has one, else 30 s.
func forwardTimeout(req kmsg.Request) time.Duration {
	if t, ok := req.(kmsg.TimeoutRequest); ok && t.Timeout() > 0 {
		return time.Duration(t.Timeout()) * time.Millisecond
	}
	return 30 * time.Second
}
