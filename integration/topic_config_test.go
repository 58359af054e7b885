package integration

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func strp(s string) *string { return &s }

// TestFlushEveryMessageAcknowledgesAfterFsync drives a topic with
// flush.messages=1 (acknowledged only after fsync, concurrent appends
// sharing one fsync) from several producers at once, and checks every
// acknowledged record is readable and survives a restart.
func TestFlushEveryMessageAcknowledgesAfterFsync(t *testing.T) {
	tn := startNode(t)
	createTopic(t, tn.admin(), "fsync", 2, map[string]*string{"flush.messages": strp("1")})
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := tn.client(kgo.RequiredAcks(kgo.AllISRAcks()))
			produceSync(t, cl, "fsync", "p"+string(rune('a'+p)), 100)
		}()
	}
	wg.Wait()
	tn.restart()
	if got := consumeN(t, tn.addr(), "fsync", 400); len(got) != 400 {
		t.Fatalf("read %d records, want 400", len(got))
	}
}

// TestLogAppendTimeStampsBrokerTime checks message.timestamp.type=LogAppendTime:
// consumers see the broker's append time, not the producer's timestamp.
func TestLogAppendTimeStampsBrokerTime(t *testing.T) {
	tn := startNode(t)
	createTopic(t, tn.admin(), "lat", 1, map[string]*string{"message.timestamp.type": strp("LogAppendTime")})
	old := time.Now().Add(-24 * time.Hour)
	cl := tn.client()
	before := time.Now().Add(-time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: []byte("x"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	consumer := newClient(t, tn.addr(), kgo.ConsumeTopics("lat"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := consumer.PollFetches(ctx)
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("got %d records: %v", len(recs), fs.Errors())
	}
	if ts := recs[0].Timestamp; ts.Before(before) {
		t.Fatalf("record timestamp %v is the producer's, want the broker's append time", ts)
	}
}
