package group

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeGroups(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("described", 2, "t")
	e.coord.OffsetCommit(context.Background(), commitReq("simple", "", -1, "t", map[int32]int64{0: 1}))

	d := describe(e, 5, "described")
	if d.ErrorCode != 0 || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "range" || len(d.Members) != 2 {
		t.Fatalf("stable group: %+v", d)
	}
	for _, m := range d.Members {
		i := slices.Index(tg.members, m.MemberID)
		if i < 0 || m.ClientID != "client" || m.ClientHost != "/127.0.0.1" ||
			string(m.ProtocolMetadata) != string(consumerMetadata("t")) || string(m.MemberAssignment) != string(consumerAssignment("t", int32(i))) {
			t.Fatalf("member %+v", m)
		}
	}
	// While rebalancing, members are listed without metadata.
	e.joinNew("described", "t")
	d = describe(e, 5, "described")
	if d.State != "PreparingRebalance" || d.Protocol != "" || len(d.Members) != 3 || len(d.Members[0].MemberAssignment) != 0 {
		t.Fatalf("rebalancing group: %+v", d)
	}
	if d := describe(e, 5, "simple"); d.State != "Empty" || d.ProtocolType != "" || len(d.Members) != 0 {
		t.Fatalf("simple group: %+v", d)
	}
	if d := describe(e, 5, "unknown"); d.ErrorCode != 0 || d.State != "Dead" {
		t.Fatalf("unknown group v5: %+v", d)
	}
	if d := describe(e, 6, "unknown"); d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" || d.ErrorMessage == nil {
		t.Fatalf("unknown group v6: %+v", d)
	}
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version, r.Groups, r.IncludeAuthorizedOperations = 5, []string{"simple"}, true
	if ops := e.coord.DescribeGroups(context.Background(), r).Groups[0].AuthorizedOperations; ops != 1<<3|1<<6|1<<8 {
		t.Fatalf("authorized operations %b", ops)
	}
	r.IncludeAuthorizedOperations = false
	if ops := e.coord.DescribeGroups(context.Background(), r).Groups[0].AuthorizedOperations; ops != -2147483648 {
		t.Fatalf("authorized operations not asked for: %d", ops)
	}
}

func TestListGroupsFilters(t *testing.T) {
	e := newTestEnv(t, nil)
	e.formGroup("stable", 1, "t")
	e.coord.OffsetCommit(context.Background(), commitReq("empty", "", -1, "t", map[int32]int64{0: 1}))
	e.formGroup("rebalancing", 1, "t")
	e.joinNew("rebalancing", "t")

	tests := []struct {
		name    string
		version int16
		states  []string
		types   []string
		want    []string
	}{
		{"all", 3, nil, nil, []string{"empty", "rebalancing", "stable"}},
		{"by state, any case", 4, []string{"stable", "EMPTY"}, nil, []string{"empty", "stable"}},
		{"classic type", 5, nil, []string{"Classic"}, []string{"empty", "rebalancing", "stable"}},
		{"consumer type only", 5, nil, []string{"consumer"}, nil},
		{"state and type", 5, []string{"PreparingRebalance"}, []string{"classic"}, []string{"rebalancing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kmsg.NewPtrListGroupsRequest()
			r.Version, r.StatesFilter, r.TypesFilter = tt.version, tt.states, tt.types
			resp := e.coord.ListGroups(context.Background(), r)
			var got []string
			for _, g := range resp.Groups {
				got = append(got, g.Group)
				if g.GroupType != "classic" || g.GroupState == "" {
					t.Errorf("group %+v", g)
				}
			}
			if resp.ErrorCode != 0 || !slices.Equal(got, tt.want) {
				t.Fatalf("groups %v (error %d), want %v", got, resp.ErrorCode, tt.want)
			}
		})
	}
}

func TestDeleteGroups(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("busy", 1, "t")
	e.coord.OffsetCommit(context.Background(), commitReq("busy", tg.members[0], tg.generation, "t", map[int32]int64{0: 1}))
	e.coord.OffsetCommit(context.Background(), commitReq("done", "", -1, "t", map[int32]int64{0: 5, 1: 6}))

	r := kmsg.NewPtrDeleteGroupsRequest()
	r.Version = 2
	r.Groups = []string{"done", "busy", "never"}
	resp := e.coord.DeleteGroups(context.Background(), r)
	want := []int16{0, kerr.NonEmptyGroup.Code, kerr.GroupIDNotFound.Code}
	for i, g := range resp.Groups {
		if g.Group != r.Groups[i] || g.ErrorCode != want[i] {
			t.Errorf("group %s: error %d, want %d", g.Group, g.ErrorCode, want[i])
		}
	}
	check := func() {
		t.Helper()
		if d := describe(e, 6, "done"); d.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("deleted group described as %+v", d)
		}
		if _, offs := e.fetchOffsetsOf("done"); len(offs) != 0 {
			t.Fatalf("deleted group's offsets: %v", offs)
		}
		if _, offs := e.fetchOffsetsOf("busy"); len(offs) != 1 {
			t.Fatalf("busy group's offsets: %v", offs)
		}
	}
	check()
	// Deleting again: it is gone.
	r.Groups = []string{"done"}
	if code := e.coord.DeleteGroups(context.Background(), r).Groups[0].ErrorCode; code != kerr.GroupIDNotFound.Code {
		t.Fatalf("second delete: %d", code)
	}
	e.restart()
	check()
}
