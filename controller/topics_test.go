package controller

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func createTopic(t *testing.T, c *Controller, ct CreateTopic) CreateTopicResult {
	t.Helper()
	res := c.CreateTopics(context.Background(), []CreateTopic{ct}, false)[0]
	wantKerr(t, res.Err, nil)
	return res
}

func TestCreateTopicsErrors(t *testing.T) {
	long := strings.Repeat("x", 250)
	tests := []struct {
		name  string
		topic CreateTopic
		want  *kerr.Error
	}{
		{"valid", CreateTopic{Name: "ok.topic-1_A", NumPartitions: 2, ReplicationFactor: 3}, nil},
		{"empty name", CreateTopic{Name: "", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"dot", CreateTopic{Name: ".", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"dot dot", CreateTopic{Name: "..", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"too long", CreateTopic{Name: long, NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"249 characters is fine", CreateTopic{Name: long[:249], NumPartitions: 1, ReplicationFactor: 1}, nil},
		{"illegal character", CreateTopic{Name: "a b", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"exists", CreateTopic{Name: "exists", NumPartitions: 1, ReplicationFactor: 1}, kerr.TopicAlreadyExists},
		{"collides after . to _", CreateTopic{Name: "col_lide", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"zero partitions", CreateTopic{Name: "t", NumPartitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"partitions below -1", CreateTopic{Name: "t", NumPartitions: -2, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"too many partitions", CreateTopic{Name: "t", NumPartitions: 1 << 20, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"zero replication factor", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 0}, kerr.InvalidReplicationFactor},
		{"replication factor below -1", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: -2}, kerr.InvalidReplicationFactor},
		{"more replicas than brokers", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 4}, kerr.InvalidReplicationFactor},
		{"assignment with partition count", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: -1,
			Assignments: map[int32][]int32{0: {1}}}, kerr.InvalidRequest},
		{"assignment with replication factor", CreateTopic{Name: "t", NumPartitions: -1, ReplicationFactor: 1,
			Assignments: map[int32][]int32{0: {1}}}, kerr.InvalidRequest},
		{"assignment not numbered from 0", CreateTopic{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
			Assignments: map[int32][]int32{1: {1}}}, kerr.InvalidReplicaAssignment},
		{"assignment with a gap", CreateTopic{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
			Assignments: map[int32][]int32{0: {1}, 2: {2}}}, kerr.InvalidReplicaAssignment},
		{"assignment naming a broker twice", CreateTopic{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
			Assignments: map[int32][]int32{0: {1, 1}}}, kerr.InvalidReplicaAssignment},
		{"assignment naming an unregistered broker", CreateTopic{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
			Assignments: map[int32][]int32{0: {1, 9}}}, kerr.InvalidReplicaAssignment},
		{"assignment with uneven replication", CreateTopic{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
			Assignments: map[int32][]int32{0: {1, 2}, 1: {3}}}, kerr.InvalidReplicaAssignment},
		{"assignment with no replicas", CreateTopic{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
			Assignments: map[int32][]int32{0: {}}}, kerr.InvalidReplicaAssignment},
		{"null config value", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
			Configs: map[string]*string{"retention.ms": nil}}, kerr.InvalidConfig},
		{"unknown config", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
			Configs: map[string]*string{"no.such.key": strPtr("1")}}, kerr.InvalidConfig},
		{"bad config value", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
			Configs: map[string]*string{"retention.ms": strPtr("soon")}}, kerr.InvalidConfig},
		{"compaction", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
			Configs: map[string]*string{"cleanup.policy": strPtr("compact")}}, nil},
		{"compaction and deletion", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
			Configs: map[string]*string{"cleanup.policy": strPtr("delete,compact")}}, nil},
		{"compaction lags in conflict", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
			Configs: map[string]*string{"min.compaction.lag.ms": strPtr("10"), "max.compaction.lag.ms": strPtr("5")}}, kerr.InvalidConfig},
		{"valid config", CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
			Configs: map[string]*string{"cleanup.policy": strPtr("delete"), "retention.ms": strPtr("1000")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clusterOf(t, 3)
			createTopic(t, c, CreateTopic{Name: "exists", NumPartitions: 1, ReplicationFactor: 1})
			createTopic(t, c, CreateTopic{Name: "col.lide", NumPartitions: 1, ReplicationFactor: 1})
			before := c.Image()
			res := c.CreateTopics(context.Background(), []CreateTopic{tt.topic}, false)
			wantEq(t, len(res), 1)
			wantEq(t, res[0].Name, tt.topic.Name)
			wantKerr(t, res[0].Err, tt.want)
			if tt.want != nil {
				if c.Image() != before {
					t.Fatal("a refused topic changed the image")
				}
				return
			}
			topic, ok := c.Image().Topic(tt.topic.Name)
			if !ok || topic.ID != res[0].ID || int32(len(topic.Partitions)) != res[0].NumPartitions {
				t.Fatalf("result %+v does not describe the created topic", res[0])
			}
			for k, v := range tt.topic.Configs {
				wantEq(t, c.Image().TopicConfig(tt.topic.Name)[k], *v)
				wantEq(t, res[0].Configs[k], *v)
			}
		})
	}
}

