package handlers

import (
	"context"
	"log/slog"
	"math"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kmsg"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
)

// DescribeLogDirs: v1-v4, Kafka 4.0's range (KIP-896 removed v0). Answers as
// Kafka's KafkaApis.handleDescribeLogDirsRequest and
// ReplicaManager.describeLogDirs do:
//
//   - one result per configured log dir, in configuration order, with its
//     absolute path, listed even when it holds no partition;
//   - in each, the requested partitions whose log lives there, grouped by
//     topic; null Topics asks for every log of the node, and a topic none of
//     whose requested partitions is in the dir is left out, as are
//     partitions the node does not host;
//   - per partition the bytes of its segments, IsFuture false (samsa has no
//     AlterReplicaLogDirs, so no future logs), and OffsetLag as
//     ReplicaManager.getLogEndOffsetLag computes it for a current log:
//     max(HW - LEO, 0), which is 0 on a leader (its HW never passes its LEO)
//     and 0 on a follower too, whose HW is capped at its own LEO; -1 when
//     the replica manager does not host the partition (Kafka's
//     INVALID_OFFSET_LAG);
//   - v4 (KIP-827) the size and usable space of the dir's volume, with
//     Kafka's adjustForLargeFileSystems clamping an overflow to MaxInt64.
//
// Where Kafka answers a dir whose volume cannot be read with an error code,
// samsa answers -1 for both byte counts (the fields' default, "unknown") and
// still lists the dir's partitions: samsa has no offline log dirs, so a
// failing statfs says nothing about the logs, which are open and served.
// Without an authorizer the top-level ErrorCode (v3+) is always 0.
var describeLogDirsAPI = api{key: 35, min: 1, max: 4, handle: (*Handlers).describeLogDirs}

// volumeBytesMinVersion is the first DescribeLogDirs version that carries
// TotalBytes and UsableBytes (KIP-827).
const volumeBytesMinVersion = 4

// invalidOffsetLag is Kafka's DescribeLogDirsResponse.INVALID_OFFSET_LAG: the
// lag of a log the replica manager does not host.
const invalidOffsetLag = -1

func (h *Handlers) describeLogDirs(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.DescribeLogDirsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)

	// nil asks for everything (Kafka's isAllTopicPartitions: Topics is
	// null); an empty, non-null list asks for nothing.
	var wanted map[plog.TopicPartition]bool
	if r.Topics != nil {
		wanted = make(map[plog.TopicPartition]bool)
		for _, rt := range r.Topics {
			for _, p := range rt.Partitions {
				wanted[plog.TopicPartition{Topic: rt.Topic, Partition: p}] = true
			}
		}
	}

	// Logs come sorted by topic and partition and stay so per dir.
	byDir := make(map[string][]*plog.Log)
	for _, l := range h.d.Logs.Logs() {
		if wanted != nil && !wanted[l.TopicPartition()] {
			continue
		}
		dir := filepath.Dir(l.Dir())
		byDir[dir] = append(byDir[dir], l)
	}

	for _, d := range h.d.Logs.LogDirs() {
		rd := kmsg.NewDescribeLogDirsResponseDir()
		rd.Dir = d.Path
		rd.Topics = h.describeDirTopics(byDir[d.Path])
		if r.Version >= volumeBytesMinVersion {
			total, usable, err := volumeSpace(d.Path)
			if err != nil {
				h.d.Logger.Warn("cannot read log dir volume space", slog.String("dir", d.Path), slog.Any("error", err))
				total, usable = -1, -1
			}
			rd.TotalBytes, rd.UsableBytes = total, usable
		}
		resp.Dirs = append(resp.Dirs, rd)
	}
	return respond(resp)
}

// describeDirTopics groups one dir's logs, sorted by topic and partition,
// into the response's topics.
func (h *Handlers) describeDirTopics(logs []*plog.Log) []kmsg.DescribeLogDirsResponseDirTopic {
	var out []kmsg.DescribeLogDirsResponseDirTopic
	for _, l := range logs {
		tp := l.TopicPartition()
		if n := len(out); n == 0 || out[n-1].Topic != tp.Topic {
			rt := kmsg.NewDescribeLogDirsResponseDirTopic()
			rt.Topic = tp.Topic
			out = append(out, rt)
		}
		rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		rp.Partition = tp.Partition
		rp.Size = l.Size()
		rp.OffsetLag = h.offsetLag(l)
		out[len(out)-1].Partitions = append(out[len(out)-1].Partitions, rp)
	}
	return out
}

// offsetLag is ReplicaManager.getLogEndOffsetLag for a current (not future)
// log: how far its log end offset is below its partition's high watermark.
func (h *Handlers) offsetLag(l *plog.Log) int64 {
	part, ok := h.d.Replicas.Partition(l.TopicPartition())
	if !ok {
		return invalidOffsetLag
	}
	return max(part.HighWatermark()-l.LogEndOffset(), 0)
}

// volumeBytes is blocks*blockSize in bytes, clamped to MaxInt64 on overflow
// as Kafka's adjustForLargeFileSystems does (JDK-8162520). It is generic
// because statfs field types differ by platform; a negative count (FreeBSD
// reports negative available blocks once the root reserve is eaten into)
// is 0.
func volumeBytes[B, S ~int32 | ~int64 | ~uint32 | ~uint64](blocks B, blockSize S) int64 {
	if blocks <= 0 || blockSize <= 0 {
		return 0
	}
	b, s := uint64(blocks), uint64(blockSize)
	if b > math.MaxInt64/s {
		return math.MaxInt64
	}
	return int64(b * s)
}
