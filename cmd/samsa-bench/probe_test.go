package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchHeader returns a record batch of total size 12+length (at least the
// 27 bytes read) whose header says it spans base..base+lastDelta; the rest
// is zeros.
func batchHeader(base int64, lastDelta int32, length int32) []byte {
	b := make([]byte, max(12+length, 27))
	binary.BigEndian.PutUint64(b[0:], uint64(base))
	binary.BigEndian.PutUint32(b[8:], uint32(length))
	b[16] = 2 // magic
	binary.BigEndian.PutUint32(b[23:], uint32(lastDelta))
	return b
}

func TestBatchesContain(t *testing.T) {
	two := append(batchHeader(0, 9, 100), batchHeader(10, 4, 100)...)
	tests := []struct {
		name   string
		b      []byte
		offset int64
		want   bool
	}{
		{"no bytes", nil, 0, false},
		{"first offset of the first batch", two, 0, true},
		{"last offset of the first batch", two, 9, true},
		{"inside the second batch", two, 12, true},
		{"past the last batch", two, 15, false},
		{"before the first batch", append(batchHeader(100, 0, 60), nil...), 99, false},
		{"partial trailing batch is not served", append(batchHeader(0, 9, 100), batchHeader(10, 4, 100)[:50]...), 12, false},
		{"header shorter than the fields read", batchHeader(0, 9, 100)[:20], 0, false},
		{"non-positive length stops the scan", batchHeader(0, 9, 0), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := batchesContain(tt.b, tt.offset); got != tt.want {
				t.Fatalf("batchesContain(offset %d) = %v, want %v", tt.offset, got, tt.want)
			}
		})
	}
}

func TestSkipTaggedFields(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr bool
	}{
		{name: "no tags", in: []byte{0, 0xAA}, want: []byte{0xAA}},
		{name: "two tags are skipped", in: []byte{2, 0, 1, 0xFF, 5, 2, 0xFF, 0xFF, 0xAA}, want: []byte{0xAA}},
		{name: "empty input", in: nil, wantErr: true},
		{name: "tag longer than the input", in: []byte{1, 0, 9, 0xFF}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := skipTaggedFields(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got rest %x", got)
				}
				return
			}
			if err != nil || string(got) != string(tt.want) {
				t.Fatalf("skipTaggedFields = %x, %v; want %x", got, err, tt.want)
			}
		})
	}
}

func TestReadMetadata(t *testing.T) {
	broker := kmsg.NewMetadataResponseBroker()
	broker.NodeID, broker.Host, broker.Port = 1, "127.0.0.1", 9092
	partition := func(id, leader int32, code int16) kmsg.MetadataResponseTopicPartition {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition, p.Leader, p.ErrorCode = id, leader, code
		return p
	}
	response := func(brokers bool, topicCode int16, parts ...kmsg.MetadataResponseTopicPartition) *kmsg.MetadataResponse {
		resp := kmsg.NewPtrMetadataResponse()
		if brokers {
			resp.Brokers = append(resp.Brokers, broker)
		}
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic, topic.ErrorCode, topic.Partitions = kmsg.StringPtr("t"), topicCode, parts
		resp.Topics = append(resp.Topics, topic)
		return resp
	}
	tests := []struct {
		name    string
		resp    *kmsg.MetadataResponse
		topic   string
		wantErr string
	}{
		{name: "any broker answers a topic-less probe", resp: response(true, 0), topic: ""},
		{name: "no brokers is not an answer", resp: response(false, 0), topic: "", wantErr: "no brokers"},
		{name: "every partition led", resp: response(true, 0, partition(0, 1, 0), partition(1, 1, 0)), topic: "t"},
		{name: "topic not listed", resp: response(true, 0, partition(0, 1, 0)), topic: "other", wantErr: "does not list topic other"},
		{name: "topic error", resp: response(true, kerr.UnknownTopicOrPartition.Code), topic: "t", wantErr: "UNKNOWN_TOPIC_OR_PARTITION"},
		{name: "topic without partitions", resp: response(true, 0), topic: "t", wantErr: "no partitions"},
		{name: "partition without leader", resp: response(true, 0, partition(0, 1, 0), partition(1, -1, 0)), topic: "t", wantErr: "leader -1"},
		{name: "partition error", resp: response(true, 0, partition(0, 1, kerr.LeaderNotAvailable.Code)), topic: "t", wantErr: "LEADER_NOT_AVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, err := readMetadata(tt.resp, tt.topic)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if view.brokers != 1 {
				t.Fatalf("view counts %d brokers, want the 1 listed", view.brokers)
			}
			for p, addr := range view.leaders {
				if addr != "127.0.0.1:9092" {
					t.Fatalf("partition %d leader at %q, want 127.0.0.1:9092", p, addr)
				}
			}
		})
	}
}

func TestProberAgainstKfake(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "probed"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close) // after the parallel subtests, unlike defer
	seed := cluster.ListenAddrs()[0]
	tgt := target{name: "kfake", seeds: []string{seed}, replicationFactor: 1}
	out, err := produceRecords(t.Context(), tgt, smallThroughput("probed", 50, 2))
	if err != nil {
		t.Fatal(err)
	}

	probe := newProber(seed, time.Millisecond)
	defer probe.Close()
	view, err := probe.waitForMetadata(t.Context(), "probed")
	if err != nil {
		t.Fatalf("waitForMetadata: %v", err)
	}
	if len(view.leaders) != 2 || view.id == ([16]byte{}) {
		t.Fatalf("view %+v: want 2 led partitions and a topic ID", view)
	}
	if err := probe.waitForBrokers(t.Context(), 1); err != nil {
		t.Fatalf("waitForBrokers(1): %v", err)
	}
	for partition, end := range out.endOffsets {
		if err := probe.waitForFetch(t.Context(), "probed", partition, end-1); err != nil {
			t.Fatalf("waitForFetch(partition %d, last offset %d): %v", partition, end-1, err)
		}
	}

	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	nothingListening := fmt.Sprintf("127.0.0.1:%d", ports[0])
	tests := []struct {
		name    string
		seed    string
		probe   func(ctx context.Context, p *prober) error
		wantErr string
	}{
		{"absent topic is retried until the deadline", seed, func(ctx context.Context, p *prober) error {
			_, err := p.waitForMetadata(ctx, "absent")
			return err
		}, "UNKNOWN_TOPIC_OR_PARTITION"},
		{"offset past the end is never served", seed, func(ctx context.Context, p *prober) error {
			return p.waitForFetch(ctx, "probed", 0, out.endOffsets[0]+10)
		}, "OFFSET_OUT_OF_RANGE"},
		{"too few brokers are listed", seed, func(ctx context.Context, p *prober) error {
			return p.waitForBrokers(ctx, 2)
		}, "metadata lists 1 brokers, want 2"},
		{"nothing listening", nothingListening, func(ctx context.Context, p *prober) error {
			_, err := p.waitForMetadata(ctx, "")
			return err
		}, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Generous, because on a loaded machine one attempt can
			// stall for hundreds of milliseconds, and the attempt the
			// deadline cuts short cannot name the real failure.
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			p := newProber(tt.seed, time.Millisecond)
			defer p.Close()
			err := tt.probe(ctx, p)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last attempt") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a timeout naming the last attempt's %q", err, tt.wantErr)
			}
		})
	}
}
