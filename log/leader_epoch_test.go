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
)

type endOffsetQuery struct {
	epoch     int32
	leo       int64
	wantEpoch int32
	wantEnd   int64
}

// The cases mirror Kafka's LeaderEpochFileCacheTest.
func TestLeaderEpochCache(t *testing.T) {
	e := func(epoch int32, start int64) EpochEntry { return EpochEntry{epoch, start} }
	tests := []struct {
		name    string
		assign  []EpochEntry
		then    func(*LeaderEpochCache) error // applied after the assignments
		want    []EpochEntry
		queries []endOffsetQuery
	}{
		{name: "empty cache is undefined for any epoch",
			queries: []endOffsetQuery{{0, 0, -1, -1}, {7, 0, -1, -1}, {-1, 73, -1, -1}}},
		{name: "latest epoch ends at the log end offset",
			assign: []EpochEntry{e(2, 10)}, want: []EpochEntry{e(2, 10)},
			queries: []endOffsetQuery{{2, 11, 2, 11}}},
		{name: "same epoch at a later offset changes nothing",
			assign: []EpochEntry{e(2, 6), e(2, 7), e(2, 10)}, want: []EpochEntry{e(2, 6)},
			queries: []endOffsetQuery{{2, 14, 2, 14}}},
		{name: "undefined epoch requested is undefined",
			assign: []EpochEntry{e(2, 11), e(3, 12)}, want: []EpochEntry{e(2, 11), e(3, 12)},
			queries: []endOffsetQuery{{-1, 0, -1, -1}}},
		{name: "epoch older than all returns itself and the first start offset",
			assign:  []EpochEntry{e(5, 11), e(6, 12), e(7, 13)},
			want:    []EpochEntry{e(5, 11), e(6, 12), e(7, 13)},
			queries: []endOffsetQuery{{4, 0, 4, 11}}},
		{name: "epoch newer than all is undefined",
			assign: []EpochEntry{e(2, 100)}, want: []EpochEntry{e(2, 100)},
			queries: []endOffsetQuery{{3, 100, -1, -1}}},
		{name: "same epoch at an earlier offset truncates conflicting entries",
			assign:  []EpochEntry{e(5, 11), e(6, 12), e(7, 13), e(7, 12)},
			want:    []EpochEntry{e(5, 11), e(7, 12)},
			queries: []endOffsetQuery{{5, 0, 5, 12}, {6, 0, 5, 12}}},
		{name: "previous epoch ends where the next begins",
			assign:  []EpochEntry{e(1, 11), e(1, 12), e(2, 13), e(2, 14), e(3, 15), e(3, 16)},
			want:    []EpochEntry{e(1, 11), e(2, 13), e(3, 15)},
			queries: []endOffsetQuery{{2, 17, 2, 15}, {1, 17, 1, 13}, {3, 17, 3, 17}}},
		{name: "requested epoch between entries returns the floor epoch",
			assign:  []EpochEntry{e(0, 10), e(2, 13), e(4, 17)},
			want:    []EpochEntry{e(0, 10), e(2, 13), e(4, 17)},
			queries: []endOffsetQuery{{1, 0, 0, 13}, {2, 0, 2, 17}, {3, 0, 2, 17}, {4, 20, 4, 20}}},
		{name: "same start offset replaces the older epoch",
			assign: []EpochEntry{e(2, 9), e(3, 9)}, want: []EpochEntry{e(3, 9)}},
		{name: "lower start offset replaces the entry",
			assign: []EpochEntry{e(2, 6), e(3, 5)}, want: []EpochEntry{e(3, 5)}},
		{name: "lower epoch removes the newer epochs",
			assign: []EpochEntry{e(1, 5), e(2, 6), e(1, 7)}, want: []EpochEntry{e(1, 7)},
			queries: []endOffsetQuery{{1, 8, 1, 8}, {2, 8, -1, -1}}},
		{name: "leaders change many times",
			assign: []EpochEntry{e(0, 0), e(1, 0), e(2, 5)}, want: []EpochEntry{e(1, 0), e(2, 5)},
			queries: []endOffsetQuery{{2, 10, 2, 10}, {1, 10, 1, 5}, {0, 10, 0, 0}}},
		{name: "follower receives many batches",
			assign:  []EpochEntry{e(0, 0), e(0, 1), e(0, 2), e(1, 3), e(1, 4), e(1, 5), e(2, 6), e(2, 7), e(2, 8)},
			want:    []EpochEntry{e(0, 0), e(1, 3), e(2, 6)},
			queries: []endOffsetQuery{{2, 9, 2, 9}, {0, 9, 0, 3}, {1, 9, 1, 6}}},
		{name: "truncate from end on an epoch boundary",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromEnd(8) },
			want:   []EpochEntry{e(2, 6)}},
		{name: "truncate from end between boundaries",
			assign:  []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:    func(c *LeaderEpochCache) error { return c.TruncateFromEnd(9) },
			want:    []EpochEntry{e(2, 6), e(3, 8)},
			queries: []endOffsetQuery{{3, 9, 3, 9}, {2, 9, 2, 8}}},
		{name: "truncate from end with undefined offset changes nothing",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromEnd(-1) },
			want:   []EpochEntry{e(2, 6), e(3, 8), e(4, 11)}},
		{name: "truncate from end of an empty cache",
			then: func(c *LeaderEpochCache) error { return c.TruncateFromEnd(7) }},
		{name: "truncate from start keeps the epoch at the new start",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromStart(8) },
			want:   []EpochEntry{e(3, 8), e(4, 11)}},
		{name: "truncate from start before the first entry changes nothing",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromStart(1) },
			want:   []EpochEntry{e(2, 6), e(3, 8), e(4, 11)}},
		{name: "truncate from start at the first offset changes nothing",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromStart(6) },
			want:   []EpochEntry{e(2, 6), e(3, 8), e(4, 11)}},
		{name: "truncate from start at the latest epoch's start",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromStart(11) },
			want:   []EpochEntry{e(4, 11)}},
		{name: "truncate from start between boundaries moves the epoch's start",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromStart(9) },
			want:   []EpochEntry{e(3, 9), e(4, 11)}},
		{name: "truncate from start between the first two boundaries",
			assign: []EpochEntry{e(0, 0), e(1, 7), e(2, 10)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromStart(5) },
			want:   []EpochEntry{e(0, 5), e(1, 7), e(2, 10)}},
		{name: "truncate from start past all entries keeps the latest epoch",
			assign:  []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:    func(c *LeaderEpochCache) error { return c.TruncateFromStart(15) },
			want:    []EpochEntry{e(4, 15)},
			queries: []endOffsetQuery{{4, 20, 4, 20}, {3, 20, 3, 15}}},
		{name: "truncate from start with undefined offset changes nothing",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:   func(c *LeaderEpochCache) error { return c.TruncateFromStart(-1) },
			want:   []EpochEntry{e(2, 6), e(3, 8), e(4, 11)}},
		{name: "truncate from start of an empty cache",
			then: func(c *LeaderEpochCache) error { return c.TruncateFromStart(7) }},
		{name: "truncations from both ends",
			assign: []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then: func(c *LeaderEpochCache) error {
				return errors.Join(c.TruncateFromEnd(11), c.TruncateFromStart(8))
			},
			want: []EpochEntry{e(3, 8)}},
		{name: "reset clears everything",
			assign:  []EpochEntry{e(2, 6), e(3, 8), e(4, 11)},
			then:    (*LeaderEpochCache).Reset,
			queries: []endOffsetQuery{{4, 20, -1, -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := OpenLeaderEpochCache(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.assign {
				if err := c.Assign(a.Epoch, a.StartOffset); err != nil {
					t.Fatalf("Assign(%d, %d): %v", a.Epoch, a.StartOffset, err)
				}
			}
			if tt.then != nil {
				if err := tt.then(c); err != nil {
					t.Fatal(err)
				}
			}
			checkEpochCache(t, c, tt.want, tt.queries)
			// Every change is on disk: a reopened cache answers the same.
			reopened, err := OpenLeaderEpochCache(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkEpochCache(t, reopened, tt.want, tt.queries)
		})
	}
}

func checkEpochCache(t *testing.T, c *LeaderEpochCache, want []EpochEntry, queries []endOffsetQuery) {
	t.Helper()
	if got := c.Entries(); !slices.Equal(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
	latest, ok := c.LatestEpoch()
	if len(want) == 0 {
		if ok {
			t.Fatalf("LatestEpoch = %d on an empty cache", latest)
		}
	} else if !ok || latest != want[len(want)-1].Epoch {
		t.Fatalf("LatestEpoch = %d, %v; want %d", latest, ok, want[len(want)-1].Epoch)
	}
	for _, w := range want {
		if start, ok := c.EpochStartOffset(w.Epoch); !ok || start != w.StartOffset {
			t.Fatalf("EpochStartOffset(%d) = %d, %v; want %d", w.Epoch, start, ok, w.StartOffset)
		}
	}
	for _, q := range queries {
		epoch, end := c.EndOffsetFor(q.epoch, q.leo)
		if epoch != q.wantEpoch || end != q.wantEnd {
			t.Errorf("EndOffsetFor(%d, leo %d) = (%d, %d), want (%d, %d)", q.epoch, q.leo, epoch, end, q.wantEpoch, q.wantEnd)
		}
	}
}

func TestLeaderEpochCacheCheckpointFormat(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenLeaderEpochCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []EpochEntry{{0, 0}, {3, 120}, {7, 4000}} {
		if err := c.Assign(a.Epoch, a.StartOffset); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "leader-epoch-checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0\n3\n0 0\n3 120\n7 4000\n"; string(raw) != want {
		t.Fatalf("leader-epoch-checkpoint = %q, want %q", raw, want)
	}
}

func TestLeaderEpochCacheAssignRejectsNegative(t *testing.T) {
	c, err := OpenLeaderEpochCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []EpochEntry{{-1, 0}, {0, -1}} {
		if err := c.Assign(a.Epoch, a.StartOffset); err == nil {
			t.Errorf("Assign(%d, %d) accepted", a.Epoch, a.StartOffset)
		}
	}
	if got := c.Entries(); len(got) != 0 {
		t.Errorf("entries = %v after rejected assignments", got)
	}
}

func TestOpenLeaderEpochCacheFromFile(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []EpochEntry
		wantErr string
	}{
		{name: "written by Kafka", data: "0\n2\n0 0\n4 1200\n", want: []EpochEntry{{0, 0}, {4, 1200}}},
		// Kafka re-assigns the file's entries on load, which drops any that
		// break monotonicity.
		{name: "non-monotonic entries are normalised", data: "0\n3\n1 10\n2 5\n3 20\n", want: []EpochEntry{{2, 5}, {3, 20}}},
		{name: "wrong version", data: "1\n0\n", wantErr: "version 1"},
		{name: "wrong count", data: "0\n2\n1 10\n", wantErr: "expected 2 entries"},
		{name: "three fields", data: "0\n1\n1 10 3\n", wantErr: "entry 0"},
		{name: "not a number", data: "0\n1\n1 ten\n", wantErr: "entry 0"},
		{name: "negative epoch", data: "0\n1\n-1 10\n", wantErr: "entry 0"},
		{name: "epoch beyond int32", data: "0\n1\n2147483648 10\n", wantErr: "entry 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "leader-epoch-checkpoint"), []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := OpenLeaderEpochCache(dir)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(fmt.Sprint(err), tt.wantErr) {
					t.Fatalf("err = %v, want ErrCorruptCheckpoint mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Entries(); !slices.Equal(got, tt.want) {
				t.Fatalf("entries = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLeaderEpochCacheKeepsStateWhenWriteFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orders-0")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := OpenLeaderEpochCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Assign(1, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil { // the partition was deleted under the cache
		t.Fatal(err)
	}
	want := []EpochEntry{{1, 0}}
	changes := map[string]func() error{
		"Assign":            func() error { return c.Assign(2, 10) },
		"TruncateFromEnd":   func() error { return c.TruncateFromEnd(0) },
		"TruncateFromStart": func() error { return c.TruncateFromStart(5) },
		"Reset":             c.Reset,
	}
	for name, change := range changes {
		if err := change(); err == nil {
			t.Errorf("%s succeeded without a directory", name)
		}
		if got := c.Entries(); !slices.Equal(got, want) {
			t.Errorf("after failed %s entries = %v, want %v", name, got, want)
		}
	}
}

// TestLeaderEpochCacheConcurrentUse runs writers and readers together; run
// with -race it proves the locking.
func TestLeaderEpochCacheConcurrentUse(t *testing.T) {
	c, err := OpenLeaderEpochCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range int32(50) {
			if err := c.Assign(i, int64(i)*10); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			entries := c.Entries()
			for i := 1; i < len(entries); i++ {
				if entries[i].Epoch <= entries[i-1].Epoch {
					t.Errorf("entries out of order: %v", entries)
					return
				}
			}
			c.LatestEpoch()
			c.EndOffsetFor(3, 1000)
		}
	}()
	wg.Wait()
	if latest, ok := c.LatestEpoch(); !ok || latest != 49 {
		t.Fatalf("LatestEpoch = %d, %v; want 49", latest, ok)
	}
}
