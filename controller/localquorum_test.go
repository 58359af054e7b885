package controller

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openQuorum(t *testing.T, dir string, snapshotEvery int) (*LocalQuorum, *loader) {
	t.Helper()
	l := newLoader(discardLogger())
	q, err := OpenLocalQuorum(LocalQuorumConfig{Dir: dir, SnapshotEvery: snapshotEvery, Logger: discardLogger()}, l)
	if err != nil {
		t.Fatalf("OpenLocalQuorum: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q, l
}

// testEntries are entries that apply in order to the empty image.
func testEntries() [][]Record {
	return [][]Record{
		{ClusterIDRecord{ClusterID: "c"}},
		{RegisterBrokerRecord{NodeID: 1, Epoch: 1, Fenced: true}, UnfenceBrokerRecord{NodeID: 1, Epoch: 1}},
		{TopicRecord{Name: "a", ID: topicA}, PartitionRecord{TopicID: topicA, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}},
		{ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "retention.ms", Value: strPtr("9")}},
		{ProducerIDsRecord{BrokerID: 1, BrokerEpoch: 1, NextProducerID: 1000}},
		{PartitionChangeRecord{TopicID: topicA, Leader: 1}},
		{TopicRecord{Name: "b", ID: topicB}, PartitionRecord{TopicID: topicB, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}},
		{RemoveTopicRecord{ID: topicA}},
	}
}

// imageOf applies entries to the empty image directly.
func imageOf(t *testing.T, entries [][]Record) *Image {
	t.Helper()
	img := EmptyImage()
	for _, e := range entries {
		img, _ = mustApply(t, img, e...)
	}
	return img
}

func proposeAll(t *testing.T, q *LocalQuorum, entries [][]Record) {
	t.Helper()
	for i, e := range entries {
		if err := q.Propose(context.Background(), e); err != nil {
			t.Fatalf("Propose entry %d: %v", i, err)
		}
	}
}

func TestLocalQuorumReplaysAfterReopen(t *testing.T) {
	dir := t.TempDir()
	entries := testEntries()
	q, l := openQuorum(t, dir, 0)
	proposeAll(t, q, entries)
	want := imageOf(t, entries)
	wantEq(t, l.current(), want)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Propose(context.Background(), entries[0]); !errors.Is(err, ErrQuorumClosed) {
		t.Fatalf("Propose after Close = %v, want ErrQuorumClosed", err)
	}
	_, l2 := openQuorum(t, dir, 0)
	wantEq(t, l2.current(), want)
}

func TestLocalQuorumTruncatesTornTail(t *testing.T) {
	entries := testEntries()
	intact := entries[:5]
	lastFrame := appendFrame(nil, imageOf(t, intact).Offset+1, EncodeRecords(entries[5]))
	tests := []struct {
		name string
		tail []byte
	}{
		{"partial header", lastFrame[:5]},
		{"partial body", lastFrame[:len(lastFrame)-3]},
		{"flipped bit", flip(lastFrame, len(lastFrame)-1)},
		{"zeroed length", append([]byte{0, 0, 0, 0}, lastFrame[4:]...)},
		{"huge length", append([]byte{0xff, 0xff, 0xff, 0xff}, lastFrame[4:]...)},
		{"zeros", make([]byte, 4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q, _ := openQuorum(t, dir, 0)
			proposeAll(t, q, intact)
			q.Close()
			path := filepath.Join(dir, logFileName)
			good := readFile(t, path)
			appendFile(t, path, tt.tail)

			q, l := openQuorum(t, dir, 0)
			wantEq(t, l.current(), imageOf(t, intact))
			if got := readFile(t, path); !bytes.Equal(got, good) {
				t.Fatalf("log not truncated to its intact %d bytes: has %d", len(good), len(got))
			}
			// The log takes new entries where the intact ones end.
			proposeAll(t, q, entries[5:])
			q.Close()
			_, l = openQuorum(t, dir, 0)
			wantEq(t, l.current(), imageOf(t, entries))
		})
	}
}

func TestLocalQuorumSnapshotRestartsLog(t *testing.T) {
	dir := t.TempDir()
	entries := testEntries() // 8 entries, snapshots after the 3rd and 6th
	q, l := openQuorum(t, dir, 3)
	proposeAll(t, q, entries)
	want := imageOf(t, entries)
	wantEq(t, l.current(), want)
	if _, err := os.Stat(filepath.Join(dir, snapshotFileName)); err != nil {
		t.Fatalf("no snapshot: %v", err)
	}
	frames, _, tail := parseFrames(readFile(t, filepath.Join(dir, logFileName)), maxEntryBytes)
	if tail != nil || len(frames) != 2 {
		t.Fatalf("log holds %d entries (%v), want the 2 after the last snapshot", len(frames), tail)
	}
	q.Close()
	_, l2 := openQuorum(t, dir, 3)
	wantEq(t, l2.current(), want)
}

// TestLocalQuorumCrashBetweenSnapshotAndLogRestart replays a log whose
// entries the snapshot already holds, as a crash right after the snapshot
// rename leaves it.
func TestLocalQuorumCrashBetweenSnapshotAndLogRestart(t *testing.T) {
	dir := t.TempDir()
	entries := testEntries()
	q, _ := openQuorum(t, dir, 3)
	proposeAll(t, q, entries[:2])
	path := filepath.Join(dir, logFileName)
	before := readFile(t, path)
	proposeAll(t, q, entries[2:3]) // snapshot, log restarted
	q.Close()
	third := appendFrame(nil, imageOf(t, entries[:2]).Offset+1, EncodeRecords(entries[2]))
	writeFile(t, path, append(before, third...))

	q, l := openQuorum(t, dir, 3)
	wantEq(t, l.current(), imageOf(t, entries[:3]))
	proposeAll(t, q, entries[3:])
	q.Close()
	_, l = openQuorum(t, dir, 3)
	wantEq(t, l.current(), imageOf(t, entries))
}

func TestLocalQuorumRefusesDamageItCannotRepair(t *testing.T) {
	entries := testEntries()
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"corrupt snapshot", func(t *testing.T, dir string) {
			path := filepath.Join(dir, snapshotFileName)
			b := readFile(t, path)
			writeFile(t, path, flip(b, len(b)/2))
		}},
		{"entry of a newer format", func(t *testing.T, dir string) {
			f := appendFrame(nil, 100, EncodeRecords(entries[0]))
			f[frameHeaderSize] = frameVersion + 1
			binaryFixCRC(f)
			appendFile(t, filepath.Join(dir, logFileName), f)
		}},
		{"records of an unknown type", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, logFileName), appendFrame(nil, 100, oneRecord([]byte{200, 0})))
		}},
		{"offset gap", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, logFileName), appendFrame(nil, 1000, EncodeRecords(entries[5])))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q, _ := openQuorum(t, dir, 3)
			proposeAll(t, q, entries[:4])
			q.Close()
			tt.damage(t, dir)
			if q, err := OpenLocalQuorum(LocalQuorumConfig{Dir: dir, SnapshotEvery: 3, Logger: discardLogger()}, newLoader(discardLogger())); err == nil {
				q.Close()
				t.Fatal("OpenLocalQuorum succeeded on a damaged quorum")
			}
		})
	}
}

