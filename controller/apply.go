package controller

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// ErrRecordRejected reports a record that does not apply to the image it was
// applied to (an unknown topic ID, a stale broker epoch, an ISR outside the
// replicas, ...).
var ErrRecordRejected = errors.New("metadata record rejected")

// Apply applies recs, in order and atomically, to img and returns the new
// image and what changed. It is a pure function: img is not modified, and the
// new image shares everything recs did not touch. The new image's Offset is
// img.Offset + len(recs), one offset per record as in KRaft's log. Any record
// that does not apply fails the whole list. A nil img is the empty image.
func Apply(img *Image, recs []Record) (*Image, *Delta, error) {
	if img == nil {
		img = EmptyImage()
	}
	b := newImageBuilder(img)
	for i, r := range recs {
		if err := b.apply(r); err != nil {
			return nil, nil, fmt.Errorf("%w: %s at offset %d: %w",
				ErrRecordRejected, r.Type(), img.Offset+1+int64(i), err)
		}
	}
	b.img.Offset = img.Offset + int64(len(recs))
	return b.img, b.delta(), nil
}

// imageBuilder applies records copy-on-write: the first change to a map,
// topic or config resource copies it, later changes in the same batch modify
// the copy. The own* sets say what is already a private copy.
type imageBuilder struct {
	old *Image
	img *Image

	ownBrokers, ownTopics, ownConfigs bool
	ownTopic                          map[[16]byte]bool
	ownConfig                         map[ConfigResource]bool

	touchedTopics  map[[16]byte]bool
	touchedBrokers map[int32]bool
}

func newImageBuilder(old *Image) *imageBuilder {
	cp := *old
	return &imageBuilder{
		old:            old,
		img:            &cp,
		ownTopic:       map[[16]byte]bool{},
		ownConfig:      map[ConfigResource]bool{},
		touchedTopics:  map[[16]byte]bool{},
		touchedBrokers: map[int32]bool{},
	}
}

func (b *imageBuilder) delta() *Delta {
	return newDelta(b.old, b.img, b.touchedTopics, b.touchedBrokers, b.ownConfig)
}

func (b *imageBuilder) apply(r Record) error {
	switch r := r.(type) {
	case ClusterIDRecord:
		return b.clusterID(r)
	case RegisterBrokerRecord:
		return b.registerBroker(r)
	case FenceBrokerRecord:
		return b.setFenced(r.NodeID, r.Epoch, true)
	case UnfenceBrokerRecord:
		return b.setFenced(r.NodeID, r.Epoch, false)
	case UnregisterBrokerRecord:
		return b.unregisterBroker(r)
	case TopicRecord:
		return b.topic(r)
	case PartitionRecord:
		return b.partition(r)
	case PartitionChangeRecord:
		return b.partitionChange(r)
	case RemoveTopicRecord:
		return b.removeTopic(r)
	case ConfigRecord:
		return b.config(r)
	case ProducerIDsRecord:
		return b.producerIDs(r)
	}
	return fmt.Errorf("unhandled record type %T", r)
}

func (b *imageBuilder) clusterID(r ClusterIDRecord) error {
	if r.ClusterID == "" {
		return errors.New("empty cluster ID")
	}
	if b.img.ClusterID != "" && b.img.ClusterID != r.ClusterID {
		return fmt.Errorf("cluster ID is %q, record says %q", b.img.ClusterID, r.ClusterID)
	}
	b.img.ClusterID = r.ClusterID
	return nil
}

func (b *imageBuilder) brokers() map[int32]BrokerInfo {
	if !b.ownBrokers {
		b.img.Brokers = maps.Clone(b.img.Brokers)
		if b.img.Brokers == nil {
			b.img.Brokers = map[int32]BrokerInfo{}
		}
		b.ownBrokers = true
	}
	return b.img.Brokers
}

