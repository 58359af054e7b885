package log

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-broker/samsa/record"
)

// FuzzRecoverSegment feeds arbitrary bytes to recovery as a segment file
// after an unclean shutdown: opening must never fail or panic, and what it
// keeps must be whole, valid batches read back from offset 0.
func FuzzRecoverSegment(f *testing.F) {
	var valid []byte
	for i := 0; i < 3; i++ {
		b := buildBatch(batchSpec{records: 1 + i, valueSize: 7, idempotent: i == 1, producerID: 4})
		record.SetBaseOffset(b, int64(len(valid)/10)) // any increasing offsets
		valid = append(valid, b...)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(valid[:record.HeaderSize])
	f.Add(append(append([]byte{}, valid...), make([]byte, 64)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := filepath.Join(tempDir(t), "topic-0")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(segmentFileName(dir, 0, logSuffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := OpenLog(OpenOptions{Dir: dir, Config: testConfig()})
		if err != nil {
			t.Fatalf("recovery failed: %v", err)
		}
		defer l.Close()
		var next int64
		for _, h := range readAll(t, l, 0) {
			if h.BaseOffset < next {
				t.Fatalf("recovered batch at %d below %d", h.BaseOffset, next)
			}
			next = h.NextOffset()
		}
		if next > l.LogEndOffset() {
			t.Fatalf("batches end at %d past the log end offset %d", next, l.LogEndOffset())
		}
	})
}
