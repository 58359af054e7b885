package log

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOffsetIndexLookupAndTruncate(t *testing.T) {
	dir := tempDir(t)
	f, _, err := openIndexFile(filepath.Join(dir, "x.index"), 100, offsetIndexEntrySize, 0, 1024)
	if err != nil {
		t.Fatal(err)
	}
	idx := &offsetIndex{f}
	defer idx.close()
	// Batches ending at offsets 104, 110, 130 start at positions 500, 900, 2000.
	for _, e := range [][2]int64{{104, 500}, {110, 900}, {130, 2000}} {
		if err := idx.append(e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ target, wantOffset, wantPos int64 }{
		{50, 100, 0}, // below the base
		{100, 100, 0},
		{103, 100, 0},
		{104, 104, 500},
		{109, 104, 500},
		{110, 110, 900},
		{129, 110, 900},
		{130, 130, 2000},
		{1 << 40, 130, 2000},
	}
	for _, tt := range tests {
		off, pos, err := idx.lookup(tt.target)
		if err != nil || off != tt.wantOffset || pos != tt.wantPos {
			t.Errorf("lookup(%d) = (%d, %d, %v), want (%d, %d)", tt.target, off, pos, err, tt.wantOffset, tt.wantPos)
		}
	}
	// Entries survive reopening, read lazily.
	g, existed, err := openIndexFile(filepath.Join(dir, "x.index"), 100, offsetIndexEntrySize, 0, 1024)
	if err != nil || !existed || g.entries() != 3 || g.loaded {
		t.Fatalf("reopened: %d entries, existed %v, loaded %v, %v", g.entries(), existed, g.loaded, err)
	}
	if off, pos, _ := (&offsetIndex{g}).lastEntry(); off != 130 || pos != 2000 {
		t.Fatalf("last entry (%d, %d)", off, pos)
	}
	g.close()

	if err := idx.truncateTo(110); err != nil {
		t.Fatal(err)
	}
	if off, pos, _ := idx.lookup(200); idx.entries() != 1 || off != 104 || pos != 500 {
		t.Fatalf("after truncateTo(110): %d entries, lookup (%d, %d)", idx.entries(), off, pos)
	}
	if st, _ := os.Stat(filepath.Join(dir, "x.index")); st.Size() != offsetIndexEntrySize {
		t.Fatalf("file is %d bytes after truncation", st.Size())
	}
}

func TestTimeIndexLookupAndMaybeAppend(t *testing.T) {
	dir := tempDir(t)
	f, _, err := openIndexFile(filepath.Join(dir, "x.timeindex"), 0, timeIndexEntrySize, 8, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ti := &timeIndex{f}
	defer ti.close()
	for _, e := range [][2]int64{{-1, 0}, {1000, 5}, {1000, 9}, {900, 12}, {2000, 20}} {
		if err := ti.maybeAppend(e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	if ti.entries() != 2 {
		t.Fatalf("%d entries, want 2: only growing timestamps are added", ti.entries())
	}
	tests := []struct{ ts, wantTs, wantOffset int64 }{
		{999, -1, 0},
		{1000, 1000, 5},
		{1999, 1000, 5},
		{2000, 2000, 20},
		{5000, 2000, 20},
	}
	for _, tt := range tests {
		ts, off, err := ti.lookup(tt.ts)
		if err != nil || ts != tt.wantTs || off != tt.wantOffset {
			t.Errorf("lookup(%d) = (%d, %d, %v), want (%d, %d)", tt.ts, ts, off, err, tt.wantTs, tt.wantOffset)
		}
	}
}

func TestMalformedIndexFileIsReported(t *testing.T) {
	path := filepath.Join(tempDir(t), "x.index")
	if err := os.WriteFile(path, make([]byte, 13), 0o644); err != nil {
		t.Fatal(err)
	}
	f, existed, err := openIndexFile(path, 0, offsetIndexEntrySize, 0, 1024)
	if err == nil || f == nil || !existed {
		t.Fatalf("13-byte index: %v, file %v, existed %v", err, f != nil, existed)
	}
	f.close()
}
