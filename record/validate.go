package record

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Validate checks that b is exactly one v2 record batch a client may
// produce, the checks Kafka makes before appending (UnifiedLog's
// analyzeAndValidateRecords, then LogValidator for AppendOrigin.CLIENT):
//
//   - ErrCorrupt (CORRUPT_MESSAGE, which clients retry): a short or
//     truncated batch, magic other than 2, a Length that disagrees with
//     b, a CRC-32C mismatch, a codec outside 0..4, or a compressed payload
//     that does not decompress within maxDecompressed bytes.
//   - ErrInvalidRecord (INVALID_RECORD, not retried): bytes after the
//     batch (a produce carries exactly one batch per partition), a record
//     count below 1 or disagreeing with LastOffsetDelta, a control batch,
//     a producer ID without a base sequence, and any record whose framing
//     is wrong: bad varints, fields overrunning or not filling the
//     record's length, offset deltas other than 0, 1, 2, ..., more or
//     fewer records than NumRecords. Kafka raises InvalidRecordException
//     for all of these once the batch's CRC has passed.
//
// b is not modified. For an uncompressed batch Validate allocates nothing;
// a compressed one is decompressed into a pooled buffer.
func (c *Codecs) Validate(b []byte, maxDecompressed int) (Header, error) {
	h, _, err := c.ValidateSummary(b, maxDecompressed)
	return h, err
}

// ValidateSummary is Validate that also returns what it learned about the
// records, for the topic rules applied above this package (timestamp
// bounds, keys on compacted topics).
func (c *Codecs) ValidateSummary(b []byte, maxDecompressed int) (Header, Summary, error) {
	h, err := checkFraming(b)
	if err != nil {
		return h, Summary{}, err
	}
	if err := checkProduceRules(&h); err != nil {
		return h, Summary{}, err
	}
	walk := recordWalk{header: &h, consecutive: true}
	if h.Codec() == CodecNone {
		err = walk.run(b[HeaderSize:])
		return h, walk.summary, err
	}
	scratch := c.getScratch()
	data, err := c.appendDecompressed((*scratch)[:0], h.Codec(), b[HeaderSize:], maxDecompressed)
	if err == nil {
		err = walk.run(data)
	}
	c.putScratch(scratch, data)
	return h, walk.summary, err
}

// checkFraming checks what makes b one intact v2 batch, in Kafka's order
// (RecordBatch.ensureValid, then the codec): header and magic, Length
// against b, CRC-32C, codec. A CRC-valid batch followed by more bytes is
// ErrInvalidRecord, as Kafka answers a produce with two batches.
func checkFraming(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	size := h.Size()
	if len(b) < size {
		return h, fmt.Errorf("%w: batch length says %d bytes, %d present", ErrCorrupt, size, len(b))
	}
	if crc := ComputeCRC(b[:size]); crc != h.CRC {
		return h, fmt.Errorf("%w: CRC-32C is %#08x, batch says %#08x", ErrCorrupt, crc, h.CRC)
	}
	if len(b) > size {
		return h, fmt.Errorf("%w: %d bytes follow the %d byte batch; a produce carries exactly one batch per partition",
			ErrInvalidRecord, len(b)-size, size)
	}
	if codec := h.Codec(); codec > CodecZstd {
		return h, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, int8(codec))
	}
	return h, nil
}

// checkProduceRules applies LogValidator.validateBatch for a client's
// batch: the offset range and record count agree and are positive, no
// control batch, and an idempotent batch has a sequence.
func checkProduceRules(h *Header) error {
	switch {
	case h.LastOffsetDelta < 0:
		return fmt.Errorf("%w: last offset delta %d", ErrInvalidRecord, h.LastOffsetDelta)
	case h.NumRecords <= 0:
		return fmt.Errorf("%w: record count %d, a batch must hold at least one record", ErrInvalidRecord, h.NumRecords)
	case int64(h.LastOffsetDelta)+1 != int64(h.NumRecords):
		return fmt.Errorf("%w: last offset delta %d disagrees with record count %d",
			ErrInvalidRecord, h.LastOffsetDelta, h.NumRecords)
	case h.Control():
		return fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return fmt.Errorf("%w: producer ID %d with base sequence %d", ErrInvalidRecord, h.ProducerID, h.BaseSequence)
	}
	return nil
}

// Split cuts buf, several batches back to back (a log segment, a fetch
// response, a follower's fetched data), into one slice per batch. The
// slices alias buf and are capped at their batch's end, so appending to
// one cannot overwrite the next. Split reads only headers: it checks each
// batch's header and length, not its CRC or records. If the bytes after
// the last whole batch are not a whole batch (a torn write, a fetch cut at
// its byte limit), Split returns the whole batches before them along with
// an error wrapping ErrCorrupt, so a caller can keep the intact prefix.
func Split(buf []byte) ([][]byte, error) {
	var batches [][]byte
	for at := 0; at < len(buf); {
		h, err := ParseHeader(buf[at:])
		if err != nil {
			return batches, fmt.Errorf("batch %d at byte %d: %w", len(batches), at, err)
		}
		size := h.Size()
		if size > len(buf)-at {
			return batches, fmt.Errorf("%w: batch %d at byte %d is %d bytes, %d left",
				ErrCorrupt, len(batches), at, size, len(buf)-at)
		}
		batches = append(batches, buf[at:at+size:at+size])
		at += size
	}
	return batches, nil
}

// Recompress returns the batch b rebuilt with its records section
// compressed with codec to, as Kafka's LogValidator does when a topic's
// compression.type names a codec other than the producer's: the header
// keeps every field but the codec bits of Attributes, Length and CRC. The
// records themselves are not re-checked (validate b first); b's framing
// and CRC are, so corrupt input is never given a fresh CRC. When b already
// uses codec to, b itself is returned; otherwise the result is a new
// buffer and b is not modified.
func (c *Codecs) Recompress(b []byte, to Codec, maxDecompressed int) ([]byte, error) {
	if to < CodecNone || to > CodecZstd {
		return nil, fmt.Errorf("recompress to unknown compression codec %d", int8(to))
	}
	h, err := checkFraming(b)
	if err != nil {
		return nil, err
	}
	if h.Codec() == to {
		return b, nil
	}
	records := b[HeaderSize:]
	if h.Codec() != CodecNone {
		scratch := c.getScratch()
		defer func() { c.putScratch(scratch, records) }()
		if records, err = c.appendDecompressed((*scratch)[:0], h.Codec(), records, maxDecompressed); err != nil {
			return nil, err
		}
	}
	guess := len(records)
	if to != CodecNone {
		guess = len(records)/2 + 64
	}
	out := make([]byte, HeaderSize, HeaderSize+guess)
	copy(out, b[:HeaderSize])
	if out, err = c.AppendCompressed(out, to, records); err != nil {
		return nil, fmt.Errorf("recompress %s to %s: %w", h.Codec(), to, err)
	}
	if len(out)-LogOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("recompress %s to %s: %d bytes do not fit a batch", h.Codec(), to, len(out))
	}
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-LogOverhead))
	attrs := uint16(h.Attributes)&^attrCompressionMask | uint16(to)
	binary.BigEndian.PutUint16(out[offAttributes:], attrs)
	binary.BigEndian.PutUint32(out[offCRC:], ComputeCRC(out))
	return out, nil
}
