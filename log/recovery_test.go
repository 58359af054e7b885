package log

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/record"
)

var testTP = TopicPartition{Topic: "orders", Partition: 3}

// newTestManager opens a Manager over dirs with a small-segment default
// config and no background goroutine.
func newTestManager(t *testing.T, dirs ...string) *Manager {
	t.Helper()
	m, err := NewManager(ManagerConfig{Dirs: dirs, NodeID: 1, Defaults: testConfig(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

// crashManager abandons m as kill -9 would: nothing is flushed, no
// checkpoint or clean-shutdown marker is written. Only its descriptors and
// dir locks are released, so that this process can open the dirs again; the
// page cache keeps every write, as it does for a killed process.
func crashManager(t *testing.T, m *Manager) {
	t.Helper()
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		for _, ml := range m.logs {
			for _, s := range ml.log.segments {
				_ = s.closeFiles()
			}
		}
		m.unlockDirs()
	})
}

// loseUnsyncedData cuts every segment file back to what was last fsynced,
// as a power loss would (samsa's writes land in order, so the loss is a
// suffix).
func loseUnsyncedData(t *testing.T, m *Manager) {
	t.Helper()
	for _, ml := range m.logs {
		for _, s := range ml.log.segments {
			if synced := s.flushedSize.Load(); synced >= 0 && synced < s.size.Load() {
				if err := os.Truncate(s.logPath, synced); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

type appended struct {
	base, last int64
	segment    int64 // base offset of the segment holding it
	pos        int64
	size       int
}

// fillLog appends n batches of 2 records with leader epoch i/10 and
// returns where each landed.
func fillLog(t *testing.T, l *Log, n int, spec func(i int) batchSpec) []appended {
	t.Helper()
	var out []appended
	now := newTestClock().t
	for i := 0; i < n; i++ {
		s := batchSpec{records: 2, valueSize: 100}
		if spec != nil {
			s = spec(i)
		}
		active := l.segments[len(l.segments)-1]
		before := active.size.Load()
		b := buildBatch(s)
		res, err := l.AppendAsLeader(b, int32(i/10), false, now)
		if err != nil {
			t.Fatal(err)
		}
		seg := l.segments[len(l.segments)-1]
		pos := before
		if seg != active {
			pos = 0
		}
		out = append(out, appended{base: res.BaseOffset, last: res.LastOffset, segment: seg.baseOffset, pos: pos, size: len(b)})
	}
	return out
}

func TestCleanReopenKeepsEverythingWithoutRescan(t *testing.T) {
	dir := tempDir(t)
	m := newTestManager(t, dir)
	l, err := m.GetOrCreate(testTP, [16]byte{1}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	batches := fillLog(t, l, 60, func(i int) batchSpec {
		// Real timestamps: producers idle for producer.id.expiration.ms are
		// dropped when the log opens.
		return batchSpec{records: 2, valueSize: 100, firstTs: time.Now().UnixMilli() + int64(i), idempotent: true, producerID: 5, seq: int32(2 * i)}
	})
	if _, err := l.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	wantSegments, wantEpochs := l.NumSegments(), l.LeaderEpochCache().Entries()
	wantMaxOff, wantMaxTs := l.MaxTimestamp()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("clean shutdown marker: %v", err)
	}

	m = newTestManager(t, dir)
	defer m.Close()
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("clean shutdown marker still there after start: %v", err)
	}
	l, ok := m.Get(testTP)
	if !ok {
		t.Fatal("log not loaded")
	}
	if l.LogEndOffset() != 120 || l.LogStartOffset() != 3 || l.NumSegments() != wantSegments || l.RecoveryPoint() != 120 {
		t.Fatalf("reopened: end %d start %d segments %d recovery point %d", l.LogEndOffset(), l.LogStartOffset(), l.NumSegments(), l.RecoveryPoint())
	}
	// No segment was scanned: the old segments' indexes are not even loaded.
	for _, s := range l.segments[:len(l.segments)-1] {
		if s.offsets.loaded || s.times.loaded {
			t.Fatalf("index of segment %d was read at open", s.baseOffset)
		}
	}
	if got := l.LeaderEpochCache().Entries(); !slices.Equal(got, wantEpochs) {
		t.Fatalf("epochs %v, want %v", got, wantEpochs)
	}
	if off, ts := l.MaxTimestamp(); off != wantMaxOff || ts != wantMaxTs {
		t.Fatalf("max timestamp (%d, %d), want (%d, %d)", off, ts, wantMaxOff, wantMaxTs)
	}
	checkContiguous(t, readAll(t, l, 3)[1:], 4, 120)
	// The producer state came back from the snapshot taken at close.
	last := batches[len(batches)-1]
	res, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2, valueSize: 100, firstTs: time.Now().UnixMilli(), idempotent: true, producerID: 5, seq: 118}), 5, false, newTestClock().t)
	if err != nil || !res.Duplicate || res.BaseOffset != last.base {
		t.Fatalf("retry after reopen: %+v, %v; want duplicate of %d", res, err, last.base)
	}
	if id, ok := m.TopicID(testTP); !ok || id != [16]byte{1} {
		t.Fatalf("topic ID %v, %v", id, ok)
	}
}

func TestCrashRecoveryCutsDamagedTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string, batches []appended) (firstLost int)
	}{
		{"torn last batch", func(t *testing.T, dir string, batches []appended) int {
			b := batches[len(batches)-1]
			truncateFile(t, segmentFileName(dir, b.segment, logSuffix), b.pos+int64(b.size)-7)
			return len(batches) - 1
		}},
		{"only a header left", func(t *testing.T, dir string, batches []appended) int {
			b := batches[len(batches)-1]
			truncateFile(t, segmentFileName(dir, b.segment, logSuffix), b.pos+record.HeaderSize-10)
			return len(batches) - 1
		}},
		{"flipped byte in the last batch", func(t *testing.T, dir string, batches []appended) int {
			b := batches[len(batches)-1]
			flipByte(t, segmentFileName(dir, b.segment, logSuffix), b.pos+int64(b.size)-3)
			return len(batches) - 1
		}},
		{"zeros after the last batch", func(t *testing.T, dir string, batches []appended) int {
			b := batches[len(batches)-1]
			f, err := os.OpenFile(segmentFileName(dir, b.segment, logSuffix), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
			return len(batches)
		}},
		{"corrupt batch in an earlier segment drops every later segment", func(t *testing.T, dir string, batches []appended) int {
			i := len(batches) / 3
			b := batches[i]
			flipByte(t, segmentFileName(dir, b.segment, logSuffix), b.pos+record.HeaderSize+2)
			return i
		}},
		{"offsets going backwards", func(t *testing.T, dir string, batches []appended) int {
			i := len(batches) - 2
			b := batches[i]
			f, err := os.OpenFile(segmentFileName(dir, b.segment, logSuffix), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 8), b.pos); err != nil { // base offset 0, outside the CRC
				t.Fatal(err)
			}
			return i
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			m := newTestManager(t, dir)
			l, err := m.GetOrCreate(testTP, [16]byte{}, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			batches := fillLog(t, l, 40, nil)
			if l.NumSegments() < 3 {
				t.Fatalf("%d segments", l.NumSegments())
			}
			crashManager(t, m)
			firstLost := tt.damage(t, l.Dir(), batches)

			m = newTestManager(t, dir)
			defer m.Close()
			l, _ = m.Get(testTP)
			wantLEO := int64(80)
			if firstLost < len(batches) {
				wantLEO = batches[firstLost].base
			}
			if l.LogEndOffset() != wantLEO {
				t.Fatalf("log end offset %d after recovery, want %d", l.LogEndOffset(), wantLEO)
			}
			checkContiguous(t, readAll(t, l, 0), 0, wantLEO)
			for _, e := range l.LeaderEpochCache().Entries() {
				if e.StartOffset >= wantLEO {
					t.Fatalf("epoch entry %v past the log end %d", e, wantLEO)
				}
			}
			res := mustAppend(t, l, batchSpec{records: 2}, newTestClock().t)
			if res.BaseOffset != wantLEO {
				t.Fatalf("append after recovery at %d, want %d", res.BaseOffset, wantLEO)
			}
			checkContiguous(t, readAll(t, l, 0), 0, wantLEO+2)
			// No segment files past the end survived.
			des, _ := os.ReadDir(l.Dir())
			for _, de := range des {
				if base, ok := parseSegmentBase(de.Name(), filepath.Ext(de.Name())); ok && filepath.Ext(de.Name()) == logSuffix && base > wantLEO {
					t.Fatalf("segment file %s beyond the log end %d", de.Name(), wantLEO)
				}
			}
		})
	}
}

func truncateFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryStartsAtTheRecoveryPoint(t *testing.T) {
	dir := tempDir(t)
	m := newTestManager(t, dir)
	l, err := m.GetOrCreate(testTP, [16]byte{}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	fillLog(t, l, 40, nil)
	// Flush the rolled segments as the background pass would, checkpoint,
	// append more, crash.
	if err := l.flushIfDue(newTestClock().t); err != nil {
		t.Fatal(err)
	}
	if err := m.writeCheckpoints(); err != nil {
		t.Fatal(err)
	}
	rp := l.RecoveryPoint()
	fillLog(t, l, 5, nil)
	crashManager(t, m)

	m = newTestManager(t, dir)
	defer m.Close()
	l, _ = m.Get(testTP)
	if l.LogEndOffset() != 90 {
		t.Fatalf("log end offset %d", l.LogEndOffset())
	}
	for _, s := range l.segments {
		recovered := s.offsets.loaded
		if below := segmentEnd(l, s) <= rp; below == recovered {
			t.Fatalf("segment %d (recovery point %d): recovered %v", s.baseOffset, rp, recovered)
		}
	}
	checkContiguous(t, readAll(t, l, 0), 0, 90)
}

// segmentEnd returns the base offset of the segment after s, or the log end.
func segmentEnd(l *Log, s *segment) int64 {
	for i, x := range l.segments {
		if x == s && i+1 < len(l.segments) {
			return l.segments[i+1].baseOffset
		}
	}
	return l.LogEndOffset()
}

func TestMissingIndexIsRebuilt(t *testing.T) {
	dir := tempDir(t)
	l := openTestLog(t, dir, testConfig())
	fillLog(t, l, 40, nil)
	first := l.segments[0].baseOffset
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(segmentFileName(l.Dir(), first, indexSuffix)); err != nil {
		t.Fatal(err)
	}
	// A time index whose size is not whole entries is malformed.
	if err := os.Truncate(segmentFileName(l.Dir(), first, timeIndexSuffix), 5); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, testConfig())
	defer l.Close()
	if !l.segments[0].offsets.loaded || l.segments[0].offsets.entries() == 0 {
		t.Fatal("index of the first segment not rebuilt")
	}
	checkContiguous(t, readAll(t, l, 0), 0, 80)
}

