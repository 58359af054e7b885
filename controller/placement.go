package controller

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// placeReplicas assigns count partitions, numbered from first, to brokers
// (the live brokers, sorted) with rf replicas each. It is Kafka's classic
// rack-unaware assignment without the follower shift: replica i of partition
// p goes to brokers[(start+p+i) mod n]. Preferred leaders (replica 0) thus
// go round robin, so n*k partitions give every broker exactly k leaderships
// and k*rf replicas; start, chosen at random per request, keeps many small
// topics from all leading on the first broker.
func placeReplicas(brokers []int32, start int, first, count int32, rf int) ([][]int32, error) {
	n := len(brokers)
	if err := checkPlacement(n, rf); err != nil {
		return nil, err
	}
	out := make([][]int32, count)
	for i := range out {
		p := int(first) + i
		replicas := make([]int32, rf)
		for r := range replicas {
			replicas[r] = brokers[(start+p+r)%n]
		}
		out[i] = replicas
	}
	return out, nil
}

// placeReplicasOnRacks is placeReplicas made rack-aware (broker.rack), with
// the goals of Kafka's StripedReplicaPlacer: the replicas of a partition
// spread over as many racks as they can, and preferred leaders spread evenly
// over brokers and racks. brokers are the live brokers in any order.
//
// As in StripedReplicaPlacer (not the ZooKeeper-era AdminUtils, which refused
// a cluster where only some brokers have a rack), brokers without a rack
// ("") are not an error: together they count as one more rack, sorted first
// like Kafka's Optional.empty(). When all brokers share one rack, named or
// not, the result is exactly placeReplicas on the brokers sorted by ID.
//
// The brokers are first laid out in one ring that alternates racks
// (rackRing); the placement then runs along that ring like placeReplicas:
// partition p's leader is ring[(start+p) mod n], and each further replica is
// the next broker along the ring, after the previous replica, whose rack
// holds the fewest replicas of p so far among racks with a broker left. With
// racks of equal size every window of the ring is already rack-balanced, so
// replica i is simply ring[(start+p+i) mod n] and n*k partitions give every
// broker exactly k leaderships and k*rf replicas, every rack the same share.
//
// Two deliberate differences from StripedReplicaPlacer keep the result a
// deterministic function of start: it does not reshuffle racks after every n
// partitions, and leaders go round the ring of brokers rather than round the
// racks. With equal racks both agree; with unequal racks Kafka gives every
// rack the same number of leaders, overloading the brokers of small racks
// (which already hold a replica of nearly every partition), whereas here
// every broker leads equally and the racks lead in proportion to their size.
// Followers in a rack that is too small still land on its brokers more often,
// as in Kafka: rack spread outranks broker balance.
func placeReplicasOnRacks(brokers []BrokerInfo, start int, first, count int32, rf int) ([][]int32, error) {
	n := len(brokers)
	if err := checkPlacement(n, rf); err != nil {
		return nil, err
	}
	ring, rackOf, rackSize := rackRing(brokers)
	if len(rackSize) == 1 {
		return placeReplicas(ring, start, first, count, rf)
	}
	out := make([][]int32, count)
	chosen := make([]bool, n)
	perRack := make([]int, len(rackSize))
	for i := range out {
		clear(chosen)
		clear(perRack)
		pos := (start + int(first) + i) % n
		replicas := make([]int32, 0, rf)
		for {
			replicas = append(replicas, ring[pos])
			chosen[pos] = true
			perRack[rackOf[pos]]++
			if len(replicas) == rf {
				break
			}
			// rf <= n leaves an unchosen broker in a rack holding the
			// fewest replicas, so this walk ends within one turn.
			fewest := fewestReplicas(perRack, rackSize)
			pos = (pos + 1) % n
			for chosen[pos] || perRack[rackOf[pos]] != fewest {
				pos = (pos + 1) % n
			}
		}
		out[i] = replicas
	}
	return out, nil
}

// rackRing orders brokers so that racks alternate, the layout both Kafka
// placers start from (AdminUtils.getRackAlternatedBrokerList, and the
// rack-then-broker round robin of StripedReplicaPlacer). It returns the
// broker IDs, each position's rack index, and each rack's broker count.
// Racks are sorted by name ("" first) and brokers within a rack by ID.
//
// With equal racks the ring is rack 0's first broker, rack 1's first, ...,
// then every rack's second broker, and so on. Unequal racks are interleaved
// in proportion to their size: the j-th of m brokers of a rack sits at
// fraction (j+1/2)/m of the ring, ties going to the earlier rack. Unlike
// AdminUtils' list, which ends in a run of the largest rack, every stretch
// of this ring, and so the leaders of any run of partitions, then holds the
// racks in close proportion to their size.
func rackRing(brokers []BrokerInfo) (ring []int32, rackOf []int, rackSize []int) {
	byRack := map[string][]int32{}
	for _, b := range brokers {
		byRack[b.Rack] = append(byRack[b.Rack], b.NodeID)
	}
	names := make([]string, 0, len(byRack))
	for name, ids := range byRack {
		slices.Sort(ids)
		names = append(names, name)
	}
	slices.Sort(names)

	type slot struct{ rack, index, size int }
	slots := make([]slot, 0, len(brokers))
	rackSize = make([]int, len(names))
	for r, name := range names {
		rackSize[r] = len(byRack[name])
		for j := range rackSize[r] {
			slots = append(slots, slot{rack: r, index: j, size: rackSize[r]})
		}
	}
	slices.SortFunc(slots, func(a, b slot) int {
		// (2a.index+1)/(2a.size) against (2b.index+1)/(2b.size), exactly.
		return cmp.Or(cmp.Compare((2*a.index+1)*b.size, (2*b.index+1)*a.size), cmp.Compare(a.rack, b.rack))
	})
	ring = make([]int32, len(slots))
	rackOf = make([]int, len(slots))
	for i, s := range slots {
		ring[i] = byRack[names[s.rack]][s.index]
		rackOf[i] = s.rack
	}
	return ring, rackOf, rackSize
}

// fewestReplicas returns the fewest replicas any rack with a broker not yet
// used holds: the racks the next replica may go to.
func fewestReplicas(perRack, rackSize []int) int {
	fewest := -1
	for r, used := range perRack {
		if used < rackSize[r] && (fewest == -1 || used < fewest) {
			fewest = used
		}
	}
	return fewest
}

// checkPlacement refuses a placement of rf replicas on n live brokers that
// cannot be met, with the errors of Kafka's StripedReplicaPlacer.
func checkPlacement(n, rf int) error {
	if rf < 1 {
		return fmt.Errorf("%w: invalid replication factor %d: the replication factor must be positive", kerr.InvalidReplicationFactor, rf)
	}
	if n == 0 {
		return fmt.Errorf("%w: unable to replicate the partition %d time(s): all brokers are currently fenced", kerr.InvalidReplicationFactor, rf)
	}
	if rf > n {
		return fmt.Errorf("%w: unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only %d broker(s) are registered",
			kerr.InvalidReplicationFactor, rf, rf, n)
	}
	return nil
}

// randomIndex returns a random number in [0, n) read from r (n > 0), or 0
// for n == 0. A modulo bias of at most n/2^64 does not matter for placement.
func randomIndex(r io.Reader, n int) (int, error) {
	if n <= 1 {
		return 0, nil
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("%w: read random placement start: %w", kerr.UnknownServerError, err)
	}
	return int(binary.BigEndian.Uint64(b[:]) % uint64(n)), nil
}
