package controller

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// recordVersion is the version of every record type's encoding written
// today, unless the record says otherwise (versionedRecord). A decoder
// refuses versions it does not know rather than guess at fields: a metadata
// record misread is a cluster misconfigured.
const recordVersion = 0

// versionedRecord is a Record with more than one encoding. It reports the
// oldest version that holds all its fields, so a record that does not use
// a newer field keeps the bytes it always had (and stays readable by a node
// that predates the field).
type versionedRecord interface {
	version() uint8
}

// versionOf is the version r is encoded at.
func versionOf(r Record) uint8 {
	if v, ok := r.(versionedRecord); ok {
		return v.version()
	}
	return recordVersion
}

// maxRecordVersion is the newest version of typ this node reads.
func maxRecordVersion(typ RecordType) uint8 {
	switch typ {
	case PartitionRecordType, PartitionChangeRecordType:
		// Version 1 adds AddingReplicas and RemovingReplicas (KIP-455).
		return 1
	}
	return recordVersion
}

// ErrCorruptRecords reports bytes that are not a valid record list.
var ErrCorruptRecords = errors.New("corrupt metadata records")

// EncodeRecords serialises a list of records (one log entry, one raft
// command) in the format described in FORMAT.md.
func EncodeRecords(recs []Record) []byte {
	e := &encoder{}
	e.uvarint(uint64(len(recs)))
	var body encoder
	for _, r := range recs {
		body.b = body.b[:0]
		body.b = append(body.b, byte(r.Type()), versionOf(r))
		r.encode(&body)
		e.uvarint(uint64(len(body.b)))
		e.b = append(e.b, body.b...)
	}
	return e.b
}

// DecodeRecords parses what EncodeRecords wrote. It never panics and never
// allocates more than the input can describe, since the bytes come from disk
// or the network.
func DecodeRecords(b []byte) ([]Record, error) {
	d := &decoder{b: b}
	n := d.count(1)
	if d.err != nil {
		return nil, fmt.Errorf("%w: record count: %w", ErrCorruptRecords, d.err)
	}
	recs := make([]Record, 0, n)
	for i := range n {
		size := d.count(1)
		body := d.bytes(size)
		if d.err != nil {
			return nil, fmt.Errorf("%w: record %d framing: %w", ErrCorruptRecords, i, d.err)
		}
		r, err := decodeRecord(body)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", ErrCorruptRecords, i, err)
		}
		recs = append(recs, r)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorruptRecords, len(d.b))
	}
	return recs, nil
}