func TestIdempotentDuplicatesDetectedAfterCrash(t *testing.T) {
	for _, dropSnapshots := range []bool{false, true} {
		name := "from the snapshot taken at the last roll"
		if dropSnapshots {
			name = "from a full replay without snapshots"
		}
		t.Run(name, func(t *testing.T) {
			dir := tempDir(t)
			m := newTestManager(t, dir)
			l, err := m.GetOrCreate(testTP, [16]byte{}, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			ts := time.Now().UnixMilli() // older producers expire when the log opens
			spec := func(i int) batchSpec {
				return batchSpec{records: 2, valueSize: 100, firstTs: ts, idempotent: true, producerID: 77, epoch: 2, seq: int32(2 * i)}
			}
			batches := fillLog(t, l, 30, spec)
			crashManager(t, m)
			if dropSnapshots {
				matches, _ := filepath.Glob(filepath.Join(l.Dir(), "*.snapshot"))
				if len(matches) == 0 {
					t.Fatal("no snapshot was taken at the rolls")
				}
				for _, p := range matches {
					if err := os.Remove(p); err != nil {
						t.Fatal(err)
					}
				}
			}
			m = newTestManager(t, dir)
			defer m.Close()
			l, _ = m.Get(testTP)
			now := newTestClock().t
			// Each of the last five batches is recognised as a retry.
			for i := len(batches) - 5; i < len(batches); i++ {
				res, err := l.AppendAsLeader(buildBatch(spec(i)), 3, false, now)
				if err != nil || !res.Duplicate || res.BaseOffset != batches[i].base || res.LastOffset != batches[i].last {
					t.Fatalf("retry of batch %d: %+v, %v; want duplicate at %d", i, res, err, batches[i].base)
				}
			}
			if _, err := l.AppendAsLeader(buildBatch(spec(len(batches)+1)), 3, false, now); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after recovery: %v", err)
			}
			res, err := l.AppendAsLeader(buildBatch(spec(len(batches))), 3, false, now)
			if err != nil || res.Duplicate || res.BaseOffset != 60 {
				t.Fatalf("next batch after recovery: %+v, %v", res, err)
			}
		})
	}
}

