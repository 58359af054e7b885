package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// KIP-848 consumer group records in __consumer_offsets, encoded as Kafka's
// group-coordinator JSON schemas define them (kmsg has no structs for
// these). A key is an int16 record type followed by its fields in the
// non-flexible encoding (int16-length strings); a value is an int16 version
// (0) followed by its fields in the flexible encoding (compact strings and
// arrays, tagged fields at the end of every struct):
//
//	3 ConsumerGroupMetadata          key: group        value: epoch
//	4 ConsumerGroupPartitionMetadata key: group        value: epoch, topics (id, name, partitions, racks)
//	5 ConsumerGroupMemberMetadata    key: group,member value: instance, rack, client id/host, topics, regex,
//	                                                          rebalance timeout, server assignor
//	6 ConsumerGroupTargetAssignmentMetadata key: group value: assignment epoch
//	7 ConsumerGroupTargetAssignmentMember   key: group,member value: topic partitions
//	8 ConsumerGroupCurrentMemberAssignment  key: group,member value: member epoch, previous epoch,
//	                                                          state, assigned, pending revocation
//
// A null value is a tombstone.
const (
	keyConsumerGroupMetadata       = 3
	keyConsumerGroupPartitionMeta  = 4
	keyConsumerGroupMemberMetadata = 5
	keyConsumerGroupTargetMetadata = 6
	keyConsumerGroupTargetMember   = 7
	keyConsumerGroupCurrentMember  = 8
)

// isConsumerGroupKey reports whether a key version is a consumer group
// record.
func isConsumerGroupKey(v int16) bool {
	return v >= keyConsumerGroupMetadata && v <= keyConsumerGroupCurrentMember
}

func consumerKey(typ int16, groupID string, memberID *string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(typ))
	b = appendInt16String(b, groupID)
	if memberID != nil {
		b = appendInt16String(b, *memberID)
	}
	return b
}

func appendInt16String(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// flexible value encoding.
func valueHeader() []byte { return []byte{0, 0} }

func appendCompactString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s))+1)
	return append(b, s...)
}

func appendCompactNullableString(b []byte, s *string) []byte {
	if s == nil {
		return binary.AppendUvarint(b, 0)
	}
	return appendCompactString(b, *s)
}

func appendInt32(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) }

func appendTopicPartitions(b []byte, tps []topicPartitions) []byte {
	b = binary.AppendUvarint(b, uint64(len(tps))+1)
	for _, t := range tps {
		b = append(b, t.id[:]...)
		b = binary.AppendUvarint(b, uint64(len(t.partitions))+1)
		for _, p := range t.partitions {
			b = appendInt32(b, p)
		}
		b = append(b, 0) // tagged fields
	}
	return b
}

func consumerGroupMetadataRecord(groupID string, epoch int32) coordinatorRecord {
	v := appendInt32(valueHeader(), epoch)
	v = append(v, 0)
	return coordinatorRecord{key: consumerKey(keyConsumerGroupMetadata, groupID, nil), value: v}
}

func consumerPartitionMetadataRecord(groupID string, epoch int32, topics map[string]TopicInfo) coordinatorRecord {
	v := appendInt32(valueHeader(), epoch)
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	slices.Sort(names)
	v = binary.AppendUvarint(v, uint64(len(names))+1)
	for _, n := range names {
		t := topics[n]
		v = append(v, t.ID[:]...)
		v = appendCompactString(v, t.Name)
		v = appendInt32(v, t.Partitions)
		v = binary.AppendUvarint(v, 1) // no partition racks
		v = append(v, 0)
	}
	v = append(v, 0)
	return coordinatorRecord{key: consumerKey(keyConsumerGroupPartitionMeta, groupID, nil), value: v}
}

func consumerMemberMetadataRecord(groupID string, m *consumerMember) coordinatorRecord {
	v := appendCompactNullableString(valueHeader(), m.instanceID)
	v = appendCompactNullableString(v, m.rackID)
	v = appendCompactString(v, m.clientID)
	v = appendCompactString(v, m.clientHost)
	v = binary.AppendUvarint(v, uint64(len(m.subscribedNames))+1)
	for _, n := range m.subscribedNames {
		v = appendCompactString(v, n)
	}
	v = appendCompactNullableString(v, m.subscribedRegex)
	v = appendInt32(v, m.rebalanceTimeoutMs)
	v = appendCompactNullableString(v, m.serverAssignor)
	v = append(v, 0)
	return coordinatorRecord{key: consumerKey(keyConsumerGroupMemberMetadata, groupID, &m.id), value: v}
}

