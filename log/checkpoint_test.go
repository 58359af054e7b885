package log

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteCheckpointFileFormatAndRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp")
	lines := []string{"a 1", "b 2"}
	if err := WriteCheckpointFile(path, 3, lines); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "3\n2\na 1\nb 2\n"; string(raw) != want {
		t.Fatalf("file = %q, want %q", raw, want)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	version, got, err := ReadCheckpointFile(path)
	if err != nil || version != 3 || !slices.Equal(got, lines) {
		t.Fatalf("ReadCheckpointFile = %d, %q, %v; want 3, %q", version, got, err, lines)
	}

	// Rewriting replaces the file whole.
	if err := WriteCheckpointFile(path, 3, nil); err != nil {
		t.Fatal(err)
	}
	if version, got, err := ReadCheckpointFile(path); err != nil || version != 3 || len(got) != 0 {
		t.Fatalf("after rewrite: %d, %q, %v; want 3, no lines", version, got, err)
	}
}

func TestWriteCheckpointFileRejectsLineBreaks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp")
	for _, line := range []string{"a\nb", "a\rb"} {
		if err := WriteCheckpointFile(path, 0, []string{line}); err == nil {
			t.Errorf("WriteCheckpointFile accepted line %q", line)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a rejected write created the file: %v", err)
	}
}

func TestWriteCheckpointFileFailsWhenDirectoryIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone", "cp")
	if err := WriteCheckpointFile(path, 0, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteCheckpointFile into a missing directory: %v, want an error naming %s", err, path)
	}
}

func TestReadCheckpointFileMissingIsNotExist(t *testing.T) {
	_, _, err := ReadCheckpointFile(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestReadCheckpointFile(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		wantVersion int
		wantLines   []string
		wantErr     string // substring; "" = no error
	}{
		{name: "entries", data: "0\n2\nx\ny\n", wantLines: []string{"x", "y"}},
		{name: "no final newline", data: "0\n1\nx", wantLines: []string{"x"}},
		{name: "CRLF", data: "0\r\n1\r\nx 1\r\n", wantLines: []string{"x 1"}},
		{name: "zero entries", data: "5\n0\n", wantVersion: 5},
		{name: "empty file reads as empty, like Kafka", data: ""},
		{name: "version only reads as empty, like Kafka", data: "2\n", wantVersion: 2},
		{name: "empty entry line is kept", data: "0\n1\n\n", wantLines: []string{""}},
		{name: "bad version", data: "v0\n0\n", wantErr: "version line"},
		{name: "blank version", data: "\n", wantErr: "version line"},
		{name: "bad count", data: "0\ntwo\na\nb\n", wantErr: "count line"},
		{name: "negative count", data: "0\n-1\n", wantErr: "count line"},
		{name: "fewer entries than count", data: "0\n3\na\nb\n", wantErr: "expected 3 entries, found 2"},
		{name: "more entries than count", data: "0\n1\na\nb\n", wantErr: "expected 1 entries, found 2"},
		{name: "trailing blank line counts", data: "0\n1\na\n\n", wantErr: "expected 1 entries, found 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cp")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			version, lines, err := ReadCheckpointFile(path)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want ErrCorruptCheckpoint mentioning %q and the path", err, tt.wantErr)
				}
				return
			}
			if err != nil || version != tt.wantVersion || !slices.Equal(lines, tt.wantLines) {
				t.Fatalf("= %d, %q, %v; want %d, %q", version, lines, err, tt.wantVersion, tt.wantLines)
			}
		})
	}
}

func TestOffsetCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recovery-point-offset-checkpoint")
	offsets := map[TopicPartition]int64{
		{"orders", 1}:             42,
		{"orders", 0}:             7,
		{"my-topic.v2", 10}:       0,
		{"__consumer_offsets", 3}: 1 << 40,
	}
	if err := WriteOffsetCheckpoint(path, offsets); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "0\n4\n__consumer_offsets 3 1099511627776\nmy-topic.v2 10 0\norders 0 7\norders 1 42\n"
	if string(raw) != want {
		t.Fatalf("file = %q, want %q", raw, want)
	}
	got, err := ReadOffsetCheckpoint(path)
	if err != nil || !maps.Equal(got, offsets) {
		t.Fatalf("ReadOffsetCheckpoint = %v, %v; want %v", got, err, offsets)
	}
}

func TestReadOffsetCheckpointMissingFileIsEmpty(t *testing.T) {
	got, err := ReadOffsetCheckpoint(filepath.Join(t.TempDir(), "missing"))
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("= %v, %v; want an empty map and no error", got, err)
	}
}

