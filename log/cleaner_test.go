package log

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/record"
)

// fillOverwrites appends rounds of one batch per key group, overwriting the
// same keys each round, until the log has at least minSegments segments.
func fillOverwrites(t *testing.T, l *Log, m *logModel, keys, minSegments int, now time.Time) {
	t.Helper()
	for round := 0; l.NumSegments() < minSegments; round++ {
		var recs []kv
		for k := 0; k < keys; k++ {
			recs = append(recs, put(fmt.Sprintf("key-%d", k), fmt.Sprintf("value-%d-%d", k, round)))
		}
		m.appendKeyed(t, l, keyedSpec{firstTs: now.UnixMilli() + int64(round), records: recs}, now)
	}
}

func TestCompactionKeepsOnlyTheLatestValueOfEachKey(t *testing.T) {
	l, _, m, clock := openCompactedLog(t)
	fillOverwrites(t, l, m, 10, 12, clock.t)
	segsBefore, leo := l.NumSegments(), l.LogEndOffset()
	activeBase := segmentBases(l)[segsBefore-1]
	activeBytes := segmentBytes(t, l, activeBase)
	sizeBefore := l.Size()

	c := newTestCleaner(t, 1<<20)
	mustClean(t, c, l, clock.t)

	if l.LogEndOffset() != leo || l.LogStartOffset() != 0 {
		t.Fatalf("log offsets [%d, %d), want [0, %d)", l.LogStartOffset(), l.LogEndOffset(), leo)
	}
	if got := l.cleanerOffset.Load(); got != activeBase {
		t.Fatalf("cleaner checkpoint %d, want the active segment's base %d", got, activeBase)
	}
	if !bytes.Equal(segmentBytes(t, l, activeBase), activeBytes) {
		t.Fatal("the active segment changed")
	}
	if l.Size() >= sizeBefore/10 {
		t.Fatalf("%d bytes after cleaning, %d before", l.Size(), sizeBefore)
	}
	// Groups are sized by the segments' sizes before cleaning (Kafka's
	// groupSegmentsBySize), so the small cleaned segments merge only on
	// the next cleaning.
	if l.NumSegments() != segsBefore {
		t.Fatalf("%d segments after the first cleaning, %d before", l.NumSegments(), segsBefore)
	}
	recs := checkCompacted(t, l, m, activeBase, false)
	below := 0
	for _, r := range recs {
		if r.offset < activeBase {
			below++
		}
	}
	if below != 10 {
		t.Fatalf("%d records below the active segment, want one per key (10)", below)
	}
	// Reads that land in a gap left by compaction return the next batch.
	for off := int64(0); off < activeBase; off += 7 {
		data, err := l.Read(off, 1<<20, leo, true)
		if err != nil || len(data) == 0 {
			t.Fatalf("Read(%d) = %d bytes, %v", off, len(data), err)
		}
		h, _ := record.ParseHeader(data)
		if h.LastOffset() < off {
			t.Fatalf("Read(%d) returned a batch ending at %d", off, h.LastOffset())
		}
	}
	// Nothing is dirty any more: the next iteration finds no work.
	if cleaned, worked := c.cleanFilthiestLog([]*Log{l}, clock.t); cleaned != nil || worked {
		t.Fatal("a clean log was cleaned again")
	}
	// More overwrites: the next cleaning merges the cleaned segments.
	fillOverwrites(t, l, m, 10, segsBefore+2, clock.t)
	forceRoll(t, l, clock.t)
	mustClean(t, c, l, clock.t)
	if l.NumSegments() >= segsBefore {
		t.Fatalf("%d segments after the second cleaning, want the small ones merged", l.NumSegments())
	}
	leo = l.LogEndOffset()
	activeBase = segmentBases(l)[l.NumSegments()-1]
	checkCompacted(t, l, m, activeBase, false)
	// The cleaned log reopens (after a crash too: recovery accepts gaps).
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, filepath.Dir(l.Dir()), compactConfig(), func(o *OpenOptions) { o.CleanShutdown = false })
	defer l2.Close()
	if l2.LogEndOffset() != leo {
		t.Fatalf("reopened log ends at %d, want %d", l2.LogEndOffset(), leo)
	}
	checkCompacted(t, l2, m, activeBase, false)
}

