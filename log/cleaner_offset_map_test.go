package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/record"
)

func TestOffsetMap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		memory     int64
		keys       int
		wantFullAt int // keys stored when full() first reports true; 0: never within keys
	}{
		{"grows from its initial size", 1 << 20, 5000, 0},
		{"full at the load factor", 100 * offsetMapEntrySize, 200, 90},
		{"budget below one entry holds one key", 1, 10, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newOffsetMap(tc.memory, 0.9)
			fullAt := 0
			for i := 0; i < tc.keys; i++ {
				if m.full() {
					fullAt = i
					break
				}
				m.put(hashKey([]byte(fmt.Sprint("key-", i))), int64(i))
			}
			if fullAt != tc.wantFullAt {
				t.Fatalf("full after %d keys, want %d", fullAt, tc.wantFullAt)
			}
			stored := m.size
			if len(m.hashes) > m.maxSlots {
				t.Fatalf("%d slots, budget %d", len(m.hashes), m.maxSlots)
			}
			for i := 0; i < stored; i++ {
				if got := m.get(hashKey([]byte(fmt.Sprint("key-", i)))); got != int64(i) {
					t.Fatalf("key %d maps to %d", i, got)
				}
			}
			if got := m.get(hashKey([]byte("absent"))); got != -1 {
				t.Fatalf("absent key maps to %d", got)
			}
			// A later offset of a stored key replaces the earlier one.
			m.put(hashKey([]byte("key-0")), 1_000_000)
			if got := m.get(hashKey([]byte("key-0"))); got != 1_000_000 || m.size != stored {
				t.Fatalf("overwrite: %d, size %d -> %d", got, stored, m.size)
			}
		})
	}
}

func TestOffsetMapPutPastCapacityKeepsAnEmptySlot(t *testing.T) {
	m := newOffsetMap(1, 0.9) // two slots, one key
	for i := 0; i < 50; i++ {
		m.put(hashKey([]byte(fmt.Sprint(i))), int64(i))
	}
	if m.size != 50 || len(m.hashes) <= 50 {
		t.Fatalf("%d keys in %d slots", m.size, len(m.hashes))
	}
	if got := m.get(hashKey([]byte("absent"))); got != -1 {
		t.Fatalf("absent key maps to %d", got)
	}
}

