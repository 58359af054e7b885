package record

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Record is one record of a batch, decoded. Key, Value and header values
// alias the batch (or, for a compressed batch, a decompressed copy that
// nothing else uses), so they stay valid as long as the batch's bytes do; a
// nil slice is a null key or value.
type Record struct {
	// Attributes is the record's attribute byte; Kafka defines no bits.
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	// Offset is the batch's base offset plus OffsetDelta.
	Offset int64
	// Timestamp is FirstTimestamp plus TimestampDelta, or the batch's max
	// timestamp when the batch carries log-append time, as Kafka's
	// DefaultRecordBatch reports it.
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordHeader is one key/value header of a record. A nil Value is null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Summary describes a batch's records; validation gathers it while it walks
// them, so callers that enforce topic rules need no second pass.
type Summary struct {
	// MinTimestamp and MaxTimestamp bound the records' create timestamps
	// (FirstTimestamp + TimestampDelta), leaving out records without one
	// (-1); both are -1 when no record has one. Kafka's LogValidator checks
	// each record against message.timestamp.before.max.ms and
	// after.max.ms (KIP-937), and for CreateTime topics stores the
	// largest as the batch's max timestamp.
	MinTimestamp int64
	MaxTimestamp int64
	// NullKeys counts records with a null key: a compacted topic rejects a
	// batch holding any with INVALID_RECORD.
	NullKeys int
	// UncompressedBytes is the size of the records section decompressed
	// (equal to its stored size when the batch is not compressed).
	UncompressedBytes int
}

// Records checks that b is one intact batch (header, length, CRC, codec,
// record framing and count, as Validate does) and calls fn with each record
// in order. Unlike Validate it accepts what a log may hold but a client may
// not send: control batches, batches emptied by compaction, and offset
// deltas with gaps left by compaction. An error from fn stops the walk and
// is returned unwrapped. maxDecompressed bounds a compressed payload's
// decompressed size.
func (c *Codecs) Records(b []byte, maxDecompressed int, fn func(Record) error) (Header, error) {
	h, err := checkFraming(b)
	if err != nil {
		return h, err
	}
	if h.NumRecords < 0 {
		return h, fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.NumRecords)
	}
	data := b[HeaderSize:]
	if h.Codec() != CodecNone {
		// A fresh buffer: the records handed to fn alias it and may be
		// kept by the caller.
		if data, err = c.Decompress(h.Codec(), data, maxDecompressed); err != nil {
			return h, err
		}
	}
	walk := recordWalk{header: &h, visit: fn}
	return h, walk.run(data)
}

// recordWalk is one pass over a batch's records section (decompressed):
// it checks every record's framing and the record count, fills a Summary,
// and, when visit is set, decodes each record for it. Without visit it
// allocates nothing, which keeps validation of uncompressed produce batches
// allocation free.
type recordWalk struct {
	header *Header
	// consecutive demands offset deltas 0, 1, 2, ... as a producer must
	// send them (older Kafka rejected others with INVALID_RECORD; Kafka 3
	// rewrites them, samsa appends batches as they are and cannot).
	consecutive bool
	visit       func(Record) error
	summary     Summary
	timestamped bool // a record with a timestamp has been seen
}

func (w *recordWalk) run(data []byte) error {
	w.summary = Summary{MinTimestamp: -1, MaxTimestamp: -1, UncompressedBytes: len(data)}
	w.timestamped = false
	want := int(w.header.NumRecords)
	i := 0
	for ; len(data) > 0; i++ {
		if i == want {
			// Kafka: "Incorrect declared batch size, records still
			// remaining in file".
			return fmt.Errorf("%w: batch declares %d records, %d bytes follow the last",
				ErrInvalidRecord, want, len(data))
		}
		p := recordParser{b: data, index: i}
		length, ok := p.varint32()
		if !ok {
			return fmt.Errorf("%w: record %d: malformed length varint", ErrInvalidRecord, i)
		}
		if length < 0 || int(length) > p.left() {
			return fmt.Errorf("%w: record %d: length %d, %d bytes left in the batch",
				ErrInvalidRecord, i, length, p.left())
		}
		body := data[p.pos : p.pos+int(length)]
		data = data[p.pos+int(length):]
		if err := w.record(i, body); err != nil {
			return err
		}
	}
	if i != want {
		// Kafka: "Incorrect declared batch size, premature EOF reached".
		return fmt.Errorf("%w: batch declares %d records, holds %d", ErrInvalidRecord, want, i)
	}
	return nil
}

