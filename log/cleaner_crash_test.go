package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// fillSmallSegments writes rounds of overwrites of keys keys, rolling after
// every round, so that segments are small and one cleaning group spans
// several of them.
func fillSmallSegments(t *testing.T, l *Log, m *logModel, keys, rounds int, now time.Time) {
	t.Helper()
	for round := 0; round < rounds; round++ {
		var recs []kv
		for k := 0; k < keys; k++ {
			recs = append(recs, put(fmt.Sprintf("key-%d", k), fmt.Sprintf("%d-%d", k, round)))
		}
		m.appendKeyed(t, l, keyedSpec{firstTs: now.UnixMilli(), records: recs}, now)
		forceRoll(t, l, now)
	}
}

func TestCrashDuringSwapRecoversConsistentLog(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stage     swapStage
		partial   bool // also rename one .cleaned file to .swap, as a crash amid the renames would
		completed bool // whether the restart completes the swap (else it undoes it)
		present   []string
	}{
		{"cleaned files written", stageCleaned, false, false, []string{cleanedSuffix}},
		{"amid renames to swap", stageCleaned, true, false, []string{cleanedSuffix, swapSuffix}},
		{"swap files in place", stageSwap, false, true, []string{swapSuffix}},
		{"old segments renamed deleted", stageOldDeleted, false, true, []string{swapSuffix, deletedSuffix}},
		{"swap done", stageDone, false, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock()
			dir := tempDir(t)
			cfg := compactConfig()
			cfg.MinCleanableDirtyRatio = 0
			m := newTestManager(t, dir)
			l, err := m.GetOrCreate(testTP, [16]byte{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			model := newLogModel()
			fillSmallSegments(t, l, model, 4, 6, clock.t)
			total, activeBase := len(model.all), segmentBases(l)[l.NumSegments()-1]

			m.cleaner.hook = func(s swapStage) error {
				if s == tc.stage {
					return errors.New("simulated crash")
				}
				return nil
			}
			m.cleanOnce(clock.t)
			if tc.partial {
				p := segmentFileName(l.Dir(), 0, logSuffix)
				if err := os.Rename(p+cleanedSuffix, p+swapSuffix); err != nil {
					t.Fatal(err)
				}
			}
			for _, suffix := range []string{cleanedSuffix, swapSuffix, deletedSuffix} {
				want := slices.Contains(tc.present, suffix)
				if got := len(dirFiles(t, l.Dir(), suffix)) > 0; got != want {
					t.Fatalf("before the crash: %s files present %v, want %v", suffix, got, want)
				}
			}
			crashManager(t, m)

			m2 := newTestManager(t, dir)
			defer m2.Close()
			l2, err := m2.GetOrCreate(testTP, [16]byte{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, suffix := range []string{cleanedSuffix, swapSuffix, deletedSuffix} {
				if left := dirFiles(t, l2.Dir(), suffix); len(left) != 0 {
					t.Fatalf("files %v left after recovery", left)
				}
			}
			if l2.LogEndOffset() != int64(total) {
				t.Fatalf("log end offset %d after recovery, want %d", l2.LogEndOffset(), total)
			}
			cleanedTo := int64(0)
			if tc.completed {
				cleanedTo = activeBase
			}
			recs := checkCompacted(t, l2, model, cleanedTo, false)
			if !tc.completed && len(recs) != total {
				t.Fatalf("%d records after undoing the swap, want all %d", len(recs), total)
			}
			// The log cleans normally afterwards.
			m2.cleanOnce(clock.t)
			checkCompacted(t, l2, model, activeBase, false)
		})
	}
}

func TestRecoverInterruptedSwapKeepsUnrelatedFiles(t *testing.T) {
	dir := filepath.Join(tempDir(t), "t-0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A swap segment at 0 holding offsets 0..9 replaced segments 0 and 5;
	// segment 10 and the snapshot are not part of it.
	b := buildBatch(batchSpec{records: 10})
	write(fmt.Sprintf("%020d.log.swap", 0), b)
	write(fmt.Sprintf("%020d.index.swap", 0), nil)
	for _, base := range []int64{0, 5, 10} {
		write(fmt.Sprintf("%020d.log", base), []byte("old"))
		write(fmt.Sprintf("%020d.index", base), nil)
	}
	write(fmt.Sprintf("%020d.snapshot", 5), []byte("x"))
	l := &Log{dir: dir, logger: testLogger(t)}
	if err := l.recoverInterruptedSwap(); err != nil {
		t.Fatal(err)
	}
	var names []string
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		names = append(names, de.Name())
	}
	want := fmt.Sprintf("%020d.index %020d.log %020d.snapshot %020d.index %020d.log", 0, 0, 5, 10, 10)
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("files after recovery:\n%s\nwant\n%s", got, want)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%020d.log", 0))); string(data) != string(b) {
		t.Fatal("segment 0 is not the swapped-in one")
	}
}

func TestManagerCleanerRunsInTheBackgroundAndCheckpoints(t *testing.T) {
	clock := newTestClock()
	dir := tempDir(t)
	m, err := NewManager(ManagerConfig{Dirs: []string{dir}, NodeID: 1, Defaults: testConfig(), Logger: testLogger(t),
		Now: clock.Now, CleanerBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := compactConfig()
	l, err := m.GetOrCreate(testTP, [16]byte{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	model := newLogModel()
	fillSmallSegments(t, l, model, 5, 5, clock.t)
	activeBase := segmentBases(l)[l.NumSegments()-1]
	done := make(chan struct{})
	var once sync.Once
	m.cleaner.hook = func(s swapStage) error {
		if s == stageDone {
			once.Do(func() { close(done) })
		}
		return nil
	}
	m.Start()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the cleaner goroutine did not clean the log")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOffsetCheckpoint(filepath.Join(dir, cleanerOffsetCheckpoint))
	if err != nil || got[testTP] != activeBase {
		t.Fatalf("cleaner-offset-checkpoint %v, %v; want %s at %d", got, err, testTP, activeBase)
	}

	// After a restart the log is known to be clean: no work.
	m2, err := NewManager(ManagerConfig{Dirs: []string{dir}, NodeID: 1, Defaults: cfg, Logger: testLogger(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	l2, _ := m2.Get(testTP)
	if l2.cleanerOffset.Load() != activeBase {
		t.Fatalf("cleaner offset %d after restart, want %d", l2.cleanerOffset.Load(), activeBase)
	}
	if m2.cleanOnce(clock.t) {
		t.Fatal("a clean log was cleaned again after a restart")
	}
	checkCompacted(t, l2, model, activeBase, false)
}

func TestReadsDuringCompaction(t *testing.T) {
	// Replaced segments close at once.
	l, _, model, clock := openCompactedLog(t, cleanAtAnyDirtyRatio, func(c *Config) { c.FileDeleteDelayMs = 0 })
	c := newTestCleaner(t, 1<<20)
	// Each record's value names its own offset, so a reader can tell
	// misplaced data from compaction's gaps.
	appendRound := func(round int) {
		var recs []kv
		leo := l.LogEndOffset()
		for k := 0; k < 8; k++ {
			recs = append(recs, put(fmt.Sprintf("key-%d", (k+round)%13), fmt.Sprintf("v@%d", leo+int64(k))))
		}
		model.appendKeyed(t, l, keyedSpec{firstTs: clock.t.UnixMilli(), records: recs}, clock.t)
	}
	for round := 0; round < 20; round++ {
		appendRound(round)
	}

	stop := make(chan struct{})
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codecs := record.NewCodecs()
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				if err := readAndVerify(l, codecs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for round := 20; round < 120; round++ {
		appendRound(round)
		if round%10 == 0 {
			forceRoll(t, l, clock.t)
			c.cleanFilthiestLog([]*Log{l}, clock.t)
		}
	}
	close(stop)
	wg.Wait()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if l.cleanerOffset.Load() == 0 {
		t.Fatal("nothing was cleaned")
	}
	checkCompacted(t, l, model, l.cleanerOffset.Load(), false)
}

// readAndVerify reads the whole log once: every read must succeed, every
// batch pass its CRC and decode, and every record hold "v@<its offset>".
func readAndVerify(l *Log, codecs *record.Codecs) error {
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		data, err := l.Read(off, 64<<10, l.LogEndOffset(), true)
		if err != nil {
			return fmt.Errorf("Read(%d): %w", off, err)
		}
		if len(data) == 0 {
			return nil
		}
		batches, err := record.Split(data)
		if err != nil {
			return err
		}
		for _, b := range batches {
			h, err := codecs.Records(b, 1<<20, func(r record.Record) error {
				if want := fmt.Sprintf("v@%d", r.Offset); string(r.Value) != want {
					return fmt.Errorf("offset %d holds %q", r.Offset, r.Value)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("batch read at %d: %w", off, err)
			}
			if h.BaseOffset < off-int64(h.LastOffsetDelta) || h.LastOffset() < off {
				return fmt.Errorf("Read(%d) returned batch [%d, %d]", off, h.BaseOffset, h.LastOffset())
			}
			off = h.NextOffset()
		}
	}
	return nil
}
