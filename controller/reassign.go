package controller

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition reassignment (KIP-455), as Kafka's ReplicationControlManager
// does it in KRaft:
//
//  1. AlterPartitionReassignments records the target: the partition's
//     replicas become the target followed by the replicas being removed,
//     AddingReplicas the target replicas that are new, RemovingReplicas the
//     current replicas outside the target. Every listed replica hosts the
//     partition, so the new ones start following the leader.
//  2. The new replicas catch up and the leader adds them to the ISR through
//     AlterPartition, like any follower.
//  3. Once the ISR without the removing replicas holds every target replica,
//     the change that made it so (an AlterPartition, a broker fenced,
//     unfenced, shutting down or unregistered) also completes the
//     reassignment (decide, completeReassignment): the replicas become the
//     target, the ISR loses the removed replicas, a leader being removed
//     hands over to the first target replica in the ISR, and the removed
//     replicas stop hosting the partition and delete it.
//
// A reassignment that needs no new replica (reordering, or dropping
// replicas that are not needed for the ISR) completes in the request's own
// change.

// PartitionReassignment is one partition of an AlterPartitionReassignments
// request.
type PartitionReassignment struct {
	Topic     string
	Partition int32
	// Replicas is the target assignment, its first replica the preferred
	// leader; nil cancels the reassignment in progress.
	Replicas []int32
}

// ReassignmentResult is the outcome for one PartitionReassignment, in
// request order.
type ReassignmentResult struct {
	Topic     string
	Partition int32
	Err       error
}

// TopicPartitions names partitions of one topic.
type TopicPartitions struct {
	Topic      string
	Partitions []int32
}

// OngoingReassignment is one partition being reassigned, as
// ListPartitionReassignments reports it.
type OngoingReassignment struct {
	Topic            string
	Partition        int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// AlterPartitionReassignments starts, changes or cancels partition
// reassignments (Kafka's ReplicationControlManager.alterPartitionReassignments).
// The returned error concerns the whole request (NOT_CONTROLLER, or the
// change could not be committed); otherwise each partition gets its own
// result:
//
//   - an unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION;
//   - a partition named twice: INVALID_REQUEST;
//   - a target that is empty, names a broker twice or an unregistered
//     broker: INVALID_REPLICA_ASSIGNMENT;
//   - with allowRFChange false (KIP-860), a target of another size than the
//     assignment the partition is headed for: INVALID_REPLICATION_FACTOR;
//   - cancelling a partition that is not reassigning:
//     NO_REASSIGNMENT_IN_PROGRESS; cancelling when every ISR member is a
//     replica being added, which would need an unclean election, without
//     unclean.leader.election.enable: INVALID_REPLICA_ASSIGNMENT.
//
// A new target for a partition already reassigning replaces the old one,
// computed from the partition's current (merged) replicas, as Kafka does.
// Every accepted change is committed in one entry.
func (c *Controller) AlterPartitionReassignments(ctx context.Context, reqs []PartitionReassignment, allowRFChange bool) ([]ReassignmentResult, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return nil, err
	}
	img := c.Image()
	usable, _ := c.lifecycle.view(img, c.cfg.Now())
	unclean := c.uncleanPolicy(img)
	type key struct {
		topic     string
		partition int32
	}
	count := map[key]int{}
	for _, r := range reqs {
		count[key{r.Topic, r.Partition}]++
	}
	results := make([]ReassignmentResult, len(reqs))
	var recs []Record
	var changed []int
	for i, r := range reqs {
		res := &results[i]
		res.Topic, res.Partition = r.Topic, r.Partition
		if count[key{r.Topic, r.Partition}] > 1 {
			res.Err = fmt.Errorf("%w: partition %s-%d is named twice", kerr.InvalidRequest, r.Topic, r.Partition)
			continue
		}
		rec, ok, err := reassignmentRecord(img, r, allowRFChange, usable, unclean)
		if err != nil {
			res.Err = err
			c.logger.Info("refused partition reassignment", slog.String("topic", r.Topic),
				slog.Int("partition", int(r.Partition)), slog.Any("err", err))
			continue
		}
		if ok {
			recs = append(recs, rec)
			changed = append(changed, i)
		}
	}
	if len(recs) == 0 {
		return results, nil
	}
	if err := c.proposeLocked(ctx, recs); err != nil {
		return nil, fmt.Errorf("alter partition reassignments: %w", err)
	}
	logPartitionChanges(c.logger, "AlterPartitionReassignments", img, c.Image(), recs)
	return results, nil
}

// reassignmentRecord validates one request partition against img and
// returns the record that starts, changes or cancels its reassignment, or
// false when the partition already is as asked.
func reassignmentRecord(img *Image, r PartitionReassignment, allowRFChange bool, usable usableBrokers, unclean uncleanPolicy) (PartitionChangeRecord, bool, error) {
	t, ok := img.Topics[r.Topic]
	if !ok {
		return PartitionChangeRecord{}, false, fmt.Errorf("%w: unable to find a topic named %s", kerr.UnknownTopicOrPartition, r.Topic)
	}
	if r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return PartitionChangeRecord{}, false, fmt.Errorf("%w: unable to find partition %s:%d", kerr.UnknownTopicOrPartition, r.Topic, r.Partition)
	}
	p := t.Partitions[r.Partition]
	var d partitionDecision
	if r.Replicas == nil {
		var err error
		if d, err = cancelReassignment(p, usable, unclean(r.Topic)); err != nil {
			return PartitionChangeRecord{}, false, fmt.Errorf("cancel reassignment of %s-%d: %w", r.Topic, r.Partition, err)
		}
	} else {
		if err := validateManualReplicas(img, r.Replicas); err != nil {
			return PartitionChangeRecord{}, false, err
		}
		if rf := len(p.TargetReplicas()); !allowRFChange && rf != len(r.Replicas) {
			// Kafka's validatePartitionReplicationFactorUnchanged: the size
			// of the assignment the partition is headed for.
			return PartitionChangeRecord{}, false, fmt.Errorf("%w: The replication factor is changed from %d to %d",
				kerr.InvalidReplicationFactor, rf, len(r.Replicas))
		}
		d = startReassignment(p, r.Replicas, usable)
	}
	rec, changed := d.changeRecord(t.ID, r.Partition, p)
	return rec, changed, nil
}

