package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// DeleteGroups: v0-v2, Kafka 4.0's range (v0 stayed, KAFKA-18352). Only
// empty groups are deleted (NON_EMPTY_GROUP otherwise); their offsets are
// removed by tombstones in __consumer_offsets, written before the answer.
var deleteGroupsAPI = api{key: 42, min: 0, max: 2, handle: (*Handlers).deleteGroups}

func (h *Handlers) deleteGroups(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.DeleteGroups(ctx, r) })
}
