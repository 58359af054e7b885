package group

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTwoMembersJoinSyncAndThirdTriggersRebalance(t *testing.T) {
	e := newTestEnv(t, nil)
	const gid = "orders"
	a, wa := e.joinNew(gid, "t")
	b, wb := e.joinNew(gid, "t")
	if !strings.HasPrefix(a, "client-") || len(a) != len("client-")+36 {
		t.Fatalf("member ID %q is not client.id-uuid", a)
	}
	// The initial rebalance waits for the delay (extended once because b
	// joined during it): nothing is answered before.
	if _, ok := ready(wa); ok {
		t.Fatal("join answered before the initial rebalance delay")
	}
	res := e.settle([]<-chan joinResult{wa, wb})
	ra, rb := res[0], res[1]
	if ra.errCode != 0 || rb.errCode != 0 || ra.generation != 1 || rb.generation != 1 || ra.leader != rb.leader {
		t.Fatalf("joins: %+v %+v", ra, rb)
	}
	leader, follower := ra, rb
	if rb.leader == b {
		leader, follower = rb, ra
	}
	if len(leader.members) != 2 || len(follower.members) != 0 || *leader.protocol != "range" || *leader.protocolType != "consumer" {
		t.Fatalf("leader got %d members, follower %d, protocol %v", len(leader.members), len(follower.members), leader.protocol)
	}
	for _, m := range leader.members {
		if string(m.ProtocolMetadata) != string(consumerMetadata("t")) {
			t.Fatalf("member %s metadata %x", m.MemberID, m.ProtocolMetadata)
		}
	}
	if st, _, _ := e.groupState(gid); st != stateCompletingRebalance {
		t.Fatalf("state %v, want CompletingRebalance", st)
	}
	// A commit before the assignment arrives is REBALANCE_IN_PROGRESS.
	cr := e.coord.OffsetCommit(context.Background(), commitReq(gid, a, 1, "t", map[int32]int64{0: 1}))
	if c := commitCodes(cr); c[0] != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit during CompletingRebalance: %v", c)
	}
	tg := &testGroup{id: gid, generation: 1, leader: leader.leader, members: []string{a, b}}
	e.syncAll(tg)
	if st, _, _ := e.groupState(gid); st != stateStable {
		t.Fatalf("state %v, want Stable", st)
	}
	if code := heartbeat(e, gid, a, 1); code != 0 {
		t.Fatalf("heartbeat: %d", code)
	}

	// A third member joins: the others learn of the rebalance from their
	// heartbeats, rejoin, and all get generation 2.
	c, wc := e.joinNew(gid, "t")
	if code := heartbeat(e, gid, a, 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %d", code)
	}
	if code := heartbeat(e, gid, b, 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %d", code)
	}
	_, wa2 := e.coord.beginJoin(joinReq(gid, a, "t"), clientInfo{id: "client"})
	if _, ok := ready(wc); ok {
		t.Fatal("rebalance completed before every member rejoined")
	}
	_, wb2 := e.coord.beginJoin(joinReq(gid, b, "t"), clientInfo{id: "client"})
	for _, w := range []<-chan joinResult{wa2, wb2, wc} {
		r := wait(t, w)
		if r.errCode != 0 || r.generation != 2 {
			t.Fatalf("rejoin: %+v", r)
		}
	}
	e.syncAll(&testGroup{id: gid, generation: 2, leader: tg.leader, members: []string{a, b, c}})
	if d := describe(e, 5, gid); d.State != "Stable" || len(d.Members) != 3 || d.Protocol != "range" {
		t.Fatalf("describe: %+v", d)
	}
}

func TestJoinGroupThroughPublicAPIBlocksUntilRebalance(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.InitialRebalanceDelay = 0 })
	ctx := WithClient(context.Background(), "cli", "/10.0.0.1")
	req := joinReq("g", "")
	req.Version = 3 // before KIP-394: joined at once, no MEMBER_ID_REQUIRED
	resp := e.coord.JoinGroup(ctx, req)
	if resp.ErrorCode != 0 || resp.Generation != 1 || resp.LeaderID != resp.MemberID || !strings.HasPrefix(resp.MemberID, "cli-") || resp.Version != 3 {
		t.Fatalf("join: %+v", resp)
	}
	d := describe(e, 5, "g")
	if len(d.Members) != 1 || d.Members[0].ClientID != "cli" || d.Members[0].ClientHost != "/10.0.0.1" {
		t.Fatalf("describe: %+v", d)
	}
	// A join whose context ends returns promptly.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan *kmsg.JoinGroupResponse)
	go func() { done <- e.coord.JoinGroup(cctx, joinReq("g", "")) }()
	r := wait(t, done)
	if r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("v9 first join: %d", r.ErrorCode)
	}
	go func() { done <- e.coord.JoinGroup(cctx, joinReq("g", r.MemberID)) }()
	cancel()
	if r := wait(t, done); r.ErrorCode == 0 {
		t.Fatalf("cancelled join answered %+v", r)
	}
}

