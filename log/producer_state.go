package log

// Producer state snapshot format (samsa's own; Kafka's is a Struct schema
// with the same content). File name: <20-digit offset>.snapshot in the
// partition directory, like Kafka's; written as "<name>.tmp", fsynced,
// renamed, directory fsynced. All integers big-endian.
//
//	offset size field
//	0      2    version, int16 = 1
//	2      4    CRC-32C (Castagnoli), uint32, of every byte from offset 6 to the end
//	6      8    snapshot offset, int64: the state covers all offsets below it
//	             (must equal the offset in the file name)
//	14     4    producer count, int32 >= 0
//	18     ...  producer entries, back to back, ascending by producer ID:
//	  0    8    producer ID, int64 >= 0
//	  8    2    producer epoch, int16
//	  10   8    last timestamp (ms), int64
//	  18   1    batch count, uint8, 0..5
//	  19   32*n batches, oldest first:
//	    0  4    first sequence, int32
//	    4  4    last sequence, int32
//	    8  8    first offset, int64
//	    16 8    last offset, int64 >= first offset, > previous batch's last offset
//	    24 8    timestamp (ms), int64
//
// The file ends exactly after the last entry. A file that is short, long,
// of another version, fails its CRC or breaks a rule above is corrupt: it is
// skipped and deleted, and the next older snapshot is tried.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samsa-broker/samsa/record"
)

const (
	// numBatchesToRetain is Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN:
	// the producer's max.in.flight.requests.per.connection limit with
	// idempotence, so any batch a producer can retry is still cached.
	numBatchesToRetain = 5
	// snapshotsToKeep is how many snapshot files TakeSnapshot leaves.
	snapshotsToKeep = 2

	snapshotVersion            = 1
	snapshotSuffix             = ".snapshot"
	snapshotTmpSuffix          = snapshotSuffix + ".tmp"
	snapshotHeaderSize         = 18
	snapshotProducerSize       = 19
	snapshotBatchSize          = 32
	snapshotOffsetDigits       = 20
	snapshotCRCStart           = 6
	noProducerEpoch            = -1 // RecordBatch.NO_PRODUCER_EPOCH
	noSequence           int32 = -1 // RecordBatch.NO_SEQUENCE
)

// BatchMetadata describes one appended batch of an idempotent producer,
// enough to recognise a retry of it and answer with its original offsets.
type BatchMetadata struct {
	FirstSeq, LastSeq       int32
	FirstOffset, LastOffset int64
	Timestamp               int64
}

// ProducerEntry is the state of one producer ID in one partition (Kafka's
// ProducerStateEntry).
type ProducerEntry struct {
	ProducerID    int64
	Epoch         int16
	Batches       []BatchMetadata // the last 5, oldest first
	LastTimestamp int64
}

// ProducerStateManager is Kafka's ProducerStateManager for idempotent
// producers: per producer ID the epoch and last five batches of one
// partition, snapshotted to disk so that start-up replays only the log's
// tail. It is not safe for concurrent use: the Log calls it under its append
// lock.
type ProducerStateManager struct {
	dir        string
	expiration time.Duration
	logger     *slog.Logger

	producers          map[int64]*ProducerEntry
	lastSnapshotOffset int64 // -1: none known
}

// NewProducerStateManager returns an empty manager for the partition
// directory dir. expiration is producer.id.expiration.ms (KIP-854); zero or
// less never expires producers. logger receives the WARN about a corrupt
// snapshot being skipped; nil discards it.
func NewProducerStateManager(dir string, expiration time.Duration, logger *slog.Logger) *ProducerStateManager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ProducerStateManager{
		dir:                dir,
		expiration:         expiration,
		logger:             logger,
		producers:          map[int64]*ProducerEntry{},
		lastSnapshotOffset: -1,
	}
}