func decodeRecord(b []byte) (Record, error) {
	if len(b) < 2 {
		return nil, errors.New("record shorter than its header")
	}
	typ, version := RecordType(b[0]), b[1]
	if version > maxRecordVersion(typ) {
		return nil, fmt.Errorf("%s version %d is not understood by this broker", typ, version)
	}
	d := &decoder{b: b[2:]}
	var r Record
	switch typ {
	case ClusterIDRecordType:
		r = ClusterIDRecord{ClusterID: d.string()}
	case RegisterBrokerRecordType:
		rec := RegisterBrokerRecord{NodeID: d.int32(), Epoch: d.int64(), IncarnationID: d.uuid()}
		rec.Listeners = d.endpoints()
		rec.Rack = d.string()
		rec.Fenced = d.bool()
		r = rec
	case FenceBrokerRecordType:
		r = FenceBrokerRecord{NodeID: d.int32(), Epoch: d.int64()}
	case UnfenceBrokerRecordType:
		r = UnfenceBrokerRecord{NodeID: d.int32(), Epoch: d.int64()}
	case UnregisterBrokerRecordType:
		r = UnregisterBrokerRecord{NodeID: d.int32(), Epoch: d.int64()}
	case TopicRecordType:
		r = TopicRecord{Name: d.string(), ID: d.uuid()}
	case PartitionRecordType:
		rec := PartitionRecord{TopicID: d.uuid(), Partition: d.int32()}
		rec.Replicas = d.int32s()
		rec.ISR = d.int32s()
		rec.Leader, rec.LeaderEpoch, rec.PartitionEpoch = d.int32(), d.int32(), d.int32()
		if version >= 1 {
			rec.AddingReplicas, rec.RemovingReplicas = d.int32s(), d.int32s()
		}
		r = rec
	case PartitionChangeRecordType:
		rec := PartitionChangeRecord{TopicID: d.uuid(), Partition: d.int32()}
		rec.ISR = d.int32s()
		rec.Leader = d.int32()
		rec.Replicas = d.int32s()
		if version >= 1 {
			rec.AddingReplicas, rec.RemovingReplicas = d.int32s(), d.int32s()
		}
		r = rec
	case RemoveTopicRecordType:
		r = RemoveTopicRecord{ID: d.uuid()}
	case ConfigRecordType:
		rec := ConfigRecord{ResourceType: d.int8(), ResourceName: d.string(), Name: d.string()}
		rec.Value = d.nullableString()
		r = rec
	case ProducerIDsRecordType:
		r = ProducerIDsRecord{BrokerID: d.int32(), BrokerEpoch: d.int64(), NextProducerID: d.int64()}
	default:
		return nil, fmt.Errorf("unknown record type %d", uint8(typ))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%s: %w", typ, d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%s: %d trailing bytes", typ, len(d.b))
	}
	return r, nil
}

func (r ClusterIDRecord) encode(e *encoder) { e.string(r.ClusterID) }

func (r RegisterBrokerRecord) encode(e *encoder) {
	e.int32(r.NodeID)
	e.int64(r.Epoch)
	e.uuid(r.IncarnationID)
	e.uvarint(uint64(len(r.Listeners)))
	for _, l := range r.Listeners {
		e.string(l.Name)
		e.string(l.Host)
		e.int32(l.Port)
		e.int16(l.SecurityProtocol)
	}
	e.string(r.Rack)
	e.bool(r.Fenced)
}

func (r FenceBrokerRecord) encode(e *encoder) { e.int32(r.NodeID); e.int64(r.Epoch) }

func (r UnfenceBrokerRecord) encode(e *encoder) { e.int32(r.NodeID); e.int64(r.Epoch) }

func (r UnregisterBrokerRecord) encode(e *encoder) { e.int32(r.NodeID); e.int64(r.Epoch) }

func (r TopicRecord) encode(e *encoder) { e.string(r.Name); e.uuid(r.ID) }

func (r PartitionRecord) encode(e *encoder) {
	e.uuid(r.TopicID)
	e.int32(r.Partition)
	e.int32s(r.Replicas)
	e.int32s(r.ISR)
	e.int32(r.Leader)
	e.int32(r.LeaderEpoch)
	e.int32(r.PartitionEpoch)
	if r.version() >= 1 {
		e.int32s(r.AddingReplicas)
		e.int32s(r.RemovingReplicas)
	}
}

// version is 1 when the record carries a reassignment (either set not nil).
func (r PartitionRecord) version() uint8 {
	if r.AddingReplicas != nil || r.RemovingReplicas != nil {
		return 1
	}
	return 0
}

func (r PartitionChangeRecord) encode(e *encoder) {
	e.uuid(r.TopicID)
	e.int32(r.Partition)
	e.int32s(r.ISR)
	e.int32(r.Leader)
	e.int32s(r.Replicas)
	if r.version() >= 1 {
		e.int32s(r.AddingReplicas)
		e.int32s(r.RemovingReplicas)
	}
}

// version is 1 when the record changes a reassignment set.
func (r PartitionChangeRecord) version() uint8 {
	if r.AddingReplicas != nil || r.RemovingReplicas != nil {
		return 1
	}
	return 0
}

func (r RemoveTopicRecord) encode(e *encoder) { e.uuid(r.ID) }

