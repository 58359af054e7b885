package handlers

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
)

func strp(s string) *string { return &s }

func TestPreprocessConfigAlterationAppliesKafkasBrokerSideChecks(t *testing.T) {
	h := &Handlers{d: Deps{NodeID: 3}}
	topic := controller.ConfigResource{Type: int8(kmsg.ConfigResourceTypeTopic), Name: "t"}
	broker := func(name string) controller.ConfigResource {
		return controller.ConfigResource{Type: int8(kmsg.ConfigResourceTypeBroker), Name: name}
	}
	logger := controller.ConfigResource{Type: int8(kmsg.ConfigResourceTypeBrokerLogger), Name: "3"}
	set := func(name string, v *string) controller.ConfigOp {
		return controller.ConfigOp{Name: name, Op: kmsg.IncrementalAlterConfigOpSet, Value: v}
	}
	del := controller.ConfigOp{Name: "retention.ms", Op: kmsg.IncrementalAlterConfigOpDelete}
	tests := []struct {
		name        string
		alt         configAlteration
		incremental bool
		wantMsg     string // "" = accepted
	}{
		{"topic set", configAlteration{topic, []controller.ConfigOp{set("retention.ms", strp("1"))}}, false, ""},
		{"duplicate key", configAlteration{topic, []controller.ConfigOp{set("a", strp("1")), set("a", strp("2"))}}, true, "duplicate config keys"},
		{"legacy null value", configAlteration{topic, []controller.ConfigOp{set("a", nil), set("b", nil)}}, false, "Null value not supported for : a, b"},
		{"incremental delete without value", configAlteration{topic, []controller.ConfigOp{del}}, true, ""},
		{"incremental set without value", configAlteration{topic, []controller.ConfigOp{set("a", nil)}}, true, "Null value not supported for : a"},
		{"unknown op", configAlteration{topic, []controller.ConfigOp{{Name: "a", Op: 7, Value: strp("x")}}}, true, "Unknown operations type 7"},
		{"cluster default broker", configAlteration{broker(""), []controller.ConfigOp{set("log.retention.ms", strp("1"))}}, true, ""},
		{"this broker", configAlteration{broker("3"), nil}, false, ""},
		{"another broker", configAlteration{broker("4"), nil}, false, "Unexpected broker id, expected 3, but received 4"},
		{"broker name not a number", configAlteration{broker("x"), nil}, true, "Node id must be an integer, but it is: x"},
		{"logger with legacy API", configAlteration{logger, nil}, false, "Unknown resource type 8"},
		{"logger with incremental API", configAlteration{logger, nil}, true, "no per-logger log levels"},
		{"group resource", configAlteration{controller.ConfigResource{Type: int8(kmsg.ConfigResourceTypeGroupConfig), Name: "g"}, nil}, true, "Unknown resource type 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.preprocessConfigAlteration(tt.alt, tt.incremental)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !isErr(err, kerr.InvalidRequest) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want INVALID_REQUEST containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestBrokerResourceID(t *testing.T) {
	if id, err := brokerResourceID("12", "Broker"); err != nil || id != 12 {
		t.Fatalf("brokerResourceID(12) = %d, %v", id, err)
	}
	for _, bad := range []string{"", "1.0", "abc", "99999999999"} {
		if _, err := brokerResourceID(bad, "Broker"); !isErr(err, kerr.InvalidRequest) {
			t.Errorf("brokerResourceID(%q) = %v, want INVALID_REQUEST", bad, err)
		}
	}
}

func TestFilterConfigEntriesNullOrEmptyMeansAll(t *testing.T) {
	entries := []config.Entry{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	names := func(es []config.Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	tests := []struct {
		filter []string
		want   []string
	}{
		{nil, []string{"a", "b", "c"}},
		{[]string{}, []string{"a", "b", "c"}},
		{[]string{"c", "a", "unknown"}, []string{"a", "c"}},
	}
	for _, tt := range tests {
		if got := names(filterConfigEntries(entries, tt.filter)); !slices.Equal(got, tt.want) {
			t.Errorf("filter %v = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestDescribedConfigIncludesSynonymsAndDocsOnlyWhenAsked(t *testing.T) {
	e := config.Entry{
		Name: "retention.ms", Value: strp("1000"), Source: config.SourceDynamicTopicConfig,
		Type: int8(kmsg.ConfigTypeLong), Doc: "how long",
		Synonyms: []config.Synonym{
			{Name: "retention.ms", Value: strp("1000"), Source: config.SourceDynamicTopicConfig},
			{Name: "log.retention.hours", Value: strp("168"), Source: config.SourceDefaultConfig},
		},
	}
	bare := describedConfig(e, false, false)
	if bare.ConfigSynonyms != nil || bare.Documentation != nil {
		t.Fatalf("synonyms or docs without asking: %+v", bare)
	}
	if *bare.Value != "1000" || bare.Source != kmsg.ConfigSourceDynamicTopicConfig || bare.ConfigType != kmsg.ConfigTypeLong || bare.IsDefault {
		t.Fatalf("wrong entry: %+v", bare)
	}
	full := describedConfig(e, true, true)
	if len(full.ConfigSynonyms) != 2 || full.ConfigSynonyms[1].Name != "log.retention.hours" || full.ConfigSynonyms[1].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("synonyms: %+v", full.ConfigSynonyms)
	}
	if full.Documentation == nil || *full.Documentation != "how long" {
		t.Fatalf("documentation: %v", full.Documentation)
	}
	sensitive := describedConfig(config.Entry{Name: "p", Sensitive: true, Source: config.SourceDefaultConfig}, true, false)
	if sensitive.Value != nil || !sensitive.IsSensitive || !sensitive.IsDefault {
		t.Fatalf("sensitive entry: %+v", sensitive)
	}
}
