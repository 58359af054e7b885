package handlers

import (
	"context"
	"log/slog"
	"math"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/replica"
)

// logDirsFixture is a node with two log dirs holding a-0 and a-1 (led by
// this node, a-0 with three batches) and b-0, a log the replica manager
// does not host.
type logDirsFixture struct {
	h    *Handlers
	dirs [2]string
}

func newLogDirsFixture(t *testing.T) logDirsFixture {
	t.Helper()
	dirs := [2]string{t.TempDir(), t.TempDir()}
	logs, err := plog.NewManager(plog.ManagerConfig{Dirs: dirs[:], NodeID: 1, Defaults: plog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	replicas := replica.NewManager(replica.ManagerConfig{NodeID: 1, Logs: logs})
	t.Cleanup(func() {
		replicas.Close()
		logs.Close()
	})
	st := replica.State{TopicID: [16]byte{1}, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}
	for p := range int32(2) {
		if err := replicas.ApplyState(plog.TopicPartition{Topic: "a", Partition: p}, st, replica.Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
			t.Fatal(err)
		}
	}
	a0, _ := replicas.Partition(plog.TopicPartition{Topic: "a", Partition: 0})
	for range 3 {
		if _, err := a0.AppendAsLeader(oneBatch(), 1); err != nil {
			t.Fatal(err)
		}
	}
	// The third log lands in the dir holding fewer partitions, so each dir
	// holds some log whichever dir a-0 and a-1 went to.
	if _, err := logs.GetOrCreate(plog.TopicPartition{Topic: "b", Partition: 0}, [16]byte{2}, plog.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	h := New(Deps{NodeID: 1, Replicas: replicas, Logs: logs, Logger: slog.New(slog.DiscardHandler)})
	return logDirsFixture{h: h, dirs: dirs}
}

func (f logDirsFixture) describe(t *testing.T, version int16, topics []kmsg.DescribeLogDirsRequestTopic) *kmsg.DescribeLogDirsResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Version, req.Topics = version, topics
	reply, err := f.h.Handle(context.Background(), &protocol.Request{Header: protocol.Header{APIKey: 35, APIVersion: version}, Body: req})
	if err != nil {
		t.Fatal(err)
	}
	return reply.Response.(*kmsg.DescribeLogDirsResponse)
}

// describedPartition is one listed partition, flattened for comparison.
type describedPartition struct {
	dir       string
	topic     string
	partition int32
	size      int64
	lag       int64
}

func flattenLogDirs(resp *kmsg.DescribeLogDirsResponse) []describedPartition {
	var out []describedPartition
	for _, d := range resp.Dirs {
		for _, t := range d.Topics {
			for _, p := range t.Partitions {
				out = append(out, describedPartition{d.Dir, t.Topic, p.Partition, p.Size, p.OffsetLag})
			}
		}
	}
	return out
}

func requestTopic(topic string, partitions ...int32) kmsg.DescribeLogDirsRequestTopic {
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = topic, partitions
	return rt
}

func TestDescribeLogDirsListsRequestedHostedPartitions(t *testing.T) {
	f := newLogDirsFixture(t)
	// Where each log went and its size, from the log manager itself.
	where := map[plog.TopicPartition]describedPartition{}
	for _, l := range f.h.d.Logs.Logs() {
		tp := l.TopicPartition()
		where[tp] = describedPartition{filepath.Dir(l.Dir()), tp.Topic, tp.Partition, l.Size(), 0}
	}
	a0, a1, b0 := where[plog.TopicPartition{Topic: "a"}], where[plog.TopicPartition{Topic: "a", Partition: 1}], where[plog.TopicPartition{Topic: "b"}]
	b0.lag = -1 // not hosted by the replica manager: Kafka's INVALID_OFFSET_LAG
	if a0.size == 0 || a1.size != 0 {
		t.Fatalf("fixture sizes a-0 %d, a-1 %d: want a-0 > 0, a-1 = 0", a0.size, a1.size)
	}

	tests := []struct {
		name   string
		topics []kmsg.DescribeLogDirsRequestTopic
		want   []describedPartition // in response order: by dir, then topic, then partition
	}{
		{"null topics lists every log", nil, []describedPartition{a0, a1, b0}},
		{"empty topics lists none", []kmsg.DescribeLogDirsRequestTopic{}, nil},
		{"one partition", []kmsg.DescribeLogDirsRequestTopic{requestTopic("a", 1)}, []describedPartition{a1}},
		{"unhosted partitions and topics are absent", []kmsg.DescribeLogDirsRequestTopic{requestTopic("a", 0, 7), requestTopic("nope", 0)}, []describedPartition{a0}},
		{"topic listed twice", []kmsg.DescribeLogDirsRequestTopic{requestTopic("b", 0), requestTopic("b", 0)}, []describedPartition{b0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.describe(t, 4, tt.topics)
			if resp.ErrorCode != 0 || len(resp.Dirs) != 2 || resp.Dirs[0].Dir != f.dirs[0] || resp.Dirs[1].Dir != f.dirs[1] {
				t.Fatalf("dirs %+v (error %d), want both configured dirs in order", resp.Dirs, resp.ErrorCode)
			}
			var want []describedPartition
			for _, dir := range f.dirs {
				for _, p := range tt.want {
					if p.dir == dir {
						want = append(want, p)
					}
				}
			}
			got := flattenLogDirs(resp)
			if len(got) != len(want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("got %+v, want %+v", got, want)
				}
			}
			for _, d := range resp.Dirs {
				for _, rt := range d.Topics {
					if len(rt.Partitions) == 0 {
						t.Fatalf("dir %s lists topic %s with no partitions", d.Dir, rt.Topic)
					}
				}
			}
		})
	}
}

func TestDescribeLogDirsVolumeBytesFromV4(t *testing.T) {
	f := newLogDirsFixture(t)
	for v := describeLogDirsAPI.min; v <= describeLogDirsAPI.max; v++ {
		resp := f.describe(t, v, nil)
		for _, d := range resp.Dirs {
			if v < 4 {
				if d.TotalBytes != -1 || d.UsableBytes != -1 {
					t.Fatalf("v%d dir %s: total %d usable %d, want the -1 defaults", v, d.Dir, d.TotalBytes, d.UsableBytes)
				}
				continue
			}
			if d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
				t.Fatalf("v%d dir %s: total %d usable %d", v, d.Dir, d.TotalBytes, d.UsableBytes)
			}
		}
	}
}

func TestVolumeBytesClampsLikeKafka(t *testing.T) {
	tests := []struct {
		name      string
		blocks    int64
		blockSize uint64
		want      int64
	}{
		{"plain", 1000, 4096, 4096000},
		{"zero blocks", 0, 4096, 0},
		{"negative available blocks", -5, 4096, 0},
		{"overflow clamps to MaxInt64", math.MaxInt64 / 2, 4096, math.MaxInt64},
		{"exactly MaxInt64", math.MaxInt64, 1, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := volumeBytes(tt.blocks, tt.blockSize); got != tt.want {
				t.Fatalf("volumeBytes(%d, %d) = %d, want %d", tt.blocks, tt.blockSize, got, tt.want)
			}
		})
	}
	if got := volumeBytes(uint64(math.MaxUint64), uint32(512)); got != math.MaxInt64 {
		t.Fatalf("volumeBytes(MaxUint64, 512) = %d, want MaxInt64", got)
	}
}
