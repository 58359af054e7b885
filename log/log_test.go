package log

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/samsa-broker/samsa/record"
)

func TestAppendReadRoundTripAcrossSegmentRolls(t *testing.T) {
	clock := newTestClock()
	l := openTestLog(t, tempDir(t), testConfig())
	defer l.Close()
	var want int64
	for i := 0; i < 200; i++ {
		n := 1 + i%7
		res := mustAppend(t, l, batchSpec{records: n, valueSize: 20 + i%50, firstTs: clock.t.UnixMilli()}, clock.t)
		if res.BaseOffset != want || res.LastOffset != want+int64(n)-1 {
			t.Fatalf("append %d: offsets [%d, %d], want [%d, %d]", i, res.BaseOffset, res.LastOffset, want, want+int64(n)-1)
		}
		if res.LogAppendTime != -1 || res.Duplicate {
			t.Fatalf("append %d: unexpected result %+v", i, res)
		}
		want += int64(n)
	}
	if l.LogEndOffset() != want {
		t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), want)
	}
	if l.NumSegments() < 5 {
		t.Fatalf("%d segments; 4 KiB segments should have rolled", l.NumSegments())
	}
	checkContiguous(t, readAll(t, l, 0), 0, want)
	if l.Size() == 0 {
		t.Fatal("Size is 0")
	}
}

func TestReadBounds(t *testing.T) {
	l := openTestLog(t, tempDir(t), testConfig())
	defer l.Close()
	// Five batches of 3 records each: offsets 0-2, 3-5, 6-8, 9-11, 12-14.
	for i := 0; i < 5; i++ {
		mustAppend(t, l, batchSpec{records: 3, valueSize: 100}, newTestClock().t)
	}
	one := buildBatch(batchSpec{records: 3, valueSize: 100})
	size := len(one)
	tests := []struct {
		name        string
		offset      int64
		maxBytes    int
		maxOffset   int64
		minOneBatch bool
		wantBases   []int64
		wantErr     error
	}{
		{"whole log", 0, 1 << 20, 15, true, []int64{0, 3, 6, 9, 12}, nil},
		{"from the middle of a batch returns it whole", 4, 1 << 20, 15, true, []int64{3, 6, 9, 12}, nil},
		{"max bytes cuts at whole batches", 0, 2*size + 10, 15, false, []int64{0, 3}, nil},
		{"max offset is the high watermark", 0, 1 << 20, 9, true, []int64{0, 3, 6}, nil},
		{"max offset inside a batch keeps the batch starting below it", 0, 1 << 20, 10, true, []int64{0, 3, 6, 9}, nil},
		{"KIP-74: first batch larger than max bytes, minOneBatch", 0, 10, 15, true, []int64{0}, nil},
		{"first batch larger than max bytes without minOneBatch", 0, 10, 15, false, nil, nil},
		{"at the log end offset", 15, 1 << 20, 15, true, nil, nil},
		{"at the high watermark", 9, 1 << 20, 9, true, nil, nil},
		{"above the high watermark, below the log end", 12, 1 << 20, 9, true, nil, nil},
		{"past the log end offset", 16, 1 << 20, 16, true, nil, ErrOffsetOutOfRange},
		{"negative offset", -1, 1 << 20, 15, true, nil, ErrOffsetOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := l.Read(tt.offset, tt.maxBytes, tt.maxOffset, tt.minOneBatch)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			var bases []int64
			for len(data) > 0 {
				h, err := record.ParseHeader(data)
				if err != nil {
					t.Fatal(err)
				}
				bases = append(bases, h.BaseOffset)
				data = data[h.Size():]
			}
			if !slices.Equal(bases, tt.wantBases) {
				t.Fatalf("batches %v, want %v", bases, tt.wantBases)
			}
		})
	}
}

