package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRestartRestoresGroupsAndOffsets(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("durable", 2, "t")
	cr := commitReq("durable", tg.members[0], tg.generation, "t", map[int32]int64{0: 100, 1: 200})
	if c := commitCodes(e.coord.OffsetCommit(context.Background(), cr)); c[0] != 0 || c[1] != 0 {
		t.Fatalf("commit: %v", c)
	}
	before := describe(e, 5, "durable")

	e.restart()
	after := describe(e, 5, "durable")
	if after.State != "Stable" || after.Protocol != "range" || len(after.Members) != 2 {
		t.Fatalf("after restart: %+v", after)
	}
	for i := range before.Members {
		b, a := before.Members[i], after.Members[i]
		if a.MemberID != b.MemberID || a.ClientID != b.ClientID || string(a.MemberAssignment) != string(b.MemberAssignment) ||
			string(a.ProtocolMetadata) != string(b.ProtocolMetadata) {
			t.Fatalf("member %d: %+v, was %+v", i, a, b)
		}
	}
	if st, gen, _ := e.groupState("durable"); st != stateStable || gen != tg.generation {
		t.Fatalf("state %v generation %d, want Stable %d", st, gen, tg.generation)
	}
	_, offs := e.fetchOffsetsOf("durable")
	if offs[topicPartition{"t", 0}].Offset != 100 || offs[topicPartition{"t", 1}].Offset != 200 || offs[topicPartition{"t", 1}].LeaderEpoch != 7 {
		t.Fatalf("offsets after restart: %+v", offs)
	}
	// Members resume with their generation; one that stays silent is
	// expired by the fresh session timer it got on load.
	alive := tg.members[0]
	if code := heartbeat(e, "durable", alive, tg.generation); code != 0 {
		t.Fatalf("heartbeat after restart: %d", code)
	}
	for range 3 {
		e.clock.Advance(testSession / 2)
		heartbeat(e, "durable", alive, tg.generation)
	}
	if code := heartbeat(e, "durable", tg.members[1], tg.generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("silent member after restart: %d", code)
	}
	_, w := e.coord.beginJoin(joinReq("durable", alive, "t"), clientInfo{})
	if r := wait(t, w); r.errCode != 0 || r.generation != tg.generation+1 {
		t.Fatalf("rejoin after restart: %+v", r)
	}
}

func TestEmptyGroupGenerationSurvivesRestart(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("left", 1, "t")
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group = 5, "left"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: tg.members[0]}}
	e.coord.LeaveGroup(context.Background(), leave)
	if st, gen, _ := e.groupState("left"); st != stateEmpty || gen != 2 {
		t.Fatalf("state %v gen %d", st, gen)
	}
	e.restart()
	if st, gen, ok := e.groupState("left"); !ok || st != stateEmpty || gen != 2 {
		t.Fatalf("after restart: state %v gen %d", st, gen)
	}
	if d := describe(e, 5, "left"); d.ProtocolType != "consumer" {
		t.Fatalf("after restart: %+v", d)
	}
}

func TestResignAnswersParkedRequestsAndStopsServing(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("moving", 2, "t")
	p := e.partitionOf("moving")
	// One member rejoins and waits for the other.
	_, w := e.coord.beginJoin(joinReq("moving", tg.members[0], "t"), clientInfo{})
	// A stale epoch is ignored.
	e.coord.Resign(p, e.epoch-1)
	if _, ok := ready(w); ok {
		t.Fatal("stale resign answered the parked join")
	}
	e.coord.Resign(p, e.epoch)
	if r := wait(t, w); r.errCode != kerr.NotCoordinator.Code {
		t.Fatalf("parked join after resign: %d", r.errCode)
	}
	if code := heartbeat(e, "moving", tg.members[1], tg.generation); code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat after resign: %d", code)
	}
	if c := commitCodes(e.coord.OffsetCommit(context.Background(), commitReq("moving", "", -1, "t", map[int32]int64{0: 1}))); c[0] != kerr.NotCoordinator.Code {
		t.Fatalf("commit after resign: %v", c)
	}
	if code, _ := e.fetchOffsetsOf("moving"); code != kerr.NotCoordinator.Code {
		t.Fatalf("fetch after resign: %d", code)
	}
	// Elected again: the group is back from the log.
	e.coord.Elect(p, e.epoch+1)
	e.waitLoaded()
	if st, gen, ok := e.groupState("moving"); !ok || st != stateStable || gen != tg.generation {
		t.Fatalf("after re-election: %v %d %v", st, gen, ok)
	}
}

func TestLoadInProgress(t *testing.T) {
	e := newTestEnv(t, nil)
	e.coord.OffsetCommit(context.Background(), commitReq("loading", "", -1, "t", map[int32]int64{0: 1}))
	p := e.partitionOf("loading")
	e.coord.Resign(p, e.epoch)

	gate := make(chan struct{})
	e.coord.loadHook = func(int32) { <-gate }
	e.coord.Elect(p, e.epoch+1)
	if code, _ := e.fetchOffsetsOf("loading"); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("fetch while loading: %d", code)
	}
	if code := heartbeat(e, "loading", "m", 1); code != 0 {
		t.Fatalf("heartbeat while loading is answered blindly: %d", code)
	}
	if resp := e.coord.SyncGroup(context.Background(), syncReq("loading", "m", 1, nil)); resp.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("sync while loading: %d", resp.ErrorCode)
	}
	if resp := e.coord.ListGroups(context.Background(), kmsg.NewPtrListGroupsRequest()); resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("list while loading: %d", resp.ErrorCode)
	}
	close(gate)
	e.waitLoaded()
	if code, offs := e.fetchOffsetsOf("loading"); code != 0 || offs[topicPartition{"t", 0}].Offset != 1 {
		t.Fatalf("fetch after load: %d %v", code, offs)
	}
}

func TestResignDuringLoadCancelsIt(t *testing.T) {
	e := newTestEnv(t, nil)
	p := e.partitionOf("g")
	e.coord.Resign(p, e.epoch)
	gate := make(chan struct{})
	e.coord.loadHook = func(int32) { <-gate }
	e.coord.Elect(p, e.epoch+1)
	s := e.coord.allShards()
	e.coord.Resign(p, e.epoch+1)
	close(gate)
	for _, sh := range s {
		wait(t, sh.loaded)
	}
	if code, _ := e.fetchOffsetsOf("g"); code != kerr.NotCoordinator.Code {
		t.Fatalf("fetch after resign during load: %d", code)
	}
}

func TestCloseAnswersParkedRequestsAndStopsTimers(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("stable", 2, "t")
	e.coord.OffsetCommit(context.Background(), commitReq("stable", tg.members[0], tg.generation, "t", map[int32]int64{0: 1}))
	e.coord.beginJoin(joinReq("pending", ""), clientInfo{})
	_, w := e.joinNew("closing", "t") // parked in the initial rebalance delay
	if err := e.coord.Close(); err != nil {
		t.Fatal(err)
	}
	e.clock.mu.Lock()
	left := len(e.clock.timers)
	e.clock.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d timers left running after Close", left)
	}
	if r := wait(t, w); r.errCode != kerr.NotCoordinator.Code {
		t.Fatalf("parked join after close: %d", r.errCode)
	}
	if code := heartbeat(e, "closing", "m", 1); code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat after close: %d", code)
	}
	e.coord.Elect(0, e.epoch+1) // ignored once closed
	if len(e.coord.allShards()) != 0 {
		t.Fatal("elect after close created a shard")
	}
}
