package controller

import (
	"encoding/binary"
	"fmt"
	"io"

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
	if n == 0 {
		return nil, fmt.Errorf("%w: unable to replicate the partition %d time(s): all brokers are currently fenced", kerr.InvalidReplicationFactor, rf)
	}
	if rf > n {
		return nil, fmt.Errorf("%w: unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only %d broker(s) are registered",
			kerr.InvalidReplicationFactor, rf, rf, n)
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
