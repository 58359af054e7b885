package controller

import (
	"context"
	"log/slog"
	"slices"
)

// Leader elections and controller-driven ISR changes, as Kafka's KRaft
// controller makes them (ReplicationControlManager.generateLeaderAndIsrUpdates
// and PartitionChangeBuilder, without ELR and reassignments). Everything in
// this file is a pure function of the image and of which brokers may take
// part: no I/O, no clock, no locks, so the tests are tables.

// usableBrokers is the set of brokers that may lead a partition or join an
// ISR: registered, unfenced and not in controlled shutdown (Kafka's
// ClusterControlManager.isActive).
type usableBrokers map[int32]bool

// uncleanPolicy reports whether unclean.leader.election.enable is in force
// for a topic.
type uncleanPolicy func(topic string) bool

// noUnclean is the policy that never allows an unclean election.
func noUnclean(string) bool { return false }

// partitionDecision is what one partition becomes: the target ISR and
// leader (unchanged values included), and whether the leader was elected
// from outside the ISR.
type partitionDecision struct {
	ISR     []int32
	Leader  int32
	Unclean bool
}

// decidePartition computes a partition's ISR and leader once broker remove
// (NoLeader: none) leaves it, following Kafka's PartitionChangeBuilder:
//
//   - remove leaves the ISR, unless it is the last member: without ELR
//     (KIP-966) Kafka never empties an ISR, so the last member stays and the
//     partition is offline until it comes back.
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
	acceptable := func(id int32) bool { return id != remove && id >= 0 && usable[id] }
	if p.Leader != NoLeader && slices.Contains(isr, p.Leader) && acceptable(p.Leader) {
		return partitionDecision{ISR: isr, Leader: p.Leader}
	}
	for _, id := range p.Replicas {
		if slices.Contains(isr, id) && acceptable(id) {
			return partitionDecision{ISR: isr, Leader: id}
		}
	}
	if unclean {
		for _, id := range p.Replicas {
			if acceptable(id) {
				return partitionDecision{ISR: []int32{id}, Leader: id, Unclean: true}
			}
		}
	}
	return partitionDecision{ISR: isr, Leader: NoLeader}
}

// changeRecord turns a decision into the PartitionChangeRecord that makes
// it, or reports false when nothing changes. A new leader bumps the leader
// epoch when applied; an ISR-only change does not (Kafka 3.6+, KAFKA-15021).
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
		case np.Leader != op.Leader:
			msg = "elected partition leader"
		case len(np.ISR) < len(op.ISR):
			level, msg = slog.LevelWarn, "shrank ISR"
		case len(np.ISR) > len(op.ISR):
			msg = "expanded ISR"
		}
		logger.Log(context.Background(), level, msg,
			slog.String("reason", reason), slog.String("topic", nt.Name), slog.Int("partition", int(ch.Partition)),
			slog.Int("old_leader", int(op.Leader)), slog.Int("new_leader", int(np.Leader)),
			slog.Int("old_leader_epoch", int(op.LeaderEpoch)), slog.Int("new_leader_epoch", int(np.LeaderEpoch)),
			slog.Any("old_isr", op.ISR), slog.Any("new_isr", np.ISR),
			slog.Int("partition_epoch", int(np.PartitionEpoch)))
	}
}