func TestLocalQuorumProposeEdgeCases(t *testing.T) {
	dir := t.TempDir()
	q, l := openQuorum(t, dir, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Propose(ctx, testEntries()[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose with a canceled context = %v", err)
	}
	if err := q.Propose(context.Background(), nil); err != nil {
		t.Fatalf("empty Propose = %v", err)
	}
	wantEq(t, l.current().Offset, int64(-1))
	if got := readFile(t, filepath.Join(dir, logFileName)); len(got) != 0 {
		t.Fatalf("log has %d bytes after proposals that commit nothing", len(got))
	}

	// An entry that does not apply is committed but skipped, everywhere the
	// same way: the offset moves on, the image does not change.
	proposeAll(t, q, testEntries()[:1])
	bad := []Record{RemoveTopicRecord{ID: topicB}}
	if err := q.Propose(context.Background(), bad); !errors.Is(err, ErrRecordRejected) {
		t.Fatalf("Propose of a record that does not apply = %v", err)
	}
	wantEq(t, l.current().Offset, int64(1))
	proposeAll(t, q, testEntries()[1:2])
	want := l.current()
	q.Close()
	_, l = openQuorum(t, dir, 0)
	wantEq(t, l.current(), want)
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}

func binaryFixCRC(f []byte) {
	c := crc32c(f[frameHeaderSize:])
	f[4], f[5], f[6], f[7] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadLog feeds arbitrary bytes to the log reader: it must not panic,
// its valid prefix must be made of the frames it returned, and whatever
// frames it accepts must decode or fail cleanly.
func FuzzReadLog(f *testing.F) {
	var log []byte
	offset := int64(0)
	for _, e := range testEntries() {
		log = appendFrame(log, offset, EncodeRecords(e))
		offset += int64(len(e))
	}
	f.Add(log)
	f.Add(log[:len(log)-7])
	f.Add(appendFrame(nil, -1, nil))
	f.Add([]byte{0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, valid, tail := parseFrames(data, maxEntryBytes)
		if valid > len(data) || (tail == nil) != (valid == len(data)) {
			t.Fatalf("valid prefix %d of %d bytes, tail %v", valid, len(data), tail)
		}
		pos := 0
		for _, fr := range frames {
			if fr.pos != pos {
				t.Fatalf("frame at %d, expected %d", fr.pos, pos)
			}
			pos += frameHeaderSize + len(fr.body)
			if _, recs, err := decodeFrameBody(fr.body); err == nil {
				EncodeRecords(recs)
			}
		}
		if pos != valid {
			t.Fatalf("frames cover %d bytes, valid prefix is %d", pos, valid)
		}
	})
}
