package controller

import (
	"cmp"
	"encoding/base64"
	"maps"
	"slices"
)

// Delta is what one committed change did to the image (Kafka's
// MetadataDelta): brokers react to it instead of diffing images themselves.
// All lists are sorted (topics by name, then partition; brokers and config
// resources by ID/name) so reactions are deterministic.
type Delta struct {
	Old, New *Image

	partitions    []PartitionChange
	deletedTopics []DeletedTopic
	configs       []ConfigResource
	brokers       []BrokerChange
}

// PartitionChange is one created or changed partition.
type PartitionChange struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
	Old       *PartitionImage // nil when created
	New       PartitionImage
}

// DeletedTopic is one deleted topic.
type DeletedTopic struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// BrokerChange is one broker registration change; Old is nil for a new
// registration, New nil for an unregistered broker.
type BrokerChange struct {
	NodeID int32
	Old    *BrokerInfo
	New    *BrokerInfo
}

// newDelta compares old and new for the topics, brokers and config resources
// a batch touched. Comparing images rather than replaying records keeps the
// delta right when a batch changes one thing several times.
func newDelta(old, new *Image, topics map[[16]byte]bool, brokers map[int32]bool, configs map[ConfigResource]bool) *Delta {
	d := &Delta{Old: old, New: new}
	for id := range topics {
		o, n := old.TopicsByID[id], new.TopicsByID[id]
		if o != nil && n == nil {
			d.deletedTopics = append(d.deletedTopics, DeletedTopic{Name: o.Name, ID: id, Partitions: int32(len(o.Partitions))})
		}
		if n == nil {
			continue
		}
		for i, np := range n.Partitions {
			c := PartitionChange{Topic: n.Name, TopicID: id, Partition: int32(i), New: np}
			if o != nil && i < len(o.Partitions) {
				op := o.Partitions[i]
				if op.Equal(np) {
					continue
				}
				c.Old = &op
			}
			d.partitions = append(d.partitions, c)
		}
	}
	for id := range brokers {
		o, hadOld := old.Brokers[id]
		n, hasNew := new.Brokers[id]
		c := BrokerChange{NodeID: id}
		if hadOld {
			c.Old = &o
		}
		if hasNew {
			c.New = &n
		}
		if hadOld && hasNew && brokerInfoEqual(o, n) || !hadOld && !hasNew {
			continue
		}
		d.brokers = append(d.brokers, c)
	}
	for r := range configs {
		if !maps.Equal(old.Configs[r], new.Configs[r]) {
			d.configs = append(d.configs, r)
		}
	}
	slices.SortFunc(d.partitions, func(a, b PartitionChange) int {
		if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	slices.SortFunc(d.deletedTopics, func(a, b DeletedTopic) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(d.brokers, func(a, b BrokerChange) int { return cmp.Compare(a.NodeID, b.NodeID) })
	slices.SortFunc(d.configs, compareConfigResource)
	return d
}

// diffImages describes everything that differs between two unrelated
// images, e.g. across a snapshot restore. From the empty image it is what a
// subscriber that starts late must learn first (Kafka's publishers get the
// same on their first load).
func diffImages(old, new *Image) *Delta {
	topics := map[[16]byte]bool{}
	brokers := map[int32]bool{}
	configs := map[ConfigResource]bool{}
	for _, img := range []*Image{old, new} {
		for id := range img.TopicsByID {
			topics[id] = true
		}
		for id := range img.Brokers {
			brokers[id] = true
		}
		for r := range img.Configs {
			configs[r] = true
		}
	}
	return newDelta(old, new, topics, brokers, configs)
}

func brokerInfoEqual(a, b BrokerInfo) bool {
	return a.NodeID == b.NodeID && a.Epoch == b.Epoch && a.IncarnationID == b.IncarnationID &&
		a.Rack == b.Rack && a.Fenced == b.Fenced && slices.Equal(a.Listeners, b.Listeners)
}

// ChangedPartitions lists created and changed partitions, sorted by topic
// name and partition; PartitionChange.Old is nil for a created one.
func (d *Delta) ChangedPartitions() []PartitionChange { return d.partitions }

// DeletedTopics lists the topics that existed in Old and not in New, sorted
// by name.
func (d *Delta) DeletedTopics() []DeletedTopic { return d.deletedTopics }

// ChangedConfigs lists the config resources whose overrides changed.
func (d *Delta) ChangedConfigs() []ConfigResource { return d.configs }

// ConfigsChanged reports whether any config override changed.
func (d *Delta) ConfigsChanged() bool { return len(d.configs) > 0 }

// ChangedBrokers lists broker registrations created, changed or removed,
// sorted by node ID.
func (d *Delta) ChangedBrokers() []BrokerChange { return d.brokers }

// Empty reports whether the change touched nothing a broker reacts to.
func (d *Delta) Empty() bool {
	return len(d.partitions) == 0 && len(d.deletedTopics) == 0 && len(d.configs) == 0 &&
		len(d.brokers) == 0 && !d.ClusterIDChanged() && !d.ProducerIDsChanged()
}

// ClusterIDChanged reports whether the cluster ID was set by this change.
func (d *Delta) ClusterIDChanged() bool { return d.Old.ClusterID != d.New.ClusterID }

// ProducerIDsChanged reports whether a producer ID block was handed out.
func (d *Delta) ProducerIDsChanged() bool { return d.Old.NextProducerID != d.New.NextProducerID }

// CreatedTopics returns the names of topics that did not exist in Old,
// sorted.
func (d *Delta) CreatedTopics() []string {
	var names []string
	for _, c := range d.partitions {
		if d.Old.TopicsByID[c.TopicID] == nil && (len(names) == 0 || names[len(names)-1] != c.Topic) {
			names = append(names, c.Topic)
		}
	}
	return names
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
}

// LocalChanges is what a delta means for the replicas of one node (Kafka's
// TopicsDelta.localChanges): the partitions it now leads, the ones it now
// follows, and the ones it must stop hosting.
type LocalChanges struct {
	Leaders   []PartitionChange
	Followers []PartitionChange
	Deleted   []TopicPartition
}

// LocalChanges sorts the delta's partition changes by the role node plays in
// them. A partition enters Leaders or Followers whenever it changed and node
// is a replica (a new leader epoch or ISR matters to both roles); it enters
// Deleted when its topic was deleted or node was removed from its replicas.
func (d *Delta) LocalChanges(node int32) LocalChanges {
	var lc LocalChanges
	for _, c := range d.partitions {
		switch {
		case c.New.HasReplica(node) && c.New.Leader == node:
			lc.Leaders = append(lc.Leaders, c)
		case c.New.HasReplica(node):
			lc.Followers = append(lc.Followers, c)
		case c.Old != nil && c.Old.HasReplica(node):
			lc.Deleted = append(lc.Deleted, TopicPartition{Topic: c.Topic, TopicID: c.TopicID, Partition: c.Partition})
		}
	}
	for _, t := range d.deletedTopics {
		old := d.Old.TopicsByID[t.ID]
		for i, p := range old.Partitions {
			if p.HasReplica(node) {
				lc.Deleted = append(lc.Deleted, TopicPartition{Topic: t.Name, TopicID: t.ID, Partition: int32(i)})
			}
		}
	}
	return lc
}

// formatUUID prints a topic or cluster ID as Kafka does (Uuid.toString):
// URL-safe base64 without padding, 22 characters.
func formatUUID(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}
