package integration

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs against an
// in-process node; helpers are in admin_test.go.

// configResource builds one DescribeConfigs resource.
func configResource(typ kmsg.ConfigResourceType, name string, keys ...string) kmsg.DescribeConfigsRequestResource {
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, keys
	return r
}

// describeConfigs describes resources with synonyms and documentation at
// the client's version.
func describeConfigs(t testing.TB, cl *kgo.Client, resources ...kmsg.DescribeConfigsRequestResource) []kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	req.Resources = resources
	resp := send[*kmsg.DescribeConfigsResponse](t, cl, req)
	if len(resp.Resources) != len(resources) {
		t.Fatalf("%d resources answered, want %d", len(resp.Resources), len(resources))
	}
	return resp.Resources
}

// configEntry finds one key of a described resource.
func configEntry(t testing.TB, res kmsg.DescribeConfigsResponseResource, name string) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	if res.ErrorCode != 0 {
		t.Fatalf("describe %s: %v", res.ResourceName, kerr.ErrorForCode(res.ErrorCode))
	}
	for _, c := range res.Configs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s has no config %s", res.ResourceName, name)
	return kmsg.DescribeConfigsResponseResourceConfig{}
}

// wantConfig checks a described key's value and source.
func wantConfig(t testing.TB, c kmsg.DescribeConfigsResponseResourceConfig, value string, source kmsg.ConfigSource) {
	t.Helper()
	if c.Value == nil || *c.Value != value || c.Source != source {
		got := "<nil>"
		if c.Value != nil {
			got = *c.Value
		}
		t.Fatalf("%s = %s from %v, want %s from %v", c.Name, got, c.Source, value, source)
	}
}

