package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestManagerWritesMetaPropertiesAndChecksNodeID(t *testing.T) {
	dirs := []string{tempDir(t), tempDir(t)}
	m := newTestManager(t, dirs...)
	if m.ClusterID() != "" {
		t.Fatalf("cluster ID %q before one is set", m.ClusterID())
	}
	if err := m.SetClusterID("abcdefghijklmnopqrstuv"); err != nil {
		t.Fatal(err)
	}
	ids := map[[16]byte]bool{}
	for _, d := range m.LogDirs() {
		ids[d.DirectoryID] = true
	}
	if len(ids) != 2 {
		t.Fatalf("directory IDs %v, want two distinct", ids)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dirs[0], metaPropertiesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version=1\n", "node.id=1\n", "cluster.id=abcdefghijklmnopqrstuv\n", "directory.id="} {
		if !strings.Contains(string(data), want) {
			t.Fatalf("meta.properties lacks %q:\n%s", want, data)
		}
	}

	m = newTestManager(t, dirs...)
	if m.ClusterID() != "abcdefghijklmnopqrstuv" {
		t.Fatalf("cluster ID %q after restart", m.ClusterID())
	}
	for _, d := range m.LogDirs() {
		if !ids[d.DirectoryID] {
			t.Fatal("directory ID changed across restarts")
		}
	}
	if err := m.SetClusterID("another-cluster-id-xxx"); err == nil {
		t.Fatal("a different cluster ID was accepted")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewManager(ManagerConfig{Dirs: dirs, NodeID: 2, Defaults: testConfig()}); err == nil || !strings.Contains(err.Error(), "node 1") {
		t.Fatalf("opening node 1's dirs as node 2: %v", err)
	}
}

func TestManagerLocksItsDirs(t *testing.T) {
	dir := tempDir(t)
	m := newTestManager(t, dir)
	if _, err := NewManager(ManagerConfig{Dirs: []string{dir}, NodeID: 1, Defaults: testConfig()}); err == nil {
		t.Fatal("a second manager opened a locked dir")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = newTestManager(t, dir)
	m.Close()
}

func TestManagerGetOrCreateSpreadsLogsAndKeepsTopicIDs(t *testing.T) {
	dirs := []string{tempDir(t), tempDir(t)}
	m := newTestManager(t, dirs...)
	topicID := [16]byte{0xde, 0xad, 0xbe, 0xef}
	for p := int32(0); p < 6; p++ {
		l, err := m.GetOrCreate(TopicPartition{"events", p}, topicID, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, batchSpec{records: int(p) + 1}, newTestClock().t)
	}
	perDir := map[string]int{}
	for _, l := range m.Logs() {
		perDir[filepath.Dir(l.Dir())]++
	}
	if perDir[dirs[0]] != 3 || perDir[dirs[1]] != 3 {
		t.Fatalf("logs per dir %v, want 3 and 3", perDir)
	}
	// The same partition again returns the same log and applies the config.
	cfg := testConfig()
	cfg.RetentionMs = 1234
	l0, _ := m.Get(TopicPartition{"events", 0})
	again, err := m.GetOrCreate(TopicPartition{"events", 0}, topicID, cfg)
	if err != nil || again != l0 || again.Config().RetentionMs != 1234 {
		t.Fatalf("GetOrCreate of an existing log: %p vs %p, %v", again, l0, err)
	}
	if _, err := m.GetOrCreate(TopicPartition{"events", 0}, [16]byte{1}, cfg); err == nil {
		t.Fatal("a different topic ID was accepted")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m = newTestManager(t, dirs...)
	defer m.Close()
	if got := len(m.Logs()); got != 6 {
		t.Fatalf("%d logs after restart", got)
	}
	for p := int32(0); p < 6; p++ {
		tp := TopicPartition{"events", p}
		id, ok := m.TopicID(tp)
		l, _ := m.Get(tp)
		if !ok || id != topicID || l.LogEndOffset() != int64(p)+1 {
			t.Fatalf("%s after restart: topic ID %v %v, log end %d", tp, id, ok, l.LogEndOffset())
		}
	}
	data, err := os.ReadFile(filepath.Join(dirs[0], "events-0", partitionMetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "version: 0\ntopic_id: 3q2-7wAAAAAAAAAAAAAAAA\n"; string(data) != want {
		t.Fatalf("partition.metadata %q, want %q", data, want)
	}
}

func TestManagerDelete(t *testing.T) {
	dir := tempDir(t)
	m := newTestManager(t, dir)
	tp := TopicPartition{"gone", 0}
	l, err := m.GetOrCreate(tp, [16]byte{}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batchSpec{}, newTestClock().t)
	if err := m.Delete(tp); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get(tp); ok {
		t.Fatal("deleted log still there")
	}
	if _, err := l.Read(0, 100, 1, true); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("read of a deleted log: %v", err)
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if de.IsDir() {
			t.Fatalf("directory %s left behind", de.Name())
		}
	}
	if err := m.Delete(tp); err == nil {
		t.Fatal("deleting a missing log succeeded")
	}
	// A directory renamed for deletion before a crash is removed at start.
	doomed := filepath.Join(dir, "gone-1.0123456789abcdef0123456789abcdef"+deleteDirSuffix)
	if err := os.MkdirAll(doomed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = newTestManager(t, dir)
	defer m.Close()
	if _, err := os.Stat(doomed); !os.IsNotExist(err) {
		t.Fatalf("-delete directory survived start: %v", err)
	}
	if len(m.Logs()) != 0 {
		t.Fatalf("logs %v", m.Logs())
	}
}

func TestManagerCheckpoints(t *testing.T) {
	dirs := []string{tempDir(t), tempDir(t)}
	m := newTestManager(t, dirs...)
	a, b := TopicPartition{"a", 0}, TopicPartition{"b", 0}
	la, _ := m.GetOrCreate(a, [16]byte{}, testConfig())
	lb, _ := m.GetOrCreate(b, [16]byte{}, testConfig())
	fillLog(t, la, 20, nil)
	fillLog(t, lb, 20, nil)
	if _, err := la.DeleteRecordsBefore(7); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteHighWatermarks(map[TopicPartition]int64{a: 30, b: 40, {"unknown", 0}: 1}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{recoveryPointCheckpoint, logStartOffsetCheckpoint, replicationCheckpoint} {
		all := map[TopicPartition]int64{}
		for _, d := range dirs {
			offsets, err := ReadOffsetCheckpoint(filepath.Join(d, name))
			if err != nil {
				t.Fatal(err)
			}
			for tp, off := range offsets {
				all[tp] = off
			}
		}
		want := map[string]map[TopicPartition]int64{
			recoveryPointCheckpoint:  {a: 40, b: 40},
			logStartOffsetCheckpoint: {a: 7, b: 0},
			replicationCheckpoint:    {a: 30, b: 40},
		}[name]
		if fmt.Sprint(all) != fmt.Sprint(want) {
			t.Fatalf("%s: %v, want %v", name, all, want)
		}
	}
	m = newTestManager(t, dirs...)
	defer m.Close()
	if hw := m.HighWatermarks(); hw[a] != 30 || hw[b] != 40 || len(hw) != 2 {
		t.Fatalf("high watermarks %v", hw)
	}
	la, _ = m.Get(a)
	if la.LogStartOffset() != 7 {
		t.Fatalf("log start offset %d after restart, want 7", la.LogStartOffset())
	}
}

func TestManagerBackgroundFlushAndRetention(t *testing.T) {
	dir := tempDir(t)
	clock := newTestClock()
	var now = func() time.Time { return clock.t }
	m, err := NewManager(ManagerConfig{Dirs: []string{dir}, NodeID: 1, Defaults: testConfig(), Logger: testLogger(t),
		RetentionCheckInterval: time.Millisecond, FlushCheckInterval: time.Millisecond, RecoveryPointCheckpointInterval: time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	cfg.RetentionBytes = 2048
	l, err := m.GetOrCreate(testTP, [16]byte{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fillLog(t, l, 40, nil)
	m.Start()
	m.Start() // idempotent
	// The background goroutine flushes rolled segments, applies retention
	// and writes checkpoints; wait for all three (bounded).
	deadline := time.Now().Add(10 * time.Second)
	for {
		offsets, _ := ReadOffsetCheckpoint(filepath.Join(dir, logStartOffsetCheckpoint))
		if l.Size() <= 2048+1024 && l.RecoveryPoint() >= l.segments[len(l.segments)-1].baseOffset && offsets[testTP] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background work not done: size %d, recovery point %d, checkpoint %v", l.Size(), l.RecoveryPoint(), offsets)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestManagerOpensManyPartitionsQuickly(t *testing.T) {
	dir := tempDir(t)
	m := newTestManager(t, dir)
	const partitions = 300
	for p := int32(0); p < partitions; p++ {
		l, err := m.GetOrCreate(TopicPartition{"many", p}, [16]byte{}, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, batchSpec{records: 3}, newTestClock().t)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m = newTestManager(t, dir)
	took := time.Since(start)
	defer m.Close()
	if len(m.Logs()) != partitions {
		t.Fatalf("%d logs", len(m.Logs()))
	}
	t.Logf("opened %d clean partitions in %v", partitions, took)
	if took > 3*time.Second {
		t.Fatalf("opening %d clean partitions took %v", partitions, took)
	}
}

func TestManagerLeavesMetadataQuorumDirAlone(t *testing.T) {
	dir := t.TempDir()
	meta := filepath.Join(dir, metadataLogDir)
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(meta, "raft.db"), []byte("raft"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newTestManager(t, dir)
	if logs := m.Logs(); len(logs) != 0 {
		t.Fatalf("opened %d logs, want none: the metadata quorum's directory is not a partition", len(logs))
	}
	entries, err := os.ReadDir(meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("metadata dir holds %d files after start, want only raft.db", len(entries))
	}
}
