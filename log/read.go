package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/samsa-broker/samsa/record"
)

// maxDecompressedLookup bounds the decompressed size of one batch decoded
// for a timestamp lookup. Batches were validated with a smaller bound on
// produce; this only keeps a damaged file from exhausting memory.
const maxDecompressedLookup = 256 << 20

// errStopWalk ends a record walk early.
var errStopWalk = errors.New("stop walking records")

// Read returns whole batches starting with the batch that contains offset,
// at most maxBytes of them, none whose base offset is >= maxOffset (the high
// watermark for consumers, the log end offset for followers). If the first
// batch alone is larger than maxBytes it is returned whole when minOneBatch
// is set (KIP-74) and nothing is returned otherwise. Like Kafka, reads stay
// within one segment. offset equal to the log end offset, or at or past
// maxOffset, returns no bytes; offset below the log start offset or above
// the log end offset is ErrOffsetOutOfRange. The returned slice is the
// caller's.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64, minOneBatch bool) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("read %s: %w", l.tp, ErrLogClosed)
	}
	// The log end offset is published after the segment sizes, so reading
	// it first guarantees the sizes read below cover it.
	leo, start := l.leo.Load(), l.logStart.Load()
	if offset < start || offset > leo {
		return nil, fmt.Errorf("read %s at offset %d: %w: log covers [%d, %d]", l.tp, offset, ErrOffsetOutOfRange, start, leo)
	}
	if offset == leo || offset >= maxOffset {
		return nil, nil
	}
	for i := l.segmentIndexLocked(offset); i < len(l.segments); i++ {
		s := l.segments[i]
		end := s.size.Load()
		pos, h, found, err := s.findBatch(offset, end)
		if err != nil {
			return nil, fmt.Errorf("read %s at offset %d: %w", l.tp, offset, err)
		}
		if found {
			return readBatches(s, pos, h, end, maxBytes, maxOffset, minOneBatch)
		}
	}
	return nil, nil
}

// readBatches reads the batches from pos (where batch h starts) up to end,
// trimmed to whole batches as Read describes.
func readBatches(s *segment, pos int64, h record.Header, end int64, maxBytes int, maxOffset int64, minOneBatch bool) ([]byte, error) {
	n := int64(max(maxBytes, 0))
	if minOneBatch && int64(h.Size()) > n {
		n = int64(h.Size())
	}
	n = min(n, end-pos)
	if n < int64(h.Size()) {
		return nil, nil
	}
	buf := make([]byte, n)
	if err := s.readAt(buf, pos); err != nil {
		return nil, err
	}
	cut := 0
	for cut+record.LogOverhead <= len(buf) {
		base := int64(binary.BigEndian.Uint64(buf[cut:]))
		size := int(int32(binary.BigEndian.Uint32(buf[cut+8:]))) + record.LogOverhead
		if base >= maxOffset || size < record.HeaderSize || cut+size > len(buf) {
			break
		}
		cut += size
	}
	return buf[:cut], nil
}

// segmentIndexLocked returns the index of the segment that holds offset:
// the last one whose base offset is <= offset. Requires mu or writeMu.
func (l *Log) segmentIndexLocked(offset int64) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].baseOffset > offset })
	return max(i-1, 0)
}

// OffsetForTimestamp returns the first offset at or after the log start
// offset whose record timestamp is >= ts, with that record's timestamp, as
// Kafka's fetchOffsetByTimestamp does: the first segment whose largest
// timestamp reaches ts, the time index to find where to start, then the
// first batch whose max timestamp reaches ts, and within it the first such
// record. found is false when no record has a timestamp >= ts.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, 0, false, fmt.Errorf("offset for timestamp %s: %w", l.tp, ErrLogClosed)
	}
	start := l.logStart.Load()
	for _, s := range l.segments {
		if s.largestTimestamp() < ts {
			continue
		}
		offset, timestamp, found, err = l.searchTimestampLocked(s, ts, start)
		if err != nil {
			return 0, 0, false, fmt.Errorf("offset for timestamp %d in %s: %w", ts, l.tp, err)
		}
		if found {
			return offset, timestamp, true, nil
		}
	}
	return 0, 0, false, nil
}