func TestJoinGroupErrors(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxSize = 2 })
	e.formGroup("full", 2, "t")
	e.formGroup("open", 1, "t")
	other := e.groupOnOtherPartition("full", "open")
	nope, g2 := e.sibling("nope", "open"), e.sibling("g2", "open")
	e.coord.Resign(e.partitionOf(other), e.epoch)

	tests := []struct {
		name string
		req  func() *kmsg.JoinGroupRequest
		want int16
	}{
		{"empty group ID", func() *kmsg.JoinGroupRequest { return joinReq("", "") }, kerr.InvalidGroupID.Code},
		{"session timeout below minimum", func() *kmsg.JoinGroupRequest {
			r := joinReq("g", "")
			r.SessionTimeoutMillis = 999
			return r
		}, kerr.InvalidSessionTimeout.Code},
		{"session timeout above maximum", func() *kmsg.JoinGroupRequest {
			r := joinReq("g", "")
			r.SessionTimeoutMillis = 60001
			return r
		}, kerr.InvalidSessionTimeout.Code},
		{"member ID of a group that does not exist", func() *kmsg.JoinGroupRequest { return joinReq(nope, "stale-id") }, kerr.UnknownMemberID.Code},
		{"unknown member ID", func() *kmsg.JoinGroupRequest { return joinReq("open", "stale-id") }, kerr.UnknownMemberID.Code},
		{"no protocols", func() *kmsg.JoinGroupRequest {
			r := joinReq(g2, "")
			r.Protocols = nil
			return r
		}, kerr.InconsistentGroupProtocol.Code},
		{"other protocol type", func() *kmsg.JoinGroupRequest {
			r := joinReq("open", "")
			r.ProtocolType = "connect"
			return r
		}, kerr.InconsistentGroupProtocol.Code},
		{"no common protocol", func() *kmsg.JoinGroupRequest {
			r := joinReq("open", "")
			r.Protocols[0].Name = "roundrobin"
			return r
		}, kerr.InconsistentGroupProtocol.Code},
		{"group full", func() *kmsg.JoinGroupRequest { return joinReq("full", "") }, kerr.GroupMaxSizeReached.Code},
		// group.max.size is checked first: a full group rejects even a
		// stale member ID that way, as Kafka's acceptJoiningMember.
		{"group full, unknown member ID", func() *kmsg.JoinGroupRequest { return joinReq("full", "stale-id") }, kerr.GroupMaxSizeReached.Code},
		{"partition not led", func() *kmsg.JoinGroupRequest { return joinReq(other, "") }, kerr.NotCoordinator.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, wait := e.coord.beginJoin(tt.req(), clientInfo{})
			if wait != nil {
				t.Fatal("join parked")
			}
			if resp.ErrorCode != tt.want || resp.Generation != -1 {
				t.Fatalf("error %d generation %d, want %d -1", resp.ErrorCode, resp.Generation, tt.want)
			}
		})
	}
	// A failed first join leaves no group behind.
	if _, _, ok := e.groupState(g2); ok {
		t.Fatal("failed join created a group")
	}
}

