package log

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// segmentBases returns the base offsets of l's segments.
func segmentBases(l *Log) []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var bases []int64
	for _, s := range l.segments {
		bases = append(bases, s.baseOffset)
	}
	return bases
}

func TestRetentionByTimeDeletesWholeOldSegments(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	cfg.RetentionMs = 10_000
	clock := newTestClock()
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	base := clock.t.UnixMilli()
	// 30 batches, one second apart in record time.
	for i := 0; i < 30; i++ {
		mustAppend(t, l, batchSpec{records: 2, valueSize: 100, firstTs: base + int64(i)*1000}, clock.t)
	}
	bases := segmentBases(l)
	if len(bases) < 5 {
		t.Fatalf("%d segments, want several", len(bases))
	}
	// At base+25s, records older than base+15s are expired: a segment goes
	// when its largest timestamp is.
	now := time.UnixMilli(base + 25_000)
	n, err := l.ApplyRetention(now)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("nothing deleted")
	}
	left := segmentBases(l)
	if len(left) != len(bases)-n || left[0] != bases[n] {
		t.Fatalf("segments %v after deleting %d of %v", left, n, bases)
	}
	if l.LogStartOffset() != left[0] {
		t.Fatalf("log start offset %d, want the first segment's base %d", l.LogStartOffset(), left[0])
	}
	// Every deleted segment was expired, the first kept one is not.
	for _, s := range l.segments[:1] {
		if now.UnixMilli()-s.largestTimestamp() > cfg.RetentionMs {
			t.Fatalf("segment %d expired but kept", s.baseOffset)
		}
	}
	if _, err := l.Read(left[0]-1, 100, l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new log start: %v", err)
	}
	checkContiguous(t, readAll(t, l, left[0]), left[0], 60)
	for _, b := range bases[:n] {
		if _, err := os.Stat(segmentFileName(l.Dir(), b, logSuffix)); !os.IsNotExist(err) {
			t.Fatalf("segment file %d still there: %v", b, err)
		}
	}

	// Long after everything expired, the segment holding the last record stays.
	if _, err := l.ApplyRetention(time.UnixMilli(base + 1_000_000)); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 1 || l.LogEndOffset() != 60 {
		t.Fatalf("%d segments, log end %d; want the active segment kept", l.NumSegments(), l.LogEndOffset())
	}
	checkContiguous(t, readAll(t, l, l.LogStartOffset()), l.LogStartOffset(), 60)
}

func TestRetentionBySize(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	now := newTestClock().t
	for i := 0; i < 40; i++ {
		mustAppend(t, l, batchSpec{records: 1, valueSize: 150}, now)
	}
	total := l.Size()
	cfg.RetentionBytes = total / 2
	l.SetConfig(cfg)
	n, err := l.ApplyRetention(now)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || l.Size() > cfg.RetentionBytes+cfg.SegmentBytes {
		t.Fatalf("deleted %d segments, size %d of limit %d", n, l.Size(), cfg.RetentionBytes)
	}
	// Kafka deletes a segment only if the log stays at or above the limit
	// without it.
	if l.Size()-l.segments[0].size.Load() >= cfg.RetentionBytes {
		t.Fatalf("size %d: the oldest segment could still go", l.Size())
	}
	if l.LogStartOffset() != l.segments[0].baseOffset {
		t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), l.segments[0].baseOffset)
	}
	// A second pass has nothing more to do.
	if n, err := l.ApplyRetention(now); err != nil || n != 0 {
		t.Fatalf("second pass deleted %d, %v", n, err)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	now := newTestClock().t
	for i := 0; i < 30; i++ {
		if _, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2, valueSize: 100}), int32(i/10), false, now); err != nil {
			t.Fatal(err)
		}
	}
	bases := segmentBases(l)
	target := bases[2] + 1 // inside the third segment
	got, err := l.DeleteRecordsBefore(target)
	if err != nil || got != target {
		t.Fatalf("DeleteRecordsBefore(%d) = %d, %v", target, got, err)
	}
	if l.LogStartOffset() != target {
		t.Fatalf("log start %d, want %d", l.LogStartOffset(), target)
	}
	if left := segmentBases(l); left[0] != bases[2] {
		t.Fatalf("segments %v, want the first two deleted from %v", left, bases)
	}
	if _, err := l.Read(target-1, 100, 60, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	if data, err := l.Read(target, 100, 60, true); err != nil || len(data) == 0 {
		t.Fatalf("read at log start: %d bytes, %v", len(data), err)
	}
	if first := l.LeaderEpochCache().Entries()[0]; first.StartOffset < target {
		t.Fatalf("epoch cache starts at %d, below the log start %d", first.StartOffset, target)
	}
	// Backwards is a no-op; past the log end is out of range.
	if got, err := l.DeleteRecordsBefore(1); err != nil || got != target {
		t.Fatalf("DeleteRecordsBefore(1) = %d, %v", got, err)
	}
	if _, err := l.DeleteRecordsBefore(61); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore past the end: %v", err)
	}
	// Up to the log end: everything but the segment holding the last record goes.
	if got, err := l.DeleteRecordsBefore(60); err != nil || got != 60 {
		t.Fatalf("DeleteRecordsBefore(60) = %d, %v", got, err)
	}
	if data, err := l.Read(60, 100, 60, true); err != nil || len(data) != 0 {
		t.Fatalf("read at the log end: %d bytes, %v", len(data), err)
	}
	if l.NumSegments() != 1 {
		t.Fatalf("%d segments left", l.NumSegments())
	}
}

func TestDeletedSegmentFilesLingerForFileDeleteDelay(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	cfg.FileDeleteDelayMs = 60_000
	clock := newTestClock()
	l := openTestLog(t, tempDir(t), cfg, func(o *OpenOptions) { o.Now = clock.Now })
	defer l.Close()
	for i := 0; i < 20; i++ {
		mustAppend(t, l, batchSpec{records: 1, valueSize: 150}, clock.t)
	}
	first := segmentBases(l)[1]
	if _, err := l.DeleteRecordsBefore(first); err != nil {
		t.Fatal(err)
	}
	deleted := func() []string {
		var names []string
		des, _ := os.ReadDir(l.Dir())
		for _, de := range des {
			if strings.HasSuffix(de.Name(), deletedSuffix) {
				names = append(names, de.Name())
			}
		}
		return names
	}
	if got := deleted(); len(got) != 3 {
		t.Fatalf("renamed files %v, want the segment's three", got)
	}
	l.removeDueDeletions(clock.t.Add(59 * time.Second))
	if got := deleted(); len(got) != 3 {
		t.Fatalf("files removed before the delay: %v", got)
	}
	l.removeDueDeletions(clock.t.Add(61 * time.Second))
	if got := deleted(); len(got) != 0 {
		t.Fatalf("files %v still there after the delay", got)
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), "00000000000000000000.log")); !os.IsNotExist(err) {
		t.Fatalf("old segment file: %v", err)
	}
}