// CheckAppend validates a leader append of batch h against the state, as
// Kafka's UnifiedLog.analyzeAndValidateProducerState and
// ProducerAppendInfo.checkProducerEpoch/checkSequence do. Batches without a
// producer ID pass. For an idempotent data batch:
//   - same epoch and the exact sequence range of one of the cached batches:
//     a retry; it returns that batch (its original offsets) and the caller
//     must not append;
//   - an epoch older than the producer's: ErrInvalidProducerEpoch;
//   - a newer epoch of a known producer must start at sequence 0, the same
//     epoch must continue at last sequence + 1 (wrapping from MaxInt32 to 0),
//     else ErrOutOfOrderSequence;
//   - an unknown producer (never seen, expired, or removed with its data)
//     may start at any sequence.
//
// Control batches (transaction markers) carry no sequence: only their epoch
// is checked.
func (m *ProducerStateManager) CheckAppend(h record.Header) (dup *BatchMetadata, err error) {
	if !h.Idempotent() {
		return nil, nil
	}
	e, known := m.producers[h.ProducerID]
	if !known {
		return nil, nil
	}
	if !h.Control() && h.ProducerEpoch == e.Epoch {
		lastSeq := h.LastSequence()
		for i := range e.Batches {
			if b := e.Batches[i]; b.FirstSeq == h.BaseSequence && b.LastSeq == lastSeq {
				return &b, nil
			}
		}
	}
	if h.ProducerEpoch < e.Epoch {
		return nil, fmt.Errorf("%w: producer %d epoch %d is older than its last epoch %d",
			ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.Epoch)
	}
	if h.Control() {
		return nil, nil
	}
	if h.ProducerEpoch != e.Epoch {
		if h.BaseSequence != 0 && e.Epoch != noProducerEpoch {
			return nil, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d (previous epoch %d)",
				ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, e.Epoch)
		}
		return nil, nil
	}
	if e.Epoch == noProducerEpoch {
		// Kafka accepts any sequence while the producer has no epoch.
		return nil, nil
	}
	lastSeq := noSequence
	if n := len(e.Batches); n > 0 {
		lastSeq = e.Batches[n-1].LastSeq
	}
	if !inSequence(lastSeq, h.BaseSequence) {
		return nil, fmt.Errorf("%w: producer %d epoch %d: sequence %d does not follow last sequence %d",
			ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, lastSeq)
	}
	return nil, nil
}

// inSequence is Kafka's ProducerAppendInfo.inSequence: next follows last,
// and sequences wrap from MaxInt32 to 0. The sum is taken in int64 so that
// no-sequence (-1) is followed by 0.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// Update records the appended batch h, whose first offset is firstOffset, for
// leader appends, follower appends and recovery replay alike. Batches without
// a producer ID are ignored. A different epoch replaces the producer's epoch
// and forgets its batches (Kafka's maybeUpdateProducerEpoch); data batches
// are added to the last five; control batches only move the epoch and time.
// The batch's timestamp is its MaxTimestamp, as Kafka keeps it; appendTimeMs
// (the broker's append time, or -1 when unknown, e.g. in replay) replaces it
// when the batch is stamped with LogAppendTime, since its header may have
// been parsed before the stamp, or when the batch has no timestamp (-1).
func (m *ProducerStateManager) Update(h record.Header, firstOffset int64, appendTimeMs int64) {
	if !h.Idempotent() {
		return
	}
	ts := h.MaxTimestamp
	if (h.LogAppendTime() && appendTimeMs >= 0) || ts < 0 {
		ts = appendTimeMs
	}
	e, ok := m.producers[h.ProducerID]
	if !ok {
		e = &ProducerEntry{ProducerID: h.ProducerID, Epoch: h.ProducerEpoch}
		m.producers[h.ProducerID] = e
	}
	if e.Epoch != h.ProducerEpoch {
		e.Epoch = h.ProducerEpoch
		e.Batches = nil
	}
	e.LastTimestamp = ts
	if h.Control() {
		return
	}
	if len(e.Batches) == numBatchesToRetain {
		e.Batches = slices.Delete(e.Batches, 0, 1)
	}
	e.Batches = append(e.Batches, BatchMetadata{
		FirstSeq:    h.BaseSequence,
		LastSeq:     h.LastSequence(),
		FirstOffset: firstOffset,
		LastOffset:  firstOffset + int64(h.LastOffsetDelta),
		Timestamp:   ts,
	})
}

// Entry returns a copy of producerID's state; false if it has none.
func (m *ProducerStateManager) Entry(producerID int64) (ProducerEntry, bool) {
	e, ok := m.producers[producerID]
	if !ok {
		return ProducerEntry{}, false
	}
	return cloneEntry(e), true
}