func TestProtocolSelectedByVotesAmongCommonProtocols(t *testing.T) {
	e := newTestEnv(t, nil)
	joinWith := func(names ...string) <-chan joinResult {
		r := joinReq("votes", "")
		r.Version = 3
		r.Protocols = nil
		for _, n := range names {
			r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: []byte(n)})
		}
		_, w := e.coord.beginJoin(r, clientInfo{})
		if w == nil {
			t.Fatal("join not parked")
		}
		return w
	}
	// "sticky" is not supported by everyone; among range and roundrobin,
	// two members prefer roundrobin.
	waits := []<-chan joinResult{
		joinWith("sticky", "range", "roundrobin"),
		joinWith("roundrobin", "range"),
		joinWith("sticky", "roundrobin", "range"),
	}
	for _, r := range e.settle(waits) {
		if r.errCode != 0 || *r.protocol != "roundrobin" {
			t.Fatalf("join: error %d protocol %v", r.errCode, r.protocol)
		}
		for _, m := range r.members {
			if string(m.ProtocolMetadata) != "roundrobin" {
				t.Fatalf("leader sees metadata %q of %s", m.ProtocolMetadata, m.MemberID)
			}
		}
	}
}

func TestInitialRebalanceDelayExtendsForNewMembers(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.InitialRebalanceDelay = time.Second })
	_, wa := e.joinNew("slow", "t")
	e.clock.Advance(900 * time.Millisecond)
	_, wb := e.joinNew("slow", "t")
	e.clock.Advance(100 * time.Millisecond)
	// The delay ran out with a new member added: it is extended.
	if _, ok := ready(wa); ok {
		t.Fatal("join completed although a member joined during the delay")
	}
	e.clock.Advance(time.Second)
	ra, rb := wait(t, wa), wait(t, wb)
	if ra.generation != 1 || rb.generation != 1 {
		t.Fatalf("generations %d %d, want both in 1", ra.generation, rb.generation)
	}
}

func TestSessionExpiryRemovesMemberAndRebalances(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("sess", 2, "t")
	alive, dead := tg.members[0], tg.members[1]
	// alive heartbeats every half session; dead stays silent.
	for range 3 {
		e.clock.Advance(testSession / 2)
		if code := heartbeat(e, "sess", alive, tg.generation); code != 0 && code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat: %d", code)
		}
	}
	if st, _, _ := e.groupState("sess"); st != statePreparingRebalance {
		t.Fatalf("state %v after session expiry, want PreparingRebalance", st)
	}
	if code := heartbeat(e, "sess", dead, tg.generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: %d", code)
	}
	resp, w := e.coord.beginJoin(joinReq("sess", alive, "t"), clientInfo{})
	if w == nil {
		t.Fatalf("rejoin answered at once: %d", resp.ErrorCode)
	}
	r := wait(t, w)
	if r.errCode != 0 || r.generation != tg.generation+1 || r.leader != alive || len(r.members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
}

func TestMembersNotRejoiningWithinRebalanceTimeoutAreRemoved(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("slowpoke", 2, "t")
	a, b := tg.members[0], tg.members[1]
	_, wa := e.coord.beginJoin(joinReq("slowpoke", a, "t"), clientInfo{})
	// b keeps heartbeating but never rejoins.
	for range 4 {
		e.clock.Advance(testRebalance / 4)
		heartbeat(e, "slowpoke", b, tg.generation)
	}
	r := wait(t, wa)
	if r.errCode != 0 || len(r.members) != 1 || r.generation != tg.generation+1 {
		t.Fatalf("join after rebalance timeout: %+v", r)
	}
	if code := heartbeat(e, "slowpoke", b, r.generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("removed member heartbeat: %d", code)
	}
}

func TestMembersNotSyncingWithinRebalanceTimeoutAreRemoved(t *testing.T) {
	e := newTestEnv(t, nil)
	a, wa := e.joinNew("nosync", "t")
	b, wb := e.joinNew("nosync", "t")
	res := e.settle([]<-chan joinResult{wa, wb})
	leader := res[0].leader
	follower := a
	if leader == a {
		follower = b
	}
	// Only the leader syncs.
	_, w := e.coord.beginSync(syncReq("nosync", leader, 1, map[string][]byte{a: consumerAssignment("t", 0), b: consumerAssignment("t", 1)}))
	if r := wait(t, w); r.errCode != 0 {
		t.Fatalf("leader sync: %d", r.errCode)
	}
	// Both keep their sessions alive, but the follower never syncs: the
	// pending-sync timeout (the rebalance timeout) removes it.
	for i := range 4 {
		e.clock.Advance(testRebalance / 4)
		want := int16(0)
		if i == 3 {
			want = kerr.RebalanceInProgress.Code
		}
		if code := heartbeat(e, "nosync", leader, 1); code != want {
			t.Fatalf("leader heartbeat %d: %d, want %d", i, code, want)
		}
		if i < 3 {
			if code := heartbeat(e, "nosync", follower, 1); code != 0 {
				t.Fatalf("follower heartbeat %d: %d", i, code)
			}
		}
	}
	if code := heartbeat(e, "nosync", follower, 1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("member that never synced: heartbeat %d", code)
	}
}

