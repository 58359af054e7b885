package handlers

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
)

// adminFixture is a local controller with brokers 1..3 unfenced, topic
// "t" on [1,2] (leader 1), and node 1's broker handlers (forwarding) and
// controller handlers over it, auto leader balancing off.
type adminFixture struct {
	broker, ctrlH *Handlers
	ctrl          *controller.Controller
	fwd           *directForwarder
}

func newAdminFixture(t *testing.T) adminFixture {
	t.Helper()
	tc := openTestController(t, map[string]string{"auto.leader.rebalance.enable": "false"}, 1, 2, 3)
	tc.createTopic(t, "t", map[int32][]int32{0: {1, 2}})
	deps := Deps{NodeID: 1, Config: tc.broker, Controller: tc.ctrl, Logger: tc.logger, WaitMetadata: tc.waitMetadata}
	f := adminFixture{ctrlH: NewController(deps), ctrl: tc.ctrl}
	f.fwd = &directForwarder{to: f.ctrlH}
	deps.Forward = f.fwd
	f.broker = New(deps)
	return f
}

func (f adminFixture) do(t *testing.T, req kmsg.Request) kmsg.Response {
	t.Helper()
	resp, err := answer(context.Background(), f.broker, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func electReq(version int16, typ int8, topics map[string][]int32) *kmsg.ElectLeadersRequest {
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version, req.ElectionType = version, typ
	for topic, parts := range topics {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = topic, parts
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func reassignReq(version int16, allowRF bool, topic string, partition int32, replicas []int32) *kmsg.AlterPartitionAssignmentsRequest {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.Version, req.AllowReplicationFactorChange = version, allowRF
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = partition, replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestElectLeadersThroughBroker(t *testing.T) {
	f := newAdminFixture(t)
	// Preferred replica 1 leads: nothing to do, and the all-partitions
	// form leaves it out.
	resp := f.do(t, electReq(2, 0, map[string][]int32{"t": {0}, "nope": {0}})).(*kmsg.ElectLeadersResponse)
	if len(resp.Topics) != 2 {
		t.Fatalf("topics: %+v", resp.Topics)
	}
	for _, st := range resp.Topics {
		want := kerr.ElectionNotNeeded.Code
		if st.Topic == "nope" {
			want = kerr.UnknownTopicOrPartition.Code
		}
		if len(st.Partitions) != 1 || st.Partitions[0].ErrorCode != want || st.Partitions[0].ErrorMessage == nil {
			t.Fatalf("%s: %+v", st.Topic, st.Partitions)
		}
	}
	all := electReq(0, 0, nil)
	if resp := f.do(t, all).(*kmsg.ElectLeadersResponse); len(resp.Topics) != 0 {
		t.Fatalf("v0 all partitions: %+v", resp.Topics)
	}

	// Reordering the replicas to [2,1] completes at once with 1 still
	// leading; a preferred election then moves leadership to 2, and the
	// broker answers once its image shows it.
	ra := f.do(t, reassignReq(1, false, "t", 0, []int32{2, 1})).(*kmsg.AlterPartitionAssignmentsResponse)
	if ra.ErrorCode != 0 || ra.AllowReplicationFactorChange || ra.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("reorder: %+v", ra)
	}
	before, _ := f.ctrl.Image().Partition("t", 0)
	if before.Leader != 1 || before.Replicas[0] != 2 {
		t.Fatalf("after reorder: %+v", before)
	}
	resp = f.do(t, electReq(1, 0, map[string][]int32{"t": {0}})).(*kmsg.ElectLeadersResponse)
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("preferred election: %+v", resp)
	}
	if p, _ := f.ctrl.Image().Partition("t", 0); p.Leader != 2 || p.LeaderEpoch != before.LeaderEpoch+1 {
		t.Fatalf("after election: %+v", p)
	}

	// Unclean with a leader: not needed. An unknown type fails the whole
	// request, every partition included.
	resp = f.do(t, electReq(2, 1, map[string][]int32{"t": {0}})).(*kmsg.ElectLeadersResponse)
	if resp.Topics[0].Partitions[0].ErrorCode != kerr.ElectionNotNeeded.Code {
		t.Fatalf("unclean: %+v", resp)
	}
	resp = f.do(t, electReq(2, 7, map[string][]int32{"t": {0}})).(*kmsg.ElectLeadersResponse)
	if resp.ErrorCode != kerr.InvalidRequest.Code || resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("unknown election type: %+v", resp)
	}
}

func TestPartitionReassignmentsThroughBroker(t *testing.T) {
	f := newAdminFixture(t)
	// v1 without replication factor changes refuses 2 -> 3 replicas and
	// echoes the flag; v0 always allows it.
	ra := f.do(t, reassignReq(1, false, "t", 0, []int32{1, 2, 3})).(*kmsg.AlterPartitionAssignmentsResponse)
	if ra.AllowReplicationFactorChange || ra.Topics[0].Partitions[0].ErrorCode != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("refused RF change: %+v", ra)
	}
	ra = f.do(t, reassignReq(0, false, "t", 0, []int32{3, 1, 2})).(*kmsg.AlterPartitionAssignmentsResponse)
	if ra.Topics[0].Topic != "t" || ra.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("v0 RF change: %+v", ra)
	}
	// The broker answered once its image showed the change.
	if p, _ := f.ctrl.Image().Partition("t", 0); !p.IsReassigning() {
		t.Fatalf("not reassigning after the answer: %+v", p)
	}

	list := kmsg.NewPtrListPartitionReassignmentsRequest()
	lr := f.do(t, list).(*kmsg.ListPartitionReassignmentsResponse)
	if lr.ErrorCode != 0 || len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 {
		t.Fatalf("list: %+v", lr)
	}
	if p := lr.Topics[0].Partitions[0]; p.Partition != 0 || !equalIDs(p.Replicas, 3, 1, 2) || !equalIDs(p.AddingReplicas, 3) || len(p.RemovingReplicas) != 0 || p.RemovingReplicas == nil {
		t.Fatalf("listed: %+v", p)
	}
	rt := kmsg.NewListPartitionReassignmentsRequestTopic()
	rt.Topic, rt.Partitions = "other", []int32{0}
	list.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{rt}
	if lr := f.do(t, list).(*kmsg.ListPartitionReassignmentsResponse); len(lr.Topics) != 0 {
		t.Fatalf("list of an unknown topic: %+v", lr)
	}

	cancel := reassignReq(1, true, "t", 0, nil)
	if ra := f.do(t, cancel).(*kmsg.AlterPartitionAssignmentsResponse); ra.Topics[0].Partitions[0].ErrorCode != 0 || !ra.AllowReplicationFactorChange {
		t.Fatalf("cancel: %+v", ra)
	}
	if p, _ := f.ctrl.Image().Partition("t", 0); p.IsReassigning() || !equalIDs(p.Replicas, 1, 2) {
		t.Fatalf("after cancel: %+v", p)
	}
	if ra := f.do(t, cancel).(*kmsg.AlterPartitionAssignmentsResponse); ra.Topics[0].Partitions[0].ErrorCode != kerr.NoReassignmentInProgress.Code {
		t.Fatalf("second cancel: %+v", ra)
	}
}