func TestIndexLookupFindsBatchForRandomOffsets(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 10
	cfg.IndexIntervalBytes = 200
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	type span struct{ base, last int64 }
	var spans []span
	for i := 0; i < 400; i++ {
		res := mustAppend(t, l, batchSpec{records: 1 + rng.IntN(9), valueSize: 1 + rng.IntN(120)}, newTestClock().t)
		spans = append(spans, span{res.BaseOffset, res.LastOffset})
	}
	if l.NumSegments() < 2 {
		t.Fatalf("want several segments, got %d", l.NumSegments())
	}
	for i := 0; i < 2000; i++ {
		off := rng.Int64N(l.LogEndOffset())
		data, err := l.Read(off, 1, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		h, err := record.ParseHeader(data)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if h.BaseOffset > off || h.LastOffset() < off {
			t.Fatalf("Read(%d) returned batch [%d, %d]", off, h.BaseOffset, h.LastOffset())
		}
	}
	// The same through the raw offset index: every entry points at a batch
	// whose last offset it names.
	for _, s := range l.segments {
		err := s.offsets.withEntries(func(buf []byte) error {
			for i := 0; i < len(buf)/offsetIndexEntrySize; i++ {
				rel, pos := offsetEntryAt(buf, i)
				hdr := make([]byte, record.HeaderSize)
				if err := s.readAt(hdr, int64(pos)); err != nil {
					return err
				}
				h, err := record.ParseHeader(hdr)
				if err != nil {
					return err
				}
				if h.LastOffset() != s.baseOffset+int64(rel) {
					t.Errorf("index entry %d of segment %d: offset %d, batch at %d ends at %d", i, s.baseOffset, s.baseOffset+int64(rel), pos, h.LastOffset())
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendAsLeaderStampsOffsetsEpochAndLogAppendTime(t *testing.T) {
	clock := newTestClock()
	l := openTestLog(t, tempDir(t), testConfig())
	defer l.Close()
	mustAppend(t, l, batchSpec{records: 2}, clock.t)
	b := buildBatch(batchSpec{records: 3, firstTs: 5})
	res, err := l.AppendAsLeader(b, 7, true, clock.t)
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 2 || res.LastOffset != 4 || res.LogAppendTime != clock.t.UnixMilli() {
		t.Fatalf("result %+v", res)
	}
	data, err := l.Read(2, 1<<20, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.ParseHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if !record.CheckCRC(data) || h.BaseOffset != 2 || h.PartitionLeaderEpoch != 7 || !h.LogAppendTime() || h.MaxTimestamp != clock.t.UnixMilli() {
		t.Fatalf("stored header %+v, CRC ok %v", h, record.CheckCRC(data))
	}
	if got := l.LeaderEpochCache().Entries(); len(got) != 2 || got[0] != (EpochEntry{0, 0}) || got[1] != (EpochEntry{7, 2}) {
		t.Fatalf("epoch cache %v, want [{0 0} {7 2}]", got)
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	cfg := testConfig()
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	now := newTestClock().t
	tooBig := buildBatch(batchSpec{records: 1, valueSize: int(cfg.SegmentBytes)})
	if _, err := l.AppendAsLeader(tooBig, 0, false, now); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized batch: %v, want ErrMessageTooLarge", err)
	}
	two := append(buildBatch(batchSpec{}), buildBatch(batchSpec{})...)
	if _, err := l.AppendAsLeader(two, 0, false, now); !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("two batches as leader: %v, want ErrCorrupt", err)
	}
	if l.LogEndOffset() != 0 {
		t.Fatalf("log end offset %d after rejected appends", l.LogEndOffset())
	}
}

func TestAppendAsFollowerKeepsOffsetsAndEpochs(t *testing.T) {
	leader := openTestLog(t, tempDir(t), testConfig())
	defer leader.Close()
	now := newTestClock().t
	for i := 0; i < 30; i++ {
		epoch := int32(1 + i/10)
		if _, err := leader.AppendAsLeader(buildBatch(batchSpec{records: 2, valueSize: 80}), epoch, false, now); err != nil {
			t.Fatal(err)
		}
	}
	follower := openTestLog(t, tempDir(t), testConfig())
	defer follower.Close()
	for off := int64(0); off < leader.LogEndOffset(); {
		data, err := leader.Read(off, 700, leader.LogEndOffset(), true)
		if err != nil {
			t.Fatal(err)
		}
		res, err := follower.AppendAsFollower(data, now)
		if err != nil {
			t.Fatalf("AppendAsFollower at %d: %v", off, err)
		}
		if res.BaseOffset != off {
			t.Fatalf("follower append base %d, want %d", res.BaseOffset, off)
		}
		off = res.LastOffset + 1
	}
	if follower.LogEndOffset() != 60 {
		t.Fatalf("follower log end offset %d", follower.LogEndOffset())
	}
	if got, want := follower.LeaderEpochCache().Entries(), leader.LeaderEpochCache().Entries(); !slices.Equal(got, want) {
		t.Fatalf("follower epochs %v, leader %v", got, want)
	}
	checkContiguous(t, readAll(t, follower, 0), 0, 60)

	// Offsets below the log end and out-of-order batches are refused.
	data, _ := leader.Read(0, 1<<20, 60, true)
	if _, err := follower.AppendAsFollower(data, now); err == nil {
		t.Fatal("append below the log end offset accepted")
	}
	b := buildBatch(batchSpec{records: 2})
	record.SetBaseOffset(b, 70)
	gap := append(append([]byte{}, b...), b...)
	if _, err := follower.AppendAsFollower(gap, now); err == nil {
		t.Fatal("batches with decreasing offsets accepted")
	}
	corrupt := append([]byte{}, b...)
	corrupt[len(corrupt)-1] ^= 0xff
	if _, err := follower.AppendAsFollower(corrupt, now); !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("corrupt batch: %v, want ErrCorrupt", err)
	}
	// A gap (compacted leader) is accepted; the log end follows the batch.
	if _, err := follower.AppendAsFollower(b, now); err != nil {
		t.Fatal(err)
	}
	if follower.LogEndOffset() != 72 {
		t.Fatalf("log end offset %d after a batch at 70-71", follower.LogEndOffset())
	}
	if res, err := follower.AppendAsFollower(nil, now); err != nil || res.BaseOffset != 72 {
		t.Fatalf("empty follower append: %+v, %v", res, err)
	}
}

func TestClosedLogRefusesUse(t *testing.T) {
	l := openTestLog(t, tempDir(t), testConfig())
	mustAppend(t, l, batchSpec{}, newTestClock().t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.AppendAsLeader(buildBatch(batchSpec{}), 0, false, newTestClock().t); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Read(0, 100, 1, true); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := l.WaitFlushed(1); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("WaitFlushed after close: %v", err)
	}
}

func TestFailedWriteTakesLogOffline(t *testing.T) {
	dir := tempDir(t)
	m := newTestManager(t, dir)
	l, err := m.GetOrCreate(testTP, [16]byte{}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batchSpec{records: 2}, newTestClock().t)
	// Pull the file out from under the log, as a failed disk would.
	if err := l.segments[0].log.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsLeader(buildBatch(batchSpec{}), 0, false, newTestClock().t); err == nil {
		t.Fatal("append to a failed file succeeded")
	}
	if _, err := l.AppendAsLeader(buildBatch(batchSpec{}), 0, false, newTestClock().t); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("append to an offline log: %v, want ErrLogClosed", err)
	}
	if l.LogEndOffset() != 2 {
		t.Fatalf("log end offset %d", l.LogEndOffset())
	}
	if err := m.Close(); err == nil {
		t.Fatal("closing a manager with an offline log reported no error")
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("clean shutdown marker written for a dir with an offline log: %v", err)
	}
}

func TestFailedFsyncSticks(t *testing.T) {
	l := openTestLog(t, tempDir(t), testConfig())
	mustAppend(t, l, batchSpec{records: 2}, newTestClock().t)
	if err := l.segments[0].log.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitFlushed(2); err == nil {
		t.Fatal("fsync of a failed file succeeded")
	}
	// Never retried: after a failed fsync the data may be gone.
	if err := l.Flush(); err == nil {
		t.Fatal("second flush succeeded")
	}
	if l.RecoveryPoint() != 0 {
		t.Fatalf("recovery point %d after failed fsyncs", l.RecoveryPoint())
	}
	_ = l.Close()
}
