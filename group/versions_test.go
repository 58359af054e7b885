package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// roundTrip encodes req at its version and decodes it again, as the wire
// would deliver it.
func roundTrip[T kmsg.Request](t *testing.T, req T) T {
	t.Helper()
	out := req.ResponseKind().RequestKind().(T)
	out.SetVersion(req.GetVersion())
	if err := out.ReadFrom(req.AppendTo(nil)); err != nil {
		t.Fatalf("decode %T v%d: %v", req, req.GetVersion(), err)
	}
	return out
}

// checkResponse encodes resp and decodes it at the same version.
func checkResponse(t *testing.T, resp kmsg.Response, version int16) kmsg.Response {
	t.Helper()
	if resp.GetVersion() != version {
		t.Fatalf("%T: version %d, want %d", resp, resp.GetVersion(), version)
	}
	back := resp.RequestKind().ResponseKind()
	back.SetVersion(version)
	if err := back.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatalf("%T v%d does not decode: %v", resp, version, err)
	}
	return back
}

// TestResponsesEncodeAtEveryVersion drives every API at every version a
// handler may pass, from a decoded request, and checks the responses encode
// and decode at that version.
func TestResponsesEncodeAtEveryVersion(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.InitialRebalanceDelay = 0 })
	ctx := context.Background()
	tg := e.formGroup("v", 1, "t")
	m := tg.members[0]

	for v := int16(0); v <= 9; v++ {
		r := joinReq("v", m, "t")
		r.Version = v
		resp := e.coord.JoinGroup(ctx, roundTrip(t, r))
		back := checkResponse(t, resp, v).(*kmsg.JoinGroupResponse)
		if back.ErrorCode != 0 || back.MemberID != m {
			t.Fatalf("JoinGroup v%d: %+v", v, back)
		}
	}
	_, gen, _ := e.groupState("v")
	for v := int16(0); v <= 5; v++ {
		r := syncReq("v", m, gen, map[string][]byte{m: consumerAssignment("t", 0)})
		r.Version = v
		resp := e.coord.SyncGroup(ctx, roundTrip(t, r))
		if back := checkResponse(t, resp, v).(*kmsg.SyncGroupResponse); back.ErrorCode != 0 || len(back.MemberAssignment) == 0 {
			t.Fatalf("SyncGroup v%d: %+v", v, back)
		}
	}
	for v := int16(0); v <= 4; v++ {
		r := kmsg.NewPtrHeartbeatRequest()
		r.Version, r.Group, r.MemberID, r.Generation = v, "v", m, gen
		if back := checkResponse(t, e.coord.Heartbeat(ctx, roundTrip(t, r)), v).(*kmsg.HeartbeatResponse); back.ErrorCode != 0 {
			t.Fatalf("Heartbeat v%d: %+v", v, back)
		}
	}
	for v := int16(2); v <= 9; v++ {
		r := commitReq("v", m, gen, "t", map[int32]int64{0: int64(v)})
		r.Version = v
		back := checkResponse(t, e.coord.OffsetCommit(ctx, roundTrip(t, r)), v).(*kmsg.OffsetCommitResponse)
		if back.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("OffsetCommit v%d: %+v", v, back)
		}
	}
	for v := int16(1); v <= 9; v++ {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = v
		if v >= 8 {
			r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "v", MemberEpoch: -1, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
		} else {
			r.Group, r.Topics = "v", []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
		}
		back := checkResponse(t, e.coord.OffsetFetch(ctx, roundTrip(t, r)), v).(*kmsg.OffsetFetchResponse)
		got := int64(-1)
		if v >= 8 {
			got = back.Groups[0].Topics[0].Partitions[0].Offset
		} else {
			got = back.Topics[0].Partitions[0].Offset
		}
		if got != 9 {
			t.Fatalf("OffsetFetch v%d: offset %d", v, got)
		}
	}
	for v := int16(0); v <= 6; v++ {
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Version, r.Groups = v, []string{"v", "absent"}
		back := checkResponse(t, e.coord.DescribeGroups(ctx, roundTrip(t, r)), v).(*kmsg.DescribeGroupsResponse)
		if back.Groups[0].State != "Stable" || len(back.Groups[0].Members) != 1 || back.Groups[1].State != "Dead" {
			t.Fatalf("DescribeGroups v%d: %+v", v, back)
		}
	}
	for v := int16(0); v <= 5; v++ {
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = v
		if back := checkResponse(t, e.coord.ListGroups(ctx, roundTrip(t, r)), v).(*kmsg.ListGroupsResponse); len(back.Groups) != 1 {
			t.Fatalf("ListGroups v%d: %+v", v, back)
		}
	}
	r := kmsg.NewPtrOffsetDeleteRequest()
	r.Group = "v"
	r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "other", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	if back := checkResponse(t, e.coord.OffsetDelete(ctx, roundTrip(t, r)), 0).(*kmsg.OffsetDeleteResponse); back.ErrorCode != 0 {
		t.Fatalf("OffsetDelete: %+v", back)
	}
	for v := int16(0); v <= 5; v++ {
		// The member leaves (v0-v2 by member ID, v3+ in a batch) and
		// rejoins, so that every version leaves a member.
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Version, r.Group = v, "v"
		if v < 3 {
			r.MemberID = m
		} else {
			r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: m}}
		}
		if back := checkResponse(t, e.coord.LeaveGroup(ctx, roundTrip(t, r)), v).(*kmsg.LeaveGroupResponse); back.ErrorCode != 0 {
			t.Fatalf("LeaveGroup v%d: %+v", v, back)
		}
		jr := joinReq("v", "", "t")
		jr.Version = 3
		m = e.coord.JoinGroup(ctx, jr).MemberID
	}
	for v := int16(0); v <= 3; v++ {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version, r.Groups = v, []string{"absent"}
		checkResponse(t, e.coord.DeleteGroups(ctx, roundTrip(t, r)), v)
	}
}