func TestReadOffsetCheckpoint(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    map[TopicPartition]int64
		wantErr string
	}{
		{name: "written by Kafka", data: "0\n2\nfoo 0 10\nbar-baz 3 42\n",
			want: map[TopicPartition]int64{{"foo", 0}: 10, {"bar-baz", 3}: 42}},
		{name: "runs of white space, as Kafka splits on \\s+", data: "0\n1\nfoo\t0  10\n",
			want: map[TopicPartition]int64{{"foo", 0}: 10}},
		{name: "empty", data: "0\n0\n", want: map[TopicPartition]int64{}},
		{name: "wrong version", data: "1\n0\n", wantErr: "version 1"},
		{name: "wrong count", data: "0\n2\nfoo 0 10\n", wantErr: "expected 2 entries"},
		{name: "two fields", data: "0\n1\nfoo 10\n", wantErr: "want 3 fields"},
		{name: "four fields", data: "0\n1\nfoo 0 10 1\n", wantErr: "want 3 fields"},
		{name: "bad partition", data: "0\n1\nfoo x 10\n", wantErr: "partition"},
		{name: "negative partition", data: "0\n1\nfoo -1 10\n", wantErr: "partition"},
		{name: "bad offset", data: "0\n1\nfoo 0 ten\n", wantErr: "offset"},
		{name: "negative offset", data: "0\n1\nfoo 0 -5\n", wantErr: "offset"},
		{name: "illegal topic", data: "0\n1\nfo/o 0 5\n", wantErr: "illegal character"},
		{name: "listed twice", data: "0\n2\nfoo 0 5\nfoo 0 6\n", wantErr: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cp")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadOffsetCheckpoint(path)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrCorruptCheckpoint mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// FuzzReadCheckpoint feeds arbitrary file contents to every checkpoint
// parser (ReadCheckpointFile is os.ReadFile plus parseCheckpoint; the file
// handling is covered above, and parsing in memory lets the fuzzer run fast):
// none may panic, errors must be ErrCorruptCheckpoint, and whatever is
// accepted must survive formatting and re-parsing unchanged.
func FuzzReadCheckpoint(f *testing.F) {
	for _, s := range []string{"", "0\n", "0\n0\n", "0\n2\nfoo 0 10\nbar-baz 3 42\n", "0\n2\n1 0\n3 17\n", "0\n1\nx", "0\r\n1\r\n2 5\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		version, lines, err := parseCheckpoint(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptCheckpoint) {
				t.Fatalf("error %v does not wrap ErrCorruptCheckpoint", err)
			}
			return
		}
		formatted, err := formatCheckpoint(version, lines)
		if err != nil {
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.ContainsAny(l, "\r\n") }) {
				t.Fatalf("formatting accepted lines %q failed: %v", lines, err)
			}
		} else if v2, l2, err := parseCheckpoint(formatted); err != nil || v2 != version || !slices.Equal(l2, lines) {
			t.Fatalf("re-parse = %d, %q, %v; want %d, %q", v2, l2, err, version, lines)
		}

		if offsets, err := parseOffsetCheckpoint(version, lines); err == nil {
			formatted, err := formatCheckpoint(offsetCheckpointVersion, offsetCheckpointLines(offsets))
			if err != nil {
				t.Fatal(err)
			}
			v2, l2, err := parseCheckpoint(formatted)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := parseOffsetCheckpoint(v2, l2); err != nil || !maps.Equal(back, offsets) {
				t.Fatalf("offsets re-parse = %v, %v; want %v", back, err, offsets)
			}
		} else if !errors.Is(err, ErrCorruptCheckpoint) {
			t.Fatalf("offset checkpoint error %v does not wrap ErrCorruptCheckpoint", err)
		}

		if loaded, err := parseLeaderEpochCheckpoint(version, lines); err == nil {
			entries := assignEpochs(loaded)
			for i := 1; i < len(entries); i++ {
				if entries[i].Epoch <= entries[i-1].Epoch || entries[i].StartOffset <= entries[i-1].StartOffset {
					t.Fatalf("loaded entries not strictly increasing: %v", entries)
				}
			}
			again, err := parseLeaderEpochCheckpoint(leaderEpochCheckpointVersion, leaderEpochLines(entries))
			if err != nil || !slices.Equal(assignEpochs(again), entries) {
				t.Fatalf("leader epochs re-parse = %v, %v; want %v", again, err, entries)
			}
		} else if !errors.Is(err, ErrCorruptCheckpoint) {
			t.Fatalf("leader epoch error %v does not wrap ErrCorruptCheckpoint", err)
		}
	})
}
