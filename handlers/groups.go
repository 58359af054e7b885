package handlers

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/group"
	"github.com/samsa-broker/samsa/protocol"
)

// groupCall answers a request with the group coordinator's response,
// computed in Reply.Wait. JoinGroup waits for the rebalance, SyncGroup for
// the leader's assignment, OffsetCommit and the deleting calls for their
// records to replicate through __consumer_offsets; even the quick calls take
// the coordinator's locks. None of that may stall the connection's read
// goroutine. The coordinator itself answers NOT_COORDINATOR for groups
// whose __consumer_offsets partition this node does not lead and bounds its
// waits by the request's own timeouts (JoinGroup: the rebalance timeout;
// OffsetCommit: offsets.commit.timeout.ms); ctx ends them early when the
// connection closes. ctx carries the client's ID and host, which Kafka
// builds member IDs from and shows in DescribeGroups.
func (h *Handlers) groupCall(ctx context.Context, req *protocol.Request, call func(context.Context) kmsg.Response) (protocol.Reply, error) {
	ctx = group.WithClient(ctx, clientID(req), clientHost(req))
	return protocol.Reply{Wait: func() kmsg.Response { return call(ctx) }}, nil
}

// clientID is the request header's client ID ("" when null).
func clientID(req *protocol.Request) string {
	if req.Header.ClientID == nil {
		return ""
	}
	return *req.Header.ClientID
}

// clientHost is the client's address as Kafka prints it in DescribeGroups:
// InetAddress.toString of an address without a host name, "/" + IP.
func clientHost(req *protocol.Request) string {
	if req.Conn == nil || req.Conn.Remote == nil {
		return ""
	}
	addr := req.Conn.Remote.String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return "/" + addr
}