// Producers returns a copy of every producer's state, ascending by ID (for
// DescribeProducers).
func (m *ProducerStateManager) Producers() []ProducerEntry {
	out := make([]ProducerEntry, 0, len(m.producers))
	for _, id := range slices.Sorted(maps.Keys(m.producers)) {
		out = append(out, cloneEntry(m.producers[id]))
	}
	return out
}

func cloneEntry(e *ProducerEntry) ProducerEntry {
	c := *e
	c.Batches = slices.Clone(e.Batches)
	return c
}

// ExpireProducers forgets producers whose last timestamp is at least the
// expiration before nowMs (producer.id.expiration.ms, KIP-854; Kafka's
// isProducerExpired) and returns how many it removed. A forgotten producer's
// next batch is accepted at any sequence, as for a new producer.
func (m *ProducerStateManager) ExpireProducers(nowMs int64) int {
	if m.expiration <= 0 {
		return 0
	}
	limit := m.expiration.Milliseconds()
	removed := 0
	for id, e := range m.producers {
		if nowMs-e.LastTimestamp >= limit {
			delete(m.producers, id)
			removed++
		}
	}
	return removed
}

// LastSnapshotOffset returns the offset of the newest snapshot this manager
// wrote, loaded or kept, or -1 if it knows of none.
func (m *ProducerStateManager) LastSnapshotOffset() int64 { return m.lastSnapshotOffset }

// TakeSnapshot writes the current state as the snapshot at offset, the log
// end offset the state covers, then deletes all but the two newest
// snapshots.
func (m *ProducerStateManager) TakeSnapshot(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("take producer state snapshot at offset %d: negative offset", offset)
	}
	path := m.snapshotPath(offset)
	if err := replaceFileDurably(path, m.encodeSnapshot(offset)); err != nil {
		return fmt.Errorf("take producer state snapshot %s: %w", path, err)
	}
	offsets, err := m.listSnapshots()
	if err != nil {
		return fmt.Errorf("take producer state snapshot %s: %w", path, err)
	}
	if len(offsets) > snapshotsToKeep {
		if err := m.deleteSnapshots(offsets[:len(offsets)-snapshotsToKeep]); err != nil {
			return fmt.Errorf("take producer state snapshot %s: %w", path, err)
		}
		offsets = offsets[len(offsets)-snapshotsToKeep:]
	}
	if len(offsets) > 0 {
		m.lastSnapshotOffset = offsets[len(offsets)-1]
	}
	return nil
}

// LoadSnapshot replaces the in-memory state with the newest valid snapshot
// at or below maxOffset (normally the log end offset) and returns its
// offset, from which the caller replays the log; 0 if there is none (replay
// the whole log). Snapshots above maxOffset describe records that are gone
// and are deleted, as Kafka's truncateAndReload does. A corrupt snapshot is
// logged at WARN, deleted and the next older one is tried, as Kafka's
// loadFromSnapshot does; only I/O errors are returned.
func (m *ProducerStateManager) LoadSnapshot(maxOffset int64) (replayFrom int64, err error) {
	m.producers = map[int64]*ProducerEntry{}
	m.lastSnapshotOffset = -1
	offsets, err := m.listSnapshots()
	if err != nil {
		return 0, fmt.Errorf("load producer state snapshot: %w", err)
	}
	keep, stale := splitSnapshots(offsets, maxOffset)
	if err := m.deleteSnapshots(stale); err != nil {
		return 0, fmt.Errorf("load producer state snapshot: %w", err)
	}
	for i := len(keep) - 1; i >= 0; i-- {
		path := m.snapshotPath(keep[i])
		data, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("load producer state snapshot %s: %w", path, err)
		}
		producers, err := decodeSnapshot(data, keep[i])
		if err != nil {
			m.logger.Warn("skipping corrupt producer state snapshot; the log will be replayed from an older snapshot",
				slog.String("path", path), slog.Any("error", err))
			if err := m.deleteSnapshots(keep[i : i+1]); err != nil {
				return 0, fmt.Errorf("load producer state snapshot: %w", err)
			}
			continue
		}
		m.producers = producers
		m.lastSnapshotOffset = keep[i]
		return keep[i], nil
	}
	return 0, nil
}

