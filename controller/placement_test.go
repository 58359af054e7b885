package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// racked returns brokers with the given racks, broker i+1 in racks[i].
func racked(racks ...string) []BrokerInfo {
	out := make([]BrokerInfo, len(racks))
	for i, r := range racks {
		out[i] = BrokerInfo{NodeID: int32(i + 1), Rack: r}
	}
	return out
}

func TestPlaceReplicasOnRacks(t *testing.T) {
	tests := []struct {
		name    string
		brokers []BrokerInfo
		start   int
		first   int32
		count   int32
		rf      int
		want    [][]int32
		wantErr *kerr.Error
	}{
		{"3 racks of 2, rf 3: one replica per rack, leaders round the racks",
			racked("a", "a", "b", "b", "c", "c"), 0, 0, 6, 3,
			[][]int32{{1, 3, 5}, {3, 5, 2}, {5, 2, 4}, {2, 4, 6}, {4, 6, 1}, {6, 1, 3}}, nil},
		{"2 racks, rf 3: both racks in every partition",
			racked("a", "a", "b", "b"), 0, 0, 4, 3,
			[][]int32{{1, 3, 2}, {3, 2, 4}, {2, 4, 1}, {4, 1, 3}}, nil},
		{"uneven racks: the lone broker of b is in every partition, leaders still even",
			racked("a", "a", "a", "b"), 0, 0, 4, 2,
			[][]int32{{1, 4}, {2, 4}, {4, 3}, {3, 4}}, nil},
		{"brokers without a rack count as one more rack, sorted first",
			racked("", "", "x", "y"), 0, 0, 4, 3,
			[][]int32{{1, 3, 4}, {3, 4, 2}, {4, 2, 3}, {2, 3, 4}}, nil},
		{"start and first rotate the leaders along the ring",
			racked("a", "a", "b", "b", "c", "c"), 4, 1, 2, 2,
			[][]int32{{6, 1}, {1, 3}}, nil},
		{"input order does not matter",
			[]BrokerInfo{{NodeID: 6, Rack: "c"}, {NodeID: 3, Rack: "b"}, {NodeID: 1, Rack: "a"}, {NodeID: 5, Rack: "c"}, {NodeID: 2, Rack: "a"}, {NodeID: 4, Rack: "b"}},
			0, 0, 2, 3, [][]int32{{1, 3, 5}, {3, 5, 2}}, nil},
		{"no live broker", nil, 0, 0, 1, 1, nil, kerr.InvalidReplicationFactor},
		{"replication above brokers", racked("a", "b"), 0, 0, 1, 3, nil, kerr.InvalidReplicationFactor},
		{"replication factor not positive", racked("a", "b"), 0, 0, 1, 0, nil, kerr.InvalidReplicationFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := placeReplicasOnRacks(tt.brokers, tt.start, tt.first, tt.count, tt.rf)
			wantKerr(t, err, tt.wantErr)
			wantEq(t, got, tt.want)
		})
	}
}

// TestPlaceReplicasOnRacksBalance checks, for every start, the guarantees
// placement makes: distinct brokers, replicas spread over racks as far as
// their sizes allow, every broker leading equally over n*k partitions and,
// with equal racks, every broker holding equally many replicas.
func TestPlaceReplicasOnRacksBalance(t *testing.T) {
	tests := []struct {
		name  string
		racks []string
		equal bool // all racks have the same size
	}{
		{"3 racks of 2", []string{"a", "a", "b", "b", "c", "c"}, true},
		{"2 racks of 2", []string{"a", "a", "b", "b"}, true},
		{"4 racks of 3, shuffled IDs", []string{"d", "a", "c", "b", "a", "d", "c", "b", "b", "a", "d", "c"}, true},
		{"3, 2 and 1", []string{"a", "a", "a", "b", "b", "c"}, false},
		{"5 and 1", []string{"a", "a", "a", "a", "a", "b"}, false},
		{"2 unracked, 2 and 1", []string{"", "", "x", "x", "y"}, false},
	}
	const k = 3
	for _, tt := range tests {
		brokers := racked(tt.racks...)
		rackOf := map[int32]string{}
		rackSize := map[string]int{}
		for _, b := range brokers {
			rackOf[b.NodeID] = b.Rack
			rackSize[b.Rack]++
		}
		n := len(brokers)
		for rf := 1; rf <= n; rf++ {
			for start := range n {
				for _, first := range []int32{0, 7} {
					t.Run(fmt.Sprintf("%s/rf=%d/start=%d/first=%d", tt.name, rf, start, first), func(t *testing.T) {
						parts, err := placeReplicasOnRacks(brokers, start, first, int32(k*n), rf)
						if err != nil {
							t.Fatal(err)
						}
						leaders, replicas, rackLeaders := map[int32]int{}, map[int32]int{}, map[string]int{}
						for p, rs := range parts {
							checkRackSpread(t, p, rs, rf, rackOf, rackSize)
							leaders[rs[0]]++
							rackLeaders[rackOf[rs[0]]]++
							for _, r := range rs {
								replicas[r]++
							}
						}
						for _, b := range brokers {
							if leaders[b.NodeID] != k {
								t.Fatalf("leaders per broker %v, want %d each", leaders, k)
							}
							if rackLeaders[b.Rack] != k*rackSize[b.Rack] {
								t.Fatalf("leaders per rack %v, want %d per broker of the rack", rackLeaders, k)
							}
							if tt.equal && replicas[b.NodeID] != k*rf {
								t.Fatalf("replicas per broker %v, want %d each", replicas, k*rf)
							}
						}
					})
				}
			}
		}
	}
}

