package node

import (
	"log/slog"
	"time"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/group"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// newGroupCoordinator builds the group coordinator from the group.* and
// offsets.* settings (Kafka's GroupCoordinatorConfig).
func newGroupCoordinator(cfg *config.Broker, replicas *replica.Manager, ctrl *controller.Controller, codecs *record.Codecs, logger *slog.Logger) *group.Coordinator {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	return group.NewCoordinator(group.Config{
		NodeID:                 cfg.NodeID,
		Replicas:               replicas,
		Codecs:                 codecs,
		NumPartitions:          cfg.OffsetsTopicNumPartitions,
		Logger:                 logger.With(slog.String("component", "group")),
		Now:                    time.Now,
		MinSessionTimeout:      ms(int64(cfg.GroupMinSessionTimeoutMs)),
		MaxSessionTimeout:      ms(int64(cfg.GroupMaxSessionTimeoutMs)),
		InitialRebalanceDelay:  ms(int64(cfg.GroupInitialRebalanceDelayMs)),
		MaxSize:                int(cfg.GroupMaxSize),
		OffsetsRetention:       time.Duration(cfg.OffsetsRetentionMinutes) * time.Minute,
		OffsetsRetentionCheck:  ms(cfg.OffsetsRetentionCheckIntervalMs),
		OffsetMetadataMaxBytes: int(cfg.OffsetMetadataMaxBytes),
		OffsetCommitTimeout:    ms(int64(cfg.OffsetsCommitTimeoutMs)),
		// KIP-848 consumer groups.
		ConsumerHeartbeatInterval: ms(int64(cfg.GroupConsumerHeartbeatIntervalMs)),
		ConsumerSessionTimeout:    ms(int64(cfg.GroupConsumerSessionTimeoutMs)),
		ConsumerMaxSize:           int(cfg.GroupConsumerMaxSize),
		// Kafka's KafkaApis answers commits for unknown topics or
		// partitions with UNKNOWN_TOPIC_OR_PARTITION from its metadata
		// cache before the coordinator sees them.
		TopicExists: func(topic string, partition int32) bool {
			_, ok := ctrl.Image().Partition(topic, partition)
			return ok
		},
	})
}

// applyGroupRoles tells the group coordinator which __consumer_offsets
// partitions this node leads, after applyDelta has applied the delta's
// partition states to the replica manager (Kafka's
// BrokerMetadataPublisher.updateCoordinator: onElection for partitions
// led, onResignation for the ones followed or deleted). A partition counts
// as led only once the replica manager holds it as leader at the delta's
// leader epoch, so the coordinator never loads from a log that is not
// ready. The first delta after Subscribe covers every partition of the
// image, so partitions led at start-up are elected too.
//
// offsetsLeads remembers what the coordinator was told; it is touched only
// here, on the metadata apply path, which runs one delta at a time.
func (n *Node) applyGroupRoles(d *controller.Delta) {
	var deleted []string
	for _, dt := range d.DeletedTopics() {
		if dt.Name != group.OffsetsTopic {
			deleted = append(deleted, dt.Name)
			continue
		}
		// A negative epoch resigns whatever epoch the coordinator holds:
		// the partitions are gone.
		for p := range n.offsetsLeads {
			n.resignOffsetsPartition(p, -1)
		}
	}
	if len(deleted) > 0 {
		// Kafka drops the committed offsets of a deleted topic, so a topic
		// created again under the same name starts with none.
		n.groups.OnTopicsDeleted(deleted)
	}
	for _, pc := range d.ChangedPartitions() {
		if pc.Topic != group.OffsetsTopic {
			continue
		}
		p, epoch := pc.Partition, pc.New.LeaderEpoch
		if n.leadsLocally(plog.TopicPartition{Topic: pc.Topic, Partition: p}, pc.New) {
			if led, ok := n.offsetsLeads[p]; !ok || led != epoch {
				n.offsetsLeads[p] = epoch
				n.groups.Elect(p, epoch)
			}
			continue
		}
		if _, ok := n.offsetsLeads[p]; ok {
			n.resignOffsetsPartition(p, epoch)
		}
	}
}

// resignOffsetsPartition tells the coordinator this node stopped leading
// partition p; epoch is the leader epoch at which it stopped, -1 when the
// topic was deleted.
func (n *Node) resignOffsetsPartition(p, epoch int32) {
	delete(n.offsetsLeads, p)
	n.groups.Resign(p, epoch)
}

// leadsLocally reports whether this node leads tp at the image's leader
// epoch and its replica manager has applied that state.
func (n *Node) leadsLocally(tp plog.TopicPartition, pi controller.PartitionImage) bool {
	if pi.Leader != n.cfg.NodeID {
		return false
	}
	part, ok := n.replicas.Partition(tp)
	if !ok {
		return false
	}
	st := part.State()
	return st.Leader == n.cfg.NodeID && st.LeaderEpoch == pi.LeaderEpoch
}