// TruncateTo follows a log truncation to offset: snapshots above offset are
// deleted and the in-memory state is cleared; the caller then calls
// LoadSnapshot(offset) and replays the log from the offset it returns.
func (m *ProducerStateManager) TruncateTo(offset int64) error {
	m.producers = map[int64]*ProducerEntry{}
	m.lastSnapshotOffset = -1
	offsets, err := m.listSnapshots()
	if err != nil {
		return fmt.Errorf("truncate producer state to offset %d: %w", offset, err)
	}
	keep, stale := splitSnapshots(offsets, offset)
	if err := m.deleteSnapshots(stale); err != nil {
		return fmt.Errorf("truncate producer state to offset %d: %w", offset, err)
	}
	if len(keep) > 0 {
		m.lastSnapshotOffset = keep[len(keep)-1]
	}
	return nil
}

// splitSnapshots splits ascending offsets into those <= maxOffset and those
// above it.
func splitSnapshots(offsets []int64, maxOffset int64) (keep, stale []int64) {
	i, _ := slices.BinarySearch(offsets, maxOffset+1)
	return offsets[:i], offsets[i:]
}

func (m *ProducerStateManager) snapshotPath(offset int64) string {
	return filepath.Join(m.dir, fmt.Sprintf("%0*d%s", snapshotOffsetDigits, offset, snapshotSuffix))
}

// listSnapshots returns the offsets of the snapshot files in the directory,
// ascending, and removes temporary files left by a crash during TakeSnapshot.
// Other files (segments, indexes, checkpoints) are not touched.
func (m *ProducerStateManager) listSnapshots() ([]int64, error) {
	des, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshots in %s: %w", m.dir, err)
	}
	var offsets []int64
	for _, de := range des {
		name := de.Name()
		if base, ok := strings.CutSuffix(name, snapshotTmpSuffix); ok && isSnapshotOffset(base) {
			if err := os.Remove(filepath.Join(m.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("remove temporary snapshot: %w", err)
			}
			continue
		}
		base, ok := strings.CutSuffix(name, snapshotSuffix)
		if !ok || !isSnapshotOffset(base) {
			continue
		}
		off, err := strconv.ParseInt(base, 10, 64)
		if err != nil {
			continue // 20 digits beyond MaxInt64: not a name samsa writes
		}
		offsets = append(offsets, off)
	}
	slices.Sort(offsets)
	return offsets, nil
}