func consumerTargetMetadataRecord(groupID string, epoch int32) coordinatorRecord {
	v := appendInt32(valueHeader(), epoch)
	v = append(v, 0)
	return coordinatorRecord{key: consumerKey(keyConsumerGroupTargetMetadata, groupID, nil), value: v}
}

func consumerTargetMemberRecord(groupID, memberID string, target partSet) coordinatorRecord {
	v := appendTopicPartitions(valueHeader(), target.byTopic())
	v = append(v, 0)
	return coordinatorRecord{key: consumerKey(keyConsumerGroupTargetMember, groupID, &memberID), value: v}
}

func consumerCurrentMemberRecord(groupID string, m *consumerMember) coordinatorRecord {
	v := appendInt32(valueHeader(), m.epoch)
	v = appendInt32(v, m.prevEpoch)
	v = append(v, byte(m.state))
	v = appendTopicPartitions(v, m.assigned.byTopic())
	v = appendTopicPartitions(v, m.revoking.byTopic())
	v = append(v, 0)
	return coordinatorRecord{key: consumerKey(keyConsumerGroupCurrentMember, groupID, &m.id), value: v}
}

// consumerMemberTombstones remove a member, in Kafka's order: current
// assignment, target assignment, member metadata.
func consumerMemberTombstones(groupID, memberID string) []coordinatorRecord {
	return []coordinatorRecord{
		{key: consumerKey(keyConsumerGroupCurrentMember, groupID, &memberID)},
		{key: consumerKey(keyConsumerGroupTargetMember, groupID, &memberID)},
		{key: consumerKey(keyConsumerGroupMemberMetadata, groupID, &memberID)},
	}
}

// consumerGroupTombstones remove a consumer group, in Kafka's order
// (ConsumerGroup.createGroupTombstoneRecords): the members' current
// assignments, their target assignments, the target assignment metadata,
// the members' metadata, the subscription metadata and the group metadata.
func consumerGroupTombstones(groupID string, cg *consumerGroup) []coordinatorRecord {
	var recs []coordinatorRecord
	ids := cg.sortedMemberIDs()
	for _, typ := range []int16{keyConsumerGroupCurrentMember, keyConsumerGroupTargetMember} {
		for _, id := range ids {
			recs = append(recs, coordinatorRecord{key: consumerKey(typ, groupID, &id)})
		}
	}
	recs = append(recs, coordinatorRecord{key: consumerKey(keyConsumerGroupTargetMetadata, groupID, nil)})
	for _, id := range ids {
		recs = append(recs, coordinatorRecord{key: consumerKey(keyConsumerGroupMemberMetadata, groupID, &id)})
	}
	return append(recs,
		coordinatorRecord{key: consumerKey(keyConsumerGroupPartitionMeta, groupID, nil)},
		coordinatorRecord{key: consumerKey(keyConsumerGroupMetadata, groupID, nil)},
	)
}

// flexReader decodes the flexible encoding.
type flexReader struct {
	b   []byte
	err error
}

var errShortRecord = errors.New("record too short")

func (r *flexReader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errShortRecord
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *flexReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *flexReader) int16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *flexReader) int32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *flexReader) int8() int8 {
	if b := r.take(1); b != nil {
		return int8(b[0])
	}
	return 0
}

func (r *flexReader) uuid() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

func (r *flexReader) int16String() string { return string(r.take(int(r.int16()))) }

func (r *flexReader) compactNullableString() *string {
	n := r.uvarint()
	if n == 0 {
		return nil
	}
	s := string(r.take(int(n - 1)))
	return &s
}

func (r *flexReader) compactString() string {
	if s := r.compactNullableString(); s != nil {
		return *s
	}
	return ""
}

// arrayLen reads a compact array length (null reads as empty).
func (r *flexReader) arrayLen() int {
	n := r.uvarint()
	if n == 0 {
		return 0
	}
	if n-1 > uint64(len(r.b)) {
		r.err = errShortRecord
		return 0
	}
	return int(n - 1)
}

// skipTags skips a tagged field section.
func (r *flexReader) skipTags() {
	for range r.uvarint() {
		r.uvarint()
		r.take(int(r.uvarint()))
		if r.err != nil {
			return
		}
	}
}