func (r ConfigRecord) encode(e *encoder) {
	e.int8(r.ResourceType)
	e.string(r.ResourceName)
	e.string(r.Name)
	e.nullableString(r.Value)
}

func (r ProducerIDsRecord) encode(e *encoder) {
	e.int32(r.BrokerID)
	e.int64(r.BrokerEpoch)
	e.int64(r.NextProducerID)
}

// encoder appends big-endian fixed-width integers, uvarint-prefixed strings,
// and varint-prefixed nullable arrays (-1 = nil), in field order.
type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int8(v int8)      { e.b = append(e.b, byte(v)) }
func (e *encoder) int16(v int16)    { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)) }
func (e *encoder) int32(v int32)    { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *encoder) int64(v int64)    { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *encoder) uuid(v [16]byte)  { e.b = append(e.b, v[:]...) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) string(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) nullableString(s *string) {
	if s == nil {
		e.b = binary.AppendVarint(e.b, -1)
		return
	}
	e.b = binary.AppendVarint(e.b, int64(len(*s)))
	e.b = append(e.b, *s...)
}

func (e *encoder) int32s(v []int32) {
	if v == nil {
		e.b = binary.AppendVarint(e.b, -1)
		return
	}
	e.b = binary.AppendVarint(e.b, int64(len(v)))
	for _, x := range v {
		e.int32(x)
	}
}

// decoder reads what encoder wrote. The first error sticks; later reads
// return zero values, so callers check d.err once per record.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated field")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(errShort)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad uvarint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad varint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length whose elements take at least minSize bytes each, and
// rejects one the remaining input cannot hold.
func (d *decoder) count(minSize int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)/minSize) {
		d.fail(fmt.Errorf("length %d exceeds the %d bytes left", v, len(d.b)))
		return 0
	}
	return int(v)
}

// nullableCount is count for varint lengths where -1 means nil.
func (d *decoder) nullableCount(minSize int) (int, bool) {
	v := d.varint()
	if d.err != nil {
		return 0, false
	}
	if v == -1 {
		return 0, false
	}
	if v < -1 || v > int64(len(d.b)/minSize) {
		d.fail(fmt.Errorf("length %d invalid with %d bytes left", v, len(d.b)))
		return 0, false
	}
	return int(v), true
}

func (d *decoder) bytes(n int) []byte { return d.take(n) }

func (d *decoder) int8() int8 {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return int8(b[0])
}

func (d *decoder) int16() int16 {
	b := d.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

func (d *decoder) int32() int32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (d *decoder) int64() int64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (d *decoder) uuid() (v [16]byte) {
	copy(v[:], d.take(16))
	return v
}

func (d *decoder) bool() bool {
	b := d.take(1)
	if b == nil {
		return false
	}
	switch b[0] {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(fmt.Errorf("bad bool byte %d", b[0]))
	return false
}

func (d *decoder) string() string {
	n := d.count(1)
	return string(d.take(n))
}

func (d *decoder) nullableString() *string {
	n, ok := d.nullableCount(1)
	if !ok {
		return nil
	}
	s := string(d.take(n))
	if d.err != nil {
		return nil
	}
	return &s
}

func (d *decoder) int32s() []int32 {
	n, ok := d.nullableCount(4)
	if !ok {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		v[i] = d.int32()
	}
	if d.err != nil {
		return nil
	}
	return v
}

// endpoints reads a listener list. Each endpoint takes at least 11 bytes
// (two empty strings, a port and a protocol).
func (d *decoder) endpoints() []Endpoint {
	n := d.count(11)
	if n == 0 {
		return nil
	}
	v := make([]Endpoint, n)
	for i := range v {
		v[i] = Endpoint{Name: d.string(), Host: d.string(), Port: d.int32(), SecurityProtocol: d.int16()}
	}
	if d.err != nil {
		return nil
	}
	return v
}
