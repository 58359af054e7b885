package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file drives DescribeLogDirs (key 35) with kadm against an in-process
// node and a three-process cluster, and with raw requests pinned to every
// served version.

// logDirsOf describes every log dir of every broker, failing on any error.
func logDirsOf(t testing.TB, adm *kadm.Client, topics kadm.TopicsSet) kadm.DescribedAllLogDirs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := adm.DescribeAllLogDirs(ctx, topics)
	if err != nil {
		t.Fatalf("describe log dirs: %v", err)
	}
	all.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			t.Fatalf("broker %d dir %s: %v", d.Broker, d.Dir, d.Err)
		}
	})
	return all
}

func TestDescribeLogDirsSingleNode(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	createTopic(t, adm, "logdirs", 2, nil)
	createTopic(t, adm, "other", 1, nil)

	all := logDirsOf(t, adm, nil)
	dirs, ok := all[1]
	if len(all) != 1 || !ok || len(dirs) != 1 {
		t.Fatalf("described %+v, want broker 1 with one log dir", all)
	}
	dir, ok := dirs[tn.dir]
	if !ok {
		t.Fatalf("described dirs %v, want %s", dirs, tn.dir)
	}
	if dir.TotalBytes <= 0 || dir.UsableBytes < 0 || dir.UsableBytes > dir.TotalBytes {
		t.Fatalf("volume total %d usable %d", dir.TotalBytes, dir.UsableBytes)
	}
	// Null topics: every partition of the node, empty so far.
	for _, tp := range []struct {
		topic string
		p     int32
	}{{"logdirs", 0}, {"logdirs", 1}, {"other", 0}} {
		d, ok := dir.Topics.Lookup(tp.topic, tp.p)
		if !ok || d.Size != 0 || d.OffsetLag != 0 || d.IsFuture {
			t.Fatalf("%s-%d: %+v (found %v), want size 0, lag 0", tp.topic, tp.p, d, ok)
		}
	}

	produceSync(t, tn.client(), "logdirs", "v", 50)

	// Asking for some partitions lists only those. (kgo shards a request
	// naming partitions by their leaders and fails one naming a partition
	// the metadata lacks, so unknown ones are asked for raw below.)
	want := kadm.TopicsSet{}
	want.Add("logdirs", 0, 1)
	dir = logDirsOf(t, adm, want)[1][tn.dir]
	if _, ok := dir.Topics["other"]; ok {
		t.Fatalf("unrequested topic listed: %+v", dir.Topics)
	}
	if ps := dir.Topics["logdirs"]; len(ps) != 2 {
		t.Fatalf("logdirs partitions %+v, want 0 and 1 only", ps)
	}
	// Fifty values of four bytes each, plus keys and batch headers.
	if size := dir.Size(); size <= 50*4 {
		t.Fatalf("size after producing 50 records is %d bytes", size)
	}
	dir.Topics.Each(func(d kadm.DescribedLogDirPartition) {
		if d.OffsetLag != 0 {
			t.Fatalf("%s-%d: lag %d on the leader", d.Topic, d.Partition, d.OffsetLag)
		}
	})

	// Partitions the node does not host are absent, not errors.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	for _, tp := range []struct {
		topic string
		ps    []int32
	}{{"logdirs", []int32{9}}, {"missing", []int32{0}}} {
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = tp.topic, tp.ps
		req.Topics = append(req.Topics, rt)
	}
	resp := send[*kmsg.DescribeLogDirsResponse](t, tn.client(), req)
	if resp.ErrorCode != 0 || len(resp.Dirs) != 1 || resp.Dirs[0].ErrorCode != 0 || len(resp.Dirs[0].Topics) != 0 {
		t.Fatalf("unhosted partitions answered %+v, want one dir listing nothing", resp)
	}

	// The size keeps growing with the log.
	before := dir.Size()
	produceSync(t, tn.client(), "logdirs", "w", 50)
	if after := logDirsOf(t, adm, want)[1][tn.dir].Size(); after <= before {
		t.Fatalf("size %d after producing more, was %d", after, before)
	}
}

func TestDescribeLogDirsEveryVersion(t *testing.T) {
	tn := startNode(t)
	createTopic(t, tn.admin(), "versions", 1, nil)
	produceSync(t, tn.client(), "versions", "v", 5)
	for _, v := range versionsOf(1, 4) {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = "versions", []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := send[*kmsg.DescribeLogDirsResponse](t, pinnedClient(t, tn.addr(), 35, v), req)
		if resp.ErrorCode != 0 || len(resp.Dirs) != 1 || resp.Dirs[0].Dir != tn.dir || resp.Dirs[0].ErrorCode != 0 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		d := resp.Dirs[0]
		if len(d.Topics) != 1 || len(d.Topics[0].Partitions) != 1 || d.Topics[0].Partitions[0].Size == 0 {
			t.Fatalf("v%d topics %+v, want versions-0 with its bytes", v, d.Topics)
		}
		if hasVolume := d.TotalBytes > 0 && d.UsableBytes >= 0; hasVolume != (v >= 4) {
			t.Fatalf("v%d: total %d usable %d; volume bytes are v4+", v, d.TotalBytes, d.UsableBytes)
		}
	}
}

func TestClusterDescribeLogDirsEveryReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := startCluster(t)
	adm := c.admin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "replicated"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	produceSync(t, newClientSeeds(t, c.seeds()), "replicated", "v", 30)

	// acks=all returned once every ISR member had the records; the
	// followers learn the new high watermark on their next fetch, so the
	// three copies are compared until they agree.
	want := kadm.TopicsSet{}
	want.Add("replicated", 0)
	var last []kadm.DescribedLogDirPartition
	for deadline := time.Now().Add(10 * time.Second); ; {
		last = last[:0]
		logDirsOf(t, adm, want).Each(func(d kadm.DescribedLogDir) {
			if p, ok := d.Topics.Lookup("replicated", 0); ok {
				last = append(last, p)
			}
		})
		if len(last) == 3 && last[0].Size > 0 && last[1].Size == last[0].Size && last[2].Size == last[0].Size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas described %+v, want three of equal non-zero size", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	brokers := map[int32]bool{}
	for _, p := range last {
		brokers[p.Broker] = true
		// Kafka's max(HW - LEO, 0): 0 on the leader and on followers alike.
		if p.OffsetLag != 0 || p.IsFuture {
			t.Fatalf("broker %d: lag %d future %v", p.Broker, p.OffsetLag, p.IsFuture)
		}
	}
	if len(brokers) != 3 {
		t.Fatalf("replicas on brokers %v, want 1, 2 and 3", brokers)
	}
}
