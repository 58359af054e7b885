package config

import (
	"errors"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

func TestValidateTopicConfig(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value *string
		want  error // nil, or the sentinel the error wraps
	}{
		{"valid long", "retention.ms", ptr("1000"), nil},
		{"forever", "retention.ms", ptr("-1"), nil},
		{"below range", "retention.ms", ptr("-2"), ErrInvalidConfigValue},
		{"not a number", "segment.bytes", ptr("big"), ErrInvalidConfigValue},
		{"segment.bytes minimum", "segment.bytes", ptr("1000"), ErrInvalidConfigValue},
		{"list", "cleanup.policy", ptr("compact, delete"), nil},
		{"empty list", "cleanup.policy", ptr(""), nil},
		{"list element outside enum", "cleanup.policy", ptr("compact,shred"), ErrInvalidConfigValue},
		{"enum", "message.timestamp.type", ptr("LogAppendTime"), nil},
		{"enum is case-sensitive", "message.timestamp.type", ptr("logappendtime"), ErrInvalidConfigValue},
		{"compression", "compression.type", ptr("lz4"), nil},
		{"compression enum", "compression.type", ptr("brotli"), ErrInvalidConfigValue},
		{"double", "min.cleanable.dirty.ratio", ptr("0.1"), nil},
		{"double range", "min.cleanable.dirty.ratio", ptr("2"), ErrInvalidConfigValue},
		{"boolean", "unclean.leader.election.enable", ptr("True"), nil},
		{"not a boolean", "unclean.leader.election.enable", ptr("1"), ErrInvalidConfigValue},
		{"throttled replicas", "leader.replication.throttled.replicas", ptr("0:1,1:2"), nil},
		{"throttled wildcard", "follower.replication.throttled.replicas", ptr("*"), nil},
		{"bad throttled replicas", "leader.replication.throttled.replicas", ptr("0-1"), ErrInvalidConfigValue},
		{"gzip level -1", "compression.gzip.level", ptr("-1"), nil},
		{"gzip level 10", "compression.gzip.level", ptr("10"), ErrInvalidConfigValue},
		{"delete known key", "retention.ms", nil, nil},
		{"unknown key", "retention.hours", ptr("1"), ErrUnknownConfig},
		{"delete unknown key", "retention.hours", nil, ErrUnknownConfig},
		{"broker key is not a topic key", "log.retention.ms", ptr("1"), ErrUnknownConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTopicConfig(tt.key, tt.value)
			checkValidationError(t, err, tt.want, tt.key)
		})
	}
}

func checkValidationError(t *testing.T, err, want error, key string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("unexpected error %v", err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("error %v, want %v", err, want)
	case err != nil && !strings.Contains(err.Error(), key):
		t.Errorf("error %q does not name %s", err, key)
	}
}

func TestValidateBrokerConfig(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value *string
		want  error
	}{
		{"cluster-wide key", "log.retention.ms", ptr("1000"), nil},
		{"per-broker key", "listeners", ptr("PLAINTEXT://127.0.0.1:9092"), nil},
		{"per-broker key with bad listener syntax", "listeners", ptr("PLAINTEXT:9092"), ErrInvalidConfigValue},
		{"protocol map syntax", "listener.security.protocol.map", ptr("PLAINTEXT"), ErrInvalidConfigValue},
		{"bad value", "message.max.bytes", ptr("-1"), ErrInvalidConfigValue},
		{"enum", "compression.type", ptr("snappy"), nil},
		{"read-only key", "log.retention.hours", ptr("1"), ErrReadOnlyConfig},
		{"read-only key delete", "node.id", nil, ErrReadOnlyConfig},
		{"samsa keys are static", "samsa.log.level", ptr("debug"), ErrReadOnlyConfig},
		{"security key needs a listener prefix", "ssl.keystore.location", ptr("/k"), ErrReadOnlyConfig},
		{"security key with listener prefix", "listener.name.external.ssl.keystore.location", ptr("/k"), nil},
		{"sasl mechanism override", "listener.name.external.plain.sasl.jaas.config", ptr("x"), nil},
		{"delete", "log.retention.ms", nil, nil},
		{"unknown key", "log.retention.days", ptr("1"), ErrUnknownConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidationError(t, ValidateBrokerConfig(tt.key, tt.value), tt.want, tt.key)
		})
	}
}

func TestBrokerConfigUpdateModes(t *testing.T) {
	tests := []struct {
		key     string
		mode    UpdateMode
		dynamic bool
	}{
		{"log.retention.ms", UpdateClusterWide, true},
		{"min.insync.replicas", UpdateClusterWide, true},
		{"message.max.bytes", UpdateClusterWide, true},
		{"listeners", UpdatePerBroker, true},
		{"ssl.keystore.location", UpdatePerBroker, true},
		{"listener.name.x.ssl.keystore.location", UpdatePerBroker, true},
		{"log.retention.hours", UpdateReadOnly, false},
		{"node.id", UpdateReadOnly, false},
		{"advertised.listeners", UpdateReadOnly, false},
		{"samsa.metrics.listener", UpdateReadOnly, false},
		{"no.such.key", UpdateReadOnly, false},
	}
	for _, tt := range tests {
		if got := BrokerConfigUpdateMode(tt.key); got != tt.mode {
			t.Errorf("BrokerConfigUpdateMode(%s) = %v, want %v", tt.key, got, tt.mode)
		}
		if got := IsDynamicBrokerConfig(tt.key); got != tt.dynamic {
			t.Errorf("IsDynamicBrokerConfig(%s) = %v, want %v", tt.key, got, tt.dynamic)
		}
	}
	if err := validateDynamic("listeners", ptr("PLAINTEXT://:1"), false); !errors.Is(err, ErrReadOnlyConfig) {
		t.Errorf("per-broker key at cluster level: %v", err)
	}
}

func TestIsListConfig(t *testing.T) {
	tests := map[string]bool{
		"cleanup.policy":                        true,
		"leader.replication.throttled.replicas": true,
		"log.cleanup.policy":                    true,
		"process.roles":                         true,
		"ssl.cipher.suites":                     true,
		"listeners":                             false, // a STRING in Kafka 4
		"retention.ms":                          false,
		"compression.type":                      false,
		"no.such.key":                           false,
	}
	for key, want := range tests {
		if got := IsListConfig(key); got != want {
			t.Errorf("IsListConfig(%s) = %v, want %v", key, got, want)
		}
	}
}
