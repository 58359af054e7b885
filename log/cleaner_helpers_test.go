package log

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/record"
)

// kv is one record of a test batch: a nil key is keyless, a nil value a
// tombstone.
type kv struct {
	key, value []byte
	tsDelta    int64
	headers    []kmsg.Header
}

func put(key, value string) kv { return kv{key: []byte(key), value: []byte(value)} }
func tombstone(key string) kv  { return kv{key: []byte(key)} }

// keyedSpec describes a batch of keyed records for the cleaner tests.
type keyedSpec struct {
	codec      record.Codec
	firstTs    int64
	records    []kv
	idempotent bool
	producerID int64
	epoch      int16
	seq        int32
}

// keyedBatch encodes spec as a producer would (kmsg's record encoding, the
// codecs of the record package), with base offset 0 and a valid CRC.
func keyedBatch(t testing.TB, spec keyedSpec) []byte {
	t.Helper()
	var raw []byte
	maxTs := spec.firstTs
	for i, r := range spec.records {
		kr := kmsg.Record{TimestampDelta64: r.tsDelta, OffsetDelta: int32(i), Key: r.key, Value: r.value, Headers: r.headers}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // a zero Length is one varint byte
		raw = kr.AppendTo(raw)
		maxTs = max(maxTs, spec.firstTs+r.tsDelta)
	}
	payload, err := record.NewCodecs().Compress(spec.codec, raw)
	if err != nil {
		t.Fatalf("compress: %v", err)
	}
	b := make([]byte, record.HeaderSize, record.HeaderSize+len(payload))
	b = append(b, payload...)
	return testBatchHeader{codec: spec.codec, records: len(spec.records), firstTs: spec.firstTs, maxTs: maxTs,
		idempotent: spec.idempotent, producerID: spec.producerID, epoch: spec.epoch, seq: spec.seq}.seal(b)
}

// compactConfig is testConfig with cleanup.policy=compact.
func compactConfig() Config {
	cfg := testConfig()
	cfg.CleanupPolicy = CleanupPolicy{Compact: true}
	return cfg
}

// logModel remembers what was appended, to check a compacted log against.
type logModel struct {
	latest map[string]modelRecord // per key, the last record written
	all    []modelRecord
}

type modelRecord struct {
	offset int64
	key    string
	value  []byte // nil: tombstone
	ts     int64
}

func newLogModel() *logModel { return &logModel{latest: map[string]modelRecord{}} }

// appendKeyed appends spec as leader and records it in the model.
func (m *logModel) appendKeyed(t *testing.T, l *Log, spec keyedSpec, now time.Time) AppendResult {
	t.Helper()
	res, err := l.AppendAsLeader(keyedBatch(t, spec), 0, false, now)
	if err != nil {
		t.Fatalf("AppendAsLeader: %v", err)
	}
	for i, r := range spec.records {
		mr := modelRecord{offset: res.BaseOffset + int64(i), key: string(r.key), value: r.value, ts: spec.firstTs + r.tsDelta}
		m.all = append(m.all, mr)
		m.latest[mr.key] = mr
	}
	return res
}

// readRecord is a record read back from the log.
type readRecord struct {
	modelRecord
	batch record.Header
}

// readRecords reads every batch of l from its log start offset, checks each
// one's CRC and record framing (Codecs.Records), and returns the records.
// A batch whose record count matches its offset range (nothing removed)
// must also pass Codecs.Validate, the produce-time check.
func readRecords(t *testing.T, l *Log) []readRecord {
	t.Helper()
	codecs := record.NewCodecs()
	var out []readRecord
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		data, err := l.Read(off, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(data) == 0 {
			break // the rest is gaps: only empty segments or removed records
		}
		batches, err := record.Split(data)
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		for _, b := range batches {
			h, err := codecs.Records(b, 1<<24, func(r record.Record) error {
				out = append(out, readRecord{modelRecord: modelRecord{offset: r.Offset, key: string(r.Key), value: r.Value, ts: r.Timestamp}})
				return nil
			})
			if err != nil {
				t.Fatalf("batch at offset %d: %v", h.BaseOffset, err)
			}
			for i := len(out) - int(h.NumRecords); i < len(out); i++ {
				out[i].batch = h
			}
			if h.NumRecords == h.LastOffsetDelta+1 && !h.Control() && h.NumRecords > 0 {
				if _, err := codecs.Validate(b, 1<<24); err != nil {
					t.Fatalf("batch at offset %d with all its records fails Validate: %v", h.BaseOffset, err)
				}
			}
			off = h.NextOffset()
		}
	}
	return out
}