func (r *flexReader) topicPartitions() []topicPartitions {
	out := make([]topicPartitions, r.arrayLen())
	for i := range out {
		out[i].id = r.uuid()
		out[i].partitions = make([]int32, r.arrayLen())
		for j := range out[i].partitions {
			out[i].partitions[j] = r.int32()
		}
		r.skipTags()
	}
	return out
}

// replayConsumer applies one consumer group record to groups (Kafka's
// GroupMetadataManager.replay for the ConsumerGroup* records).
func replayConsumer(groups map[string]*group, typ int16, key, value []byte, newGroupFn func(string) *group) error {
	kr := &flexReader{b: key[2:]}
	groupID := kr.int16String()
	var memberID string
	if typ == keyConsumerGroupMemberMetadata || typ == keyConsumerGroupTargetMember || typ == keyConsumerGroupCurrentMember {
		memberID = kr.int16String()
	}
	if kr.err != nil {
		return fmt.Errorf("decode consumer group key type %d: %w", typ, kr.err)
	}
	g := groups[groupID]
	if value == nil {
		if g == nil || g.consumer == nil {
			return nil
		}
		cg := g.consumer
		switch typ {
		case keyConsumerGroupMetadata:
			g.consumer = nil
			g.protocolType = ""
			if !g.hasOffsets() {
				delete(groups, groupID)
			}
		case keyConsumerGroupMemberMetadata, keyConsumerGroupCurrentMember:
			delete(cg.members, memberID)
		case keyConsumerGroupTargetMember:
			delete(cg.target, memberID)
		case keyConsumerGroupPartitionMeta:
			cg.topics = make(map[string]TopicInfo)
		case keyConsumerGroupTargetMetadata:
			cg.assignmentEpoch = 0
		}
		return nil
	}
	if g == nil {
		g = newGroupFn(groupID)
		groups[groupID] = g
	}
	if g.consumer == nil {
		g.consumer = newConsumerGroup()
		g.protocolType = consumerProtocolType
	}
	cg := g.consumer
	member := func() *consumerMember {
		m := cg.members[memberID]
		if m == nil {
			m = newConsumerMember(memberID)
			cg.members[memberID] = m
		}
		return m
	}
	r := &flexReader{b: value}
	if v := r.int16(); v != 0 && r.err == nil {
		return fmt.Errorf("consumer group record type %d of group %q: unknown value version %d", typ, groupID, v)
	}
	switch typ {
	case keyConsumerGroupMetadata:
		cg.epoch = r.int32()
	case keyConsumerGroupPartitionMeta:
		r.int32()
		cg.topics = make(map[string]TopicInfo)
		for range r.arrayLen() {
			t := TopicInfo{ID: r.uuid(), Name: r.compactString(), Partitions: r.int32()}
			for range r.arrayLen() {
				r.int32()
				for range r.arrayLen() {
					r.compactString()
				}
				r.skipTags()
			}
			r.skipTags()
			cg.topics[t.Name] = t
		}
	case keyConsumerGroupMemberMetadata:
		m := member()
		m.hasMetadata = true
		m.instanceID = r.compactNullableString()
		m.rackID = r.compactNullableString()
		m.clientID = r.compactString()
		m.clientHost = r.compactString()
		m.subscribedNames = make([]string, r.arrayLen())
		for i := range m.subscribedNames {
			m.subscribedNames[i] = r.compactString()
		}
		m.subscribedRegex = r.compactNullableString()
		m.rebalanceTimeoutMs = r.int32()
		m.serverAssignor = r.compactNullableString()
	case keyConsumerGroupTargetMetadata:
		cg.assignmentEpoch = r.int32()
	case keyConsumerGroupTargetMember:
		cg.target[memberID] = partSetOf(r.topicPartitions())
	case keyConsumerGroupCurrentMember:
		m := member()
		m.epoch = r.int32()
		m.prevEpoch = r.int32()
		m.state = memberState(r.int8())
		m.assigned = partSetOf(r.topicPartitions())
		m.revoking = partSetOf(r.topicPartitions())
	}
	r.skipTags()
	if r.err != nil {
		return fmt.Errorf("decode consumer group record type %d of group %q: %w", typ, groupID, r.err)
	}
	return nil
}

// finishConsumerLoad drops members known only from assignment records
// (their metadata was deleted) and mirrors each consumer group's state into
// the classic view.
func finishConsumerLoad(g *group) {
	cg := g.consumer
	if cg == nil {
		return
	}
	for id, m := range cg.members {
		if !m.hasMetadata {
			delete(cg.members, id)
		}
	}
	g.syncClassicView(g.stateTime)
}