func TestCreateTopicsInOneRequest(t *testing.T) {
	c := clusterOf(t, 1)
	res := c.CreateTopics(context.Background(), []CreateTopic{
		{Name: "dup", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "x.y", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "dup", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "x_y", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "fine", NumPartitions: -1, ReplicationFactor: -1},
	}, false)
	wantKerr(t, res[0].Err, kerr.InvalidRequest)
	wantKerr(t, res[1].Err, nil)
	wantKerr(t, res[2].Err, kerr.InvalidRequest)
	wantKerr(t, res[3].Err, kerr.InvalidTopicException)
	wantKerr(t, res[4].Err, nil)
	// -1 takes num.partitions=3 and default.replication.factor=1.
	wantEq(t, res[4].NumPartitions, int32(3))
	wantEq(t, res[4].ReplicationFactor, int16(1))
	wantEq(t, c.Image().TopicNames(), []string{"fine", "x.y"})
}

func TestPlacementSpreadsLeadersEvenly(t *testing.T) {
	c := clusterOf(t, 3)
	createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 6, ReplicationFactor: 2})
	leaders, replicas := map[int32]int{}, map[int32]int{}
	topic, _ := c.Image().Topic("t")
	for i, p := range topic.Partitions {
		if p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) || p.LeaderEpoch != 0 || p.PartitionEpoch != 0 {
			t.Fatalf("partition %d: %+v, want leader = first replica, ISR = replicas, epochs 0", i, p)
		}
		if len(p.Replicas) != 2 || p.Replicas[0] == p.Replicas[1] {
			t.Fatalf("partition %d replicas %v", i, p.Replicas)
		}
		leaders[p.Leader]++
		for _, r := range p.Replicas {
			replicas[r]++
		}
	}
	wantEq(t, leaders, map[int32]int{1: 2, 2: 2, 3: 2})
	wantEq(t, replicas, map[int32]int{1: 4, 2: 4, 3: 4})
}

func TestPlaceReplicas(t *testing.T) {
	tests := []struct {
		name    string
		brokers []int32
		start   int
		first   int32
		count   int32
		rf      int
		want    [][]int32
		wantErr *kerr.Error
	}{
		{"round robin", []int32{1, 2, 3}, 0, 0, 4, 2, [][]int32{{1, 2}, {2, 3}, {3, 1}, {1, 2}}, nil},
		{"start offset", []int32{1, 2, 3}, 2, 0, 2, 3, [][]int32{{3, 1, 2}, {1, 2, 3}}, nil},
		{"continues from the first new partition", []int32{4, 7}, 0, 3, 2, 1, [][]int32{{7}, {4}}, nil},
		{"no live broker", nil, 0, 0, 1, 1, nil, kerr.InvalidReplicationFactor},
		{"replication above brokers", []int32{1}, 0, 0, 1, 2, nil, kerr.InvalidReplicationFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := placeReplicas(tt.brokers, tt.start, tt.first, tt.count, tt.rf)
			wantKerr(t, err, tt.wantErr)
			wantEq(t, got, tt.want)
		})
	}
}