// checkCompacted checks the log against the model: every key's latest
// record is there with its offset and value (unless it is a tombstone the
// cleaner may have removed, when removable), offsets ascend, and below
// cleanedTo no key appears twice.
func checkCompacted(t *testing.T, l *Log, m *logModel, cleanedTo int64, tombstonesRemovable bool) []readRecord {
	t.Helper()
	recs := readRecords(t, l)
	seen := map[string]int64{}
	last := int64(-1)
	for _, r := range recs {
		if r.offset <= last {
			t.Fatalf("offset %d after %d", r.offset, last)
		}
		last = r.offset
		want := m.all[r.offset-m.all[0].offset]
		if want.offset != r.offset || want.key != r.key || string(want.value) != string(r.value) || (want.value == nil) != (r.value == nil) {
			t.Fatalf("offset %d holds %q=%q, was written as %q=%q", r.offset, r.key, r.value, want.key, want.value)
		}
		if want.ts != r.ts {
			t.Fatalf("offset %d has timestamp %d, was written with %d", r.offset, r.ts, want.ts)
		}
		if r.offset < cleanedTo {
			if prev, dup := seen[r.key]; dup {
				t.Fatalf("key %q at offsets %d and %d, both below the cleaned offset %d", r.key, prev, r.offset, cleanedTo)
			}
			seen[r.key] = r.offset
		}
	}
	byOffset := map[int64]bool{}
	for _, r := range recs {
		byOffset[r.offset] = true
	}
	for key, want := range m.latest {
		if !byOffset[want.offset] && !(tombstonesRemovable && want.value == nil) {
			t.Fatalf("key %q lost its latest record at offset %d", key, want.offset)
		}
	}
	return recs
}

// forceRoll starts a new active segment at the log end offset.
func forceRoll(t *testing.T, l *Log, now time.Time) {
	t.Helper()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if _, err := l.rollLocked(l.leo.Load(), now); err != nil {
		t.Fatalf("roll: %v", err)
	}
}

// newTestCleaner returns a cleaner like the Manager's, with memory bytes of
// offset map.
func newTestCleaner(t *testing.T, memory int64) *cleaner {
	return &cleaner{dedupeBufferSize: memory, loadFactor: defaultCleanerLoadFactor, ioBufferSize: 64 << 10,
		codecs: record.NewCodecs(), stop: make(chan struct{}), uncleanable: map[*Log]error{}}
}

// mustClean runs one cleaner iteration over l and fails unless it cleaned it.
func mustClean(t *testing.T, c *cleaner, l *Log, now time.Time) {
	t.Helper()
	cleaned, _ := c.cleanFilthiestLog([]*Log{l}, now)
	if cleaned != l {
		t.Fatalf("log not cleaned (uncleanable: %v)", c.uncleanable[l])
	}
}

// segmentFiles returns the names of the files in l's directory with suffix.
func dirFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), suffix) {
			out = append(out, de.Name())
		}
	}
	return out
}

// segmentBytes returns the .log file of the segment with base.
func segmentBytes(t *testing.T, l *Log, base int64) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir(), fmt.Sprintf("%020d.log", base)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openCompactedLog opens a compacted log (compactConfig, then each of
// modify) in a fresh directory, closed when the test ends, and returns it
// with its config, an empty model of its records and a test clock.
func openCompactedLog(t *testing.T, modify ...func(*Config)) (*Log, Config, *logModel, *testClock) {
	t.Helper()
	cfg := compactConfig()
	for _, f := range modify {
		f(&cfg)
	}
	l := openTestLog(t, tempDir(t), cfg)
	t.Cleanup(func() { l.Close() })
	return l, cfg, newLogModel(), newTestClock()
}

// cleanAtAnyDirtyRatio sets min.cleanable.dirty.ratio to 0, so any dirty
// segment makes the log cleanable.
func cleanAtAnyDirtyRatio(cfg *Config) { cfg.MinCleanableDirtyRatio = 0 }
