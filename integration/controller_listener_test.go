package integration

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// controllerRequest sends one request to a CONTROLLER listener the way a
// broker does (no Metadata: that listener does not serve it) and decodes
// the answer.
func controllerRequest(t testing.TB, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial controller: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 7)); err != nil {
		t.Fatalf("send: %v", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("read: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read: %v", err)
	}
	body = body[4:] // correlation ID
	resp := req.ResponseKind()
	if resp.IsFlexible() {
		body = body[1:] // empty tagged fields
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %T: %v", resp, err)
	}
	return resp
}

func TestUnregisterBrokerOnControllerListener(t *testing.T) {
	tn := startNode(t)
	caddr := fmt.Sprintf("127.0.0.1:%d", tn.cport)

	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = 42
	resp := controllerRequest(t, caddr, req).(*kmsg.UnregisterBrokerResponse)
	if resp.ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregister unknown broker: %v, want BROKER_ID_NOT_REGISTERED", kerr.ErrorForCode(resp.ErrorCode))
	}

	// Broker 1 is registered: unregistering it removes it from the
	// cluster's brokers.
	req.BrokerID = 1
	resp = controllerRequest(t, caddr, req).(*kmsg.UnregisterBrokerResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("unregister broker 1: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	dq := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	dq.Topics = append(dq.Topics, rt)
	qr := controllerRequest(t, caddr, dq).(*kmsg.DescribeQuorumResponse)
	if p := qr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LeaderID != 1 {
		t.Fatalf("describe quorum: leader %d, %v", p.LeaderID, kerr.ErrorForCode(p.ErrorCode))
	}
}