// mergeReassignment is Kafka's PartitionReassignmentReplicas for current
// replicas and a target: removing = current - target and adding = target -
// current (each sorted), replicas = target followed by removing, so the
// target's first replica is the preferred leader from the start.
func mergeReassignment(current, target []int32) assignment {
	var adding, removing []int32
	for _, id := range target {
		if !slices.Contains(current, id) {
			adding = append(adding, id)
		}
	}
	for _, id := range current {
		if !slices.Contains(target, id) {
			removing = append(removing, id)
		}
	}
	slices.Sort(adding)
	slices.Sort(removing)
	replicas := append(slices.Clone(target), removing...)
	return assignment{Replicas: replicas, Adding: nonNil(adding), Removing: nonNil(removing)}
}

// startReassignment is Kafka's changePartitionReassignment: the partition
// takes the merged assignment; if its ISR already completes it (nothing to
// add), it completes at once. The leader is kept if it may still lead.
func startReassignment(p PartitionImage, target []int32, usable usableBrokers) partitionDecision {
	a := mergeReassignment(p.Replicas, target)
	return decide(p, p.ISR, &a, acceptableLeader(usable, NoLeader), electOnline)
}

// cancelReassignment is Kafka's cancelPartitionReassignment with
// PartitionReassignmentRevert: the replicas being added leave the replicas
// and the ISR, the ones being removed stay. Kafka keeps the merged order
// (target first), so the original order is not restored. If every ISR
// member was being added, the first remaining replica becomes the ISR, an
// unclean election allowed only by unclean.leader.election.enable
// (INVALID_REPLICA_ASSIGNMENT otherwise).
func cancelReassignment(p PartitionImage, usable usableBrokers, uncleanAllowed bool) (partitionDecision, error) {
	if !p.IsReassigning() {
		return partitionDecision{}, fmt.Errorf("%w: no partition reassignment is in progress", kerr.NoReassignmentInProgress)
	}
	replicas := without(p.Replicas, p.AddingReplicas)
	isr := without(p.ISR, p.AddingReplicas)
	mode := electOnline
	if uncleanAllowed {
		mode = electUnclean
	}
	if len(isr) == 0 {
		if !uncleanAllowed {
			return partitionDecision{}, fmt.Errorf("%w: reverting the reassignment would require an unclean leader election", kerr.InvalidReplicaAssignment)
		}
		isr = []int32{replicas[0]}
	}
	return decide(p, isr, &assignment{Replicas: replicas, Adding: []int32{}, Removing: []int32{}},
		acceptableLeader(usable, NoLeader), mode), nil
}

// ListPartitionReassignments lists the reassignments in progress (Kafka's
// ReplicationControlManager.listPartitionReassignments): of every
// partition when topics is nil, else of the named partitions that are
// reassigning; unknown topics and partitions are left out. Sorted by topic
// and partition.
func (c *Controller) ListPartitionReassignments(topics []TopicPartitions) ([]OngoingReassignment, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return nil, err
	}
	return ongoingReassignments(c.Image(), topics), nil
}

func ongoingReassignments(img *Image, topics []TopicPartitions) []OngoingReassignment {
	wanted := map[string]map[int32]bool{}
	if topics == nil {
		for name, t := range img.Topics {
			wanted[name] = map[int32]bool{}
			for i := range t.Partitions {
				wanted[name][int32(i)] = true
			}
		}
	} else {
		for _, tp := range topics {
			if wanted[tp.Topic] == nil {
				wanted[tp.Topic] = map[int32]bool{}
			}
			for _, p := range tp.Partitions {
				wanted[tp.Topic][p] = true
			}
		}
	}
	var out []OngoingReassignment
	for _, name := range slices.Sorted(maps.Keys(wanted)) {
		t, ok := img.Topics[name]
		if !ok {
			continue
		}
		for _, i := range slices.Sorted(maps.Keys(wanted[name])) {
			if i < 0 || int(i) >= len(t.Partitions) || !t.Partitions[i].IsReassigning() {
				continue
			}
			p := t.Partitions[i]
			out = append(out, OngoingReassignment{
				Topic: name, Partition: i, Replicas: slices.Clone(p.Replicas),
				AddingReplicas: nonNil(slices.Clone(p.AddingReplicas)), RemovingReplicas: nonNil(slices.Clone(p.RemovingReplicas)),
			})
		}
	}
	return out
}

// nonNil returns ids, or an empty slice for nil: a record's empty set
// clears, its nil leaves alone, and Kafka lists an empty set as [].
func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}