// TestForwardFailuresAnswerEveryPartition: a forward that fails (no
// active controller) is each API's whole-request error.
func TestForwardFailuresAnswerEveryPartition(t *testing.T) {
	f := newAdminFixture(t)
	f.fwd.err = errors.Join(kerr.RequestTimedOut, errors.New("no controller"))
	el := f.do(t, electReq(2, 0, map[string][]int32{"t": {0, 1}})).(*kmsg.ElectLeadersResponse)
	if el.ErrorCode != kerr.RequestTimedOut.Code || len(el.Topics[0].Partitions) != 2 || el.Topics[0].Partitions[1].ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("elect: %+v", el)
	}
	ra := f.do(t, reassignReq(1, true, "t", 0, []int32{3})).(*kmsg.AlterPartitionAssignmentsResponse)
	if ra.ErrorCode != kerr.RequestTimedOut.Code || ra.Topics[0].Partitions[0].ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("reassign: %+v", ra)
	}
	lr := f.do(t, kmsg.NewPtrListPartitionReassignmentsRequest()).(*kmsg.ListPartitionReassignmentsResponse)
	if lr.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("list: %+v", lr)
	}
}

// TestReassignmentsVisible is the broker's wait condition: the target
// (without the removing replicas) is what its image shows.
func TestReassignmentsVisible(t *testing.T) {
	img, _, err := controller.Apply(nil, []controller.Record{
		controller.ClusterIDRecord{ClusterID: "c"},
		controller.RegisterBrokerRecord{NodeID: 1, Epoch: 1},
		controller.TopicRecord{Name: "t", ID: [16]byte{1}},
		controller.PartitionRecord{TopicID: [16]byte{1}, Replicas: []int32{3, 1, 2}, ISR: []int32{1, 2}, Leader: 1,
			AddingReplicas: []int32{3}, RemovingReplicas: []int32{2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ok := kmsg.NewPtrAlterPartitionAssignmentsResponse()
	st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
	st.Partitions = append(st.Partitions, kmsg.NewAlterPartitionAssignmentsResponseTopicPartition())
	ok.Topics = append(ok.Topics, st)
	tests := []struct {
		name     string
		replicas []int32
		want     bool
	}{
		{"target in progress", []int32{3, 1}, true},
		{"another target", []int32{1, 3}, false},
		{"cancel not yet applied", nil, false},
	}
	for _, tt := range tests {
		if got := reassignmentsVisible(reassignReq(1, true, "t", 0, tt.replicas), ok, img); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	failed := kmsg.NewPtrAlterPartitionAssignmentsResponse()
	failed.ErrorCode = kerr.NotController.Code
	if !reassignmentsVisible(reassignReq(1, true, "t", 0, []int32{9}), failed, img) {
		t.Error("a failed request waits for nothing")
	}
}

func equalIDs(got []int32, want ...int32) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