func TestCreateTopicsManualAssignment(t *testing.T) {
	c := clusterOf(t, 3)
	res := createTopic(t, c, CreateTopic{Name: "m", NumPartitions: -1, ReplicationFactor: -1,
		Assignments: map[int32][]int32{0: {3, 1}, 1: {2, 3}}})
	wantEq(t, res.ReplicationFactor, int16(2))
	topic, _ := c.Image().Topic("m")
	wantEq(t, topic.Partitions, []PartitionImage{
		{Replicas: []int32{3, 1}, ISR: []int32{3, 1}, Leader: 3},
		{Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2},
	})
}

func TestDeleteTopics(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		refs func(c *Controller) []TopicRef
		want []*kerr.Error
		left []string
	}{
		{"by name", func(*Controller) []TopicRef { return []TopicRef{{Name: "a"}} }, []*kerr.Error{nil}, []string{"b"}},
		{"by ID", func(c *Controller) []TopicRef {
			b, _ := c.Image().Topic("b")
			return []TopicRef{{ID: b.ID}}
		}, []*kerr.Error{nil}, []string{"a"}},
		{"both in one request", func(c *Controller) []TopicRef {
			b, _ := c.Image().Topic("b")
			return []TopicRef{{Name: "a"}, {ID: b.ID}}
		}, []*kerr.Error{nil, nil}, nil},
		{"unknown name", func(*Controller) []TopicRef { return []TopicRef{{Name: "zz"}, {Name: "a"}} },
			[]*kerr.Error{kerr.UnknownTopicOrPartition, nil}, []string{"b"}},
		{"unknown ID", func(*Controller) []TopicRef { return []TopicRef{{ID: [16]byte{9}}} },
			[]*kerr.Error{kerr.UnknownTopicID}, []string{"a", "b"}},
		{"name and ID together", func(c *Controller) []TopicRef {
			a, _ := c.Image().Topic("a")
			return []TopicRef{{Name: "a", ID: a.ID}}
		}, []*kerr.Error{kerr.InvalidRequest}, []string{"a", "b"}},
		{"neither name nor ID", func(*Controller) []TopicRef { return []TopicRef{{}} },
			[]*kerr.Error{kerr.InvalidRequest}, []string{"a", "b"}},
		{"same name twice", func(*Controller) []TopicRef { return []TopicRef{{Name: "a"}, {Name: "a"}} },
			[]*kerr.Error{kerr.InvalidRequest, kerr.InvalidRequest}, []string{"a", "b"}},
		{"same topic by name and by ID", func(c *Controller) []TopicRef {
			a, _ := c.Image().Topic("a")
			return []TopicRef{{Name: "a"}, {ID: a.ID}}
		}, []*kerr.Error{nil, kerr.InvalidRequest}, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clusterOf(t, 1)
			createTopic(t, c, CreateTopic{Name: "a", NumPartitions: 2, ReplicationFactor: 1,
				Configs: map[string]*string{"retention.ms": strPtr("100")}})
			createTopic(t, c, CreateTopic{Name: "b", NumPartitions: 1, ReplicationFactor: 1})
			refs := tt.refs(c)
			res := c.DeleteTopics(ctx, refs)
			for i := range res {
				wantKerr(t, res[i].Err, tt.want[i])
				if tt.want[i] == nil && (res[i].Name == "" || res[i].ID == [16]byte{}) {
					t.Fatalf("result %d does not name the deleted topic: %+v", i, res[i])
				}
			}
			if names := c.Image().TopicNames(); len(names) != 0 || len(tt.left) != 0 {
				wantEq(t, names, tt.left)
			}
		})
	}
}