func (b *imageBuilder) registerBroker(r RegisterBrokerRecord) error {
	if r.NodeID < 0 {
		return fmt.Errorf("invalid node ID %d", r.NodeID)
	}
	if old, ok := b.img.Brokers[r.NodeID]; ok && r.Epoch <= old.Epoch {
		return fmt.Errorf("broker %d epoch %d is not newer than the registered epoch %d", r.NodeID, r.Epoch, old.Epoch)
	}
	names := map[string]bool{}
	for _, l := range r.Listeners {
		if names[l.Name] {
			return fmt.Errorf("broker %d lists listener %q twice", r.NodeID, l.Name)
		}
		names[l.Name] = true
	}
	var listeners []Endpoint
	if len(r.Listeners) > 0 {
		listeners = slices.Clone(r.Listeners)
	}
	b.brokers()[r.NodeID] = BrokerInfo{
		NodeID: r.NodeID, Epoch: r.Epoch, IncarnationID: r.IncarnationID,
		Listeners: listeners, Rack: r.Rack, Fenced: r.Fenced,
	}
	b.touchedBrokers[r.NodeID] = true
	return nil
}

// registeredBroker returns broker id if its registered epoch is epoch; the
// records that change a broker name the incarnation they mean, so a record
// about an old incarnation cannot touch a new one.
func (b *imageBuilder) registeredBroker(id int32, epoch int64) (BrokerInfo, error) {
	info, ok := b.img.Brokers[id]
	if !ok {
		return BrokerInfo{}, fmt.Errorf("broker %d is not registered", id)
	}
	if info.Epoch != epoch {
		return BrokerInfo{}, fmt.Errorf("broker %d has epoch %d, record names epoch %d", id, info.Epoch, epoch)
	}
	return info, nil
}

func (b *imageBuilder) setFenced(id int32, epoch int64, fenced bool) error {
	info, err := b.registeredBroker(id, epoch)
	if err != nil {
		return err
	}
	info.Fenced = fenced
	b.brokers()[id] = info
	b.touchedBrokers[id] = true
	return nil
}

func (b *imageBuilder) unregisterBroker(r UnregisterBrokerRecord) error {
	if _, err := b.registeredBroker(r.NodeID, r.Epoch); err != nil {
		return err
	}
	delete(b.brokers(), r.NodeID)
	b.touchedBrokers[r.NodeID] = true
	return nil
}

func (b *imageBuilder) topicMaps() {
	if !b.ownTopics {
		b.img.Topics = maps.Clone(b.img.Topics)
		b.img.TopicsByID = maps.Clone(b.img.TopicsByID)
		if b.img.Topics == nil {
			b.img.Topics = map[string]*TopicImage{}
		}
		if b.img.TopicsByID == nil {
			b.img.TopicsByID = map[[16]byte]*TopicImage{}
		}
		b.ownTopics = true
	}
}

// mutableTopic returns a private copy of topic id that this batch may change.
func (b *imageBuilder) mutableTopic(id [16]byte) (*TopicImage, error) {
	t := b.img.TopicsByID[id]
	if t == nil {
		return nil, fmt.Errorf("unknown topic ID %s", formatUUID(id))
	}
	b.touchedTopics[id] = true
	if b.ownTopic[id] {
		return t, nil
	}
	b.topicMaps()
	cp := &TopicImage{Name: t.Name, ID: t.ID, Partitions: slices.Clone(t.Partitions)}
	b.img.Topics[cp.Name] = cp
	b.img.TopicsByID[id] = cp
	b.ownTopic[id] = true
	return cp, nil
}

func (b *imageBuilder) topic(r TopicRecord) error {
	if r.Name == "" {
		return errors.New("empty topic name")
	}
	if r.ID == ([16]byte{}) {
		return fmt.Errorf("topic %q has the zero topic ID", r.Name)
	}
	if _, ok := b.img.Topics[r.Name]; ok {
		return fmt.Errorf("topic %q already exists", r.Name)
	}
	if t, ok := b.img.TopicsByID[r.ID]; ok {
		return fmt.Errorf("topic ID %s already belongs to topic %q", formatUUID(r.ID), t.Name)
	}
	b.topicMaps()
	t := &TopicImage{Name: r.Name, ID: r.ID}
	b.img.Topics[r.Name] = t
	b.img.TopicsByID[r.ID] = t
	b.ownTopic[r.ID] = true
	b.touchedTopics[r.ID] = true
	return nil
}