func TestGroupSegmentsBySize(t *testing.T) {
	seg := func(base, size int64, indexEntries int) *segment {
		s := &segment{baseOffset: base, offsets: &offsetIndex{&indexFile{count: indexEntries}}, times: &timeIndex{&indexFile{count: indexEntries}}}
		s.size.Store(size)
		return s
	}
	bases := func(groups [][]*segment) string {
		var out string
		for _, g := range groups {
			out += "["
			for i, s := range g {
				if i > 0 {
					out += " "
				}
				out += fmt.Sprint(s.baseOffset)
			}
			out += "]"
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		segs        []*segment
		maxSize     int64
		maxIndex    int
		uncleanable int64
		want        string
	}{
		{"by log size", []*segment{seg(0, 40, 0), seg(10, 40, 0), seg(20, 40, 0), seg(30, 10, 0)}, 100, 1 << 20, 40, "[0 10][20 30]"},
		{"by index size", []*segment{seg(0, 1, 2), seg(10, 1, 1), seg(20, 1, 1)}, 100, 3 * timeIndexEntrySize, 30, "[0 10][20]"},
		{"by relative offset range", []*segment{seg(0, 1, 0), seg(1<<31, 1, 0), seg(1<<31+10, 1, 0)}, 100, 1 << 20, 1<<31 + 20, "[0][2147483648 2147483658]"},
		{"an empty segment joins whatever its offsets", []*segment{seg(0, 1, 0), seg(1<<32, 0, 0)}, 100, 1 << 20, 1<<32 + 1, "[0 4294967296]"},
		{"one oversized segment alone", []*segment{seg(0, 500, 0), seg(10, 1, 0)}, 100, 1 << 20, 20, "[0][10]"},
	} {
		if got := bases(groupSegmentsBySize(tc.segs, tc.maxSize, tc.maxIndex, tc.uncleanable)); got != tc.want {
			t.Errorf("%s: groups %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestBatchFilterRebuildsBatches(t *testing.T) {
	const now = 1_700_000_000_000
	codecs := record.NewCodecs()
	decode := func(t *testing.T, b []byte) (record.Header, []record.Record) {
		t.Helper()
		var recs []record.Record
		h, err := codecs.Records(b, 1<<20, func(r record.Record) error { recs = append(recs, r); return nil })
		if err != nil {
			t.Fatalf("rebuilt batch does not decode: %v", err)
		}
		return h, recs
	}
	spec := keyedSpec{codec: record.CodecLz4, firstTs: now - 5000, idempotent: true, producerID: 9, epoch: 2, seq: 40, records: []kv{
		{key: []byte("a"), value: []byte("old"), tsDelta: 0},
		{key: []byte{}, value: []byte("empty key"), tsDelta: -3000}, // timestamps need not ascend
		{key: []byte("b"), tsDelta: 100},                            // tombstone
		{key: []byte("c"), value: []byte{}, tsDelta: 4000, headers: []kmsg.Header{{Key: "k", Value: nil}, {Key: "", Value: []byte{}}}},
	}}
	in := keyedBatch(t, spec)
	setBase(in, 1000)
	in[12], in[13], in[14], in[15] = 0, 0, 0, 7 // partition leader epoch 7
	binary.BigEndian.PutUint32(in[17:], record.ComputeCRC(in))
	inHeader, inRecs := decode(t, in)

	offsets := newOffsetMap(1<<20, 0.9)
	offsets.put(hashKey([]byte("a")), 1005) // "a" was overwritten later
	offsets.updateLatest(1010)
	f := &batchFilter{codecs: codecs, offsets: offsets, nowMs: now, deleteRetentionMs: 1000, upperBound: 2000}
	out, err := f.filter(in, inHeader)
	if err != nil {
		t.Fatal(err)
	}
	h, recs := decode(t, out)
	if h.BaseOffset != 1000 || h.LastOffsetDelta != 3 || h.PartitionLeaderEpoch != 7 || h.ProducerID != 9 || h.ProducerEpoch != 2 ||
		h.BaseSequence != 40 || h.Codec() != record.CodecLz4 || h.NumRecords != 3 {
		t.Fatalf("rebuilt header %+v", h)
	}
	// The tombstone gives the batch a delete horizon: its first timestamp.
	if horizon, ok := deleteHorizon(h); !ok || horizon != now+1000 {
		t.Fatalf("delete horizon %d, %v", horizon, ok)
	}
	if h.MaxTimestamp != now-1000 {
		t.Fatalf("max timestamp %d, want the largest kept record's %d", h.MaxTimestamp, int64(now-1000))
	}
	for i, r := range recs {
		want := inRecs[i+1]
		if r.Offset != want.Offset || r.Timestamp != want.Timestamp || !bytes.Equal(r.Key, want.Key) || (r.Key == nil) != (want.Key == nil) ||
			!bytes.Equal(r.Value, want.Value) || (r.Value == nil) != (want.Value == nil) || fmt.Sprint(r.Headers) != fmt.Sprint(want.Headers) {
			t.Fatalf("record %d: %+v, want %+v", i, r, want)
		}
	}

	// Past the horizon the tombstone goes; the batch keeps its horizon.
	f.nowMs = now + 1000
	out2, err := f.filter(out, h)
	if err != nil {
		t.Fatal(err)
	}
	h2, recs2 := decode(t, out2)
	if len(recs2) != 2 || recs2[1].Offset != 1003 || h2.FirstTimestamp != now+1000 || h2.Attributes&batchAttrDeleteHorizon == 0 {
		t.Fatalf("after the horizon: %+v %+v", h2, recs2)
	}
	// Unchanged batches are not copied.
	f.nowMs = now
	if again, _ := f.filter(out2, h2); &again[0] != &out2[0] {
		t.Fatal("a batch with nothing to drop was rebuilt")
	}
	// A batch with nothing left goes, unless it is its producer's last or
	// the round's last; then only its header stays.
	offsets.put(hashKey([]byte("b")), 1500)
	offsets.put(hashKey([]byte("c")), 1500)
	offsets.put(hashKey([]byte{}), 1500)
	if gone, _ := f.filter(out2, h2); gone != nil {
		t.Fatal("an emptied batch was kept")
	}
	f.lastRecords = map[int64]producerLastRecord{9: {lastDataOffset: 1003, epoch: 2}}
	empty, _ := f.filter(out2, h2)
	he, recsE := decode(t, empty)
	if len(recsE) != 0 || he.Codec() != record.CodecNone || he.BaseSequence != 40 || he.LastOffset() != 1003 || he.FirstTimestamp != -1 ||
		he.MaxTimestamp != h2.MaxTimestamp || he.Attributes&batchAttrDeleteHorizon != 0 {
		t.Fatalf("empty batch %+v", he)
	}
	f.lastRecords, f.upperBound = nil, 1004
	if kept, _ := f.filter(out2, h2); kept == nil {
		t.Fatal("the round's last batch was dropped")
	}
}
