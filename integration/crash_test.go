package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKill9DuringProduceKeepsAcknowledgedRecords kills a samsa process with
// SIGKILL while an idempotent acks=all producer streams into it, restarts it
// on the same data, and checks that every acknowledged record is there
// exactly once.
func TestKill9DuringProduceKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	port, cport := freePort(t), freePort(t)
	p := startProc(t, dir, port, cport)
	createTopic(t, newAdmin(t, p.addr()), "crash", 3, nil)

	cl := newClient(t, p.addr(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1<<30),
		kgo.RecordDeliveryTimeout(60*time.Second),
		kgo.DefaultProduceTopic("crash"),
	)
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("v-%06d", i)
			cl.Produce(context.Background(), &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[v] = true
					mu.Unlock()
				}
			})
			if i%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	p.kill9()
	time.Sleep(300 * time.Millisecond)
	p.start()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush producer: %v", err)
	}

	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n == 0 {
		t.Fatal("no record was acknowledged")
	}
	total := endOffsets(t, p.addr(), "crash")
	got := consumeN(t, p.addr(), "crash", int(total))
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for v, c := range seen {
		if c > 1 {
			t.Errorf("record %s stored %d times", v, c)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for v := range acked {
		if seen[v] == 0 {
			t.Errorf("acknowledged record %s lost", v)
		}
	}
	t.Logf("%d records acknowledged, %d stored", len(acked), len(got))
}
