package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"sync"
)

// Index entry sizes, as in Kafka's OffsetIndex and TimeIndex.
const (
	offsetIndexEntrySize = 8  // relative offset uint32, position uint32
	timeIndexEntrySize   = 12 // timestamp int64, relative offset uint32
)

// errCorruptIndex marks an index file that cannot be trusted; the segment is
// then rebuilt from its .log file.
var errCorruptIndex = errors.New("corrupt index")

// indexFile is the part shared by the offset and the time index: fixed-size
// big-endian entries appended to a plain file (no mmap, no preallocation)
// and mirrored in memory. The in-memory copy is read from the file on first
// use, so that opening a log of many segments touches only the file sizes
// (Kafka's LazyIndex does the same for its mmaps).
type indexFile struct {
	path       string
	baseOffset int64
	entrySize  int
	relAt      int // where in an entry its relative offset (uint32) is
	maxEntries int

	mu     sync.RWMutex
	file   *os.File
	loaded bool   // buf mirrors the file
	buf    []byte // the file's contents once loaded
	count  int    // entries in the file, known without loading
	dirty  bool   // written since the last fsync
}

// openIndexFile opens an index file, creating it if missing; existed reports
// whether it was there. A size that is not a whole number of entries is
// errCorruptIndex (the file stays open, so the caller can rebuild it with
// replace). Entries are not read until first used.
func openIndexFile(path string, baseOffset int64, entrySize, relAt, maxIndexBytes int) (idx *indexFile, existed bool, err error) {
	existed = true
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		existed = false
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, false, fmt.Errorf("open index %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("stat index %s: %w", path, err)
	}
	idx = &indexFile{path: path, baseOffset: baseOffset, entrySize: entrySize, relAt: relAt, maxEntries: maxIndexBytes / entrySize, file: f}
	if st.Size()%int64(entrySize) != 0 {
		return idx, existed, fmt.Errorf("%w: %s is %d bytes, not a multiple of %d", errCorruptIndex, path, st.Size(), entrySize)
	}
	idx.count = int(st.Size() / int64(entrySize))
	return idx, existed, nil
}

// ensureLoadedLocked reads the file into memory. Requires mu held for writing.
func (x *indexFile) ensureLoadedLocked() error {
	if x.loaded {
		return nil
	}
	buf := make([]byte, x.count*x.entrySize)
	if _, err := x.file.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) {
		return fmt.Errorf("read index %s: %w", x.path, err)
	}
	x.buf, x.loaded = buf, true
	return nil
}

// withEntries calls fn with the entries, loading them first if needed; fn
// runs under mu and must not keep buf.
func (x *indexFile) withEntries(fn func(buf []byte) error) error {
	x.mu.RLock()
	if x.loaded {
		defer x.mu.RUnlock()
		return fn(x.buf)
	}
	x.mu.RUnlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.ensureLoadedLocked(); err != nil {
		return err
	}
	return fn(x.buf)
}

// appendEntry adds one encoded entry at the end of the file and in memory.
// Only the log's writer changes an index (under Log.writeMu), so the file
// write runs without mu and lookups do not wait for it.
func (x *indexFile) appendEntry(entry []byte) error {
	x.mu.Lock()
	err := x.ensureLoadedLocked()
	end := int64(len(x.buf))
	x.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := x.file.WriteAt(entry, end); err != nil {
		return fmt.Errorf("append to index %s: %w", x.path, err)
	}
	x.mu.Lock()
	x.buf = append(x.buf, entry...)
	x.count++
	x.dirty = true
	x.mu.Unlock()
	return nil
}

// truncateEntries keeps the first n entries.
func (x *indexFile) truncateEntries(n int) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.ensureLoadedLocked(); err != nil {
		return err
	}
	if n >= x.count {
		return nil
	}
	if err := x.file.Truncate(int64(n * x.entrySize)); err != nil {
		return fmt.Errorf("truncate index %s: %w", x.path, err)
	}
	x.buf = x.buf[:n*x.entrySize]
	x.count = n
	x.dirty = true
	return nil
}

// truncateTo removes the entries for offsets >= offset (Kafka's
// truncateTo of both indexes; their entries ascend by offset).
func (x *indexFile) truncateTo(offset int64) error {
	keep := 0
	err := x.withEntries(func(buf []byte) error {
		keep = sort.Search(len(buf)/x.entrySize, func(i int) bool {
			rel := binary.BigEndian.Uint32(buf[i*x.entrySize+x.relAt:])
			return x.baseOffset+int64(rel) >= offset
		})
		return nil
	})
	if err != nil {
		return err
	}
	return x.truncateEntries(keep)
}

// replace rewrites the whole file with buf (recovery rebuilds an index in
// memory and writes it once).
func (x *indexFile) replace(buf []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.file.Truncate(0); err != nil {
		return fmt.Errorf("rewrite index %s: %w", x.path, err)
	}
	if len(buf) > 0 {
		if _, err := x.file.WriteAt(buf, 0); err != nil {
			return fmt.Errorf("rewrite index %s: %w", x.path, err)
		}
	}
	x.buf, x.loaded, x.count, x.dirty = buf, true, len(buf)/x.entrySize, true
	return nil
}

// entries returns the number of entries.
func (x *indexFile) entries() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count
}

// isFull reports whether no further entry fits in segment.index.bytes.
func (x *indexFile) isFull() bool { return x.entries() >= x.maxEntries }

// readLastEntry reads the last entry straight from the file (or memory), for
// opening a segment without loading its index.
func (x *indexFile) readLastEntry() ([]byte, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.count == 0 {
		return nil, nil
	}
	if x.loaded {
		return append([]byte(nil), x.buf[len(x.buf)-x.entrySize:]...), nil
	}
	e := make([]byte, x.entrySize)
	if _, err := x.file.ReadAt(e, int64((x.count-1)*x.entrySize)); err != nil {
		return nil, fmt.Errorf("read index %s: %w", x.path, err)
	}
	return e, nil
}

