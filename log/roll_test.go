package log

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/samsa-broker/samsa/record"
)

func TestRollConditions(t *testing.T) {
	batchSize := int64(len(buildBatch(batchSpec{records: 1, valueSize: 100})))
	tests := []struct {
		name   string
		config func(*Config)
		// ts gives each of the appended batches' timestamps (ms after t0)
		ts           []int64
		wantSegments int
	}{
		{"segment.bytes: the third batch would not fit", func(c *Config) { c.SegmentBytes = 2*batchSize + batchSize/2 }, []int64{0, 0, 0, 0}, 2},
		{"segment.bytes: exact fit stays", func(c *Config) { c.SegmentBytes = 2 * batchSize }, []int64{0, 0}, 1},
		{"segment.ms by record time", func(c *Config) { c.SegmentMs = 1000 }, []int64{0, 500, 1000, 1001, 1500}, 2},
		{"segment.ms twice", func(c *Config) { c.SegmentMs = 1000 }, []int64{0, 1001, 2002, 2500}, 3},
		{"full time index", func(c *Config) { c.IndexIntervalBytes = 0; c.MaxIndexBytes = 2 * timeIndexEntrySize }, []int64{0, 1, 2, 3, 4, 5}, 2},
		// 24 bytes: 3 offset entries, 2 time entries; constant timestamps
		// add only one time entry, so the offset index fills first.
		{"full offset index", func(c *Config) { c.IndexIntervalBytes = 0; c.MaxIndexBytes = 3 * offsetIndexEntrySize }, []int64{0, 0, 0, 0, 0}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes = 1 << 20
			tt.config(&cfg)
			l := openTestLog(t, tempDir(t), cfg)
			defer l.Close()
			t0 := newTestClock().t.UnixMilli()
			for _, ts := range tt.ts {
				mustAppend(t, l, batchSpec{records: 1, valueSize: 100, firstTs: t0 + ts}, newTestClock().t)
			}
			if got := l.NumSegments(); got != tt.wantSegments {
				t.Fatalf("%d segments, want %d", got, tt.wantSegments)
			}
			checkContiguous(t, readAll(t, l, 0), 0, int64(len(tt.ts)))
		})
	}
}

func TestFollowerAppendRollsBeforeRelativeOffsetOverflow(t *testing.T) {
	l := openTestLog(t, tempDir(t), testConfig())
	defer l.Close()
	now := newTestClock().t
	b := buildBatch(batchSpec{records: 2})
	if _, err := l.AppendAsFollower(b, now); err != nil {
		t.Fatal(err)
	}
	far := buildBatch(batchSpec{records: 2})
	setBase(far, math.MaxInt32+10)
	if _, err := l.AppendAsFollower(far, now); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 2 || l.segments[1].baseOffset != math.MaxInt32+10 {
		t.Fatalf("segments %v, want a new one at %d", segmentBases(l), int64(math.MaxInt32+10))
	}
	data, err := l.Read(math.MaxInt32+11, 1000, l.LogEndOffset(), true)
	if err != nil || len(data) == 0 {
		t.Fatalf("read past the gap: %d bytes, %v", len(data), err)
	}
}

// TestConcurrentReadsDuringChanges runs readers against a log that is
// appended to, rolled, retained and truncated at the same time; under -race
// it checks the locking, and every read must return whole, valid batches
// holding the offset asked for (or ErrOffsetOutOfRange for an offset that
// retention or truncation just removed).
func TestConcurrentReadsDuringChanges(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	cfg.RetentionBytes = 16 << 10
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	wg.Add(1)
	go func() { // the writer: appends, retention, an occasional truncation
		defer wg.Done()
		defer stop.Store(true)
		now := newTestClock().t
		for i := 0; i < 1500 && !stop.Load(); i++ {
			if _, err := l.AppendAsLeader(buildBatch(batchSpec{records: 1 + i%4, valueSize: 60}), 0, false, now); err != nil {
				report(err)
				return
			}
			if i%50 == 0 {
				if _, err := l.ApplyRetention(now); err != nil {
					report(err)
					return
				}
			}
			if i%300 == 299 {
				if err := l.Truncate(l.LogEndOffset() - 3); err != nil {
					report(err)
					return
				}
			}
			if i%100 == 0 {
				if err := l.Flush(); err != nil {
					report(err)
					return
				}
			}
		}
	}()
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !stop.Load() {
				gen := l.truncations.Load()
				start, end := l.LogStartOffset(), l.LogEndOffset()
				if end == start {
					continue
				}
				off := start + rng.Int64N(end-start)
				data, err := l.Read(off, 500, end, true)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // retention or truncation just removed it
				}
				if err != nil {
					report(err)
					return
				}
				truncated := l.truncations.Load() != gen
				if len(data) == 0 {
					if !truncated {
						report(fmt.Errorf("read at %d below the log end %d returned nothing", off, end))
						return
					}
					continue
				}
				h, err := record.ParseHeader(data)
				if err != nil || !record.CheckCRC(data[:h.Size()]) {
					report(fmt.Errorf("read at %d returned a damaged batch: %v", off, err))
					return
				}
				if (h.BaseOffset > off || h.LastOffset() < off) && !truncated {
					report(fmt.Errorf("read at %d returned batch [%d, %d]", off, h.BaseOffset, h.LastOffset()))
					return
				}
				if _, _, _, err := l.OffsetForTimestamp(0); err != nil {
					report(err)
					return
				}
				l.MaxTimestamp()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := l.ApplyRetention(newTestClock().t); err != nil {
		t.Fatal(err)
	}
	if l.Size() > cfg.RetentionBytes+cfg.SegmentBytes {
		t.Fatalf("size %d, retention not applied", l.Size())
	}
	checkContiguous(t, readAll(t, l, l.LogStartOffset()), l.LogStartOffset(), l.LogEndOffset())
}
