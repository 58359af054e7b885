package group

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/record"
)

// Record formats in __consumer_offsets, as Kafka writes them (the schemas
// are kmsg's OffsetCommitKey/Value and GroupMetadataKey/Value):
//
//	offset commit   key   v1: group, topic, partition
//	                value v3: offset, leader epoch, metadata, commit timestamp
//	                      v1: offset, metadata, commit timestamp, expire
//	                          timestamp (only for OffsetCommit v2-v4 with an
//	                          explicit retention time)
//	group metadata  key   v2: group
//	                value v3: protocol type, generation, protocol, leader,
//	                          current state timestamp, members (member ID,
//	                          instance ID, client ID, client host, rebalance
//	                          and session timeouts, subscription, assignment)
//
// A null value is a tombstone: the key is deleted, and compaction
// eventually removes both. Key versions 0 and 1 are offset commits, 2 is
// group metadata; 3 to 8 are KIP-848 consumer group records
// (consumer_records.go); later ones (share and streams groups) are skipped
// on load.
const (
	offsetCommitKeyVersion     = 1
	offsetCommitValueVersion   = 3
	offsetCommitValueVersionV1 = 1
	groupMetadataKeyVersion    = 2
	groupMetadataValueVersion  = 3
)

// coordinatorRecord is one key and value (nil value: tombstone).
type coordinatorRecord struct {
	key   []byte
	value []byte
}

func offsetCommitRecord(groupID string, tp topicPartition, o *committedOffset) coordinatorRecord {
	k := kmsg.NewOffsetCommitKey()
	k.Version, k.Group, k.Topic, k.Partition = offsetCommitKeyVersion, groupID, tp.topic, tp.partition
	rec := coordinatorRecord{key: k.AppendTo(nil)}
	if o == nil {
		return rec
	}
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetCommitValueVersion
	if o.expireTime >= 0 {
		v.Version = offsetCommitValueVersionV1
		v.ExpireTimestamp = o.expireTime
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitTime
	rec.value = v.AppendTo(nil)
	return rec
}

// groupMetadataRecord is the group as Kafka's storeGroup writes it, with the
// given assignment per member (a nil map writes the current assignments).
func groupMetadataRecord(g *group, assignment map[string][]byte) coordinatorRecord {
	k := kmsg.NewGroupMetadataKey()
	k.Version, k.Group = groupMetadataKeyVersion, g.id
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = optString(g.protocol)
	v.Leader = optString(g.leader)
	v.CurrentStateTimestamp = -1
	if !g.stateTime.IsZero() {
		v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	}
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = m.rebalanceTimeoutMs, m.sessionTimeoutMs
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		if assignment != nil {
			vm.Assignment = assignment[id]
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return coordinatorRecord{key: k.AppendTo(nil), value: v.AppendTo(nil)}
}

func groupTombstone(groupID string) coordinatorRecord {
	k := kmsg.NewGroupMetadataKey()
	k.Version, k.Group = groupMetadataKeyVersion, groupID
	return coordinatorRecord{key: k.AppendTo(nil)}
}

// Layout of a v2 batch header (Kafka's DefaultRecordBatch); the CRC covers
// everything from the attributes on.
const (
	batchLengthAt         = 8
	batchLeaderEpochAt    = 12
	batchMagicAt          = 16
	batchCRCAt            = 17
	batchAttributesAt     = 21
	batchLastOffsetDelta  = 23
	batchFirstTimestampAt = 27
	batchMaxTimestampAt   = 35
	batchProducerIDAt     = 43
	batchProducerEpochAt  = 51
	batchBaseSequenceAt   = 53
	batchNumRecordsAt     = 57
)

// buildBatch encodes recs as one uncompressed magic-2 batch stamped with now,
// not idempotent, as Kafka's coordinators write theirs (compression.type of
// __consumer_offsets is "producer" and Kafka's default
// offsets.topic.compression.codec is none). The base offset and partition
// leader epoch are left for the log to assign.
func buildBatch(recs []coordinatorRecord, now time.Time) []byte {
	b := make([]byte, record.HeaderSize, record.HeaderSize+64*len(recs))
	var body []byte
	for i, r := range recs {
		body = body[:0]
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = appendVarbytes(body, r.key)
		body = appendVarbytes(body, r.value)
		body = binary.AppendVarint(body, 0) // headers
		b = binary.AppendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	ts := now.UnixMilli()
	be := binary.BigEndian
	be.PutUint32(b[batchLengthAt:], uint32(len(b)-record.LogOverhead))
	be.PutUint32(b[batchLeaderEpochAt:], math.MaxUint32) // assigned by the log
	b[batchMagicAt] = 2
	be.PutUint16(b[batchAttributesAt:], 0)
	be.PutUint32(b[batchLastOffsetDelta:], uint32(len(recs)-1))
	be.PutUint64(b[batchFirstTimestampAt:], uint64(ts))
	be.PutUint64(b[batchMaxTimestampAt:], uint64(ts))
	be.PutUint64(b[batchProducerIDAt:], math.MaxUint64)    // producer ID -1
	be.PutUint16(b[batchProducerEpochAt:], math.MaxUint16) // producer epoch -1
	be.PutUint32(b[batchBaseSequenceAt:], math.MaxUint32)  // base sequence -1
	be.PutUint32(b[batchNumRecordsAt:], uint32(len(recs)))
	be.PutUint32(b[batchCRCAt:], record.ComputeCRC(b))
	return b
}

// appendVarbytes appends a varint length and v; nil is null (-1).
func appendVarbytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

// recordKind tells what a key is.
type recordKind int8

const (
	kindUnknown recordKind = iota
	kindOffsetCommit
	kindGroupMetadata
	kindConsumerGroup
)

func keyKind(key []byte) recordKind {
	if len(key) < 2 {
		return kindUnknown
	}
	switch int16(binary.BigEndian.Uint16(key)) {
	case 0, 1:
		return kindOffsetCommit
	case 2:
		return kindGroupMetadata
	}
	if isConsumerGroupKey(int16(binary.BigEndian.Uint16(key))) {
		return kindConsumerGroup
	}
	return kindUnknown
}

// decodeOffsetCommit parses an offset commit record; a nil value (the
// returned offset nil) is a tombstone.
func decodeOffsetCommit(key, value []byte, recordOffset int64) (groupID string, tp topicPartition, o *committedOffset, err error) {
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(key); err != nil {
		return "", tp, nil, fmt.Errorf("decode offset commit key: %w", err)
	}
	tp = topicPartition{topic: k.Topic, partition: k.Partition}
	if value == nil {
		return k.Group, tp, nil, nil
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return "", tp, nil, fmt.Errorf("decode offset commit value of group %q: %w", k.Group, err)
	}
	o = &committedOffset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: v.CommitTimestamp,
		expireTime: -1, recordOffset: recordOffset}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireTime = v.ExpireTimestamp
	}
	return k.Group, tp, o, nil
}

// decodeGroupMetadata parses a group metadata record; a nil value (the
// returned value nil) is a tombstone.
func decodeGroupMetadata(key, value []byte) (string, *kmsg.GroupMetadataValue, error) {
	var k kmsg.GroupMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, fmt.Errorf("decode group metadata key: %w", err)
	}
	if value == nil {
		return k.Group, nil, nil
	}
	v := new(kmsg.GroupMetadataValue)
	if err := v.ReadFrom(value); err != nil {
		return "", nil, fmt.Errorf("decode group metadata value of group %q: %w", k.Group, err)
	}
	return k.Group, v, nil
}

