package log

import (
	"testing"
)

// appendTimestampedLog appends 40 batches of 3 records; batch i has record
// timestamps 1000+10i + {0, 5, 2}.
func appendTimestampedLog(t *testing.T, l *Log) {
	t.Helper()
	for i := 0; i < 40; i++ {
		mustAppend(t, l, batchSpec{records: 3, valueSize: 60, firstTs: 1000 + int64(10*i), tsDeltas: []int64{0, 5, 2}}, newTestClock().t)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	cfg.IndexIntervalBytes = 100
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	appendTimestampedLog(t, l)
	if l.NumSegments() < 4 {
		t.Fatalf("%d segments, want several", l.NumSegments())
	}
	tests := []struct {
		ts         int64
		wantOffset int64
		wantTs     int64
		wantFound  bool
	}{
		{0, 0, 1000, true},
		{1000, 0, 1000, true},
		{1003, 1, 1005, true},  // record 1 of batch 0
		{1005, 1, 1005, true},  // exact
		{1006, 3, 1010, true},  // next batch
		{1012, 4, 1015, true},  // batch 1 holds 1010, 1015, 1012: the first by offset is 1015
		{1200, 60, 1200, true}, // batch 20, in a later segment
		{1203, 61, 1205, true},
		{1395, 118, 1395, true}, // last batch's record 1
		{1396, 0, 0, false},
	}
	for _, tt := range tests {
		off, ts, found, err := l.OffsetForTimestamp(tt.ts)
		if err != nil {
			t.Fatalf("OffsetForTimestamp(%d): %v", tt.ts, err)
		}
		if found != tt.wantFound || (found && (off != tt.wantOffset || ts != tt.wantTs)) {
			t.Errorf("OffsetForTimestamp(%d) = (%d, %d, %v), want (%d, %d, %v)", tt.ts, off, ts, found, tt.wantOffset, tt.wantTs, tt.wantFound)
		}
	}

	// Records below the log start offset are not answers.
	if _, err := l.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if off, ts, found, err := l.OffsetForTimestamp(0); err != nil || !found || off != 4 || ts != 1015 {
		t.Fatalf("after DeleteRecordsBefore(4): (%d, %d, %v, %v), want (4, 1015, true)", off, ts, found, err)
	}
}

func TestMaxTimestamp(t *testing.T) {
	dir := tempDir(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := openTestLog(t, dir, cfg)
	if off, ts := l.MaxTimestamp(); off != -1 || ts != -1 {
		t.Fatalf("empty log: (%d, %d), want (-1, -1)", off, ts)
	}
	now := newTestClock().t
	for i := 0; i < 30; i++ {
		spec := batchSpec{records: 3, valueSize: 60, firstTs: 1000 + int64(i), tsDeltas: []int64{0, 1, 2}}
		if i == 12 {
			spec.tsDeltas = []int64{0, 9000, 3} // record 1 of batch 12: timestamp 10012
		}
		mustAppend(t, l, spec, now)
	}
	if off, ts := l.MaxTimestamp(); off != 37 || ts != 10012 {
		t.Fatalf("MaxTimestamp = (%d, %d), want (37, 10012)", off, ts)
	}
	// A LogAppendTime batch: every record carries the batch's time, the
	// answer is its first offset.
	res, err := l.AppendAsLeader(buildBatch(batchSpec{records: 4}), 0, true, now)
	if err != nil {
		t.Fatal(err)
	}
	if off, ts := l.MaxTimestamp(); off != res.BaseOffset || ts != now.UnixMilli() {
		t.Fatalf("MaxTimestamp = (%d, %d), want (%d, %d)", off, ts, res.BaseOffset, now.UnixMilli())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The same after a clean reopen, which reads it from the time indexes.
	l = openTestLog(t, dir, cfg)
	defer l.Close()
	if off, ts := l.MaxTimestamp(); off != res.BaseOffset || ts != now.UnixMilli() {
		t.Fatalf("after reopen MaxTimestamp = (%d, %d), want (%d, %d)", off, ts, res.BaseOffset, now.UnixMilli())
	}
}
