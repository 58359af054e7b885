package controller

import (
	"context"
	"log/slog"
	"slices"
)

// Leader elections and controller-driven ISR and assignment changes, as
// Kafka's KRaft controller makes them (ReplicationControlManager and
// PartitionChangeBuilder, without ELR). Everything in this file is a pure
// function of the image and of which brokers may take part: no I/O, no
// clock, no locks, so the tests are tables.

// usableBrokers is the set of brokers that may lead a partition or join an
// ISR: registered, unfenced and not in controlled shutdown (Kafka's
// ClusterControlManager.isActive).
type usableBrokers map[int32]bool

// uncleanPolicy reports whether unclean.leader.election.enable is in force
// for a topic.
type uncleanPolicy func(topic string) bool

// noUnclean is the policy that never allows an unclean election.
func noUnclean(string) bool { return false }

// electionMode is how a change picks the leader (Kafka's
// PartitionChangeBuilder.Election).
type electionMode uint8

const (
	// electOnline keeps the current leader if it may still lead, else
	// elects the first ISR member in replica order that may.
	electOnline electionMode = iota
	// electPreferred elects the first replica if it may lead, else falls
	// back to electOnline.
	electPreferred
	// electUnclean is electOnline, and, if no ISR member may lead, the
	// first replica that may, alone in the ISR (records may be lost).
	electUnclean
)

// assignment is a partition's replicas and reassignment sets.
type assignment struct {
	Replicas, Adding, Removing []int32
}

// partitionDecision is what one partition becomes: the target ISR and
// leader (unchanged values included), whether the leader was elected from
// outside the ISR, and, when the assignment changes (a reassignment starts,
// completes or is cancelled), the new assignment; nil when it does not.
type partitionDecision struct {
	ISR        []int32
	Leader     int32
	Unclean    bool
	Assignment *assignment
}

// decidePartition computes a partition's ISR and leader once broker remove
// (NoLeader: none) leaves it, following Kafka's PartitionChangeBuilder:
//
//   - remove leaves the ISR, unless it is the last member: without ELR
//     (KIP-966) Kafka never empties an ISR, so the last member stays and the
//     partition is offline until it comes back.
//   - A reassignment the new ISR completes is completed (decide).
//   - The current leader stays if it is still in the ISR and usable.
//     Otherwise the first replica, in Replicas order (preferred replica
//     first), that is in the ISR and usable leads (a clean election).
//   - If none is, and unclean is set, the first usable replica leads and the
//     ISR becomes just that replica: records acknowledged by the old ISR may
//     be lost. Otherwise the leader is NoLeader.
func decidePartition(p PartitionImage, remove int32, usable usableBrokers, unclean bool) partitionDecision {
	isr := p.ISR
	if remove != NoLeader && slices.Contains(isr, remove) && len(isr) > 1 {
		isr = slices.DeleteFunc(slices.Clone(isr), func(id int32) bool { return id == remove })
	}
	mode := electOnline
	if unclean {
		mode = electUnclean
	}
	return decide(p, isr, nil, acceptableLeader(usable, remove), mode)
}

// acceptableLeader is the rule for who may lead or stay leader: a usable
// broker other than remove.
func acceptableLeader(usable usableBrokers, remove int32) func(int32) bool {
	return func(id int32) bool { return id != remove && id >= 0 && usable[id] }
}

// decide is Kafka's PartitionChangeBuilder.build: the partition moves to
// the target ISR and, when asg is not nil, the target assignment; a
// reassignment that the target ISR completes is completed
// (completeReassignment); then the leader is elected by mode among the
// brokers acceptable says may lead.
func decide(p PartitionImage, isr []int32, asg *assignment, acceptable func(int32) bool, mode electionMode) partitionDecision {
	target := assignment{Replicas: p.Replicas, Adding: p.AddingReplicas, Removing: p.RemovingReplicas}
	if asg != nil {
		target = *asg
	}
	if done, doneISR, ok := completeReassignment(target, isr); ok {
		target, isr, asg = done, doneISR, &done
	}
	d := partitionDecision{ISR: isr, Leader: NoLeader, Assignment: asg}
	valid := func(id int32) bool { return slices.Contains(isr, id) && acceptable(id) }
	switch {
	case mode == electPreferred && len(target.Replicas) > 0 && valid(target.Replicas[0]):
		d.Leader = target.Replicas[0]
		return d
	case p.Leader != NoLeader && valid(p.Leader):
		d.Leader = p.Leader
		return d
	}
	for _, id := range target.Replicas {
		if valid(id) {
			d.Leader = id
			return d
		}
	}
	if mode == electUnclean {
		for _, id := range target.Replicas {
			if acceptable(id) {
				d.ISR, d.Leader, d.Unclean = []int32{id}, id, true
				return d
			}
		}
	}
	return d
}

