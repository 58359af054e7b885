package replica

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestFollowerStateAfterFetch(t *testing.T) {
	prev := FollowerState{LogEndOffset: 10, BrokerEpoch: 5, LastFetchTime: at(100), LastFetchLeaderLEO: 12, LastCaughtUpTime: at(50)}
	tests := []struct {
		name        string
		prev        FollowerState
		fetchOffset int64
		leaderLEO   int64
		now         time.Time
		wantCaught  time.Time
	}{
		{"fetch at the leader's LEO is caught up now", prev, 20, 20, at(200), at(200)},
		{"fetch past the previous fetch's leader LEO was caught up then", prev, 12, 20, at(200), at(100)},
		{"fetch below both keeps the old time", prev, 11, 20, at(200), at(50)},
		{"a fresh follower below the leader LEO is not caught up", newFollowerState(false, at(0)), 0, 5, at(200), time.Time{}},
		{"a fresh ISR follower keeps its grace time", newFollowerState(true, at(10)), 3, 5, at(200), at(10)},
		{"caught-up time never goes back", FollowerState{LastCaughtUpTime: at(300), LastFetchLeaderLEO: 1, LastFetchTime: at(100)}, 5, 5, at(200), at(300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.prev.AfterFetch(tt.fetchOffset, tt.leaderLEO, 7, tt.now)
			if !got.LastCaughtUpTime.Equal(tt.wantCaught) {
				t.Fatalf("last caught up %v, want %v", got.LastCaughtUpTime, tt.wantCaught)
			}
			if got.LogEndOffset != tt.fetchOffset || got.BrokerEpoch != 7 || !got.LastFetchTime.Equal(tt.now) {
				t.Fatalf("state %+v", got)
			}
			if got.LastFetchLeaderLEO != max(tt.leaderLEO, tt.prev.LastFetchLeaderLEO) {
				t.Fatalf("last fetch leader LEO %d", got.LastFetchLeaderLEO)
			}
		})
	}
}

func TestFollowerStateCaughtUp(t *testing.T) {
	lag := 30 * time.Second
	tests := []struct {
		name string
		f    FollowerState
		leo  int64
		now  time.Time
		want bool
	}{
		{"has the leader's LEO", FollowerState{LogEndOffset: 9}, 9, at(100_000), true},
		{"caught up within the lag", FollowerState{LogEndOffset: 5, LastCaughtUpTime: at(0)}, 9, at(30_000), true},
		{"not caught up for longer than the lag", FollowerState{LogEndOffset: 5, LastCaughtUpTime: at(0)}, 9, at(30_001), false},
		{"never caught up", FollowerState{LogEndOffset: -1}, 9, at(1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.CaughtUp(tt.leo, tt.now, lag); got != tt.want {
				t.Fatalf("CaughtUp = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHighWatermark(t *testing.T) {
	fs := func(leos map[int32]int64) map[int32]FollowerState {
		out := map[int32]FollowerState{}
		for id, leo := range leos {
			out[id] = FollowerState{LogEndOffset: leo, BrokerEpoch: -1}
		}
		return out
	}
	caughtUp := map[int32]FollowerState{
		2: {LogEndOffset: 8, BrokerEpoch: -1},
		3: {LogEndOffset: 4, BrokerEpoch: -1, LastCaughtUpTime: at(0)},
	}
	tests := []struct {
		name    string
		current int64
		in      HighWatermarkInput
		want    int64
	}{
		{"single replica follows the leader", 3, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1}, MaximalISR: []int32{1}, EffectiveMinISR: 1}, 10},
		{"min LEO over the ISR", 3, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1, 2, 3}, MaximalISR: []int32{1, 2, 3},
			Followers: fs(map[int32]int64{2: 7, 3: 9}), EffectiveMinISR: 1}, 7},
		{"never moves back", 8, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1, 2}, MaximalISR: []int32{1, 2},
			Followers: fs(map[int32]int64{2: 5}), EffectiveMinISR: 1}, 8},
		{"a member with an unknown LEO holds it", 3, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1, 2}, MaximalISR: []int32{1, 2},
			Followers: fs(map[int32]int64{2: -1}), EffectiveMinISR: 1}, 3},
		{"frozen below the effective min ISR", 3, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1}, MaximalISR: []int32{1},
			Followers: fs(map[int32]int64{2: 10, 3: 10}), EffectiveMinISR: 2}, 3},
		{"a pending addition counts at once", 3, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1, 2}, MaximalISR: []int32{1, 2, 3},
			Followers: fs(map[int32]int64{2: 10, 3: 6}), EffectiveMinISR: 1}, 6},
		{"a follower outside the ISR does not hold it", 3, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1}, MaximalISR: []int32{1},
			Followers: fs(map[int32]int64{2: 4}), EffectiveMinISR: 1, Now: at(60_000), LagMax: time.Second}, 10},
		{"a caught-up follower about to join holds it", 3, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1, 2}, MaximalISR: []int32{1, 2},
			Followers: caughtUp, EffectiveMinISR: 1, Now: at(500), LagMax: time.Second}, 4},
		{"unless it is not eligible", 3, HighWatermarkInput{LeaderID: 1, LeaderLEO: 10, ISR: []int32{1, 2}, MaximalISR: []int32{1, 2},
			Followers: caughtUp, EffectiveMinISR: 1, Now: at(500), LagMax: time.Second, Eligible: func(id int32) bool { return id != 3 }}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HighWatermark(tt.current, tt.in); got != tt.want {
				t.Fatalf("HighWatermark = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEffectiveMinISR(t *testing.T) {
	tests := []struct {
		minInsync int32
		replicas  int
		want      int
	}{{2, 3, 2}, {2, 1, 1}, {3, 3, 3}, {1, 3, 1}, {0, 3, 1}}
	for _, tt := range tests {
		if got := EffectiveMinISR(tt.minInsync, tt.replicas); got != tt.want {
			t.Errorf("EffectiveMinISR(%d, %d) = %d, want %d", tt.minInsync, tt.replicas, got, tt.want)
		}
	}
}

func TestISRChanges(t *testing.T) {
	lag := 10 * time.Second
	st := State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}
	tests := []struct {
		name        string
		st          State
		epochStart  int64
		followers   map[int32]FollowerState
		leo, hw     int64
		now         time.Time
		shrink, exp []int32
	}{
		{"all caught up", st, 0, map[int32]FollowerState{
			2: {LogEndOffset: 20}, 3: {LogEndOffset: 15, LastCaughtUpTime: at(5_000)}}, 20, 15, at(10_000), nil, nil},
		{"stuck follower leaves after the lag", st, 0, map[int32]FollowerState{
			2: {LogEndOffset: 20}, 3: {LogEndOffset: 15, LastCaughtUpTime: at(0)}}, 20, 15, at(10_001), []int32{3}, nil},
		{"a member without state leaves", st, 0, map[int32]FollowerState{2: {LogEndOffset: 20}}, 20, 15, at(0), []int32{3}, nil},
		{"follower at the HW and past the epoch start joins",
			State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1}, 12,
			map[int32]FollowerState{2: {LogEndOffset: 20}, 3: {LogEndOffset: 15}}, 20, 15, at(0), nil, []int32{3}},
		{"follower below the HW stays out",
			State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1}, 12,
			map[int32]FollowerState{2: {LogEndOffset: 20}, 3: {LogEndOffset: 14}}, 20, 15, at(0), nil, nil},
		{"follower below the leader epoch start stays out",
			State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1}, 18,
			map[int32]FollowerState{2: {LogEndOffset: 20}, 3: {LogEndOffset: 15}}, 20, 15, at(0), nil, nil},
		{"unknown LEO stays out",
			State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}, 0,
			map[int32]FollowerState{2: {LogEndOffset: -1}}, 0, 0, at(0), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shrink, exp := ISRChanges(tt.st, tt.epochStart, tt.followers, tt.leo, tt.hw, tt.now, lag)
			if !slices.Equal(shrink, tt.shrink) || !slices.Equal(exp, tt.exp) {
				t.Fatalf("shrink %v expand %v, want %v %v", shrink, exp, tt.shrink, tt.exp)
			}
		})
	}
}