func TestCompactionGroupsSegmentsWithinSegmentBytes(t *testing.T) {
	l, cfg, m, clock := openCompactedLog(t)
	// Unique keys: nothing is removed, so groups are bounded by size.
	for i := 0; l.NumSegments() < 6; i++ {
		m.appendKeyed(t, l, keyedSpec{firstTs: clock.t.UnixMilli(), records: []kv{put(fmt.Sprintf("k%d", i), "0123456789012345678901234567890123456789")}}, clock.t)
	}
	cfg.MinCleanableDirtyRatio = 0
	l.SetConfig(cfg)
	mustClean(t, newTestCleaner(t, 1<<20), l, clock.t)
	l.mu.RLock()
	for _, s := range l.segments {
		if s.size.Load() > cfg.SegmentBytes {
			t.Errorf("segment %d holds %d bytes, above segment.bytes", s.baseOffset, s.size.Load())
		}
	}
	l.mu.RUnlock()
	checkCompacted(t, l, m, l.cleanerOffset.Load(), false)
}

func TestTombstoneRemovedOnlyAfterDeleteRetention(t *testing.T) {
	l, cfg, m, clock := openCompactedLog(t, cleanAtAnyDirtyRatio, func(c *Config) { c.DeleteRetentionMs = 60_000 })
	ts := clock.t.UnixMilli()
	m.appendKeyed(t, l, keyedSpec{firstTs: ts, records: []kv{put("gone", "v1"), put("kept", "v1")}}, clock.t)
	m.appendKeyed(t, l, keyedSpec{firstTs: ts, records: []kv{tombstone("gone"), put("kept", "v2")}}, clock.t)
	forceRoll(t, l, clock.t)
	m.appendKeyed(t, l, keyedSpec{firstTs: ts, records: []kv{put("other", "x")}}, clock.t)
	c := newTestCleaner(t, 1<<20)

	// First cleaning: the overwritten values go, the tombstone stays and
	// its batch gets a delete horizon of now + delete.retention.ms.
	mustClean(t, c, l, clock.t)
	recs := checkCompacted(t, l, m, l.cleanerOffset.Load(), false)
	var ts0 readRecord
	for _, r := range recs {
		if r.key == "gone" {
			ts0 = r
		}
	}
	if ts0.value != nil || ts0.offset != 2 {
		t.Fatalf("the tombstone is not kept: %+v", recs)
	}
	if horizon, ok := deleteHorizon(ts0.batch); !ok || horizon != clock.t.UnixMilli()+cfg.DeleteRetentionMs {
		t.Fatalf("tombstone batch delete horizon %d (set %v), want %d", horizon, ok, clock.t.UnixMilli()+cfg.DeleteRetentionMs)
	}

	cleanAgainAt := func(now time.Time) []readRecord {
		t.Helper()
		forceRoll(t, l, now)
		m.appendKeyed(t, l, keyedSpec{firstTs: ts, records: []kv{put("other", "y")}}, now)
		mustClean(t, c, l, now)
		return checkCompacted(t, l, m, l.cleanerOffset.Load(), true)
	}
	hasTombstone := func(recs []readRecord) bool {
		for _, r := range recs {
			if r.key == "gone" {
				return true
			}
		}
		return false
	}
	// Just before the horizon the tombstone survives a cleaning...
	if !hasTombstone(cleanAgainAt(clock.t.Add(59_999 * time.Millisecond))) {
		t.Fatal("tombstone removed before delete.retention.ms passed")
	}
	// ...at the horizon it goes.
	if recs := cleanAgainAt(clock.t.Add(60_000 * time.Millisecond)); hasTombstone(recs) {
		t.Fatal("tombstone kept after delete.retention.ms passed")
	}
}

