package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceSync produces n records "prefix-i" to topic and fails on any error.
func produceSync(t testing.TB, cl *kgo.Client, topic, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// consumeN reads n records of topic from the start and returns their values.
func consumeN(t testing.TB, addr, topic string, n int) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s before timeout", len(out), n, topic)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

func TestCodecRoundTrip(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	codecs := map[string]kgo.CompressionCodec{
		"none":   kgo.NoCompression(),
		"gzip":   kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(),
		"lz4":    kgo.Lz4Compression(),
		"zstd":   kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "codec-" + name
			createTopic(t, adm, topic, 3, nil)
			cl := tn.client(kgo.ProducerBatchCompression(codec), kgo.RequiredAcks(kgo.AllISRAcks()))
			produceSync(t, cl, topic, name, 500)
			got := consumeN(t, tn.addr(), topic, 500)
			seen := map[string]bool{}
			for _, v := range got {
				if seen[v] {
					t.Fatalf("record %q read twice", v)
				}
				seen[v] = true
			}
			for i := range 500 {
				if v := fmt.Sprintf("%s-%d", name, i); !seen[v] {
					t.Fatalf("record %q missing", v)
				}
			}
		})
	}
}

func TestLongPollWakesOnAppend(t *testing.T) {
	tn := startNode(t)
	createTopic(t, tn.admin(), "longpoll", 1, nil)
	consumer := newClient(t, tn.addr(), kgo.ConsumeTopics("longpoll"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(20*time.Second))
	got := make(chan time.Time, 1)
	go func() {
		fs := consumer.PollFetches(context.Background())
		if fs.NumRecords() > 0 {
			got <- time.Now()
		}
	}()
	// Let the consumer park its fetch, then append.
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	produceSync(t, tn.client(), "longpoll", "wake", 1)
	select {
	case at := <-got:
		// The fetch waits up to 20 s; an answer within a few seconds can
		// only come from the append waking it.
		if d := at.Sub(sent); d > 5*time.Second {
			t.Fatalf("long poll answered %v after the append", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll was not woken by the append")
	}
}

func TestDataSurvivesCleanRestart(t *testing.T) {
	tn := startNode(t)
	createTopic(t, tn.admin(), "durable", 2, nil)
	produceSync(t, tn.client(), "durable", "before", 300)
	tn.restart()
	produceSync(t, tn.client(), "durable", "after", 300)
	got := consumeN(t, tn.addr(), "durable", 600)
	if len(got) != 600 {
		t.Fatalf("read %d records after restart, want 600", len(got))
	}
}
