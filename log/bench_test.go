package log

import (
	"math/rand/v2"
	"testing"
	"time"
)

// oneKiBBatch is an uncompressed batch of ten ~90-byte records, 1 KiB in all.
func oneKiBBatch() []byte {
	for v := 1; ; v++ {
		if b := buildBatch(batchSpec{records: 10, valueSize: v}); len(b) >= 1024 {
			return b
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	cfg := DefaultConfig()
	l := openTestLog(b, benchDir(b, b.TempDir()), cfg)
	defer l.Close()
	batch := oneKiBBatch()
	now := time.Now()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The log rewrites the batch in place and keeps nothing of it.
		if _, err := l.AppendAsLeader(batch, 1, false, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendFlushEach is acks with flush.messages=1: every producer
// waits for its fsync, concurrent producers share them.
func BenchmarkAppendFlushEach(b *testing.B) {
	cfg := DefaultConfig()
	cfg.FlushMessages = 1
	l := openTestLog(b, benchDir(b, b.TempDir()), cfg)
	defer l.Close()
	b.SetBytes(1024)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		batch := oneKiBBatch()
		for pb.Next() {
			res, err := l.AppendAsLeader(batch, 1, false, time.Now())
			if err == nil {
				err = l.WaitFlushed(res.LastOffset + 1)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRead(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	l := openTestLog(b, benchDir(b, b.TempDir()), cfg)
	defer l.Close()
	batch := oneKiBBatch()
	now := time.Now()
	for l.Size() < 64<<20 {
		if _, err := l.AppendAsLeader(batch, 1, false, now); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	for _, bc := range []struct {
		name     string
		maxBytes int
	}{{"1MiB", 1 << 20}, {"64KiB", 64 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			b.ReportAllocs()
			var n int64
			for i := 0; i < b.N; i++ {
				data, err := l.Read(rng.Int64N(leo), bc.maxBytes, leo, true)
				if err != nil {
					b.Fatal(err)
				}
				n += int64(len(data))
			}
			b.SetBytes(n / int64(b.N))
		})
	}
}