// completeReassignment is Kafka's
// PartitionReassignmentReplicas.maybeCompleteReassignment: a reassignment
// is complete once the ISR, without the replicas being removed, holds every
// target replica. The partition then has the target replicas, in target
// order, the ISR without the removed replicas, and no reassignment sets.
// The removed replicas need not have caught up: only the target replicas'
// ISR membership matters, so a reassignment away from a dead broker
// completes.
func completeReassignment(a assignment, isr []int32) (assignment, []int32, bool) {
	if len(a.Adding) == 0 && len(a.Removing) == 0 {
		return assignment{}, nil, false
	}
	newISR, replicas := isr, a.Replicas
	if len(a.Removing) > 0 {
		newISR, replicas = without(isr, a.Removing), without(a.Replicas, a.Removing)
		if len(newISR) == 0 || len(replicas) == 0 {
			return assignment{}, nil, false
		}
	}
	for _, id := range replicas {
		if !slices.Contains(newISR, id) {
			return assignment{}, nil, false
		}
	}
	return assignment{Replicas: slices.Clone(replicas), Adding: []int32{}, Removing: []int32{}}, slices.Clone(newISR), true
}

// changeRecord turns a decision into the PartitionChangeRecord that makes
// it, or reports false when nothing changes. A new leader bumps the leader
// epoch when applied; an ISR-only change does not (Kafka 3.6+, KAFKA-15021).
// A new assignment that drops a replica bumps the leader epoch even when
// the leader stays (Kafka's
// triggerLeaderEpochBumpForReplicaReassignmentIfNeeded), so the removed
// replica's fetches at the old epoch are fenced.
func (d partitionDecision) changeRecord(topicID [16]byte, partition int32, p PartitionImage) (PartitionChangeRecord, bool) {
	rec := PartitionChangeRecord{TopicID: topicID, Partition: partition, Leader: NoLeaderChange}
	changed := false
	if !slices.Equal(d.ISR, p.ISR) {
		rec.ISR = slices.Clone(d.ISR)
		changed = true
	}
	if d.Leader != p.Leader {
		rec.Leader = d.Leader
		changed = true
	}
	if a := d.Assignment; a != nil {
		if !slices.Equal(a.Replicas, p.Replicas) {
			rec.Replicas = slices.Clone(a.Replicas)
			changed = true
			if rec.Leader == NoLeaderChange && slices.ContainsFunc(p.Replicas, func(id int32) bool { return !slices.Contains(a.Replicas, id) }) {
				rec.Leader = p.Leader
			}
		}
		// Empty and nil are the same set here; the record's empty slice
		// clears it, its nil leaves it.
		if !slices.Equal(reassignmentSet(a.Adding), p.AddingReplicas) {
			rec.AddingReplicas = append([]int32{}, a.Adding...)
			changed = true
		}
		if !slices.Equal(reassignmentSet(a.Removing), p.RemovingReplicas) {
			rec.RemovingReplicas = append([]int32{}, a.Removing...)
			changed = true
		}
	}
	return rec, changed
}