func TestDeletedTopicCanBeRecreatedClean(t *testing.T) {
	c := clusterOf(t, 1)
	old := createTopic(t, c, CreateTopic{Name: "a", NumPartitions: 2, ReplicationFactor: 1,
		Configs: map[string]*string{"retention.ms": strPtr("100")}})
	wantKerr(t, c.DeleteTopics(context.Background(), []TopicRef{{Name: "a"}})[0].Err, nil)
	wantEq(t, c.Image().TopicConfig("a"), map[string]string{})
	again := createTopic(t, c, CreateTopic{Name: "a", NumPartitions: 1, ReplicationFactor: 1})
	if again.ID == old.ID {
		t.Fatal("re-created topic reused the old topic ID")
	}
	wantEq(t, c.Image().TopicConfig("a"), map[string]string{})
}

func TestDeleteTopicsDisabled(t *testing.T) {
	c, _ := memoryController(t, map[string]string{"delete.topic.enable": "false"})
	register(t, c, 1)
	createTopic(t, c, CreateTopic{Name: "a", NumPartitions: 1, ReplicationFactor: 1})
	wantKerr(t, c.DeleteTopics(context.Background(), []TopicRef{{Name: "a"}})[0].Err, kerr.TopicDeletionDisabled)
	wantEq(t, c.Image().TopicNames(), []string{"a"})
}

func TestCreatePartitions(t *testing.T) {
	tests := []struct {
		name  string
		req   CreatePartitions
		want  *kerr.Error
		check func(t *testing.T, topic *TopicImage)
	}{
		{"grow with placement", CreatePartitions{Topic: "t", Count: 5}, nil, func(t *testing.T, topic *TopicImage) {
			wantEq(t, len(topic.Partitions), 5)
			leaders := map[int32]int{}
			for _, p := range topic.Partitions[2:] {
				wantEq(t, len(p.Replicas), 2)
				leaders[p.Leader]++
			}
			wantEq(t, len(leaders), 3)
		}},
		{"grow by hand", CreatePartitions{Topic: "t", Count: 3, Assignments: [][]int32{{3, 2}}}, nil, func(t *testing.T, topic *TopicImage) {
			wantEq(t, topic.Partitions[2], PartitionImage{Replicas: []int32{3, 2}, ISR: []int32{3, 2}, Leader: 3})
		}},
		{"same count", CreatePartitions{Topic: "t", Count: 2}, kerr.InvalidPartitions, nil},
		{"shrink", CreatePartitions{Topic: "t", Count: 1}, kerr.InvalidPartitions, nil},
		{"unknown topic", CreatePartitions{Topic: "zz", Count: 4}, kerr.UnknownTopicOrPartition, nil},
		{"assignments for the wrong count", CreatePartitions{Topic: "t", Count: 4, Assignments: [][]int32{{1, 2}}}, kerr.InvalidReplicaAssignment, nil},
		{"assignment with another replication factor", CreatePartitions{Topic: "t", Count: 3, Assignments: [][]int32{{1}}}, kerr.InvalidReplicaAssignment, nil},
		{"assignment naming an unregistered broker", CreatePartitions{Topic: "t", Count: 3, Assignments: [][]int32{{1, 8}}}, kerr.InvalidReplicaAssignment, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clusterOf(t, 3)
			createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 2, ReplicationFactor: 2})
			before, _ := c.Image().Topic("t")
			res := c.CreatePartitions(context.Background(), []CreatePartitions{tt.req}, false)
			wantEq(t, res[0].Topic, tt.req.Topic)
			wantKerr(t, res[0].Err, tt.want)
			topic, _ := c.Image().Topic("t")
			wantEq(t, topic.Partitions[:2], before.Partitions)
			if tt.check != nil {
				tt.check(t, topic)
			}
		})
	}
}

func TestCreatePartitionsDuplicateTopic(t *testing.T) {
	c := clusterOf(t, 1)
	createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1})
	res := c.CreatePartitions(context.Background(), []CreatePartitions{{Topic: "t", Count: 2}, {Topic: "t", Count: 3}}, false)
	wantKerr(t, res[0].Err, kerr.InvalidRequest)
	wantKerr(t, res[1].Err, kerr.InvalidRequest)
}