func TestCompactionSkipsRecentSegmentsAndTheActiveOne(t *testing.T) {
	l, _, m, clock := openCompactedLog(t, cleanAtAnyDirtyRatio, func(c *Config) { c.MinCompactionLagMs = 10_000 })
	base := clock.t.UnixMilli()
	// Three segments of overwrites at record times base, base+20s, base+40s.
	for seg := 0; seg < 3; seg++ {
		for i := 0; i < 3; i++ {
			m.appendKeyed(t, l, keyedSpec{firstTs: base + int64(seg)*20_000, records: []kv{put("k", fmt.Sprintf("%d-%d", seg, i))}}, clock.t)
		}
		forceRoll(t, l, clock.t)
	}
	bases := segmentBases(l) // [0 3 6 9], 9 active and empty
	c := newTestCleaner(t, 1<<20)

	// At base+45s the segment at base+40s is within the lag: cleaning stops
	// before it.
	mustClean(t, c, l, time.UnixMilli(base+45_000))
	if got := l.cleanerOffset.Load(); got != bases[2] {
		t.Fatalf("cleaned up to %d, want %d (the young segment's base)", got, bases[2])
	}
	recs := checkCompacted(t, l, m, bases[2], false)
	if n := len(recs); n != 1+3 {
		t.Fatalf("%d records left, want the latest below the young segment plus its 3", n)
	}
	// Once the lag has passed, the rest is cleaned; the active segment never.
	mustClean(t, c, l, time.UnixMilli(base+60_000))
	if got := l.cleanerOffset.Load(); got != bases[3] {
		t.Fatalf("cleaned up to %d, want the active segment's base %d", got, bases[3])
	}
	checkCompacted(t, l, m, bases[3], false)
}

func TestMaxCompactionLagForcesCleaningBelowTheDirtyRatio(t *testing.T) {
	l, _, m, clock := openCompactedLog(t, func(c *Config) {
		c.MinCleanableDirtyRatio = 1 // never by ratio
		c.MaxCompactionLagMs = 30_000
	})
	base := clock.t.UnixMilli()
	m.appendKeyed(t, l, keyedSpec{firstTs: base, records: []kv{put("k", "1"), put("k", "2")}}, clock.t)
	forceRoll(t, l, clock.t)
	c := newTestCleaner(t, 1<<20)
	if cleaned, worked := c.cleanFilthiestLog([]*Log{l}, time.UnixMilli(base+30_000)); cleaned != nil || worked {
		t.Fatal("cleaned before max.compaction.lag.ms passed")
	}
	mustClean(t, c, l, time.UnixMilli(base+30_001))
	checkCompacted(t, l, m, 2, false)
}

func TestCompactionOfCompressedBatches(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLz4, record.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			l, _, m, clock := openCompactedLog(t, cleanAtAnyDirtyRatio)
			ts := clock.t.UnixMilli()
			// Batches of 5 whose keys overlap the next batch's, with headers
			// and timestamp deltas that must survive re-encoding.
			for b := 0; b < 8; b++ {
				var recs []kv
				for i := 0; i < 5; i++ {
					r := put(fmt.Sprintf("k%d", (b*3+i)%11), fmt.Sprintf("v%d-%d", b, i))
					r.tsDelta = int64(i * 10)
					if i%2 == 0 {
						r.headers = []kmsg.Header{{Key: "h", Value: []byte(fmt.Sprint(b))}, {Key: "null"}}
					}
					recs = append(recs, r)
				}
				m.appendKeyed(t, l, keyedSpec{codec: codec, firstTs: ts + int64(b)*100, records: recs}, clock.t)
			}
			forceRoll(t, l, clock.t)
			mustClean(t, newTestCleaner(t, 1<<20), l, clock.t)
			recs := checkCompacted(t, l, m, l.cleanerOffset.Load(), false)
			if len(recs) != 11 {
				t.Fatalf("%d records, want 11 keys", len(recs))
			}
			rebuilt := false
			for _, r := range recs {
				if r.batch.Codec() != codec {
					t.Fatalf("batch at %d has codec %s, want %s", r.batch.BaseOffset, r.batch.Codec(), codec)
				}
				if r.batch.NumRecords > 0 && r.batch.NumRecords < r.batch.LastOffsetDelta+1 {
					rebuilt = true
				}
			}
			if !rebuilt {
				t.Fatal("no batch was rebuilt with part of its records")
			}
			checkHeadersSurvive(t, l)
		})
	}
}