func (b *imageBuilder) partition(r PartitionRecord) error {
	if r.LeaderEpoch < 0 || r.PartitionEpoch < 0 {
		return fmt.Errorf("negative epochs (leader %d, partition %d)", r.LeaderEpoch, r.PartitionEpoch)
	}
	p := PartitionImage{
		Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR),
		Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
		AddingReplicas: reassignmentSet(r.AddingReplicas), RemovingReplicas: reassignmentSet(r.RemovingReplicas),
	}
	if err := validatePartition(p); err != nil {
		return fmt.Errorf("partition %d: %w", r.Partition, err)
	}
	t, err := b.mutableTopic(r.TopicID)
	if err != nil {
		return err
	}
	switch {
	case r.Partition < 0 || int(r.Partition) > len(t.Partitions):
		// Partitions are numbered densely from 0 (they are a slice).
		return fmt.Errorf("partition %d of topic %q out of order: the topic has %d", r.Partition, t.Name, len(t.Partitions))
	case int(r.Partition) == len(t.Partitions):
		t.Partitions = append(t.Partitions, p)
	default:
		t.Partitions[r.Partition] = p
	}
	return nil
}

func (b *imageBuilder) partitionChange(r PartitionChangeRecord) error {
	t, err := b.mutableTopic(r.TopicID)
	if err != nil {
		return err
	}
	if r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return fmt.Errorf("unknown partition %d of topic %q", r.Partition, t.Name)
	}
	p := t.Partitions[r.Partition]
	if r.Replicas != nil {
		p.Replicas = slices.Clone(r.Replicas)
	}
	if r.ISR != nil {
		p.ISR = slices.Clone(r.ISR)
	}
	if r.AddingReplicas != nil {
		p.AddingReplicas = reassignmentSet(r.AddingReplicas)
	}
	if r.RemovingReplicas != nil {
		p.RemovingReplicas = reassignmentSet(r.RemovingReplicas)
	}
	if r.Leader != NoLeaderChange {
		// Kafka's PartitionRegistration.merge: a record that sets the leader
		// starts a new leader epoch, even when it names the same broker.
		p.Leader = r.Leader
		p.LeaderEpoch++
	}
	p.PartitionEpoch++
	if err := validatePartition(p); err != nil {
		return fmt.Errorf("partition %s-%d: %w", t.Name, r.Partition, err)
	}
	t.Partitions[r.Partition] = p
	return nil
}

// validatePartition checks the invariants every partition keeps: distinct
// non-negative replicas, a non-empty ISR drawn from them, a leader in the ISR
// or none.
func validatePartition(p PartitionImage) error {
	if len(p.Replicas) == 0 {
		return errors.New("no replicas")
	}
	if err := distinctBrokers(p.Replicas); err != nil {
		return fmt.Errorf("replicas %v: %w", p.Replicas, err)
	}
	if len(p.ISR) == 0 {
		return errors.New("empty ISR")
	}
	if err := distinctBrokers(p.ISR); err != nil {
		return fmt.Errorf("ISR %v: %w", p.ISR, err)
	}
	for _, id := range p.ISR {
		if !slices.Contains(p.Replicas, id) {
			return fmt.Errorf("ISR member %d is not a replica %v", id, p.Replicas)
		}
	}
	if p.Leader != NoLeader && !slices.Contains(p.ISR, p.Leader) {
		return fmt.Errorf("leader %d is not in the ISR %v", p.Leader, p.ISR)
	}
	// A reassignment's sets are disjoint parts of the replicas (KIP-455):
	// the replicas are the target plus the removing ones.
	for _, set := range []struct {
		name string
		ids  []int32
	}{{"adding", p.AddingReplicas}, {"removing", p.RemovingReplicas}} {
		if err := distinctBrokers(set.ids); err != nil {
			return fmt.Errorf("%s replicas %v: %w", set.name, set.ids, err)
		}
		for _, id := range set.ids {
			if !slices.Contains(p.Replicas, id) {
				return fmt.Errorf("%s replica %d is not a replica %v", set.name, id, p.Replicas)
			}
		}
	}
	for _, id := range p.AddingReplicas {
		if slices.Contains(p.RemovingReplicas, id) {
			return fmt.Errorf("replica %d is both added and removed", id)
		}
	}
	if len(p.RemovingReplicas) == len(p.Replicas) && len(p.Replicas) > 0 {
		return fmt.Errorf("every replica %v is being removed", p.Replicas)
	}
	return nil
}