func isSnapshotOffset(s string) bool {
	if len(s) != snapshotOffsetDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// deleteSnapshots removes the snapshots at offsets and fsyncs the directory,
// so that a stale snapshot cannot come back after a crash and be loaded
// against a log that has since changed.
func (m *ProducerStateManager) deleteSnapshots(offsets []int64) error {
	if len(offsets) == 0 {
		return nil
	}
	for _, off := range offsets {
		if err := os.Remove(m.snapshotPath(off)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete snapshot: %w", err)
		}
	}
	return fsyncDirectory(m.dir)
}

// encodeSnapshot serialises the state in the format documented at the top
// of this file.
func (m *ProducerStateManager) encodeSnapshot(offset int64) []byte {
	size := snapshotHeaderSize
	for _, e := range m.producers {
		size += snapshotProducerSize + snapshotBatchSize*len(e.Batches)
	}
	b := make([]byte, snapshotHeaderSize, size)
	binary.BigEndian.PutUint16(b[0:], snapshotVersion)
	binary.BigEndian.PutUint64(b[6:], uint64(offset))
	binary.BigEndian.PutUint32(b[14:], uint32(len(m.producers)))
	for _, id := range slices.Sorted(maps.Keys(m.producers)) {
		e := m.producers[id]
		b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
		b = binary.BigEndian.AppendUint16(b, uint16(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastTimestamp))
		b = append(b, byte(len(e.Batches)))
		for _, bm := range e.Batches {
			b = binary.BigEndian.AppendUint32(b, uint32(bm.FirstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(bm.LastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.FirstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.LastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.Timestamp))
		}
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[snapshotCRCStart:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// decodeSnapshot parses a snapshot file's bytes; wantOffset is the offset in
// its name. Any violation of the format is an error wrapping
// ErrCorruptSnapshot.
func decodeSnapshot(b []byte, wantOffset int64) (map[int64]*ProducerEntry, error) {
	if len(b) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, header needs %d", ErrCorruptSnapshot, len(b), snapshotHeaderSize)
	}
	if v := int16(binary.BigEndian.Uint16(b[0:])); v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, expected %d", ErrCorruptSnapshot, v, snapshotVersion)
	}
	if stored, computed := binary.BigEndian.Uint32(b[2:]), crc32.Checksum(b[snapshotCRCStart:], crc32.MakeTable(crc32.Castagnoli)); stored != computed {
		return nil, fmt.Errorf("%w: CRC %#08x, computed %#08x", ErrCorruptSnapshot, stored, computed)
	}
	if off := int64(binary.BigEndian.Uint64(b[6:])); off != wantOffset {
		return nil, fmt.Errorf("%w: holds offset %d, file name says %d", ErrCorruptSnapshot, off, wantOffset)
	}
	count := int64(int32(binary.BigEndian.Uint32(b[14:])))
	rest := b[snapshotHeaderSize:]
	if count < 0 || count > int64(len(rest)/snapshotProducerSize) {
		return nil, fmt.Errorf("%w: producer count %d does not fit %d bytes", ErrCorruptSnapshot, count, len(rest))
	}
	producers := make(map[int64]*ProducerEntry, count)
	prevID := int64(-1)
	for i := int64(0); i < count; i++ {
		e, n, err := decodeSnapshotEntry(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: producer entry %d: %v", ErrCorruptSnapshot, i, err)
		}
		if e.ProducerID <= prevID {
			return nil, fmt.Errorf("%w: producer entry %d: ID %d not above previous %d", ErrCorruptSnapshot, i, e.ProducerID, prevID)
		}
		prevID = e.ProducerID
		producers[e.ProducerID] = e
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last producer entry", ErrCorruptSnapshot, len(rest))
	}
	return producers, nil
}

// decodeSnapshotEntry decodes one producer entry from the start of b and
// returns it and its size.
func decodeSnapshotEntry(b []byte) (*ProducerEntry, int, error) {
	if len(b) < snapshotProducerSize {
		return nil, 0, fmt.Errorf("%d bytes left, entry needs %d", len(b), snapshotProducerSize)
	}
	e := &ProducerEntry{
		ProducerID:    int64(binary.BigEndian.Uint64(b[0:])),
		Epoch:         int16(binary.BigEndian.Uint16(b[8:])),
		LastTimestamp: int64(binary.BigEndian.Uint64(b[10:])),
	}
	nb := int(b[18])
	if e.ProducerID < 0 {
		return nil, 0, fmt.Errorf("negative producer ID %d", e.ProducerID)
	}
	if nb > numBatchesToRetain {
		return nil, 0, fmt.Errorf("%d batches, at most %d are kept", nb, numBatchesToRetain)
	}
	size := snapshotProducerSize + nb*snapshotBatchSize
	if len(b) < size {
		return nil, 0, fmt.Errorf("%d bytes left, entry with %d batches needs %d", len(b), nb, size)
	}
	if nb > 0 {
		e.Batches = make([]BatchMetadata, nb)
	}
	for j := range e.Batches {
		p := b[snapshotProducerSize+j*snapshotBatchSize:]
		bm := BatchMetadata{
			FirstSeq:    int32(binary.BigEndian.Uint32(p[0:])),
			LastSeq:     int32(binary.BigEndian.Uint32(p[4:])),
			FirstOffset: int64(binary.BigEndian.Uint64(p[8:])),
			LastOffset:  int64(binary.BigEndian.Uint64(p[16:])),
			Timestamp:   int64(binary.BigEndian.Uint64(p[24:])),
		}
		if bm.FirstOffset < 0 || bm.LastOffset < bm.FirstOffset {
			return nil, 0, fmt.Errorf("batch %d: offsets [%d, %d] out of order", j, bm.FirstOffset, bm.LastOffset)
		}
		if j > 0 && bm.FirstOffset <= e.Batches[j-1].LastOffset {
			return nil, 0, fmt.Errorf("batch %d: first offset %d not after previous batch's last offset %d", j, bm.FirstOffset, e.Batches[j-1].LastOffset)
		}
		e.Batches[j] = bm
	}
	return e, size, nil
}
