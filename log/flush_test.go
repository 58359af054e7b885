package log

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestWaitFlushedConcurrentWaiters(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 1
	cfg.SegmentBytes = 64 << 10
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	const writers, perWriter = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				res, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2, valueSize: 200}), 0, false, time.Now())
				if err != nil {
					errs <- err
					return
				}
				// A successful wait promises everything below is on disk.
				if err := l.WaitFlushed(res.LastOffset + 1); err != nil {
					errs <- err
					return
				}
				if rp := l.RecoveryPoint(); rp < res.LastOffset+1 {
					t.Errorf("WaitFlushed(%d) returned with recovery point %d", res.LastOffset+1, rp)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l.RecoveryPoint() != writers*perWriter*2 {
		t.Fatalf("recovery point %d, want %d", l.RecoveryPoint(), writers*perWriter*2)
	}
	for _, s := range l.segments {
		if s.flushedSize.Load() != s.size.Load() {
			t.Fatalf("segment %d: %d of %d bytes flushed", s.baseOffset, s.flushedSize.Load(), s.size.Load())
		}
	}
	t.Logf("%d flushes for %d waits", l.flushes.Load(), writers*perWriter)
	// Waiting for what is already flushed, or past the end, returns at once.
	before := l.flushes.Load()
	if err := l.WaitFlushed(5); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitFlushed(1 << 40); err != nil {
		t.Fatal(err)
	}
	if l.flushes.Load() != before {
		t.Fatal("a flush ran with nothing to flush")
	}
}

func TestWaitFlushedWaitersShareOneFlush(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 1
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	// Pretend a flush is running, so that every waiter queues behind it.
	l.flushMu.Lock()
	l.flushing = true
	l.flushMu.Unlock()
	const waiters = 10
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := l.AppendAsLeader(buildBatch(batchSpec{records: 2}), 0, false, time.Now())
			if err == nil {
				err = l.WaitFlushed(res.LastOffset + 1)
			}
			errs <- err
		}()
	}
	for l.LogEndOffset() < 2*waiters {
		runtime.Gosched()
	}
	before := l.flushes.Load()
	l.flushMu.Lock()
	l.flushing = false
	l.flushCond.Broadcast()
	l.flushMu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := l.flushes.Load() - before; n != 1 {
		t.Fatalf("%d flushes for %d waiters arriving during one flush, want 1", n, waiters)
	}
	if l.RecoveryPoint() != 2*waiters {
		t.Fatalf("recovery point %d", l.RecoveryPoint())
	}
}

func TestFlushMessagesFlushesEveryNRecords(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 10
	l := openTestLog(t, tempDir(t), cfg)
	defer l.Close()
	now := newTestClock().t
	for i := 1; i <= 12; i++ {
		mustAppend(t, l, batchSpec{records: 2}, now)
		want := int64(0)
		switch {
		case i >= 10:
			want = 20
		case i >= 5:
			want = 10
		}
		if rp := l.RecoveryPoint(); rp != want {
			t.Fatalf("after %d records: recovery point %d, want %d", 2*i, rp, want)
		}
	}
}

func TestFlushIfDue(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMs = 1000
	clock := newTestClock()
	l := openTestLog(t, tempDir(t), cfg, func(o *OpenOptions) { o.Now = clock.Now })
	defer l.Close()
	mustAppend(t, l, batchSpec{records: 2}, clock.t)
	if err := l.flushIfDue(clock.t.Add(999 * time.Millisecond)); err != nil || l.RecoveryPoint() != 0 {
		t.Fatalf("flushed before flush.ms: recovery point %d, %v", l.RecoveryPoint(), err)
	}
	if err := l.flushIfDue(clock.t.Add(1000 * time.Millisecond)); err != nil || l.RecoveryPoint() != 2 {
		t.Fatalf("not flushed after flush.ms: recovery point %d, %v", l.RecoveryPoint(), err)
	}

	// A rolled segment is flushed at the next check, whatever flush.ms says.
	cfg.FlushMs = 1 << 62
	l.SetConfig(cfg)
	for l.NumSegments() < 2 {
		mustAppend(t, l, batchSpec{records: 2, valueSize: 300}, clock.t)
	}
	if err := l.flushIfDue(clock.t); err != nil || l.RecoveryPoint() != l.LogEndOffset() {
		t.Fatalf("rolled segment not flushed: recovery point %d of %d, %v", l.RecoveryPoint(), l.LogEndOffset(), err)
	}
}
