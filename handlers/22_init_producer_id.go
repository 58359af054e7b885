package handlers

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// InitProducerId: v0-v5, for idempotent producers (no transactional ID).
// As Kafka's TransactionCoordinator.handleInitProducerId does for a null
// transactional ID, every request gets a fresh producer ID at epoch 0, from
// blocks the controller hands out (KIP-730), so IDs are never reused. That
// holds for v3+ requests that name their current ProducerID and epoch too
// (KIP-360): without a transactional ID there is no state to bump, and Kafka
// allocates a new ID. A ProducerID without an epoch, or an epoch without a
// ProducerID, is INVALID_REQUEST (KafkaApis.handleInitProducerIdRequest).
//
// Transactions are not supported yet. An empty transactional ID is
// INVALID_REQUEST, as in Kafka. Any other transactional ID is answered
// COORDINATOR_NOT_AVAILABLE: it is what a Kafka broker answers while no
// transaction coordinator can serve the ID (retriable, so a client neither
// mistakes it for a permission problem nor gives up on the broker).
// Transactional clients normally stop earlier, at FindCoordinator for the
// transaction coordinator. Produce refuses transactional batches on its own.
//
// When no block of IDs can be had from the controller the answer is
// COORDINATOR_LOAD_IN_PROGRESS, what Kafka's RPCProducerIdManager answers
// while it waits for a block; clients retry it.
var initProducerIDAPI = api{key: 22, min: 0, max: 5, handle: (*Handlers).initProducerID}

func (h *Handlers) initProducerID(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1

	switch {
	case r.Version >= 3 && (r.ProducerID == -1) != (r.ProducerEpoch == -1):
		resp.ErrorCode = kerr.InvalidRequest.Code
		return respond(resp)
	case r.TransactionalID != nil && *r.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return respond(resp)
	case r.TransactionalID != nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return respond(resp)
	}
	id, err := h.d.ProducerIDs.NextProducerID(ctx)
	if err != nil {
		h.d.Logger.Warn("no producer ID to hand out", slog.Any("err", err))
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return respond(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return respond(resp)
}