// reassignmentSet is the image's form of an adding or removing set: nil
// when empty, so a partition that is not reassigning looks the same however
// it got there.
func reassignmentSet(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	return slices.Clone(ids)
}

func distinctBrokers(ids []int32) error {
	seen := make(map[int32]bool, len(ids))
	for _, id := range ids {
		if id < 0 {
			return fmt.Errorf("invalid broker ID %d", id)
		}
		if seen[id] {
			return fmt.Errorf("broker %d listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

func (b *imageBuilder) removeTopic(r RemoveTopicRecord) error {
	t := b.img.TopicsByID[r.ID]
	if t == nil {
		return fmt.Errorf("unknown topic ID %s", formatUUID(r.ID))
	}
	b.topicMaps()
	delete(b.img.Topics, t.Name)
	delete(b.img.TopicsByID, r.ID)
	b.touchedTopics[r.ID] = true
	// Kafka's ReplicationControlManager.replay(RemoveTopicRecord) drops the
	// topic's configs with it, so a topic re-created later starts clean.
	res := ConfigResource{Type: ConfigResourceTopic, Name: t.Name}
	if _, ok := b.img.Configs[res]; ok {
		b.configs()
		delete(b.img.Configs, res)
		b.ownConfig[res] = true
	}
	return nil
}

func (b *imageBuilder) configs() {
	if !b.ownConfigs {
		b.img.Configs = maps.Clone(b.img.Configs)
		if b.img.Configs == nil {
			b.img.Configs = map[ConfigResource]map[string]string{}
		}
		b.ownConfigs = true
	}
}

func (b *imageBuilder) config(r ConfigRecord) error {
	if r.Name == "" {
		return errors.New("config record without a config name")
	}
	res := ConfigResource{Type: r.ResourceType, Name: r.ResourceName}
	switch r.ResourceType {
	case ConfigResourceTopic:
		if _, ok := b.img.Topics[r.ResourceName]; !ok {
			return fmt.Errorf("config %s for unknown topic %q", r.Name, r.ResourceName)
		}
	case ConfigResourceBroker:
		if !validBrokerResourceName(r.ResourceName) {
			return fmt.Errorf("config %s for invalid broker resource %q", r.Name, r.ResourceName)
		}
	default:
		return fmt.Errorf("config %s for unsupported resource type %d", r.Name, r.ResourceType)
	}
	b.configs()
	m := b.img.Configs[res]
	if !b.ownConfig[res] {
		m = maps.Clone(m)
		b.ownConfig[res] = true
	}
	if m == nil {
		m = map[string]string{}
	}
	if r.Value == nil {
		delete(m, r.Name)
	} else {
		m[r.Name] = *r.Value
	}
	if len(m) == 0 {
		delete(b.img.Configs, res)
	} else {
		b.img.Configs[res] = m
	}
	return nil
}

// validBrokerResourceName accepts "" (the cluster default) and a node ID in
// canonical decimal, so one broker has exactly one resource name.
func validBrokerResourceName(name string) bool {
	if name == "" {
		return true
	}
	id, err := strconv.ParseInt(name, 10, 32)
	return err == nil && id >= 0 && strconv.FormatInt(id, 10) == name
}

func (b *imageBuilder) producerIDs(r ProducerIDsRecord) error {
	// Kafka's ProducerIdControlManager.replay refuses to move backwards: a
	// producer ID block must never be handed out twice.
	if r.NextProducerID <= b.img.NextProducerID {
		return fmt.Errorf("next producer ID %d is not above the current %d", r.NextProducerID, b.img.NextProducerID)
	}
	b.img.NextProducerID = r.NextProducerID
	return nil
}
