package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// AlterPartitionRequest is a partition leader asking the controller to
// change ISRs (Kafka's AlterPartitionRequest v2+: topics by ID, KIP-841;
// NewIsrWithEpochs, KIP-903).
type AlterPartitionRequest struct {
	// BrokerID and BrokerEpoch name the leader's incarnation.
	BrokerID    int32
	BrokerEpoch int64
	Topics      []AlterPartitionTopic
}

// AlterPartitionTopic is one topic of an AlterPartitionRequest.
type AlterPartitionTopic struct {
	TopicID    [16]byte
	Partitions []AlterPartitionProposal
}

// AlterPartitionProposal is the ISR the leader proposes for one partition,
// with the epochs of the partition state it based the proposal on.
type AlterPartitionProposal struct {
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	NewISR         []ISRMember
}

// ISRMember is one replica of a proposed ISR.
type ISRMember struct {
	BrokerID int32
	// BrokerEpoch is the member's broker epoch as the leader saw it in the
	// member's fetches; -1 skips the check (requests before v3 carry none).
	BrokerEpoch int64
}

// AlterPartitionResult is the outcome for one proposal, in request order.
// On success it carries the partition state after the change (or the
// current state when the proposal changed nothing).
type AlterPartitionResult struct {
	TopicID        [16]byte
	Partition      int32
	Err            error
	Leader         int32
	ISR            []int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// AlterPartition applies ISR changes proposed by partition leaders (Kafka's
// ReplicationControlManager.alterPartition). The returned error concerns the
// whole request, as the response's top-level error code does: the node is
// not the active controller (NOT_CONTROLLER), the leader's incarnation is
// not the registered one (STALE_BROKER_EPOCH), or the change could not be
// committed. Otherwise each proposal gets its own result, see
// validateAlterPartition for the checks. The accepted changes are committed
// in one entry; each bumps the partition epoch and keeps the leader epoch.
func (c *Controller) AlterPartition(ctx context.Context, req AlterPartitionRequest) ([]AlterPartitionResult, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.checkActiveLocked(); err != nil {
		return nil, err
	}
	img := c.Image()
	if err := checkBrokerEpoch(img, req.BrokerID, req.BrokerEpoch); err != nil {
		return nil, err
	}
	usable, _ := c.lifecycle.view(img, c.cfg.Now())
	unclean := c.uncleanPolicy(img)
	type key struct {
		id [16]byte
		p  int32
	}
	seen := map[key]bool{}
	var results []AlterPartitionResult
	var recs []Record
	var accepted []int
	for _, t := range req.Topics {
		topic := img.TopicsByID[t.TopicID]
		for _, prop := range t.Partitions {
			res := AlterPartitionResult{TopicID: t.TopicID, Partition: prop.Partition, Leader: NoLeader}
			k := key{t.TopicID, prop.Partition}
			switch {
			case topic == nil:
				res.Err = fmt.Errorf("%w: topic ID %s", kerr.UnknownTopicID, formatUUID(t.TopicID))
			case prop.Partition < 0 || int(prop.Partition) >= len(topic.Partitions):
				res.Err = fmt.Errorf("%w: partition %s-%d", kerr.UnknownTopicOrPartition, topic.Name, prop.Partition)
			case seen[k]:
				res.Err = fmt.Errorf("%w: partition %s-%d is named twice", kerr.InvalidRequest, topic.Name, prop.Partition)
			default:
				p := topic.Partitions[prop.Partition]
				res.Err = validateAlterPartition(img, p, req.BrokerID, prop, usable)
				if res.Err != nil {
					res.Err = fmt.Errorf("partition %s-%d: %w", topic.Name, prop.Partition, res.Err)
					// Kafka logs every rejection: a leader stuck on one
					// means its ISR view disagrees with the controller's.
					c.logger.Info("rejected AlterPartition", slog.Int("node.id", int(req.BrokerID)), slog.Any("err", res.Err))
					break
				}
				rec, changed := alterPartitionChange(t.TopicID, prop.Partition, p, isrIDs(prop.NewISR), usable, unclean(topic.Name))
				if changed {
					recs = append(recs, rec)
				}
				if changed && rec.Leader != NoLeaderChange && rec.Leader != req.BrokerID {
					// Kafka's alterPartition: the ISR change completed a
					// reassignment that moved leadership off the sender. The
					// change is committed, and the sender is told to wait for
					// the metadata that says so.
					res.Err = fmt.Errorf("%w: partition %s-%d completed its reassignment; broker %d no longer leads it",
						kerr.NewLeaderElected, topic.Name, prop.Partition, req.BrokerID)
					c.logger.Info("AlterPartition completed a reassignment and moved leadership",
						slog.String("topic", topic.Name), slog.Int("partition", int(prop.Partition)),
						slog.Int("old_leader", int(req.BrokerID)), slog.Int("new_leader", int(rec.Leader)))
					break
				}
				accepted = append(accepted, len(results))
			}
			seen[k] = true
			results = append(results, res)
		}
	}
	if len(recs) > 0 {
		if err := c.proposeLocked(ctx, recs); err != nil {
			return nil, fmt.Errorf("alter partitions for broker %d: %w", req.BrokerID, err)
		}
		logPartitionChanges(c.logger, fmt.Sprintf("AlterPartition from broker %d", req.BrokerID), img, c.Image(), recs)
	}
	after := c.Image()
	for _, i := range accepted {
		res := &results[i]
		p := after.TopicsByID[res.TopicID].Partitions[res.Partition]
		res.Leader, res.ISR = p.Leader, slices.Clone(p.ISR)
		res.LeaderEpoch, res.PartitionEpoch = p.LeaderEpoch, p.PartitionEpoch
	}
	return results, nil
}

// validateAlterPartition checks one proposal from broker against the
// partition's current state, in the order of Kafka's
// validateAlterPartitionData:
//
//   - epochs ahead of the controller's: NOT_CONTROLLER (this controller is
//     behind, the leader should find the active one);
//   - an older leader epoch: FENCED_LEADER_EPOCH;
//   - a sender that is not the leader: INVALID_REQUEST;
//   - an older partition epoch: INVALID_UPDATE_VERSION (the state changed
//     since the leader read it);
//   - an ISR that is empty, names a broker twice or outside the replicas,
//     or leaves out the leader: INVALID_REQUEST;
//   - an ISR member that is not registered, fenced, in controlled shutdown,
//     or of another incarnation than the leader saw: INELIGIBLE_REPLICA
//     (KIP-841, KIP-903).
func validateAlterPartition(img *Image, p PartitionImage, broker int32, prop AlterPartitionProposal, usable usableBrokers) error {
	switch {
	case prop.LeaderEpoch > p.LeaderEpoch:
		return fmt.Errorf("%w: leader epoch %d is newer than the controller's %d", kerr.NotController, prop.LeaderEpoch, p.LeaderEpoch)
	case prop.PartitionEpoch > p.PartitionEpoch:
		return fmt.Errorf("%w: partition epoch %d is newer than the controller's %d", kerr.NotController, prop.PartitionEpoch, p.PartitionEpoch)
	case prop.LeaderEpoch < p.LeaderEpoch:
		return fmt.Errorf("%w: leader epoch %d, current %d", kerr.FencedLeaderEpoch, prop.LeaderEpoch, p.LeaderEpoch)
	case broker != p.Leader:
		return fmt.Errorf("%w: broker %d is not the leader (%d)", kerr.InvalidRequest, broker, p.Leader)
	case prop.PartitionEpoch < p.PartitionEpoch:
		return fmt.Errorf("%w: partition epoch %d, current %d", kerr.InvalidUpdateVersion, prop.PartitionEpoch, p.PartitionEpoch)
	}
	isr := isrIDs(prop.NewISR)
	if len(isr) == 0 {
		return fmt.Errorf("%w: the proposed ISR is empty", kerr.InvalidRequest)
	}
	for i, id := range isr {
		if !p.HasReplica(id) {
			return fmt.Errorf("%w: proposed ISR %v names broker %d, which is not a replica %v", kerr.InvalidRequest, isr, id, p.Replicas)
		}
		if slices.Contains(isr[:i], id) {
			return fmt.Errorf("%w: proposed ISR %v names broker %d twice", kerr.InvalidRequest, isr, id)
		}
	}
	if !slices.Contains(isr, p.Leader) {
		return fmt.Errorf("%w: proposed ISR %v leaves out the leader %d", kerr.InvalidRequest, isr, p.Leader)
	}
	for _, m := range prop.NewISR {
		b, ok := img.Brokers[m.BrokerID]
		var why string
		switch {
		case !ok:
			why = "not registered"
		case b.Fenced:
			why = "fenced"
		case !usable[m.BrokerID]:
			why = "shutting down"
		case m.BrokerEpoch != -1 && m.BrokerEpoch != b.Epoch:
			why = fmt.Sprintf("broker epoch %d, registered %d", m.BrokerEpoch, b.Epoch)
		default:
			continue
		}
		return fmt.Errorf("%w: broker %d in the proposed ISR %v is %s", kerr.IneligibleReplica, m.BrokerID, isr, why)
	}
	return nil
}

// alterPartitionChange is the record an accepted proposal commits, if any.
// For a partition that is not reassigning it sets the ISR and nothing else.
// For one that is, it is Kafka's PartitionChangeBuilder with the proposed
// ISR as target: an ISR holding every target replica completes the
// reassignment (KIP-455), which may drop replicas, bump the leader epoch
// and, when the leader is being removed, elect the first target replica in
// the ISR.
func alterPartitionChange(topicID [16]byte, partition int32, p PartitionImage, isr []int32, usable usableBrokers, unclean bool) (PartitionChangeRecord, bool) {
	if !p.IsReassigning() {
		if slices.Equal(isr, p.ISR) {
			return PartitionChangeRecord{}, false
		}
		return PartitionChangeRecord{TopicID: topicID, Partition: partition, ISR: isr, Leader: NoLeaderChange}, true
	}
	mode := electOnline
	if unclean {
		mode = electUnclean
	}
	return decide(p, isr, nil, acceptableLeader(usable, NoLeader), mode).changeRecord(topicID, partition, p)
}

func isrIDs(members []ISRMember) []int32 {
	ids := make([]int32, len(members))
	for i, m := range members {
		ids[i] = m.BrokerID
	}
	return ids
}