func TestDescribeConfigs(t *testing.T) {
	tn := startNode(t, "message.max.bytes=2000000")
	adm := tn.admin()
	createTopic(t, adm, "dc", 1, map[string]*string{"retention.ms": ptr("1000")})

	for _, v := range versionsOf(1, 4) {
		cl := pinnedClient(t, tn.addr(), 32, v)
		res := describeConfigs(t, cl, configResource(kmsg.ConfigResourceTypeTopic, "dc"), configResource(kmsg.ConfigResourceTypeBroker, "1"))
		topic, broker := res[0], res[1]

		retention := configEntry(t, topic, "retention.ms")
		wantConfig(t, retention, "1000", kmsg.ConfigSourceDynamicTopicConfig)
		if retention.ReadOnly || len(retention.ConfigSynonyms) == 0 || retention.ConfigSynonyms[0].Name != "retention.ms" ||
			retention.ConfigSynonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatalf("v%d retention.ms: %+v", v, retention)
		}
		maxBytes := configEntry(t, topic, "max.message.bytes")
		wantConfig(t, maxBytes, "2000000", kmsg.ConfigSourceStaticBrokerConfig)
		if len(maxBytes.ConfigSynonyms) == 0 || maxBytes.ConfigSynonyms[0].Name != "message.max.bytes" {
			t.Fatalf("v%d max.message.bytes synonyms: %+v", v, maxBytes.ConfigSynonyms)
		}
		wantConfig(t, configEntry(t, topic, "segment.bytes"), "1073741824", kmsg.ConfigSourceDefaultConfig)
		if v >= 3 {
			if retention.ConfigType != kmsg.ConfigTypeLong || retention.Documentation == nil || *retention.Documentation == "" {
				t.Fatalf("v%d retention.ms type %v documentation %v", v, retention.ConfigType, retention.Documentation)
			}
		} else if retention.Documentation != nil {
			t.Fatalf("v%d answered documentation", v)
		}

		wantConfig(t, configEntry(t, broker, "message.max.bytes"), "2000000", kmsg.ConfigSourceStaticBrokerConfig)
		if c := configEntry(t, broker, "message.max.bytes"); c.ReadOnly {
			t.Fatalf("v%d: message.max.bytes read-only, Kafka updates it dynamically", v)
		}
		if c := configEntry(t, broker, "node.id"); !c.ReadOnly || c.Value == nil || *c.Value != "1" {
			t.Fatalf("v%d node.id: %+v", v, c)
		}
		if c := configEntry(t, broker, "log.dirs"); !c.ReadOnly {
			t.Fatalf("v%d: log.dirs not read-only", v)
		}
	}

	cl := tn.client()
	// Without synonyms; with a key filter.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Resources = []kmsg.DescribeConfigsRequestResource{configResource(kmsg.ConfigResourceTypeTopic, "dc", "retention.ms", "no.such.key")}
	got := send[*kmsg.DescribeConfigsResponse](t, cl, req).Resources[0]
	if len(got.Configs) != 1 || got.Configs[0].Name != "retention.ms" || len(got.Configs[0].ConfigSynonyms) != 0 {
		t.Fatalf("filtered describe without synonyms: %+v", got.Configs)
	}

	// The cluster-wide default resource lists only what is set there.
	if res := describeConfigs(t, cl, configResource(kmsg.ConfigResourceTypeBroker, ""))[0]; res.ErrorCode != 0 || len(res.Configs) != 0 {
		t.Fatalf("cluster defaults before any change: %v %+v", kerr.ErrorForCode(res.ErrorCode), res.Configs)
	}

	errs := describeConfigs(t, cl,
		configResource(kmsg.ConfigResourceTypeBroker, "2"),
		configResource(kmsg.ConfigResourceTypeBroker, "one"),
		configResource(kmsg.ConfigResourceTypeBrokerLogger, "1"),
		configResource(kmsg.ConfigResourceTypeBrokerLogger, ""),
		configResource(kmsg.ConfigResourceTypeTopic, "never-created"),
		configResource(kmsg.ConfigResourceTypeTopic, "bad name"),
		configResource(kmsg.ConfigResourceTypeGroupConfig, "g"),
	)
	want := []*kerr.Error{kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidRequest,
		kerr.UnknownTopicOrPartition, kerr.InvalidTopicException, kerr.InvalidRequest}
	for i, res := range errs {
		wantCode(t, res.ResourceName, res.ErrorCode, want[i])
		if len(res.Configs) != 0 {
			t.Fatalf("%s: configs with an error", res.ResourceName)
		}
	}

	// kadm reads the same.
	rcs, err := adm.DescribeTopicConfigs(adminCtx(t), "dc")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("dc", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && (c.Value == nil || *c.Value != "1000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig) {
			t.Fatalf("kadm retention.ms: %+v", c)
		}
	}
}

// alterConfigs sends a legacy AlterConfigs request and returns the error
// code per resource.
func alterConfigs(t testing.TB, cl *kgo.Client, validateOnly bool, resources ...kmsg.AlterConfigsRequestResource) []kmsg.AlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrAlterConfigsRequest()
	req.ValidateOnly, req.Resources = validateOnly, resources
	resp := send[*kmsg.AlterConfigsResponse](t, cl, req)
	if len(resp.Resources) != len(resources) {
		t.Fatalf("%d resources answered, want %d", len(resp.Resources), len(resources))
	}
	return resp.Resources
}

func legacyResource(typ kmsg.ConfigResourceType, name string, kv ...*string) kmsg.AlterConfigsRequestResource {
	r := kmsg.NewAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = *kv[i], kv[i+1]
		r.Configs = append(r.Configs, c)
	}
	return r
}

// produceSized produces one uncompressed record of n random-ish bytes and
// returns the produce error.
func produceSized(t testing.TB, cl *kgo.Client, topic string, n int) error {
	t.Helper()
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(i*7919 + i/3)
	}
	return cl.ProduceSync(adminCtx(t), &kgo.Record{Topic: topic, Value: v}).FirstErr()
}