// groupFromRecord rebuilds a group from its metadata record (Kafka's
// ClassicGroup.fromRecord): Stable with the recorded members, or Empty
// without. Each member supports only the selected protocol, with its
// recorded subscription. Offsets are kept from the group it replaces.
func groupFromRecord(id string, v *kmsg.GroupMetadataValue, prev *group, now time.Time) *group {
	g := newGroup(id, now)
	if prev != nil {
		g.offsets = prev.offsets
	}
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	g.stateTime = time.Time{}
	if v.CurrentStateTimestamp >= 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		m := &member{
			id:                 vm.MemberID,
			instanceID:         vm.InstanceID,
			clientID:           vm.ClientID,
			clientHost:         vm.ClientHost,
			rebalanceTimeoutMs: vm.RebalanceTimeoutMillis,
			sessionTimeoutMs:   vm.SessionTimeoutMillis,
			protocolType:       v.ProtocolType,
			assignment:         slices.Clone(vm.Assignment),
		}
		if m.rebalanceTimeoutMs < 0 { // v0 records: the session timeout served both
			m.rebalanceTimeoutMs = m.sessionTimeoutMs
		}
		if v.Protocol != nil {
			m.protocols = []protocol{{name: *v.Protocol, metadata: slices.Clone(vm.Subscription)}}
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
		for _, p := range m.protocols {
			g.supported[p.name]++
		}
	}
	if len(g.members) > 0 {
		g.state = stateStable
	}
	g.computeSubscribedTopics()
	return g
}
