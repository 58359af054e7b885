package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ElectionType is the kind of election ElectLeaders runs (KIP-460).
type ElectionType int8

// Election types, as on the wire.
const (
	// PreferredElection moves leadership to the preferred replica (the
	// first assigned replica) if it is alive and in the ISR.
	PreferredElection ElectionType = 0
	// UncleanElection elects a leader for a partition without one: an ISR
	// member if one is alive, else any live replica (records acknowledged
	// by the old ISR may be lost).
	UncleanElection ElectionType = 1
)

// String names the election type as Kafka's ElectionType does.
func (t ElectionType) String() string {
	switch t {
	case PreferredElection:
		return "PREFERRED"
	case UncleanElection:
		return "UNCLEAN"
	}
	return fmt.Sprintf("ElectionType(%d)", int8(t))
}

// ElectionResult is the outcome of one partition's election.
type ElectionResult struct {
	Topic     string
	Partition int32
	Err       error
}

// ElectLeaders runs elections (Kafka's ReplicationControlManager.electLeaders)
// for the named partitions, or for every partition when topics is nil; in
// that case partitions that need no election are left out of the results,
// as Kafka does. Per partition:
//
//   - PREFERRED: ELECTION_NOT_NEEDED if the preferred replica leads; it
//     becomes leader if it is usable (registered, unfenced, not shutting
//     down) and in the ISR; otherwise PREFERRED_LEADER_NOT_AVAILABLE, unless
//     the partition had no leader and another ISR member could take it
//     (Kafka's PartitionChangeBuilder does the same).
//   - UNCLEAN: ELECTION_NOT_NEEDED if the partition has a leader; else the
//     first usable ISR member in replica order, else the first usable
//     replica alone in the ISR (an unclean election, logged at WARN: data
//     may be lost), whatever unclean.leader.election.enable says, since an
//     operator asked; ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is
//     usable.
//   - an unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION.
//
// Every change bumps the leader epoch. The returned error concerns the
// whole request: NOT_CONTROLLER, an unknown election type (INVALID_REQUEST)
// or a failed commit. All elections are committed in one entry.
func (c *Controller) ElectLeaders(ctx context.Context, typ ElectionType, topics []TopicPartitions) ([]ElectionResult, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return nil, err
	}
	if typ != PreferredElection && typ != UncleanElection {
		return nil, fmt.Errorf("%w: unknown election type %d", kerr.InvalidRequest, int8(typ))
	}
	img := c.Image()
	usable, _ := c.lifecycle.view(img, c.cfg.Now())
	all := topics == nil
	if all {
		for _, name := range img.TopicNames() {
			tp := TopicPartitions{Topic: name}
			for i := range img.Topics[name].Partitions {
				tp.Partitions = append(tp.Partitions, int32(i))
			}
			topics = append(topics, tp)
		}
	}
	type key struct {
		topic     string
		partition int32
	}
	first := map[key]int{}
	var results []ElectionResult
	var recs []Record
	for _, tp := range topics {
		for _, p := range tp.Partitions {
			k := key{tp.Topic, p}
			if i, dup := first[k]; dup {
				// One election per partition: a repeat gets the first's
				// answer.
				results = append(results, results[i])
				continue
			}
			rec, err := electLeader(img, tp.Topic, p, typ, usable)
			if all && isErr(err, kerr.ElectionNotNeeded) {
				continue
			}
			if err == nil {
				recs = append(recs, rec)
			}
			first[k] = len(results)
			results = append(results, ElectionResult{Topic: tp.Topic, Partition: p, Err: err})
		}
	}
	if len(recs) == 0 {
		return results, nil
	}
	if err := c.proposeLocked(ctx, recs); err != nil {
		return nil, fmt.Errorf("elect leaders (%s): %w", typ, err)
	}
	c.logger.Info("ran leader elections", slog.String("election_type", typ.String()), slog.Int("elected", len(recs)))
	logPartitionChanges(c.logger, fmt.Sprintf("ElectLeaders %s", typ), img, c.Image(), recs)
	return results, nil
}

// electLeader decides one partition's election (Kafka's
// ReplicationControlManager.electLeader) and returns the record that makes
// it.
func electLeader(img *Image, topic string, partition int32, typ ElectionType, usable usableBrokers) (PartitionChangeRecord, error) {
	t, ok := img.Topics[topic]
	if !ok {
		return PartitionChangeRecord{}, fmt.Errorf("%w: no such topic as %s", kerr.UnknownTopicOrPartition, topic)
	}
	if partition < 0 || int(partition) >= len(t.Partitions) {
		return PartitionChangeRecord{}, fmt.Errorf("%w: no such partition as %s-%d", kerr.UnknownTopicOrPartition, topic, partition)
	}
	p := t.Partitions[partition]
	var d partitionDecision
	switch typ {
	case PreferredElection:
		if p.Leader == p.Replicas[0] {
			return PartitionChangeRecord{}, fmt.Errorf("%w: preferred replica %d already leads %s-%d", kerr.ElectionNotNeeded, p.Leader, topic, partition)
		}
		d = decide(p, p.ISR, nil, acceptableLeader(usable, NoLeader), electPreferred)
		if d.Leader == p.Leader {
			return PartitionChangeRecord{}, fmt.Errorf("%w: preferred replica %d of %s-%d is not alive or not in the ISR %v",
				kerr.PreferredLeaderNotAvailable, p.Replicas[0], topic, partition, p.ISR)
		}
	default:
		if p.Leader != NoLeader {
			return PartitionChangeRecord{}, fmt.Errorf("%w: %s-%d has leader %d", kerr.ElectionNotNeeded, topic, partition, p.Leader)
		}
		d = decide(p, p.ISR, nil, acceptableLeader(usable, NoLeader), electUnclean)
		if d.Leader == NoLeader {
			return PartitionChangeRecord{}, fmt.Errorf("%w: no replica of %s-%d %v is alive", kerr.EligibleLeadersNotAvailable, topic, partition, p.Replicas)
		}
	}
	rec, _ := d.changeRecord(t.ID, partition, p)
	return rec, nil
}

// isErr reports whether err carries the Kafka error ke.
func isErr(err error, ke *kerr.Error) bool {
	var got *kerr.Error
	return err != nil && errors.As(err, &got) && got.Code == ke.Code
}