func TestDivergingEpoch(t *testing.T) {
	tests := []struct {
		name        string
		lastFetched int32
		fetchOffset int64
		found       int32
		end         int64
		want        EpochEndOffset
		diverges    bool
	}{
		{"same epoch, leader has the offset", 3, 50, 3, 60, EpochEndOffset{}, false},
		{"epoch ended at the fetch offset", 3, 50, 3, 50, EpochEndOffset{}, false},
		{"epoch ended before the fetch offset", 3, 50, 3, 40, EpochEndOffset{Epoch: 3, EndOffset: 40}, true},
		{"leader never had the epoch", 4, 50, 3, 60, EpochEndOffset{Epoch: 3, EndOffset: 60}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DivergingEpoch(tt.lastFetched, tt.fetchOffset, tt.found, tt.end)
			if ok != tt.diverges || got != tt.want {
				t.Fatalf("DivergingEpoch = %+v %v, want %+v %v", got, ok, tt.want, tt.diverges)
			}
		})
	}
}

func TestTruncationOffset(t *testing.T) {
	tests := []struct {
		name       string
		leader     EpochEndOffset
		localEpoch int32
		localEnd   int64
		localLEO   int64
		want       int64
	}{
		{"same epoch: the smaller end", EpochEndOffset{Epoch: 0, EndOffset: 5}, 0, 8, 8, 5},
		{"same epoch, follower ends first", EpochEndOffset{Epoch: 2, EndOffset: 12}, 2, 10, 15, 10},
		{"follower lacks the leader's epoch: its own end of the older one", EpochEndOffset{Epoch: 1, EndOffset: 12}, 0, 10, 15, 10},
		{"no local epoch: the leader's end", EpochEndOffset{Epoch: 1, EndOffset: 12}, -1, -1, 15, 12},
		{"never above the LEO", EpochEndOffset{Epoch: 1, EndOffset: 30}, -1, -1, 15, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TruncationOffset(tt.leader, tt.localEpoch, tt.localEnd, tt.localLEO); got != tt.want {
				t.Fatalf("TruncationOffset = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestISRProposalsMaximal(t *testing.T) {
	var s isrProposals
	if got := s.maximal([]int32{1, 2}); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("no proposal: %v", got)
	}
	s.pending = &isrProposal{isr: []int32{1, 2, 3}}
	if got := s.maximal([]int32{1, 2}); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("expansion in flight: %v", got)
	}
	s.pending = &isrProposal{isr: []int32{1}}
	if got := s.maximal([]int32{1, 2}); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("shrink in flight: %v", got)
	}
	st := State{LeaderEpoch: 1, PartitionEpoch: 4}
	if s.mayPropose(st, at(0)) {
		t.Fatal("a second proposal while one is in flight")
	}
	s = isrProposals{blocked: true, blockedLeader: 1, blockedEpoch: 4}
	if s.mayPropose(st, at(0)) {
		t.Fatal("proposal before new metadata after a stale refusal")
	}
	st.PartitionEpoch = 5
	if !s.mayPropose(st, at(0)) {
		t.Fatal("no proposal after new metadata")
	}
	s = isrProposals{retryAt: at(100)}
	if s.mayPropose(st, at(99)) || !s.mayPropose(st, at(100)) {
		t.Fatal("retry backoff not honoured")
	}
}