func TestFlushedAppendsSurvivePowerLoss(t *testing.T) {
	dir := tempDir(t)
	cfg := testConfig()
	cfg.FlushMessages = 1
	m := newTestManager(t, dir)
	l, err := m.GetOrCreate(testTP, [16]byte{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := newTestClock().t
	var acked int64
	for i := 0; i < 30; i++ {
		res := mustAppend(t, l, batchSpec{records: 2, valueSize: 100}, now)
		if err := l.WaitFlushed(res.LastOffset + 1); err != nil {
			t.Fatal(err)
		}
		acked = res.LastOffset + 1
	}
	for i := 0; i < 3; i++ { // never acknowledged
		mustAppend(t, l, batchSpec{records: 2, valueSize: 100}, now)
	}
	loseUnsyncedData(t, m)
	crashManager(t, m)

	m = newTestManager(t, dir)
	defer m.Close()
	l, _ = m.Get(testTP)
	if l.LogEndOffset() != acked {
		t.Fatalf("log end offset %d after power loss, want the acknowledged %d", l.LogEndOffset(), acked)
	}
	checkContiguous(t, readAll(t, l, 0), 0, acked)
}

// TestRecoveryOfALargeLogIsFast recovers 64 MiB after a crash;
// SAMSA_LOG_RECOVERY_MIB sets another size (1024 to check the 1 GB target)
// and SAMSA_BENCH_DIR another disk.
func TestRecoveryOfALargeLogIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	mib := int64(64)
	if v, err := strconv.ParseInt(os.Getenv("SAMSA_LOG_RECOVERY_MIB"), 10, 64); err == nil && v > 0 {
		mib = v
	}
	dir := benchDir(t, tempDir(t))
	cfg := testConfig()
	cfg.SegmentBytes = 256 << 20
	cfg.IndexIntervalBytes = 4096
	m := newTestManager(t, dir)
	l, err := m.GetOrCreate(testTP, [16]byte{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := buildBatch(batchSpec{records: 10, valueSize: 1600})
	now := newTestClock().t
	for l.Size() < mib<<20 {
		if _, err := l.AppendAsLeader(b, 0, false, now); err != nil {
			t.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	crashManager(t, m)
	start := time.Now()
	m = newTestManager(t, dir)
	took := time.Since(start)
	defer m.Close()
	l, _ = m.Get(testTP)
	if l.LogEndOffset() != leo {
		t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), leo)
	}
	t.Logf("recovered %d MiB in %v", mib, took)
	if limit := time.Duration(mib) * 3 * time.Second / 1024 * 4; took > max(limit, 2*time.Second) {
		t.Fatalf("recovering %d MiB took %v", mib, took)
	}
}