func TestSyncGroupErrors(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("s", 1, "t")
	m := tg.members[0]
	tests := []struct {
		name string
		req  *kmsg.SyncGroupRequest
		want int16
	}{
		{"empty group", syncReq("", m, 1, nil), kerr.InvalidGroupID.Code},
		{"unknown group", syncReq("none", m, 1, nil), kerr.UnknownMemberID.Code},
		{"unknown member", syncReq("s", "x", 1, nil), kerr.UnknownMemberID.Code},
		{"wrong generation", syncReq("s", m, 2, nil), kerr.IllegalGeneration.Code},
		{"wrong protocol type", func() *kmsg.SyncGroupRequest {
			r := syncReq("s", m, 1, nil)
			r.ProtocolType = kmsg.StringPtr("connect")
			return r
		}(), kerr.InconsistentGroupProtocol.Code},
		{"wrong protocol", func() *kmsg.SyncGroupRequest {
			r := syncReq("s", m, 1, nil)
			r.Protocol = kmsg.StringPtr("sticky")
			return r
		}(), kerr.InconsistentGroupProtocol.Code},
		{"stable member gets its assignment", syncReq("s", m, 1, nil), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.coord.SyncGroup(context.Background(), tt.req)
			if resp.ErrorCode != tt.want {
				t.Fatalf("error %d, want %d", resp.ErrorCode, tt.want)
			}
			if tt.want == 0 && string(resp.MemberAssignment) != string(consumerAssignment("t", 0)) {
				t.Fatalf("assignment %x", resp.MemberAssignment)
			}
		})
	}
}

func TestStaticMemberRejoinKeepsAssignmentAndFencesOldID(t *testing.T) {
	for _, version := range []int16{5, 9} {
		t.Run("v"+string(rune('0'+version)), func(t *testing.T) {
			e := newTestEnv(t, nil)
			staticJoin := func(memberID, instance string) (*kmsg.JoinGroupResponse, <-chan joinResult) {
				r := joinReq("st", memberID, "t")
				r.Version = version
				r.InstanceID = kmsg.StringPtr(instance)
				return e.coord.beginJoin(r, clientInfo{id: "client"})
			}
			// Static members join without MEMBER_ID_REQUIRED.
			_, wa := staticJoin("", "inst-a")
			_, wb := staticJoin("", "inst-b")
			res := e.settle([]<-chan joinResult{wa, wb})
			a, b := res[0].memberID, res[1].memberID
			if !strings.HasPrefix(a, "inst-a-") {
				t.Fatalf("static member ID %q", a)
			}
			tg := &testGroup{id: "st", generation: 1, leader: res[0].leader, members: []string{a, b}}
			e.syncAll(tg)

			// The leader restarts: same instance, no member ID.
			oldLeader := tg.leader
			inst := "inst-a"
			if oldLeader == b {
				inst = "inst-b"
			}
			resp, w := staticJoin("", inst)
			if w == nil {
				t.Fatalf("static rejoin answered at once: %d", resp.ErrorCode)
			}
			r := wait(t, w)
			if r.errCode != 0 || r.generation != 1 || r.memberID == oldLeader {
				t.Fatalf("static rejoin: %+v", r)
			}
			newID := r.memberID
			if version >= 9 {
				// KIP-814: told it leads, but to skip the assignment.
				if r.leader != newID || !r.skipAssignment || len(r.members) != 2 {
					t.Fatalf("v9 static leader rejoin: leader %q skip %v members %d", r.leader, r.skipAssignment, len(r.members))
				}
			} else if r.leader != oldLeader || r.skipAssignment || len(r.members) != 0 {
				t.Fatalf("v%d static leader rejoin: leader %q, want the old %q", version, r.leader, oldLeader)
			}
			if st, gen, _ := e.groupState("st"); st != stateStable || gen != 1 {
				t.Fatalf("state %v gen %d: a static rejoin must not rebalance", st, gen)
			}
			// The old ID is fenced, the new one gets the old assignment.
			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Version, hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = 4, "st", oldLeader, 1, kmsg.StringPtr(inst)
			if code := e.coord.Heartbeat(context.Background(), hb).ErrorCode; code != kerr.FencedInstanceID.Code {
				t.Fatalf("old member ID heartbeat: %d", code)
			}
			sr := syncReq("st", newID, 1, nil)
			sr.InstanceID = kmsg.StringPtr(inst)
			sresp := e.coord.SyncGroup(context.Background(), sr)
			oldIndex := int32(0)
			if oldLeader == b {
				oldIndex = 1
			}
			if sresp.ErrorCode != 0 || string(sresp.MemberAssignment) != string(consumerAssignment("t", oldIndex)) {
				t.Fatalf("sync of replaced member: %d %x", sresp.ErrorCode, sresp.MemberAssignment)
			}
			// After a restart the new member ID is what the log holds.
			e.restart()
			if d := describe(e, 5, "st"); d.State != "Stable" || len(d.Members) != 2 || (d.Members[0].MemberID != newID && d.Members[1].MemberID != newID) {
				t.Fatalf("after restart: %+v", d)
			}
		})
	}
}

