package controller

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestValidateOnlyChangesNothing(t *testing.T) {
	c := clusterOf(t, 2)
	createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1})
	ctx := context.Background()
	before := c.Image()

	res := c.CreateTopics(ctx, []CreateTopic{{Name: "new", NumPartitions: 2, ReplicationFactor: 2}}, true)
	wantKerr(t, res[0].Err, nil)
	wantEq(t, res[0].NumPartitions, int32(2))
	pres := c.CreatePartitions(ctx, []CreatePartitions{{Topic: "t", Count: 4}}, true)
	wantKerr(t, pres[0].Err, nil)
	cres := c.AlterConfigs(ctx, []ConfigChange{{Resource: ConfigResource{Type: ConfigResourceTopic, Name: "t"},
		Ops: []ConfigOp{{Name: "retention.ms", Value: strPtr("5")}}}}, true, true)
	wantKerr(t, cres[0].Err, nil)
	// Validation still runs.
	bad := c.CreatePartitions(ctx, []CreatePartitions{{Topic: "t", Count: 1}}, true)
	wantKerr(t, bad[0].Err, kerr.InvalidPartitions)

	if c.Image() != before {
		t.Fatal("validateOnly operations changed the image")
	}
}

func topicRes(name string) ConfigResource {
	return ConfigResource{Type: ConfigResourceTopic, Name: name}
}

func set(name, value string) ConfigOp { return ConfigOp{Name: name, Value: strPtr(value)} }

func TestAlterConfigsLegacyReplacesAllOverrides(t *testing.T) {
	c := clusterOf(t, 1)
	createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
		Configs: map[string]*string{"retention.ms": strPtr("100"), "segment.ms": strPtr("200")}})
	res := c.AlterConfigs(context.Background(), []ConfigChange{{Resource: topicRes("t"),
		Ops: []ConfigOp{set("segment.ms", "300"), set("retention.bytes", "400")}}}, false, false)
	wantKerr(t, res[0].Err, nil)
	wantEq(t, c.Image().TopicConfig("t"), map[string]string{"segment.ms": "300", "retention.bytes": "400"})
}

func TestAlterConfigsIncremental(t *testing.T) {
	const throttled = "leader.replication.throttled.replicas"
	op := func(name string, o int8, value *string) ConfigOp {
		return ConfigOp{Name: name, Op: kmsgOp(o), Value: value}
	}
	steps := []struct {
		name string
		ops  []ConfigOp
		want map[string]string
		err  *kerr.Error
	}{
		{"set keeps the others", []ConfigOp{set("segment.ms", "300")},
			map[string]string{"retention.ms": "100", "segment.ms": "300"}, nil},
		{"delete", []ConfigOp{op("retention.ms", 1, nil)},
			map[string]string{"segment.ms": "300"}, nil},
		{"delete of an unset key", []ConfigOp{op("retention.bytes", 1, nil)},
			map[string]string{"segment.ms": "300"}, nil},
		{"append to an unset list", []ConfigOp{op(throttled, 2, strPtr("0:1"))},
			map[string]string{"segment.ms": "300", throttled: "0:1"}, nil},
		{"append skips values present", []ConfigOp{op(throttled, 2, strPtr("0:1,1:1"))},
			map[string]string{"segment.ms": "300", throttled: "0:1,1:1"}, nil},
		{"subtract", []ConfigOp{op(throttled, 3, strPtr("0:1"))},
			map[string]string{"segment.ms": "300", throttled: "1:1"}, nil},
		{"append to a key that is not a list", []ConfigOp{op("segment.ms", 2, strPtr("1"))}, nil, kerr.InvalidConfig},
		{"compaction lags in conflict", []ConfigOp{set("min.compaction.lag.ms", "10"), set("max.compaction.lag.ms", "5")}, nil, kerr.InvalidConfig},
		{"set with no value", []ConfigOp{op("segment.ms", 0, nil)}, nil, kerr.InvalidRequest},
		{"unknown operation", []ConfigOp{op("segment.ms", 9, strPtr("1"))}, nil, kerr.InvalidRequest},
		{"unknown key", []ConfigOp{set("no.such.key", "1")}, nil, kerr.InvalidConfig},
		{"bad value", []ConfigOp{set("segment.ms", "-5")}, nil, kerr.InvalidConfig},
		{"same key twice", []ConfigOp{set("segment.ms", "1"), set("segment.ms", "2")}, nil, kerr.InvalidRequest},
		{"one bad key refuses the resource", []ConfigOp{set("retention.ms", "7"), set("segment.ms", "x")}, nil, kerr.InvalidConfig},
	}
	c := clusterOf(t, 1)
	createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1,
		Configs: map[string]*string{"retention.ms": strPtr("100")}})
	want := c.Image().TopicConfig("t")
	for _, s := range steps {
		res := c.AlterConfigs(context.Background(), []ConfigChange{{Resource: topicRes("t"), Ops: s.ops}}, true, false)
		if s.err == nil {
			want = s.want
		}
		func() {
			t.Helper()
			defer func() {
				if t.Failed() {
					t.Logf("step %q", s.name)
				}
			}()
			wantKerr(t, res[0].Err, s.err)
			wantEq(t, c.Image().TopicConfig("t"), want)
		}()
		if t.Failed() {
			return
		}
	}
}

