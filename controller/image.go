package controller

import (
	"cmp"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config resource types a ConfigRecord may name (kmsg.ConfigResourceType).
const (
	ConfigResourceTopic  = int8(kmsg.ConfigResourceTypeTopic)
	ConfigResourceBroker = int8(kmsg.ConfigResourceTypeBroker)
)

// Image is the cluster metadata as of one log offset, Kafka's MetadataImage.
// A published image is immutable: Apply copies what it changes (maps, topics,
// partitions) and shares the rest, so readers hold an *Image without locks.
// Never modify an image, its maps or the slices inside it.
type Image struct {
	// Offset is the offset of the last applied record; -1 for the empty image.
	Offset    int64
	ClusterID string
	Brokers   map[int32]BrokerInfo
	// Topics and TopicsByID index the same *TopicImage values.
	Topics     map[string]*TopicImage
	TopicsByID map[[16]byte]*TopicImage
	// Configs holds the dynamic overrides per resource; a resource without
	// any override has no entry.
	Configs map[ConfigResource]map[string]string
	// NextProducerID is the first producer ID of the next block to hand out.
	NextProducerID int64
}

// BrokerInfo is one registered broker (Kafka's BrokerRegistration).
type BrokerInfo struct {
	NodeID        int32
	Epoch         int64
	IncarnationID [16]byte
	Listeners     []Endpoint
	Rack          string
	Fenced        bool
}

// TopicImage is one topic and its partitions, indexed by partition number.
type TopicImage struct {
	Name       string
	ID         [16]byte
	Partitions []PartitionImage
}

// PartitionImage is one partition's replica assignment and leadership
// (Kafka's PartitionRegistration). While a reassignment is in progress
// (KIP-455), Replicas is the target assignment followed by the replicas
// being removed, AddingReplicas the target replicas that were not replicas
// before and RemovingReplicas the replicas that are not in the target; both
// are nil otherwise.
type PartitionImage struct {
	Replicas         []int32
	ISR              []int32
	Leader           int32
	LeaderEpoch      int32
	PartitionEpoch   int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// ConfigResource names a config resource: Type is kmsg.ConfigResourceType,
// Name a topic name, a broker node ID in decimal, or "" for the cluster-wide
// broker default.
type ConfigResource struct {
	Type int8
	Name string
}

// EmptyImage returns the image before any record: offset -1, nothing in it.
func EmptyImage() *Image {
	return &Image{
		Offset:     -1,
		Brokers:    map[int32]BrokerInfo{},
		Topics:     map[string]*TopicImage{},
		TopicsByID: map[[16]byte]*TopicImage{},
		Configs:    map[ConfigResource]map[string]string{},
	}
}

// Topic returns the topic named name.
func (img *Image) Topic(name string) (*TopicImage, bool) {
	t, ok := img.Topics[name]
	return t, ok
}

// TopicByID returns the topic with ID id.
func (img *Image) TopicByID(id [16]byte) (*TopicImage, bool) {
	t, ok := img.TopicsByID[id]
	return t, ok
}

// TopicNames returns every topic name, sorted.
func (img *Image) TopicNames() []string {
	return slices.Sorted(maps.Keys(img.Topics))
}

// Partition returns partition p of the named topic.
func (img *Image) Partition(topic string, p int32) (PartitionImage, bool) {
	t := img.Topics[topic]
	if t == nil || p < 0 || int(p) >= len(t.Partitions) {
		return PartitionImage{}, false
	}
	return t.Partitions[p], true
}

// Broker returns the registration of broker id.
func (img *Image) Broker(id int32) (BrokerInfo, bool) {
	b, ok := img.Brokers[id]
	return b, ok
}

// LiveBrokers returns the unfenced brokers sorted by node ID: the ones that
// may lead partitions and receive new replicas.
func (img *Image) LiveBrokers() []BrokerInfo {
	live := make([]BrokerInfo, 0, len(img.Brokers))
	for _, b := range img.Brokers {
		if !b.Fenced {
			live = append(live, b)
		}
	}
	slices.SortFunc(live, func(a, b BrokerInfo) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return live
}

// TopicConfig returns a copy of the topic's dynamic overrides (never nil).
func (img *Image) TopicConfig(name string) map[string]string {
	return img.config(ConfigResource{Type: ConfigResourceTopic, Name: name})
}

// BrokerConfig returns a copy of the per-broker dynamic overrides of nodeID.
func (img *Image) BrokerConfig(nodeID int32) map[string]string {
	return img.config(ConfigResource{Type: ConfigResourceBroker, Name: strconv.Itoa(int(nodeID))})
}

// ClusterBrokerConfig returns a copy of the cluster-wide broker defaults
// (the broker resource named "").
func (img *Image) ClusterBrokerConfig() map[string]string {
	return img.config(ConfigResource{Type: ConfigResourceBroker})
}

func (img *Image) config(r ConfigResource) map[string]string {
	c := maps.Clone(img.Configs[r])
	if c == nil {
		c = map[string]string{}
	}
	return c
}

// Listener returns the broker's endpoint for the listener name.
func (b BrokerInfo) Listener(name string) (Endpoint, bool) {
	for _, l := range b.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Endpoint{}, false
}

// HasReplica reports whether node is one of the partition's replicas.
func (p PartitionImage) HasReplica(node int32) bool { return slices.Contains(p.Replicas, node) }

// InISR reports whether node is in the partition's ISR.
func (p PartitionImage) InISR(node int32) bool { return slices.Contains(p.ISR, node) }

// IsReassigning reports whether a reassignment of the partition is in
// progress (Kafka's PartitionRegistration.isReassigning).
func (p PartitionImage) IsReassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas is the assignment the partition is moving to: its
// replicas without the ones being removed (its replicas when it is not
// reassigning).
func (p PartitionImage) TargetReplicas() []int32 {
	if len(p.RemovingReplicas) == 0 {
		return p.Replicas
	}
	return without(p.Replicas, p.RemovingReplicas)
}

// Equal reports whether two partition images are the same.
func (p PartitionImage) Equal(o PartitionImage) bool {
	return p.Leader == o.Leader && p.LeaderEpoch == o.LeaderEpoch &&
		p.PartitionEpoch == o.PartitionEpoch &&
		slices.Equal(p.Replicas, o.Replicas) && slices.Equal(p.ISR, o.ISR) &&
		slices.Equal(p.AddingReplicas, o.AddingReplicas) && slices.Equal(p.RemovingReplicas, o.RemovingReplicas)
}

// without returns a new slice of the members of ids not in drop, in order.
func without(ids, drop []int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}

// Records returns the image as the records that rebuild it from the empty
// image: the content of a snapshot (Kafka's MetadataImage.write). Applying
// them to EmptyImage and setting Offset gives an equal image.
func (img *Image) Records() []Record {
	var recs []Record
	if img.ClusterID != "" {
		recs = append(recs, ClusterIDRecord{ClusterID: img.ClusterID})
	}
	for _, id := range slices.Sorted(maps.Keys(img.Brokers)) {
		b := img.Brokers[id]
		recs = append(recs, RegisterBrokerRecord{
			NodeID: b.NodeID, Epoch: b.Epoch, IncarnationID: b.IncarnationID,
			Listeners: b.Listeners, Rack: b.Rack, Fenced: b.Fenced,
		})
	}
	for _, name := range img.TopicNames() {
		t := img.Topics[name]
		recs = append(recs, TopicRecord{Name: t.Name, ID: t.ID})
		for i, p := range t.Partitions {
			recs = append(recs, PartitionRecord{
				TopicID: t.ID, Partition: int32(i), Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas,
			})
		}
	}
	resources := slices.SortedFunc(maps.Keys(img.Configs), compareConfigResource)
	for _, r := range resources {
		for _, k := range slices.Sorted(maps.Keys(img.Configs[r])) {
			v := img.Configs[r][k]
			recs = append(recs, ConfigRecord{ResourceType: r.Type, ResourceName: r.Name, Name: k, Value: &v})
		}
	}
	if img.NextProducerID != 0 {
		recs = append(recs, ProducerIDsRecord{BrokerID: -1, BrokerEpoch: -1, NextProducerID: img.NextProducerID})
	}
	return recs
}

func compareConfigResource(a, b ConfigResource) int {
	if c := cmp.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}