// searchTimestampLocked is Kafka's LogSegment.findOffsetByTimestamp.
func (l *Log) searchTimestampLocked(s *segment, ts, start int64) (offset, timestamp int64, found bool, err error) {
	_, indexed, err := s.times.lookup(ts)
	if err != nil {
		return 0, 0, false, err
	}
	_, pos, err := s.offsets.lookup(max(indexed, start))
	if err != nil {
		return 0, 0, false, err
	}
	end := s.size.Load()
	for {
		var h record.Header
		var ok bool
		pos, h, ok, err = s.scanFor(pos, end, func(h record.Header) bool { return h.MaxTimestamp >= ts && h.LastOffset() >= start })
		if err != nil || !ok {
			return 0, 0, false, err
		}
		offset, timestamp, found, err = l.findRecord(s, pos, h, func(r record.Record) bool { return r.Timestamp >= ts && r.Offset >= start })
		if err != nil || found {
			return offset, timestamp, found, err
		}
		pos += int64(h.Size())
	}
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (ListOffsets MAX_TIMESTAMP, KIP-734): the segment with
// the largest timestamp, the first batch there whose max timestamp is it,
// the first record in it that carries it (Kafka's offsetOfMaxTimestamp).
// An empty log returns (-1, -1).
func (l *Log) MaxTimestamp() (offset int64, timestamp int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var best *segment
	bestTs, bestOffset := int64(-1), int64(-1)
	for _, s := range l.segments {
		if ts, off := s.stats(); ts > bestTs {
			best, bestTs, bestOffset = s, ts, off
		}
	}
	if best == nil || l.closed {
		return -1, -1
	}
	offset, err := l.offsetOfTimestampLocked(best, bestTs, bestOffset)
	if err != nil {
		// The segment's stats still name the batch: answer with its last
		// offset, as Kafka did before KAFKA-16310.
		l.logger.Warn("max timestamp lookup failed", slog.Any("error", err))
		return bestOffset, bestTs
	}
	return offset, bestTs
}

// offsetOfTimestampLocked finds the first record with timestamp ts in the
// segment, starting at the batch around offset (its last offset, as the time
// index records it).
func (l *Log) offsetOfTimestampLocked(s *segment, ts, offset int64) (int64, error) {
	_, pos, err := s.offsets.lookup(offset)
	if err != nil {
		return 0, err
	}
	pos, h, ok, err := s.scanFor(pos, s.size.Load(), func(h record.Header) bool { return h.MaxTimestamp == ts })
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("no batch with max timestamp %d in segment %s", ts, s.logPath)
	}
	off, _, found, err := l.findRecord(s, pos, h, func(r record.Record) bool { return r.Timestamp == ts })
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("batch at offset %d has no record with its max timestamp %d", h.BaseOffset, ts)
	}
	return off, nil
}

// findRecord decodes the batch at pos (decompressing it if needed) and
// returns the offset and timestamp of its first record that matches.
func (l *Log) findRecord(s *segment, pos int64, h record.Header, match func(record.Record) bool) (offset, timestamp int64, found bool, err error) {
	batch := make([]byte, h.Size())
	if err := s.readAt(batch, pos); err != nil {
		return 0, 0, false, err
	}
	_, err = l.codecs.Records(batch, maxDecompressedLookup, func(r record.Record) error {
		if match(r) {
			offset, timestamp, found = r.Offset, r.Timestamp, true
			return errStopWalk
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopWalk) {
		return 0, 0, false, fmt.Errorf("decode batch at offset %d: %w", h.BaseOffset, err)
	}
	return offset, timestamp, found, nil
}