func TestAlterConfigsResources(t *testing.T) {
	broker := func(name string) ConfigResource { return ConfigResource{Type: ConfigResourceBroker, Name: name} }
	tests := []struct {
		name string
		ch   ConfigChange
		want *kerr.Error
	}{
		{"cluster default", ConfigChange{broker(""), []ConfigOp{set("log.retention.ms", "1000")}}, nil},
		{"this broker", ConfigChange{broker("1"), []ConfigOp{set("log.retention.ms", "1000")}}, nil},
		{"another registered broker", ConfigChange{broker("2"), []ConfigOp{set("log.retention.ms", "1000")}}, nil},
		{"unregistered broker", ConfigChange{broker("7"), []ConfigOp{set("log.retention.ms", "1000")}}, kerr.InvalidRequest},
		{"broker name not a number", ConfigChange{broker("one"), []ConfigOp{set("log.retention.ms", "1000")}}, kerr.InvalidRequest},
		{"static broker key", ConfigChange{broker("1"), []ConfigOp{set("log.retention.ms", "1000"), set("log.dirs", "/x")}}, kerr.InvalidRequest},
		{"unknown broker key", ConfigChange{broker(""), []ConfigOp{set("no.such.key", "1")}}, kerr.InvalidRequest},
		{"bad broker value", ConfigChange{broker(""), []ConfigOp{set("log.retention.ms", "often")}}, kerr.InvalidConfig},
		{"broker compaction", ConfigChange{broker(""), []ConfigOp{set("log.cleanup.policy", "compact")}}, nil},
		{"unknown topic", ConfigChange{topicRes("zz"), []ConfigOp{set("retention.ms", "1")}}, kerr.UnknownTopicOrPartition},
		{"default topic", ConfigChange{topicRes(""), []ConfigOp{set("retention.ms", "1")}}, kerr.InvalidRequest},
		{"unsupported resource type", ConfigChange{ConfigResource{Type: 8, Name: "1"}, []ConfigOp{set("x", "1")}}, kerr.InvalidRequest},
	}
	for _, tt := range tests {
		for _, incremental := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				c := clusterOf(t, 2)
				createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1})
				res := c.AlterConfigs(context.Background(), []ConfigChange{tt.ch}, incremental, false)
				wantEq(t, res[0].Resource, tt.ch.Resource)
				wantKerr(t, res[0].Err, tt.want)
				got := c.Image().Configs[tt.ch.Resource]
				if tt.want != nil && len(got) != 0 {
					t.Fatalf("refused change was applied: %v", got)
				}
				if tt.want == nil && got[tt.ch.Ops[0].Name] != *tt.ch.Ops[0].Value {
					t.Fatalf("change not applied: %v", got)
				}
			})
		}
	}
}

func TestAlterConfigsDuplicateResource(t *testing.T) {
	c := clusterOf(t, 1)
	createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 1})
	ch := ConfigChange{Resource: topicRes("t"), Ops: []ConfigOp{set("retention.ms", "1")}}
	res := c.AlterConfigs(context.Background(), []ConfigChange{ch, ch}, true, false)
	wantKerr(t, res[0].Err, kerr.InvalidRequest)
	wantKerr(t, res[1].Err, kerr.InvalidRequest)
}

func kmsgOp(o int8) kmsg.IncrementalAlterConfigOp { return kmsg.IncrementalAlterConfigOp(o) }