// record decodes record i from body, the bytes its length prefix covers,
// following Kafka's DefaultRecord.readFrom: a negative key or value length
// is null, a negative header count or header key length is invalid, and
// the fields must end exactly where the length says.
func (w *recordWalk) record(i int, body []byte) error {
	p := recordParser{b: body, index: i}
	var rec Record
	attrs, err := p.byte()
	if err != nil {
		return err
	}
	rec.Attributes = int8(attrs)
	if rec.TimestampDelta, err = p.varlong("timestamp delta"); err != nil {
		return err
	}
	if rec.OffsetDelta, err = p.varint("offset delta"); err != nil {
		return err
	}
	if w.consecutive && rec.OffsetDelta != int32(i) {
		return fmt.Errorf("%w: record %d: offset delta %d, producers number records 0, 1, 2, ...",
			ErrInvalidRecord, i, rec.OffsetDelta)
	}
	if rec.Key, err = p.bytes("key"); err != nil {
		return err
	}
	if rec.Value, err = p.bytes("value"); err != nil {
		return err
	}
	count, err := p.varint("header count")
	if err != nil {
		return err
	}
	// Each header takes at least two bytes (two length varints), which
	// bounds the count before anything is allocated for it.
	if count < 0 || int(count) > p.left()/2 {
		return fmt.Errorf("%w: record %d: header count %d with %d bytes left", ErrInvalidRecord, i, count, p.left())
	}
	if w.visit != nil && count > 0 {
		rec.Headers = make([]RecordHeader, count)
	}
	for j := range int(count) {
		key, err := p.bytes("header key")
		if err != nil {
			return err
		}
		if key == nil {
			return fmt.Errorf("%w: record %d: header %d has a negative key length", ErrInvalidRecord, i, j)
		}
		value, err := p.bytes("header value")
		if err != nil {
			return err
		}
		if rec.Headers != nil {
			rec.Headers[j] = RecordHeader{Key: string(key), Value: value}
		}
	}
	if p.left() != 0 {
		return fmt.Errorf("%w: record %d: fields end %d bytes before the record's length", ErrInvalidRecord, i, p.left())
	}

	h := w.header
	ts := h.FirstTimestamp + rec.TimestampDelta
	switch {
	case ts == -1:
	case !w.timestamped:
		w.summary.MinTimestamp, w.summary.MaxTimestamp = ts, ts
		w.timestamped = true
	default:
		w.summary.MinTimestamp = min(w.summary.MinTimestamp, ts)
		w.summary.MaxTimestamp = max(w.summary.MaxTimestamp, ts)
	}
	if rec.Key == nil {
		w.summary.NullKeys++
	}
	if w.visit == nil {
		return nil
	}
	rec.Offset = h.BaseOffset + int64(rec.OffsetDelta)
	rec.Timestamp = ts
	if h.LogAppendTime() {
		rec.Timestamp = h.MaxTimestamp
	}
	return w.visit(rec)
}

// Kafka's ByteUtils reads an int32 varint in at most 5 bytes and an int64
// varlong in at most 10.
const (
	maxVarintLen32 = 5
	maxVarintLen64 = binary.MaxVarintLen64
)

// recordParser reads the fields of one record's body. Kafka's varints are
// zig-zag encoded like protobuf's sint, which is what binary.Varint reads.
type recordParser struct {
	b     []byte
	pos   int
	index int // the record's position in the batch, for errors
}

func (p *recordParser) left() int { return len(p.b) - p.pos }

func (p *recordParser) byte() (byte, error) {
	if p.pos >= len(p.b) {
		return 0, fmt.Errorf("%w: record %d: attributes past the record's end", ErrInvalidRecord, p.index)
	}
	p.pos++
	return p.b[p.pos-1], nil
}

func (p *recordParser) varlong(field string) (int64, error) {
	v, n := binary.Varint(p.b[p.pos:])
	if n <= 0 || n > maxVarintLen64 {
		return 0, fmt.Errorf("%w: record %d: %s: malformed or cut short varint", ErrInvalidRecord, p.index, field)
	}
	p.pos += n
	return v, nil
}

func (p *recordParser) varint(field string) (int32, error) {
	v, ok := p.varint32()
	if !ok {
		return 0, fmt.Errorf("%w: record %d: %s: malformed or cut short varint", ErrInvalidRecord, p.index, field)
	}
	return v, nil
}

// varint32 reads an int32 varint, reporting failure without building an
// error so that callers can name the field only when it fails. Record
// fields are mostly one- or two-byte varints, decoded inline here; longer
// ones go through binary.Varint.
func (p *recordParser) varint32() (int32, bool) {
	b := p.b[p.pos:]
	if len(b) > 0 && b[0] < 0x80 {
		p.pos++
		return unzigzag(uint32(b[0])), true
	}
	if len(b) > 1 && b[1] < 0x80 {
		p.pos += 2
		return unzigzag(uint32(b[0]&0x7f) | uint32(b[1])<<7), true
	}
	v, n := binary.Varint(b)
	if n <= 0 || n > maxVarintLen32 || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	p.pos += n
	return int32(v), true
}

// unzigzag undoes Kafka's (and protobuf's) zig-zag encoding.
func unzigzag(u uint32) int32 { return int32(u>>1) ^ -int32(u&1) }

// bytes reads a varint length and that many bytes; a negative length is
// null (nil). A present but empty field is a non-nil empty slice.
func (p *recordParser) bytes(field string) ([]byte, error) {
	n, ok := p.varint32()
	if !ok {
		return nil, fmt.Errorf("%w: record %d: %s length: malformed or cut short varint", ErrInvalidRecord, p.index, field)
	}
	if n < 0 {
		return nil, nil
	}
	if int(n) > p.left() {
		return nil, fmt.Errorf("%w: record %d: %s of %d bytes, %d left in the record",
			ErrInvalidRecord, p.index, field, n, p.left())
	}
	v := p.b[p.pos : p.pos+int(n) : p.pos+int(n)]
	p.pos += int(n)
	return v, nil
}