// checkRackSpread fails unless partition p's replicas rs are rf distinct
// brokers spread over the racks as evenly as the racks' sizes allow: a rack
// with a broker left over holds at most one replica fewer than any other.
func checkRackSpread(t *testing.T, p int, rs []int32, rf int, rackOf map[int32]string, rackSize map[string]int) {
	t.Helper()
	if len(rs) != rf {
		t.Fatalf("partition %d: replicas %v, want %d", p, rs, rf)
	}
	sorted := slices.Sorted(slices.Values(rs))
	if len(slices.Compact(sorted)) != rf {
		t.Fatalf("partition %d: replicas %v repeat a broker", p, rs)
	}
	perRack := map[string]int{}
	most := 0
	for _, r := range rs {
		perRack[rackOf[r]]++
		most = max(most, perRack[rackOf[r]])
	}
	for rack, size := range rackSize {
		if perRack[rack] < size && perRack[rack] < most-1 {
			t.Fatalf("partition %d: replicas %v hold %v per rack: rack %q could take more", p, rs, perRack, rack)
		}
	}
}

// TestPlaceReplicasOnRacksWithoutRacksIsUnchanged: with no rack, or one rack
// for all, placement is the rack-unaware placeReplicas on the sorted IDs.
func TestPlaceReplicasOnRacksWithoutRacksIsUnchanged(t *testing.T) {
	ids := []int32{5, 2, 9, 1, 7}
	sorted := slices.Sorted(slices.Values(ids))
	for _, rack := range []string{"", "r1"} {
		brokers := make([]BrokerInfo, len(ids))
		for i, id := range ids {
			brokers[i] = BrokerInfo{NodeID: id, Rack: rack}
		}
		for rf := 1; rf <= len(ids); rf++ {
			for start := range len(ids) {
				t.Run(fmt.Sprintf("rack=%q/rf=%d/start=%d", rack, rf, start), func(t *testing.T) {
					got, err := placeReplicasOnRacks(brokers, start, 3, 11, rf)
					wantKerr(t, err, nil)
					want, err := placeReplicas(sorted, start, 3, 11, rf)
					wantKerr(t, err, nil)
					wantEq(t, got, want)
				})
			}
		}
	}
}

func TestRackRing(t *testing.T) {
	tests := []struct {
		name     string
		brokers  []BrokerInfo
		ring     []int32
		rackSize []int
	}{
		{"equal racks alternate", racked("b", "a", "b", "a"), []int32{2, 1, 4, 3}, []int{2, 2}},
		{"unequal racks interleave in proportion", racked("a", "a", "a", "a", "b"), []int32{1, 2, 5, 3, 4}, []int{4, 1}},
		{"no rack sorts first", racked("z", "", "z", ""), []int32{2, 1, 4, 3}, []int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ring, _, rackSize := rackRing(tt.brokers)
			wantEq(t, ring, tt.ring)
			wantEq(t, rackSize, tt.rackSize)
		})
	}
}

// registerInRack registers broker id in rack and unfences it.
func registerInRack(t *testing.T, c *Controller, id int32, rack string) {
	t.Helper()
	ctx := context.Background()
	epoch, err := c.RegisterBroker(ctx, BrokerRegistration{
		NodeID: id, Rack: rack, Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9000 + id}},
	})
	if err != nil {
		t.Fatalf("RegisterBroker %d: %v", id, err)
	}
	hb := BrokerHeartbeat{NodeID: id, BrokerEpoch: epoch, CurrentMetadataOffset: c.Image().Offset}
	if _, err := c.BrokerHeartbeat(ctx, hb); err != nil {
		t.Fatalf("BrokerHeartbeat %d: %v", id, err)
	}
}

func TestCreateTopicsAndPartitionsPlaceOnRacks(t *testing.T) {
	c, _ := memoryController(t, nil)
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	for id := int32(1); id <= 6; id++ {
		registerInRack(t, c, id, racks[id])
	}
	createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 6, ReplicationFactor: 3})
	res := c.CreatePartitions(context.Background(), []CreatePartitions{{Topic: "t", Count: 12}}, false)
	wantKerr(t, res[0].Err, nil)
	topic, _ := c.Image().Topic("t")
	leaders := map[int32]int{}
	for i, p := range topic.Partitions {
		spanned := map[string]bool{}
		for _, r := range p.Replicas {
			spanned[racks[r]] = true
		}
		if len(spanned) != 3 {
			t.Fatalf("partition %d replicas %v span racks %v, want all 3", i, p.Replicas, spanned)
		}
		leaders[p.Leader]++
	}
	wantEq(t, leaders, map[int32]int{1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2})
}