func TestLeaveGroupBatchedAndSingle(t *testing.T) {
	e := newTestEnv(t, nil)
	// Two dynamic members and a static one.
	a, wa := e.joinNew("lv", "t")
	b, wb := e.joinNew("lv", "t")
	sr := joinReq("lv", "", "t")
	sr.InstanceID = kmsg.StringPtr("inst")
	_, ws := e.coord.beginJoin(sr, clientInfo{id: "client"})
	res := e.settle([]<-chan joinResult{wa, wb, ws})
	tg := &testGroup{id: "lv", generation: 1, leader: res[0].leader, members: []string{a, b, res[2].memberID}}
	e.syncAll(tg)

	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = "lv"
	req.Members = []kmsg.LeaveGroupRequestMember{
		{MemberID: a},
		{InstanceID: kmsg.StringPtr("inst")}, // by instance ID only
		{MemberID: "ghost"},
		{MemberID: b, InstanceID: kmsg.StringPtr("wrong-inst")},
	}
	resp := e.coord.LeaveGroup(context.Background(), req)
	want := []int16{0, 0, kerr.UnknownMemberID.Code, kerr.UnknownMemberID.Code}
	if resp.ErrorCode != 0 || len(resp.Members) != len(want) {
		t.Fatalf("leave: %+v", resp)
	}
	for i, w := range want {
		if resp.Members[i].ErrorCode != w {
			t.Errorf("member %d: error %d, want %d", i, resp.Members[i].ErrorCode, w)
		}
	}
	if st, _, _ := e.groupState("lv"); st != statePreparingRebalance {
		t.Fatalf("state %v after leaves, want PreparingRebalance", st)
	}
	// v0: one member, the error at the top.
	v0 := kmsg.NewPtrLeaveGroupRequest()
	v0.Version, v0.Group, v0.MemberID = 0, "lv", "ghost"
	if code := e.coord.LeaveGroup(context.Background(), v0).ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("v0 leave of unknown member: %d", code)
	}
	v0.MemberID = b
	if code := e.coord.LeaveGroup(context.Background(), v0).ErrorCode; code != 0 {
		t.Fatalf("v0 leave: %d", code)
	}
	// The last member left: the join phase ends and the group is Empty.
	if st, gen, _ := e.groupState("lv"); st != stateEmpty || gen != 2 {
		t.Fatalf("state %v gen %d after all left, want Empty 2", st, gen)
	}
	if code := e.coord.LeaveGroup(context.Background(), func() *kmsg.LeaveGroupRequest {
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Version, r.Group = 5, ""
		return r
	}()).ErrorCode; code != kerr.InvalidGroupID.Code {
		t.Fatalf("leave of empty group ID: %d", code)
	}
}

func TestPendingMemberExpiresAfterSessionTimeout(t *testing.T) {
	e := newTestEnv(t, nil)
	resp, _ := e.coord.beginJoin(joinReq("pend", ""), clientInfo{id: "c"})
	if resp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %d", resp.ErrorCode)
	}
	e.clock.Advance(testSession)
	// The handed-out ID expired: rejoining with it is rejected.
	resp, w := e.coord.beginJoin(joinReq("pend", resp.MemberID), clientInfo{id: "c"})
	if w != nil || resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("rejoin with expired pending ID: %d", resp.ErrorCode)
	}
}