// checkHeadersSurvive reads every record and checks headers written by
// TestCompactionOfCompressedBatches: even records carry "h" = batch number
// and a null "null".
func checkHeadersSurvive(t *testing.T, l *Log) {
	t.Helper()
	data, err := l.Read(0, 1<<20, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	batches, _ := record.Split(data)
	for _, b := range batches {
		_, err := record.NewCodecs().Records(b, 1<<20, func(r record.Record) error {
			if r.OffsetDelta%5%2 != 0 {
				return nil
			}
			if len(r.Headers) != 2 || r.Headers[0].Key != "h" || r.Headers[1].Key != "null" || r.Headers[1].Value != nil {
				return fmt.Errorf("record %d has headers %+v", r.Offset, r.Headers)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeylessRecordRejectedOnCompactedLog(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecZstd} {
		clock := newTestClock()
		dir := tempDir(t)
		compacted := openTestLog(t, dir, compactConfig())
		batch := keyedBatch(t, keyedSpec{codec: codec, firstTs: clock.t.UnixMilli(), records: []kv{put("k", "v"), {value: []byte("no key")}}})
		_, err := compacted.AppendAsLeader(append([]byte(nil), batch...), 0, false, clock.t)
		if !errors.Is(err, ErrNoKeyOnCompactedTopic) || !errors.Is(err, record.ErrInvalidRecord) {
			t.Fatalf("%s: keyless record on a compacted log: %v", codec, err)
		}
		if compacted.LogEndOffset() != 0 {
			t.Fatal("the refused batch was appended")
		}
		// Keyed records, and tombstones, are fine.
		if _, err := compacted.AppendAsLeader(keyedBatch(t, keyedSpec{codec: codec, records: []kv{put("k", "v"), tombstone("k")}}), 0, false, clock.t); err != nil {
			t.Fatal(err)
		}
		// A delete-only log takes keyless records.
		plain := openTestLog(t, dir, testConfig(), func(o *OpenOptions) { o.Dir = dir + "/plain-0" })
		if _, err := plain.AppendAsLeader(batch, 0, false, clock.t); err != nil {
			t.Fatalf("keyless record on a delete log: %v", err)
		}
		compacted.Close()
		plain.Close()
	}
}

func TestRetentionAppliesOnlyWithTheDeletePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy  CleanupPolicy
		deletes bool
	}{
		{CleanupPolicy{Compact: true}, false},
		{CleanupPolicy{Compact: true, Delete: true}, true},
		{CleanupPolicy{Delete: true}, true},
		{CleanupPolicy{}, false},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			clock := newTestClock()
			cfg := testConfig()
			cfg.CleanupPolicy = tc.policy
			cfg.RetentionMs = 1000
			cfg.RetentionBytes = 100
			l := openTestLog(t, tempDir(t), cfg)
			defer l.Close()
			for i := 0; l.NumSegments() < 4; i++ {
				if _, err := l.AppendAsLeader(keyedBatch(t, keyedSpec{firstTs: clock.t.UnixMilli(), records: []kv{put(fmt.Sprint(i), "0123456789")}}), 0, false, clock.t); err != nil {
					t.Fatal(err)
				}
			}
			n, err := l.ApplyRetention(clock.t.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != tc.deletes {
				t.Fatalf("retention deleted %d segments; policy %q should delete: %v", n, tc.policy, tc.deletes)
			}
			// DeleteRecords moves the log start offset under every policy.
			if _, err := l.DeleteRecordsBefore(l.LogEndOffset() - 1); err != nil {
				t.Fatal(err)
			}
			if l.NumSegments() != 1 {
				t.Fatalf("%d segments after DeleteRecords up to the last record", l.NumSegments())
			}
		})
	}
}

func TestCleanupPolicyOf(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want CleanupPolicy
	}{
		{[]string{"delete"}, CleanupPolicy{Delete: true}},
		{[]string{"compact"}, CleanupPolicy{Compact: true}},
		{[]string{"compact", " delete"}, CleanupPolicy{Compact: true, Delete: true}},
		{nil, CleanupPolicy{}},
	} {
		if got := CleanupPolicyOf(tc.in); got != tc.want {
			t.Errorf("CleanupPolicyOf(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestConfigValidateCompactionSettings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Config)
	}{
		{"negative delete.retention.ms", func(c *Config) { c.DeleteRetentionMs = -1 }},
		{"ratio above 1", func(c *Config) { c.MinCleanableDirtyRatio = 1.5 }},
		{"negative ratio", func(c *Config) { c.MinCleanableDirtyRatio = -0.1 }},
		{"negative min lag", func(c *Config) { c.MinCompactionLagMs = -1 }},
		{"zero max lag", func(c *Config) { c.MaxCompactionLagMs = 0 }},
		{"min lag above max lag", func(c *Config) { c.MinCompactionLagMs, c.MaxCompactionLagMs = 10, 5 }},
	} {
		cfg := DefaultConfig()
		tc.modify(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCompactionAbortsWhenTheLogIsTruncated(t *testing.T) {
	l, _, m, clock := openCompactedLog(t)
	fillOverwrites(t, l, m, 5, 6, clock.t)
	c := newTestCleaner(t, 1<<20)
	ltc := c.grabFilthiestLog([]*Log{l}, clock.t.UnixMilli())
	if ltc == nil {
		t.Fatal("nothing to clean")
	}
	before := l.Size()
	if err := l.Truncate(l.LogEndOffset() - 1); err != nil {
		t.Fatal(err)
	}
	sizeAfterTruncate := l.Size()
	if _, _, err := c.clean(ltc, clock.t); !errors.Is(err, errCleaningAborted) {
		t.Fatalf("clean after a truncation: %v", err)
	}
	if l.Size() != sizeAfterTruncate || sizeAfterTruncate >= before {
		t.Fatalf("log size %d, %d after the truncation", l.Size(), sizeAfterTruncate)
	}
	if files := append(dirFiles(t, l.Dir(), cleanedSuffix), dirFiles(t, l.Dir(), swapSuffix)...); len(files) != 0 {
		t.Fatalf("aborted cleaning left %v", files)
	}
	// The next iteration cleans the truncated log.
	mustClean(t, c, l, clock.t)
}

func TestCleanerPassWithAFullOffsetMapContinuesNextPass(t *testing.T) {
	l, _, m, clock := openCompactedLog(t, cleanAtAnyDirtyRatio)
	// 60 distinct keys, each written twice, one key per batch.
	for round := 0; round < 2; round++ {
		for k := 0; k < 60; k++ {
			m.appendKeyed(t, l, keyedSpec{firstTs: clock.t.UnixMilli(), records: []kv{put(fmt.Sprintf("key-%02d", k), fmt.Sprintf("%d", round))}}, clock.t)
		}
	}
	forceRoll(t, l, clock.t)
	end := l.LogEndOffset()
	// Room for 18 keys (20 slots at load factor 0.9).
	c := newTestCleaner(t, 20*offsetMapEntrySize)
	var checkpoints []int64
	for pass := 0; l.cleanerOffset.Load() < end; pass++ {
		if pass > 20 {
			t.Fatalf("no progress: checkpoints %v", checkpoints)
		}
		mustClean(t, c, l, clock.t)
		checkpoints = append(checkpoints, l.cleanerOffset.Load())
		checkCompacted(t, l, m, 0, false)
	}
	if len(checkpoints) < 3 {
		t.Fatalf("checkpoints %v: the map should have filled in several passes", checkpoints)
	}
	for i := 1; i < len(checkpoints); i++ {
		if checkpoints[i] <= checkpoints[i-1] {
			t.Fatalf("checkpoints %v do not advance", checkpoints)
		}
	}
	checkCompacted(t, l, m, end, false)
}

func TestOffsetMapSmallestBudgetStillProgresses(t *testing.T) {
	l, _, m, clock := openCompactedLog(t, cleanAtAnyDirtyRatio)
	// Batches of 4 distinct keys; the map holds one key.
	for b := 0; b < 6; b++ {
		var recs []kv
		for i := 0; i < 4; i++ {
			recs = append(recs, put(fmt.Sprintf("k%d", i), fmt.Sprint(b)))
		}
		m.appendKeyed(t, l, keyedSpec{firstTs: clock.t.UnixMilli(), records: recs}, clock.t)
	}
	forceRoll(t, l, clock.t)
	c := newTestCleaner(t, 1)
	for pass := 0; l.cleanerOffset.Load() < l.LogEndOffset(); pass++ {
		if pass > 10 {
			t.Fatal("no progress with a one-key offset map")
		}
		mustClean(t, c, l, clock.t)
	}
	checkCompacted(t, l, m, l.LogEndOffset(), false)
}

func TestCleanedSegmentsKeepTheTimeIndexAndLastModified(t *testing.T) {
	l, _, m, clock := openCompactedLog(t, func(c *Config) { c.IndexIntervalBytes = 64 })
	base := clock.t.UnixMilli()
	for i := 0; l.NumSegments() < 5; i++ {
		m.appendKeyed(t, l, keyedSpec{firstTs: base + int64(i)*1000, records: []kv{put(fmt.Sprint(i%3), fmt.Sprint(i)), put(fmt.Sprint(100+i), "x")}}, clock.t)
	}
	old := time.Unix(1_600_000_000, 0)
	l.mu.RLock()
	for _, s := range l.segments[:len(l.segments)-1] {
		if err := os.Chtimes(s.logPath, old, old); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.RUnlock()
	mustClean(t, newTestCleaner(t, 1<<20), l, clock.t)
	recs := checkCompacted(t, l, m, l.cleanerOffset.Load(), false)
	// Every surviving record is found by its timestamp.
	for _, r := range recs {
		off, ts, found, err := l.OffsetForTimestamp(r.ts)
		if err != nil || !found || ts > r.ts || off > r.offset {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v, %v; record %d has it", r.ts, off, ts, found, err, r.offset)
		}
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	first := l.segments[0]
	if !first.modTime().Equal(old) {
		t.Fatalf("cleaned segment modified at %v, want the replaced segments' %v", first.modTime(), old)
	}
	if err := first.times.withEntries(func(buf []byte) error {
		if len(buf) == 0 {
			return errors.New("empty time index")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCompactionKeepsIdempotentProducersLastBatch(t *testing.T) {
	clock := newTestClock()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0
	dir := tempDir(t)
	l := openTestLog(t, dir, cfg)
	m := newLogModel()
	ts := clock.t.UnixMilli()
	const pid = 7
	var lastRes AppendResult
	for seq := int32(0); seq < 6; seq += 2 {
		lastRes = m.appendKeyed(t, l, keyedSpec{firstTs: ts, idempotent: true, producerID: pid, epoch: 3, seq: seq,
			records: []kv{put("p", fmt.Sprint(seq)), put("p", fmt.Sprint(seq+1))}}, clock.t)
	}
	// Another writer overwrites the producer's key: every record of the
	// producer's batches is superseded.
	m.appendKeyed(t, l, keyedSpec{firstTs: ts, records: []kv{put("p", "final")}}, clock.t)
	forceRoll(t, l, clock.t)
	before, _ := l.Producer(pid)

	mustClean(t, newTestCleaner(t, 1<<20), l, clock.t)
	hs := readAll(t, l, 0)
	var empties []record.Header
	for _, h := range hs {
		if h.ProducerID == pid {
			empties = append(empties, h)
		}
	}
	if len(empties) != 1 || empties[0].NumRecords != 0 || empties[0].BaseOffset != lastRes.BaseOffset ||
		empties[0].LastOffset() != lastRes.LastOffset || empties[0].BaseSequence != 4 || empties[0].ProducerEpoch != 3 {
		t.Fatalf("producer batches after cleaning: %+v; want only the last, emptied, with its offsets and sequence", empties)
	}
	if after, _ := l.Producer(pid); !equalProducer(before, after) {
		t.Fatalf("producer state changed by cleaning: %+v, was %+v", after, before)
	}
	checkCompacted(t, l, m, l.cleanerOffset.Load(), false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen without snapshots and after a crash: the state is rebuilt
	// from the cleaned log alone.
	for _, name := range dirFiles(t, l.Dir(), snapshotSuffix) {
		if err := os.Remove(filepath.Join(l.Dir(), name)); err != nil {
			t.Fatal(err)
		}
	}
	l2 := openTestLog(t, dir, cfg, func(o *OpenOptions) { o.CleanShutdown, o.Now = false, clock.Now })
	defer l2.Close()
	after, ok := l2.Producer(pid)
	if !ok || after.Epoch != 3 || len(after.Batches) == 0 || after.Batches[len(after.Batches)-1] != before.Batches[len(before.Batches)-1] {
		t.Fatalf("rebuilt producer state %+v, want the last batch of %+v", after, before)
	}
	// A retry of the last batch is a duplicate, the next sequence appends,
	// a gap is refused.
	dup, err := l2.AppendAsLeader(keyedBatch(t, keyedSpec{firstTs: ts, idempotent: true, producerID: pid, epoch: 3, seq: 4,
		records: []kv{put("p", "4"), put("p", "5")}}), 0, false, clock.t)
	if err != nil || !dup.Duplicate || dup.BaseOffset != lastRes.BaseOffset {
		t.Fatalf("retry of the last batch: %+v, %v", dup, err)
	}
	if _, err := l2.AppendAsLeader(keyedBatch(t, keyedSpec{firstTs: ts, idempotent: true, producerID: pid, epoch: 3, seq: 8,
		records: []kv{put("p", "8")}}), 0, false, clock.t); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap after cleaning: %v", err)
	}
	if _, err := l2.AppendAsLeader(keyedBatch(t, keyedSpec{firstTs: ts, idempotent: true, producerID: pid, epoch: 3, seq: 6,
		records: []kv{put("p", "6")}}), 0, false, clock.t); err != nil {
		t.Fatalf("next sequence after cleaning: %v", err)
	}
}

func equalProducer(a, b ProducerEntry) bool {
	if a.ProducerID != b.ProducerID || a.Epoch != b.Epoch || a.LastTimestamp != b.LastTimestamp || len(a.Batches) != len(b.Batches) {
		return false
	}
	for i := range a.Batches {
		if a.Batches[i] != b.Batches[i] {
			return false
		}
	}
	return true
}

func TestCompactionAbortsWhenSegmentsAreDeletedMeanwhile(t *testing.T) {
	// The deleted segment's files close at once.
	l, _, m, clock := openCompactedLog(t, func(c *Config) { c.FileDeleteDelayMs = 0 })
	fillOverwrites(t, l, m, 5, 6, clock.t)
	c := newTestCleaner(t, 1<<20)
	ltc := c.grabFilthiestLog([]*Log{l}, clock.t.UnixMilli())
	if ltc == nil {
		t.Fatal("nothing to clean")
	}
	if _, err := l.DeleteRecordsBefore(segmentBases(l)[1]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.clean(ltc, clock.t); !errors.Is(err, errCleaningAborted) {
		t.Fatalf("clean after DeleteRecords removed a segment it reads: %v", err)
	}
	if files := dirFiles(t, l.Dir(), cleanedSuffix); len(files) != 0 {
		t.Fatalf("aborted cleaning left %v", files)
	}
	mustClean(t, c, l, clock.t)
	if len(c.uncleanable) != 0 {
		t.Fatalf("log marked uncleanable: %v", c.uncleanable)
	}
}