// partitionChangesFor walks every partition (topics by name, partitions in
// order, so the records are deterministic) that match selects, and returns
// the records that move it to its decision with broker remove leaving.
func partitionChangesFor(img *Image, remove int32, usable usableBrokers, unclean uncleanPolicy,
	selects func(PartitionImage) bool) []Record {
	// Sort only the topics concerned: the session checker runs this over
	// the whole image every tick, and usually nothing matches.
	var names []string
	for name, t := range img.Topics {
		if slices.ContainsFunc(t.Partitions, selects) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var recs []Record
	for _, name := range names {
		t := img.Topics[name]
		for i, p := range t.Partitions {
			if !selects(p) {
				continue
			}
			d := decidePartition(p, remove, usable, unclean(name))
			if rec, ok := d.changeRecord(t.ID, int32(i), p); ok {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// brokerRemovalRecords takes broker id out of every leadership and ISR it
// holds (Kafka's generateLeaderAndIsrUpdates with brokerToRemove): partitions
// it led get a new leader from the rest of the ISR, or none.
func brokerRemovalRecords(img *Image, id int32, usable usableBrokers, unclean uncleanPolicy) []Record {
	without := withoutBroker(usable, id)
	return partitionChangesFor(img, id, without, unclean, func(p PartitionImage) bool {
		return p.Leader == id || p.InISR(id)
	})
}

// leaderlessElectionRecords elects a leader for every partition that has
// none and now can have one (Kafka's handleBrokerUnfenced over
// partitionsWithNoLeader, and its periodic unclean election).
func leaderlessElectionRecords(img *Image, usable usableBrokers, unclean uncleanPolicy) []Record {
	return partitionChangesFor(img, NoLeader, usable, unclean, func(p PartitionImage) bool {
		return p.Leader == NoLeader
	})
}

// fenceBrokerRecords fences broker id (Kafka's handleBrokerFenced): it
// leaves every leadership and ISR first, then its registration is fenced.
func fenceBrokerRecords(img *Image, id int32, usable usableBrokers, unclean uncleanPolicy) []Record {
	b, ok := img.Brokers[id]
	if !ok {
		return nil
	}
	recs := brokerRemovalRecords(img, id, usable, unclean)
	return append(recs, FenceBrokerRecord{NodeID: id, Epoch: b.Epoch})
}

// unfenceBrokerRecords unfences broker id (Kafka's handleBrokerUnfenced)
// and lets it lead the leaderless partitions whose ISR it is in.
func unfenceBrokerRecords(img *Image, id int32, usable usableBrokers, unclean uncleanPolicy) []Record {
	b, ok := img.Brokers[id]
	if !ok {
		return nil
	}
	with := withBroker(usable, id)
	recs := []Record{UnfenceBrokerRecord{NodeID: id, Epoch: b.Epoch}}
	return append(recs, leaderlessElectionRecords(img, with, unclean)...)
}

// controlledShutdownRecords moves broker id's leaderships away and takes it
// out of every ISR it is not the last member of (Kafka's
// handleBrokerInControlledShutdown; KIP-841 has the controller do the ISR
// part itself).
func controlledShutdownRecords(img *Image, id int32, usable usableBrokers, unclean uncleanPolicy) []Record {
	return brokerRemovalRecords(img, id, usable, unclean)
}

// unregisterBrokerRecords removes broker id's registration (Kafka's
// handleBrokerUnregistered): its partitions change as if it were fenced.
func unregisterBrokerRecords(img *Image, id int32, usable usableBrokers, unclean uncleanPolicy) []Record {
	b, ok := img.Brokers[id]
	if !ok {
		return nil
	}
	recs := brokerRemovalRecords(img, id, usable, unclean)
	return append(recs, UnregisterBrokerRecord{NodeID: id, Epoch: b.Epoch})
}

// leadsAny reports whether broker id leads at least one partition (Kafka's
// BrokersToIsrs.hasLeaderships).
func leadsAny(img *Image, id int32) bool {
	for _, t := range img.Topics {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

func withoutBroker(usable usableBrokers, id int32) usableBrokers {
	if !usable[id] {
		return usable
	}
	out := make(usableBrokers, len(usable))
	for b, ok := range usable {
		if ok && b != id {
			out[b] = true
		}
	}
	return out
}

func withBroker(usable usableBrokers, id int32) usableBrokers {
	if usable[id] {
		return usable
	}
	out := make(usableBrokers, len(usable)+1)
	for b, ok := range usable {
		if ok {
			out[b] = true
		}
	}
	out[id] = true
	return out
}

// logPartitionChanges logs every partition the records changed, old against
// new image: WARN when a partition loses its leader, gets an unclean leader
// or its ISR shrinks (operators act on those), INFO otherwise.
func logPartitionChanges(logger *slog.Logger, reason string, old, new *Image, recs []Record) {
	for _, r := range recs {
		ch, ok := r.(PartitionChangeRecord)
		if !ok {
			continue
		}
		ot, nt := old.TopicsByID[ch.TopicID], new.TopicsByID[ch.TopicID]
		if ot == nil || nt == nil || int(ch.Partition) >= len(ot.Partitions) || int(ch.Partition) >= len(nt.Partitions) {
			continue
		}
		op, np := ot.Partitions[ch.Partition], nt.Partitions[ch.Partition]
		unclean := np.Leader != NoLeader && np.Leader != op.Leader && !op.InISR(np.Leader)
		level, msg := slog.LevelInfo, "partition changed"
		switch {
		case unclean:
			level, msg = slog.LevelWarn, "unclean leader election: records acknowledged by the old ISR may be lost"
		case np.Leader == NoLeader && op.Leader != NoLeader:
			level, msg = slog.LevelWarn, "partition offline: no ISR member can lead"
		case np.IsReassigning() && !op.IsReassigning():
			msg = "started partition reassignment"
		case !np.IsReassigning() && op.IsReassigning():
			msg = "finished partition reassignment"
		case np.IsReassigning() && !slices.Equal(np.Replicas, op.Replicas):
			msg = "changed partition reassignment"
		case np.Leader != op.Leader:
			msg = "elected partition leader"
		case len(np.ISR) < len(op.ISR):
			level, msg = slog.LevelWarn, "shrank ISR"
		case len(np.ISR) > len(op.ISR):
			msg = "expanded ISR"
		}
		attrs := []any{
			slog.String("reason", reason), slog.String("topic", nt.Name), slog.Int("partition", int(ch.Partition)),
			slog.Int("old_leader", int(op.Leader)), slog.Int("new_leader", int(np.Leader)),
			slog.Int("old_leader_epoch", int(op.LeaderEpoch)), slog.Int("new_leader_epoch", int(np.LeaderEpoch)),
			slog.Any("old_isr", op.ISR), slog.Any("new_isr", np.ISR),
			slog.Int("partition_epoch", int(np.PartitionEpoch)),
		}
		if !slices.Equal(np.Replicas, op.Replicas) || np.IsReassigning() || op.IsReassigning() {
			attrs = append(attrs, slog.Any("old_replicas", op.Replicas), slog.Any("new_replicas", np.Replicas),
				slog.Any("adding_replicas", np.AddingReplicas), slog.Any("removing_replicas", np.RemovingReplicas))
		}
		logger.Log(context.Background(), level, msg, attrs...)
	}
}