func TestRejoinOfKnownMembers(t *testing.T) {
	tests := []struct {
		name        string
		leader      bool
		topics      []string
		completing  bool // rejoin before syncing
		rebalance   bool
		wantMembers int
	}{
		{"follower, same metadata, Stable", false, []string{"t"}, false, false, 0},
		{"follower, new subscription, Stable", false, []string{"t", "u"}, false, true, 0},
		{"leader, same metadata, Stable", true, []string{"t"}, false, true, 0},
		{"leader, same metadata, CompletingRebalance", true, []string{"t"}, true, false, 2},
		{"follower, same metadata, CompletingRebalance", false, []string{"t"}, true, false, 0},
		{"follower, new subscription, CompletingRebalance", false, []string{"u"}, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			a, wa := e.joinNew("re", "t")
			b, wb := e.joinNew("re", "t")
			res := e.settle([]<-chan joinResult{wa, wb})
			tg := &testGroup{id: "re", generation: 1, leader: res[0].leader, members: []string{a, b}}
			if !tt.completing {
				e.syncAll(tg)
			}
			who := a
			if (who == tg.leader) != tt.leader {
				who = b
			}
			resp, w := e.coord.beginJoin(joinReq("re", who, tt.topics...), clientInfo{})
			st, gen, _ := e.groupState("re")
			if tt.rebalance {
				if w == nil || st != statePreparingRebalance {
					t.Fatalf("no rebalance: answered %v, state %v", w == nil, st)
				}
				return
			}
			if w != nil || resp.ErrorCode != 0 || resp.Generation != 1 || gen != 1 || len(resp.Members) != tt.wantMembers || resp.LeaderID != tg.leader {
				t.Fatalf("rejoin: parked %v, %+v, state %v gen %d", w != nil, resp, st, gen)
			}
		})
	}
}

func TestStaticMemberRejoinDuringRebalanceAndWithNewProtocol(t *testing.T) {
	e := newTestEnv(t, nil)
	staticJoin := func(memberID, instance string, protocols ...string) <-chan joinResult {
		r := joinReq("st2", memberID, "t")
		r.InstanceID = kmsg.StringPtr(instance)
		r.Protocols = nil
		for _, p := range protocols {
			r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: consumerMetadata("t")})
		}
		resp, w := e.coord.beginJoin(r, clientInfo{id: "c"})
		if w == nil {
			t.Fatalf("static join answered at once: %+v", resp)
		}
		return w
	}
	res := e.settle([]<-chan joinResult{staticJoin("", "x", "range"), staticJoin("", "y", "range")})
	// Rejoining before SyncGroup: the leader may be assigning the old ID,
	// so the group rebalances.
	w := staticJoin("", "x", "range")
	if st, _, _ := e.groupState("st2"); st != statePreparingRebalance {
		t.Fatalf("state %v after a static rejoin in CompletingRebalance", st)
	}
	y := res[1].memberID
	wy := staticJoin(y, "y", "range")
	rx, ry := wait(t, w), wait(t, wy)
	if rx.errCode != 0 || ry.errCode != 0 || rx.generation != 2 {
		t.Fatalf("rejoins: %+v %+v", rx, ry)
	}
	e.syncAll(&testGroup{id: "st2", generation: 2, leader: rx.leader, members: []string{rx.memberID, ry.memberID}})
	// A static rejoin that changes the selected protocol rebalances: x
	// alone now supports only roundrobin.
	if st, _, _ := e.groupState("st2"); st != stateStable {
		t.Fatalf("state %v, want Stable", st)
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group = 5, "st2"
	leave.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: kmsg.StringPtr("y")}}
	e.coord.LeaveGroup(context.Background(), leave)
	wx := staticJoin(rx.memberID, "x", "range", "roundrobin")
	rx = wait(t, wx)
	e.syncAll(&testGroup{id: "st2", generation: rx.generation, leader: rx.leader, members: []string{rx.memberID}})
	// x is the only member, so the rebalance completes at once.
	r := wait(t, staticJoin("", "x", "roundrobin"))
	if r.errCode != 0 || r.generation != rx.generation+1 || *r.protocol != "roundrobin" {
		t.Fatalf("static rejoin with a protocol change: %+v", r)
	}
}