func TestAlterConfigsReplacesOverrides(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	cl := tn.client()
	createTopic(t, adm, "ac", 1, map[string]*string{"retention.ms": ptr("1000")})
	topicRes := func() kmsg.DescribeConfigsResponseResource {
		return describeConfigs(t, cl, configResource(kmsg.ConfigResourceTypeTopic, "ac"))[0]
	}

	for _, v := range versionsOf(0, 2) {
		value := fmt.Sprint(5000 + v)
		res := alterConfigs(t, pinnedClient(t, tn.addr(), 33, v), false, legacyResource(kmsg.ConfigResourceTypeTopic, "ac", ptr("max.message.bytes"), &value))
		wantCode(t, "legacy alter", res[0].ErrorCode, nil)
		desc := topicRes()
		wantConfig(t, configEntry(t, desc, "max.message.bytes"), value, kmsg.ConfigSourceDynamicTopicConfig)
		// The override not given is gone: legacy AlterConfigs replaces.
		wantConfig(t, configEntry(t, desc, "retention.ms"), "604800000", kmsg.ConfigSourceDefaultConfig)
	}
	// The partition acts on the new limit (the delta reached the replica
	// manager): a record above max.message.bytes is refused.
	producer := tn.client(kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := produceSized(t, producer, "ac", 8000); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("8000-byte record with max.message.bytes=5002: %v, want MESSAGE_TOO_LARGE", err)
	}

	// Validate-only changes nothing.
	res := alterConfigs(t, cl, true, legacyResource(kmsg.ConfigResourceTypeTopic, "ac", ptr("retention.ms"), ptr("42")))
	wantCode(t, "validate-only alter", res[0].ErrorCode, nil)
	wantConfig(t, configEntry(t, topicRes(), "max.message.bytes"), "5002", kmsg.ConfigSourceDynamicTopicConfig)

	// Per-resource errors, and the cluster-wide default next to them.
	res = alterConfigs(t, cl, false,
		legacyResource(kmsg.ConfigResourceTypeTopic, "never-created", ptr("retention.ms"), ptr("1")),
		legacyResource(kmsg.ConfigResourceTypeTopic, "ac", ptr("retention.ms"), nil),
		legacyResource(kmsg.ConfigResourceTypeBroker, "2", ptr("log.retention.ms"), ptr("1")),
		legacyResource(kmsg.ConfigResourceTypeBroker, "1", ptr("log.dirs"), ptr("/elsewhere")),
		legacyResource(kmsg.ConfigResourceTypeBrokerLogger, "1", ptr("root"), ptr("DEBUG")),
		legacyResource(kmsg.ConfigResourceTypeBroker, "", ptr("log.retention.ms"), ptr("7200000")),
	)
	want := []*kerr.Error{kerr.UnknownTopicOrPartition, kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidRequest, nil}
	for i, r := range res {
		wantCode(t, fmt.Sprintf("resource %d (%s)", i, r.ResourceName), r.ErrorCode, want[i])
		if want[i] != nil && r.ErrorMessage == nil {
			t.Errorf("resource %d: error without a message", i)
		}
	}
	res = alterConfigs(t, cl, false,
		legacyResource(kmsg.ConfigResourceTypeTopic, "ac", ptr("no.such.key"), ptr("1")),
		legacyResource(kmsg.ConfigResourceTypeBroker, "1", ptr("log.retention.ms"), ptr("1")),
		legacyResource(kmsg.ConfigResourceTypeBroker, "1", ptr("log.retention.ms"), ptr("2")),
	)
	wantCode(t, "unknown topic key", res[0].ErrorCode, kerr.InvalidConfig)
	wantCode(t, "duplicate resource", res[1].ErrorCode, kerr.InvalidRequest)
	wantCode(t, "duplicate resource", res[2].ErrorCode, kerr.InvalidRequest)

	cluster := describeConfigs(t, cl, configResource(kmsg.ConfigResourceTypeBroker, ""), configResource(kmsg.ConfigResourceTypeBroker, "1"))
	if len(cluster[0].Configs) != 1 {
		t.Fatalf("cluster defaults: %+v", cluster[0].Configs)
	}
	wantConfig(t, cluster[0].Configs[0], "7200000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	wantConfig(t, configEntry(t, cluster[1], "log.retention.ms"), "7200000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	// A topic without its own retention follows the cluster-wide default.
	wantConfig(t, configEntry(t, topicRes(), "retention.ms"), "7200000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
}

func incrementalResource(typ kmsg.ConfigResourceType, name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsRequestResource {
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.Configs = typ, name, ops
	return r
}

func op(o kmsg.IncrementalAlterConfigOp, name string, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name, c.Value = o, name, value
	return c
}

func incrementalAlter(t testing.TB, cl *kgo.Client, validateOnly bool, resources ...kmsg.IncrementalAlterConfigsRequestResource) []kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly, req.Resources = validateOnly, resources
	resp := send[*kmsg.IncrementalAlterConfigsResponse](t, cl, req)
	if len(resp.Resources) != len(resources) {
		t.Fatalf("%d resources answered, want %d", len(resp.Resources), len(resources))
	}
	return resp.Resources
}

func TestIncrementalAlterConfigs(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	cl := tn.client()
	createTopic(t, adm, "iac", 1, map[string]*string{"segment.ms": ptr("3600000")})
	topicRes := func() kmsg.DescribeConfigsResponseResource {
		return describeConfigs(t, cl, configResource(kmsg.ConfigResourceTypeTopic, "iac"))[0]
	}
	const (
		set      = kmsg.IncrementalAlterConfigOpSet
		del      = kmsg.IncrementalAlterConfigOpDelete
		appendOp = kmsg.IncrementalAlterConfigOpAppend
		subtract = kmsg.IncrementalAlterConfigOpSubtract
	)
	throttled := "leader.replication.throttled.replicas"

	for _, v := range versionsOf(0, 1) {
		pc := pinnedClient(t, tn.addr(), 44, v)
		steps := []struct {
			op    kmsg.IncrementalAlterConfigsRequestResourceConfig
			key   string
			value string
		}{
			{op(set, "retention.ms", ptr("5000")), "retention.ms", "5000"},
			{op(appendOp, throttled, ptr("0:1")), throttled, "0:1"},
			{op(appendOp, throttled, ptr("1:1")), throttled, "0:1,1:1"},
			{op(subtract, throttled, ptr("0:1")), throttled, "1:1"},
		}
		for _, s := range steps {
			res := incrementalAlter(t, pc, false, incrementalResource(kmsg.ConfigResourceTypeTopic, "iac", s.op))
			wantCode(t, fmt.Sprintf("v%d op %v %s", v, s.op.Op, s.op.Name), res[0].ErrorCode, nil)
			wantConfig(t, configEntry(t, topicRes(), s.key), s.value, kmsg.ConfigSourceDynamicTopicConfig)
		}
		// Incremental: the override set at creation is untouched.
		wantConfig(t, configEntry(t, topicRes(), "segment.ms"), "3600000", kmsg.ConfigSourceDynamicTopicConfig)
		res := incrementalAlter(t, pc, false, incrementalResource(kmsg.ConfigResourceTypeTopic, "iac", op(del, "retention.ms", nil), op(del, throttled, nil)))
		wantCode(t, "delete", res[0].ErrorCode, nil)
		wantConfig(t, configEntry(t, topicRes(), "retention.ms"), "604800000", kmsg.ConfigSourceDefaultConfig)
	}

	// The partition acts on a changed max.message.bytes, and on its removal.
	producer := tn.client(kgo.ProducerBatchCompression(kgo.NoCompression()))
	res := incrementalAlter(t, cl, false, incrementalResource(kmsg.ConfigResourceTypeTopic, "iac", op(set, "max.message.bytes", ptr("4000"))))
	wantCode(t, "set max.message.bytes", res[0].ErrorCode, nil)
	if err := produceSized(t, producer, "iac", 6000); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("6000-byte record with max.message.bytes=4000: %v, want MESSAGE_TOO_LARGE", err)
	}
	res = incrementalAlter(t, cl, false, incrementalResource(kmsg.ConfigResourceTypeTopic, "iac", op(del, "max.message.bytes", nil)))
	wantCode(t, "delete max.message.bytes", res[0].ErrorCode, nil)
	if err := produceSized(t, producer, "iac", 6000); err != nil {
		t.Fatalf("6000-byte record after the override is gone: %v", err)
	}

	// Validate-only changes nothing.
	res = incrementalAlter(t, cl, true, incrementalResource(kmsg.ConfigResourceTypeTopic, "iac", op(set, "segment.ms", ptr("7200000"))))
	wantCode(t, "validate-only", res[0].ErrorCode, nil)
	wantConfig(t, configEntry(t, topicRes(), "segment.ms"), "3600000", kmsg.ConfigSourceDynamicTopicConfig)

	// Brokers: this node and the cluster-wide default.
	res = incrementalAlter(t, cl, false,
		incrementalResource(kmsg.ConfigResourceTypeBroker, "1", op(set, "log.retention.ms", ptr("3600000"))),
		incrementalResource(kmsg.ConfigResourceTypeBroker, "", op(set, "log.retention.ms", ptr("7200000"))),
	)
	wantCode(t, "broker 1", res[0].ErrorCode, nil)
	wantCode(t, "cluster default", res[1].ErrorCode, nil)
	broker := describeConfigs(t, cl, configResource(kmsg.ConfigResourceTypeBroker, "1"))[0]
	retention := configEntry(t, broker, "log.retention.ms")
	wantConfig(t, retention, "3600000", kmsg.ConfigSourceDynamicBrokerConfig)
	if len(retention.ConfigSynonyms) < 2 || retention.ConfigSynonyms[1].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("log.retention.ms synonyms: %+v", retention.ConfigSynonyms)
	}
	wantConfig(t, configEntry(t, topicRes(), "retention.ms"), "3600000", kmsg.ConfigSourceDynamicBrokerConfig)

	// Errors, each on its own resource.
	res = incrementalAlter(t, cl, false,
		incrementalResource(kmsg.ConfigResourceTypeTopic, "iac", op(appendOp, "retention.ms", ptr("1"))),
		incrementalResource(kmsg.ConfigResourceTypeTopic, "never-created", op(set, "retention.ms", ptr("1"))),
		incrementalResource(kmsg.ConfigResourceTypeBroker, "1", op(set, "node.id", ptr("4"))),
		incrementalResource(kmsg.ConfigResourceTypeBroker, "2", op(set, "log.retention.ms", ptr("1"))),
		incrementalResource(kmsg.ConfigResourceTypeBrokerLogger, "1", op(set, "root", ptr("DEBUG"))),
		incrementalResource(kmsg.ConfigResourceTypeBrokerLogger, "2", op(set, "root", ptr("DEBUG"))),
		incrementalResource(kmsg.ConfigResourceTypeGroupConfig, "g", op(set, "share.auto.offset.reset", ptr("earliest"))),
	)
	want := []*kerr.Error{kerr.InvalidConfig, kerr.UnknownTopicOrPartition, kerr.InvalidRequest, kerr.InvalidRequest,
		kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidRequest}
	for i, r := range res {
		wantCode(t, fmt.Sprintf("resource %d (%s)", i, r.ResourceName), r.ErrorCode, want[i])
		if r.ErrorMessage == nil {
			t.Errorf("resource %d: error without a message", i)
		}
	}
	for _, tt := range []struct {
		name string
		op   kmsg.IncrementalAlterConfigsRequestResourceConfig
		want *kerr.Error
	}{
		{"unknown operation", op(7, "retention.ms", ptr("1")), kerr.InvalidRequest},
		{"set without value", op(set, "retention.ms", nil), kerr.InvalidRequest},
		{"bad value", op(set, "retention.ms", ptr("soon")), kerr.InvalidConfig},
	} {
		res := incrementalAlter(t, cl, false, incrementalResource(kmsg.ConfigResourceTypeTopic, "iac", tt.op))
		wantCode(t, tt.name, res[0].ErrorCode, tt.want)
	}
	if c := configEntry(t, topicRes(), "cleanup.policy"); c.Value == nil || *c.Value != "delete" {
		t.Fatalf("cleanup.policy after refused changes: %+v", c)
	}
}
