package log

import (
	"crypto/md5"
	"encoding/binary"
)

// offsetMapEntrySize is the memory one entry of the cleaner's offset map
// takes: an MD5 of the key and an offset, as in Kafka's SkimpyOffsetMap, so
// log.cleaner.dedupe.buffer.size means the same number of keys here.
const offsetMapEntrySize = md5.Size + 8

// offsetMapInitialSlots is where a map starts; it doubles as keys arrive,
// up to the slots its memory budget allows, so cleaning a small log does not
// allocate the whole dedupe buffer.
const offsetMapInitialSlots = 1 << 10

// offsetMap is Kafka's SkimpyOffsetMap: key hash -> the latest offset of
// that key in the dirty section, in an open-addressing table with linear
// probing. Keys are stored only as their MD5, so the memory per key is
// fixed (24 bytes) whatever the key's size; like Kafka it accepts that two
// keys with the same 128-bit hash would be taken for one. It is used by the
// cleaner goroutine only.
type offsetMap struct {
	hashes  [][md5.Size]byte
	offsets []int64 // offset + 1; 0 marks an empty slot
	size    int     // keys stored

	maxSlots   int // the memory budget in slots
	loadFactor float64
	// latest is the last offset the map covers (Kafka's latestOffset):
	// every key below it is mapped, records above it are kept unseen.
	latest int64
}

// newOffsetMap returns an empty map limited to memory bytes (at least two
// slots) and filled to at most loadFactor of its slots (Kafka's
// log.cleaner.io.buffer.load.factor).
func newOffsetMap(memory int64, loadFactor float64) *offsetMap {
	maxSlots := int(min(max(memory/offsetMapEntrySize, 2), 1<<40))
	m := &offsetMap{maxSlots: maxSlots, loadFactor: loadFactor, latest: -1}
	m.resize(min(offsetMapInitialSlots, maxSlots))
	return m
}

// capacity is how many keys the map takes before it is full (Kafka's
// maxDesiredMapSize = slots * load factor), at least one, and always less
// than the slots: a lookup of an absent key ends at an empty slot.
func (m *offsetMap) capacity() int {
	return min(max(int(float64(m.maxSlots)*m.loadFactor), 1), m.maxSlots-1)
}

// full reports whether no further new key may be added.
func (m *offsetMap) full() bool { return m.size >= m.capacity() }

// hashKey returns the key's MD5, what Kafka's SkimpyOffsetMap stores.
func hashKey(key []byte) [md5.Size]byte { return md5.Sum(key) }

// slotOf returns the slot holding hash, or the empty slot where it belongs.
func (m *offsetMap) slotOf(hash *[md5.Size]byte) int {
	n := uint64(len(m.hashes))
	i := binary.BigEndian.Uint64(hash[:8]) % n
	for m.offsets[i] != 0 && m.hashes[i] != *hash {
		if i++; i == n {
			i = 0
		}
	}
	return int(i)
}

// put records offset as the latest of the key with this hash. The caller
// checks full first, as Kafka's buildOffsetMapForSegment does.
func (m *offsetMap) put(hash [md5.Size]byte, offset int64) {
	i := m.slotOf(&hash)
	if m.offsets[i] == 0 {
		// Grow while the table is less than full-size and half used, so
		// probes stay short; at full size it fills to the load factor. A
		// put past capacity (the cleaner maps the first dirty batch whole,
		// so that every pass makes progress) grows it beyond the budget
		// rather than leave no empty slot to end a probe.
		switch n := len(m.hashes); {
		case n < m.maxSlots && (m.size+1)*2 > n:
			m.resize(min(n*2, m.maxSlots))
			i = m.slotOf(&hash)
		case m.size+2 > n:
			m.resize(n * 2)
			i = m.slotOf(&hash)
		}
		m.hashes[i] = hash
		m.size++
	}
	m.offsets[i] = offset + 1
}

// get returns the latest offset of the key with this hash, -1 if unmapped
// (Kafka's OffsetMap.get).
func (m *offsetMap) get(hash [md5.Size]byte) int64 {
	return m.offsets[m.slotOf(&hash)] - 1
}

// updateLatest moves latest up to offset.
func (m *offsetMap) updateLatest(offset int64) { m.latest = max(m.latest, offset) }

// resize rehashes into a table of n slots.
func (m *offsetMap) resize(n int) {
	oldHashes, oldOffsets := m.hashes, m.offsets
	m.hashes = make([][md5.Size]byte, n)
	m.offsets = make([]int64, n)
	for i, off := range oldOffsets {
		if off != 0 {
			j := m.slotOf(&oldHashes[i])
			m.hashes[j], m.offsets[j] = oldHashes[i], off
		}
	}
}
