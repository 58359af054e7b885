package controller

import "fmt"

// RecordType identifies a metadata record on disk and on the wire. The values
// are part of the format (FORMAT.md): never renumber them.
type RecordType uint8

// Metadata record types. They mirror Kafka's KRaft records of the same names
// (metadata/src/main/resources/common/metadata/*.json), trimmed to the fields
// samsa uses.
const (
	ClusterIDRecordType        RecordType = 1
	RegisterBrokerRecordType   RecordType = 2
	FenceBrokerRecordType      RecordType = 3
	UnfenceBrokerRecordType    RecordType = 4
	UnregisterBrokerRecordType RecordType = 5
	TopicRecordType            RecordType = 6
	PartitionRecordType        RecordType = 7
	PartitionChangeRecordType  RecordType = 8
	RemoveTopicRecordType      RecordType = 9
	ConfigRecordType           RecordType = 10
	ProducerIDsRecordType      RecordType = 11
)

// String names the record type as Kafka does.
func (t RecordType) String() string {
	switch t {
	case ClusterIDRecordType:
		return "ClusterIDRecord"
	case RegisterBrokerRecordType:
		return "RegisterBrokerRecord"
	case FenceBrokerRecordType:
		return "FenceBrokerRecord"
	case UnfenceBrokerRecordType:
		return "UnfenceBrokerRecord"
	case UnregisterBrokerRecordType:
		return "UnregisterBrokerRecord"
	case TopicRecordType:
		return "TopicRecord"
	case PartitionRecordType:
		return "PartitionRecord"
	case PartitionChangeRecordType:
		return "PartitionChangeRecord"
	case RemoveTopicRecordType:
		return "RemoveTopicRecord"
	case ConfigRecordType:
		return "ConfigRecord"
	case ProducerIDsRecordType:
		return "ProducerIDsRecord"
	}
	return fmt.Sprintf("RecordType(%d)", uint8(t))
}

// Record is one metadata record. The set is closed: only the types of this
// package implement it, so every record has a stable encoding.
type Record interface {
	// Type returns the record's type tag.
	Type() RecordType
	// encode appends the record's fields (not its type or version).
	encode(e *encoder)
}

// NoLeaderChange in PartitionChangeRecord.Leader leaves the leader as it is
// (Kafka's LeaderConstants.NO_LEADER_CHANGE).
const NoLeaderChange int32 = -2

// NoLeader is the leader of a partition that has none (Kafka's NO_LEADER).
const NoLeader int32 = -1

// Endpoint is one listener of a broker, as BrokerRegistration carries it.
type Endpoint struct {
	Name             string
	Host             string
	Port             int32
	SecurityProtocol int16
}

// ClusterIDRecord names the cluster. KRaft keeps the cluster ID in
// meta.properties and the bootstrap; samsa also commits it to the log so a
// replicated quorum agrees on it.
type ClusterIDRecord struct {
	ClusterID string
}

// RegisterBrokerRecord (Kafka's RegisterBrokerRecord) records one broker
// incarnation. Epoch is the broker epoch: like KRaft, the offset of this
// record, so it grows with every registration.
type RegisterBrokerRecord struct {
	NodeID        int32
	Epoch         int64
	IncarnationID [16]byte
	Listeners     []Endpoint
	Rack          string
	Fenced        bool
}

// FenceBrokerRecord fences the broker incarnation NodeID/Epoch.
type FenceBrokerRecord struct {
	NodeID int32
	Epoch  int64
}

// UnfenceBrokerRecord unfences the broker incarnation NodeID/Epoch.
type UnfenceBrokerRecord struct {
	NodeID int32
	Epoch  int64
}

// UnregisterBrokerRecord removes the broker incarnation NodeID/Epoch.
type UnregisterBrokerRecord struct {
	NodeID int32
	Epoch  int64
}

// TopicRecord creates a topic. Its partitions follow as PartitionRecords.
type TopicRecord struct {
	Name string
	ID   [16]byte
}

// PartitionRecord creates (or wholly replaces) one partition.
// AddingReplicas and RemovingReplicas describe a reassignment in progress
// (KIP-455); a record with either set is encoded as version 1, one without
// as version 0, so metadata that never reassigned reads as before.
type PartitionRecord struct {
	TopicID          [16]byte
	Partition        int32
	Replicas         []int32
	ISR              []int32
	Leader           int32
	LeaderEpoch      int32
	PartitionEpoch   int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// PartitionChangeRecord changes one partition. Nil ISR, Replicas,
// AddingReplicas or RemovingReplicas and a Leader of NoLeaderChange leave
// that field as it is; an empty (non-nil) AddingReplicas or
// RemovingReplicas clears it, as when a reassignment completes or is
// cancelled. A record that changes either reassignment set is encoded as
// version 1. The epochs are not carried: Apply computes them as Kafka's
// PartitionRegistration.merge does, a set Leader bumps the leader epoch and
// every change bumps the partition epoch.
type PartitionChangeRecord struct {
	TopicID          [16]byte
	Partition        int32
	ISR              []int32
	Leader           int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// RemoveTopicRecord deletes a topic, its partitions and its configs.
type RemoveTopicRecord struct {
	ID [16]byte
}

// ConfigRecord sets (or, with a nil Value, deletes) one dynamic config of a
// resource. ResourceType is kmsg.ConfigResourceType: 2 topic, 4 broker; a
// broker ResourceName of "" is the cluster-wide default.
type ConfigRecord struct {
	ResourceType int8
	ResourceName string
	Name         string
	Value        *string
}

// ProducerIDsRecord (Kafka's ProducerIdsRecord) hands the block ending before
// NextProducerID to broker BrokerID; the next block starts at NextProducerID.
type ProducerIDsRecord struct {
	BrokerID       int32
	BrokerEpoch    int64
	NextProducerID int64
}

// Type implements Record.
func (ClusterIDRecord) Type() RecordType { return ClusterIDRecordType }

// Type implements Record.
func (RegisterBrokerRecord) Type() RecordType { return RegisterBrokerRecordType }

// Type implements Record.
func (FenceBrokerRecord) Type() RecordType { return FenceBrokerRecordType }

// Type implements Record.
func (UnfenceBrokerRecord) Type() RecordType { return UnfenceBrokerRecordType }

// Type implements Record.
func (UnregisterBrokerRecord) Type() RecordType { return UnregisterBrokerRecordType }

// Type implements Record.
func (TopicRecord) Type() RecordType { return TopicRecordType }

// Type implements Record.
func (PartitionRecord) Type() RecordType { return PartitionRecordType }

// Type implements Record.
func (PartitionChangeRecord) Type() RecordType { return PartitionChangeRecordType }

// Type implements Record.
func (RemoveTopicRecord) Type() RecordType { return RemoveTopicRecordType }

// Type implements Record.
func (ConfigRecord) Type() RecordType { return ConfigRecordType }

// Type implements Record.
func (ProducerIDsRecord) Type() RecordType { return ProducerIDsRecordType }