// sync fsyncs the file if it changed since the last sync.
func (x *indexFile) sync() error {
	x.mu.Lock()
	dirty := x.dirty
	x.dirty = false
	x.mu.Unlock()
	if !dirty {
		return nil
	}
	if err := x.file.Sync(); err != nil {
		return fmt.Errorf("fsync index %s: %w", x.path, err)
	}
	return nil
}

func (x *indexFile) close() error {
	if err := x.file.Close(); err != nil {
		return fmt.Errorf("close index %s: %w", x.path, err)
	}
	return nil
}

// offsetIndex is a segment's .index: it maps the last offset of some batches
// (one every index.interval.bytes) to the file position where the batch
// starts, as Kafka's OffsetIndex does.
type offsetIndex struct{ *indexFile }

func appendOffsetEntry(dst []byte, rel, pos uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(dst, rel), pos)
}

func offsetEntryAt(buf []byte, i int) (rel uint32, pos uint32) {
	e := buf[i*offsetIndexEntrySize:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

// lookup returns the largest indexed offset <= target and its position, or
// (baseOffset, 0) when there is none (Kafka's OffsetIndex.lookup).
func (o *offsetIndex) lookup(target int64) (offset int64, position int64, err error) {
	offset, position = o.baseOffset, 0
	err = o.withEntries(func(buf []byte) error {
		// The first entry above target; the one before it is the answer.
		i := sort.Search(len(buf)/offsetIndexEntrySize, func(i int) bool {
			rel, _ := offsetEntryAt(buf, i)
			return o.baseOffset+int64(rel) > target
		})
		if i > 0 {
			rel, pos := offsetEntryAt(buf, i-1)
			offset, position = o.baseOffset+int64(rel), int64(pos)
		}
		return nil
	})
	return offset, position, err
}

// append indexes the batch whose last offset is offset at position. The
// writer appends batches in offset order, so entries increase.
func (o *offsetIndex) append(offset, position int64) error {
	var e [offsetIndexEntrySize]byte
	return o.appendEntry(appendOffsetEntry(e[:0], uint32(offset-o.baseOffset), uint32(position)))
}

// lastEntry returns the last indexed offset and position, or (baseOffset, 0).
func (o *offsetIndex) lastEntry() (offset, position int64, err error) {
	e, err := o.readLastEntry()
	if err != nil || e == nil {
		return o.baseOffset, 0, err
	}
	rel, pos := offsetEntryAt(e, 0)
	return o.baseOffset + int64(rel), int64(pos), nil
}

// timeIndex is a segment's .timeindex: (timestamp, offset) pairs where the
// timestamp is the largest seen in the segment up to that offset, appended
// only when it grows (Kafka's TimeIndex.maybeAppend).
type timeIndex struct{ *indexFile }

func appendTimeEntry(dst []byte, ts int64, rel uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(dst, uint64(ts)), rel)
}

func timeEntryAt(buf []byte, i int) (ts int64, rel uint32) {
	e := buf[i*timeIndexEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

// lookup returns the entry with the largest timestamp <= ts, or
// (-1, baseOffset) when there is none (Kafka's TimeIndex.lookup).
func (t *timeIndex) lookup(ts int64) (timestamp, offset int64, err error) {
	timestamp, offset = -1, t.baseOffset
	err = t.withEntries(func(buf []byte) error {
		i := sort.Search(len(buf)/timeIndexEntrySize, func(i int) bool {
			e, _ := timeEntryAt(buf, i)
			return e > ts
		})
		if i > 0 {
			e, rel := timeEntryAt(buf, i-1)
			timestamp, offset = e, t.baseOffset+int64(rel)
		}
		return nil
	})
	return timestamp, offset, err
}

// lastEntry returns the newest entry, or (-1, baseOffset) when empty.
func (t *timeIndex) lastEntry() (timestamp, offset int64, err error) {
	e, err := t.readLastEntry()
	if err != nil || e == nil {
		return -1, t.baseOffset, err
	}
	ts, rel := timeEntryAt(e, 0)
	return ts, t.baseOffset + int64(rel), nil
}

// maybeAppend adds (ts, offset) if ts is larger than the last entry's
// timestamp (-1 when empty, so a batch without timestamps adds nothing).
func (t *timeIndex) maybeAppend(ts, offset int64) error {
	last, _, err := t.lastEntry()
	if err != nil {
		return err
	}
	if ts <= last {
		return nil
	}
	var e [timeIndexEntrySize]byte
	return t.appendEntry(appendTimeEntry(e[:0], ts, uint32(offset-t.baseOffset)))
}

// indexBuilder accumulates index entries in memory while recovery scans a
// segment, then the files are written once.
// It follows the rules of offsetIndex.append and timeIndex.maybeAppend.
type indexBuilder struct {
	baseOffset int64
	offsets    []byte
	times      []byte
	lastTs     int64 // -1 while times is empty
}

func newIndexBuilder(baseOffset int64) *indexBuilder {
	return &indexBuilder{baseOffset: baseOffset, lastTs: -1}
}

func (b *indexBuilder) addOffset(offset, position int64) {
	b.offsets = appendOffsetEntry(b.offsets, uint32(offset-b.baseOffset), uint32(position))
}

func (b *indexBuilder) maybeAddTime(ts, offset int64) {
	if ts <= b.lastTs {
		return
	}
	b.times = appendTimeEntry(b.times, ts, uint32(offset-b.baseOffset))
	b.lastTs = ts
}
