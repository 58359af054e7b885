package log

import (
	"errors"
	"slices"
	"testing"
)

func TestTruncate(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	now := newTestClock().t
	// 30 batches of 2 records (offsets 2i, 2i+1), leader epoch i/10.
	build := func(t *testing.T) *Log {
		l := openTestLog(t, tempDir(t), cfg)
		for i := 0; i < 30; i++ {
			if _, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2, valueSize: 100}), int32(i/10), false, now); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	tests := []struct {
		name       string
		offset     int64
		wantLEO    int64
		wantEpochs []EpochEntry
	}{
		{"at a batch boundary in an old segment", 24, 24, []EpochEntry{{0, 0}, {1, 20}}},
		{"at an epoch's first offset", 20, 20, []EpochEntry{{0, 0}}},
		{"inside a batch removes it whole", 25, 24, []EpochEntry{{0, 0}, {1, 20}}},
		{"in the active segment", 58, 58, []EpochEntry{{0, 0}, {1, 20}, {2, 40}}},
		{"at the log end changes nothing", 60, 60, []EpochEntry{{0, 0}, {1, 20}, {2, 40}}},
		{"past the log end changes nothing", 99, 60, []EpochEntry{{0, 0}, {1, 20}, {2, 40}}},
		{"to zero", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := build(t)
			defer l.Close()
			if err := l.Truncate(tt.offset); err != nil {
				t.Fatal(err)
			}
			if l.LogEndOffset() != tt.wantLEO {
				t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), tt.wantLEO)
			}
			if got := l.LeaderEpochCache().Entries(); !slices.Equal(got, tt.wantEpochs) {
				t.Fatalf("epochs %v, want %v", got, tt.wantEpochs)
			}
			if l.RecoveryPoint() > tt.wantLEO {
				t.Fatalf("recovery point %d above the log end %d", l.RecoveryPoint(), tt.wantLEO)
			}
			checkContiguous(t, readAll(t, l, 0), 0, tt.wantLEO)
			// Appends continue at the new end, in the segment that now holds it.
			res := mustAppend(t, l, batchSpec{records: 3}, now)
			if res.BaseOffset != tt.wantLEO {
				t.Fatalf("next append at %d, want %d", res.BaseOffset, tt.wantLEO)
			}
			checkContiguous(t, readAll(t, l, 0), 0, tt.wantLEO+3)
		})
	}
}

// A node that led an epoch without appending to it has that epoch at the
// log end; truncating there keeps every record but drops the empty epoch,
// as Kafka's UnifiedLog.truncateTo does, so a follower does not keep
// fetching with an epoch the new leader never had.
func TestTruncateAtLogEndDropsEmptyEpoch(t *testing.T) {
	now := newTestClock().t
	l := openTestLog(t, tempDir(t), testConfig())
	defer l.Close()
	if _, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2}), 3, false, now); err != nil {
		t.Fatal(err)
	}
	if err := l.LeaderEpochCache().Assign(4, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if got, want := l.LeaderEpochCache().Entries(), []EpochEntry{{3, 0}}; !slices.Equal(got, want) || l.LogEndOffset() != 2 {
		t.Fatalf("epochs %v, log end %d; want %v and 2", got, l.LogEndOffset(), want)
	}
}

func TestTruncateRebuildsProducerState(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	now := newTestClock().t
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	// Ten batches of 2 records: sequences 0-1, 2-3, ... 18-19 at offsets 0-19.
	for i := 0; i < 10; i++ {
		mustAppend(t, l, batchSpec{records: 2, valueSize: 120, idempotent: true, producerID: 9, seq: int32(2 * i)}, now)
	}
	if err := l.Truncate(14); err != nil {
		t.Fatal(err)
	}
	e, ok := l.Producer(9)
	if !ok || e.Batches[len(e.Batches)-1].LastSeq != 13 {
		t.Fatalf("producer state after truncation to 14: %+v, %v; want last sequence 13", e, ok)
	}
	if _, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2, idempotent: true, producerID: 9, seq: 18}), 0, false, now); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence 18 after truncation: %v, want ErrOutOfOrderSequence", err)
	}
	res, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2, idempotent: true, producerID: 9, seq: 14}), 0, false, now)
	if err != nil || res.Duplicate || res.BaseOffset != 14 {
		t.Fatalf("sequence 14 after truncation: %+v, %v", res, err)
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	now := newTestClock().t
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	for i := 0; i < 20; i++ {
		if _, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2, valueSize: 100, idempotent: true, producerID: 3, seq: int32(2 * i)}), 1, false, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 500 || l.LogStartOffset() != 500 || l.NumSegments() != 1 || l.Size() != 0 {
		t.Fatalf("after full truncation: end %d start %d segments %d size %d", l.LogEndOffset(), l.LogStartOffset(), l.NumSegments(), l.Size())
	}
	if len(l.LeaderEpochCache().Entries()) != 0 {
		t.Fatalf("epochs %v, want none", l.LeaderEpochCache().Entries())
	}
	if _, ok := l.Producer(3); ok {
		t.Fatal("producer state survived full truncation")
	}
	if _, err := l.Read(10, 100, 600, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read of a removed offset: %v", err)
	}
	b := buildBatch(batchSpec{records: 2})
	res, err := l.AppendAsFollower(func() []byte { setBase(b, 500); return b }(), now)
	if err != nil || res.BaseOffset != 500 {
		t.Fatalf("follower append at 500: %+v, %v", res, err)
	}
	checkContiguous(t, readAll(t, l, 500), 500, 502)
	// A truncation below the first segment empties the log too.
	if err := l.Truncate(100); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 100 || l.LogStartOffset() != 100 {
		t.Fatalf("after truncating below the first segment: end %d start %d", l.LogEndOffset(), l.LogStartOffset())
	}
}
