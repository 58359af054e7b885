package log

import (
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// batchSpec describes a v2 batch for tests. Zero values give an
// uncompressed, non-idempotent batch of one 10-byte record.
type batchSpec struct {
	records    int
	valueSize  int
	firstTs    int64   // first record's timestamp
	tsDeltas   []int64 // per record; default all 0
	producerID int64   // 0 means -1 (not idempotent) unless idempotent is set
	idempotent bool
	epoch      int16
	seq        int32
}

// buildBatch encodes the batch with base offset 0 and a valid CRC.
func buildBatch(spec batchSpec) []byte {
	n := max(spec.records, 1)
	valueSize := spec.valueSize
	if valueSize == 0 {
		valueSize = 10
	}
	b := make([]byte, record.HeaderSize, record.HeaderSize+n*(valueSize+16))
	maxTs := spec.firstTs
	for i := 0; i < n; i++ {
		var delta int64
		if i < len(spec.tsDeltas) {
			delta = spec.tsDeltas[i]
		}
		maxTs = max(maxTs, spec.firstTs+delta)
		var body []byte
		body = append(body, 0) // attributes
		body = binary.AppendVarint(body, delta)
		body = binary.AppendVarint(body, int64(i))
		body = binary.AppendVarint(body, -1) // null key
		body = binary.AppendVarint(body, int64(valueSize))
		for j := 0; j < valueSize; j++ {
			body = append(body, byte('a'+(i+j)%26))
		}
		body = binary.AppendVarint(body, 0) // no headers
		b = binary.AppendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	return testBatchHeader{records: n, firstTs: spec.firstTs, maxTs: maxTs,
		idempotent: spec.idempotent, producerID: spec.producerID, epoch: spec.epoch, seq: spec.seq}.seal(b)
}

// testBatchHeader is the v2 batch header fields the test batch builders
// set; the rest are base offset 0 and partition leader epoch -1.
type testBatchHeader struct {
	codec          record.Codec
	records        int
	firstTs, maxTs int64
	// Without idempotent, the producer fields are -1 whatever they hold.
	idempotent bool
	producerID int64
	epoch      int16
	seq        int32
}

// seal writes h into b, a batch of record.HeaderSize header bytes followed
// by its (possibly compressed) records, sets its CRC and returns it.
func (h testBatchHeader) seal(b []byte) []byte {
	pid, pepoch, seq := int64(-1), int16(-1), int32(-1)
	if h.idempotent {
		pid, pepoch, seq = h.producerID, h.epoch, h.seq
	}
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-record.LogOverhead))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // partition leader epoch -1
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(h.codec))
	binary.BigEndian.PutUint32(b[23:], uint32(h.records-1))
	binary.BigEndian.PutUint64(b[27:], uint64(h.firstTs))
	binary.BigEndian.PutUint64(b[35:], uint64(h.maxTs))
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(pepoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[57:], uint32(h.records))
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

// testConfig is a small-segment config for tests.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	cfg.FileDeleteDelayMs = 0
	cfg.RetentionMs = -1
	return cfg
}

// testClock is a settable clock.
type testClock struct{ t time.Time }

func (c *testClock) Now() time.Time { return c.t }

func newTestClock() *testClock { return &testClock{t: time.UnixMilli(1_700_000_000_000)} }

// openTestLog opens the log "<dir>/topic-0" with cfg.
func openTestLog(t testing.TB, dir string, cfg Config, opts ...func(*OpenOptions)) *Log {
	t.Helper()
	o := OpenOptions{Dir: filepath.Join(dir, "topic-0"), Config: cfg, CleanShutdown: true, Logger: testLogger(t)}
	for _, f := range opts {
		f(&o)
	}
	l, err := OpenLog(o)
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	return l
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// mustAppend appends spec as leader at epoch 0 and returns the result.
func mustAppend(t *testing.T, l *Log, spec batchSpec, now time.Time) AppendResult {
	t.Helper()
	res, err := l.AppendAsLeader(buildBatch(spec), 0, false, now)
	if err != nil {
		t.Fatalf("AppendAsLeader: %v", err)
	}
	return res
}

// readAll reads every batch from offset to the log end and returns their headers.
func readAll(t *testing.T, l *Log, from int64) []record.Header {
	t.Helper()
	var hs []record.Header
	for off := from; off < l.LogEndOffset(); {
		data, err := l.Read(off, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(data) == 0 {
			t.Fatalf("Read(%d) returned nothing below the log end offset %d", off, l.LogEndOffset())
		}
		for len(data) > 0 {
			h, err := record.ParseHeader(data)
			if err != nil {
				t.Fatalf("read batch: %v", err)
			}
			if !record.CheckCRC(data[:h.Size()]) {
				t.Fatalf("batch at %d fails its CRC", h.BaseOffset)
			}
			hs = append(hs, h)
			data = data[h.Size():]
			off = h.NextOffset()
		}
	}
	return hs
}

// checkContiguous fails unless hs cover [from, to) without gaps.
func checkContiguous(t *testing.T, hs []record.Header, from, to int64) {
	t.Helper()
	next := from
	for _, h := range hs {
		if h.BaseOffset != next {
			t.Fatalf("batch at offset %d, expected %d", h.BaseOffset, next)
		}
		next = h.NextOffset()
	}
	if next != to {
		t.Fatalf("batches end at %d, expected %d", next, to)
	}
}

// setBase rewrites a built batch's base offset.
func setBase(b []byte, off int64) { record.SetBaseOffset(b, off) }

// tempDir returns a fresh directory, on tmpfs (/dev/shm) where there is one:
// these tests simulate crashes and lost writes themselves, so real fsyncs
// would only make them slow (and slower still on a disk other tests share).
func tempDir(t testing.TB) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "samsa-log-test-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// benchDir returns a fresh directory under SAMSA_BENCH_DIR when it is set
// (to measure a particular disk), else dir.
func benchDir(tb testing.TB, dir string) string {
	root := os.Getenv("SAMSA_BENCH_DIR")
	if root == "" {
		return dir
	}
	d, err := os.MkdirTemp(root, "samsa-log-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}
