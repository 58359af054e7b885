package config

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseEmptyGivesZeroConfigProfileOverKafkaDefaults(t *testing.T) {
	b, unused, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(unused) != 0 {
		t.Errorf("unused %v, want none", unused)
	}
	want := Broker{
		NodeID:       1,
		ProcessRoles: []string{"broker", "controller"},
		Listeners: []Listener{
			{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092},
			{Name: "CONTROLLER", Host: "127.0.0.1", Port: 9093},
		},
		AdvertisedListeners: []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}},
		ListenerSecurityProtocolMap: map[string]string{
			"CONTROLLER": "PLAINTEXT", "PLAINTEXT": "PLAINTEXT", "SSL": "SSL",
			"SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL",
		},
		ControllerListenerNames: []string{"CONTROLLER"},
		InterBrokerListenerName: "PLAINTEXT",
		ControllerQuorumVoters:  []Voter{{ID: 1, Host: "127.0.0.1", Port: 9093}},
		LogDirs:                 []string{"/tmp/samsa-logs"},

		NumPartitions:               1,
		DefaultReplicationFactor:    1,
		MinInsyncReplicas:           1,
		ReplicaLagTimeMaxMs:         30000,
		UncleanLeaderElectionEnable: false,
		AutoCreateTopicsEnable:      true,
		DeleteTopicEnable:           true,

		LogSegmentBytes:                         1 << 30,
		LogRollMs:                               7 * 24 * 3600 * 1000,
		LogRetentionMs:                          7 * 24 * 3600 * 1000,
		LogRetentionBytes:                       -1,
		LogRetentionCheckIntervalMs:             300000,
		LogIndexIntervalBytes:                   4096,
		LogIndexSizeMaxBytes:                    10 << 20,
		LogFlushIntervalMessages:                math.MaxInt64,
		LogFlushIntervalMs:                      math.MaxInt64,
		LogFlushSchedulerIntervalMs:             math.MaxInt64,
		LogFlushOffsetCheckpointIntervalMs:      60000,
		LogFlushStartOffsetCheckpointIntervalMs: 60000,
		FileDeleteDelayMs:                       60000,
		NumRecoveryThreadsPerDataDir:            2,
		MessageMaxBytes:                         1048588,
		CompressionType:                         "producer",
		LogMessageTimestampType:                 "CreateTime",

		SocketRequestMaxBytes: 104857600,
		ConnectionsMaxIdleMs:  600000,

		ProducerIDExpirationMs:              86400000,
		ProducerIDExpirationCheckIntervalMs: 600000,

		OffsetsTopicReplicationFactor:        1,
		OffsetsTopicNumPartitions:            50,
		TransactionStateLogReplicationFactor: 1,
		TransactionStateLogMinISR:            1,
		GroupInitialRebalanceDelayMs:         3000,
		GroupMinSessionTimeoutMs:             6000,
		GroupMaxSessionTimeoutMs:             1800000,
		GroupMaxSize:                         math.MaxInt32,
		OffsetsTopicSegmentBytes:             104857600,
		OffsetsRetentionMinutes:              10080,
		OffsetsRetentionCheckIntervalMs:      600000,
		OffsetMetadataMaxBytes:               4096,
		OffsetsCommitTimeoutMs:               5000,
		GroupConsumerHeartbeatIntervalMs:     5000,
		GroupConsumerSessionTimeoutMs:        45000,
		GroupConsumerMaxSize:                 2147483647,

		BrokerHeartbeatIntervalMs: 2000,
		BrokerSessionTimeoutMs:    9000,

		MetricsListener: "127.0.0.1:0",
		LogLevel:        slog.LevelInfo,
	}
	got := *b
	got.Values = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	profile := zeroConfigProfile()
	profile["broker.id"] = "1" // Kafka mirrors node.id into broker.id
	if !reflect.DeepEqual(b.Values, profile) {
		t.Errorf("Values %v, want the profile %v", b.Values, profile)
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadLayersProfileThenFileThenFlags(t *testing.T) {
	path := writeFile(t, "num.partitions=3\nlog.retention.hours=5\nmessage.max.bytes: 2000\nlog.dirs=/data/a,/data/b\n")
	b, _, err := Load(path, []string{"num.partitions=4", "log.retention.minutes=7", "num.partitions = 6 "})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"later flag beats earlier flag and file", b.NumPartitions, int32(6)},
		{"flag minutes beat file hours", b.LogRetentionMs, int64(7 * 60 * 1000)},
		{"file beats default", b.MessageMaxBytes, int32(2000)},
		{"file beats profile", b.LogDirs, []string{"/data/a", "/data/b"}},
		{"profile beats default", b.OffsetsTopicReplicationFactor, int16(1)},
		{"raw value kept", b.Values["num.partitions"], "6"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.properties"), nil); err == nil {
		t.Error("missing file: no error")
	}
	if _, _, err := Load("", []string{"num.partitions"}); err == nil || !strings.Contains(err.Error(), "num.partitions") {
		t.Errorf("override without '=': %v", err)
	}
	if _, _, err := Load(writeFile(t, `a=\u12`), nil); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad escape: %v", err)
	}
}

func TestTimeSynonymsPrecedence(t *testing.T) {
	const hour, minute = int64(3600 * 1000), int64(60 * 1000)
	tests := []struct {
		name                     string
		props                    map[string]string
		retention, roll, flushMs int64
	}{
		{"defaults", nil, 168 * hour, 168 * hour, math.MaxInt64},
		{"hours", map[string]string{"log.retention.hours": "2", "log.roll.hours": "3"}, 2 * hour, 3 * hour, math.MaxInt64},
		{"minutes beat hours", map[string]string{"log.retention.minutes": "5", "log.retention.hours": "2"}, 5 * minute, 168 * hour, math.MaxInt64},
		{"ms beats minutes and hours", map[string]string{"log.retention.ms": "9", "log.retention.minutes": "5", "log.retention.hours": "2"}, 9, 168 * hour, math.MaxInt64},
		{"ms -1 keeps forever", map[string]string{"log.retention.ms": "-1"}, -1, 168 * hour, math.MaxInt64},
		{"any negative time is -1", map[string]string{"log.retention.minutes": "-3"}, -1, 168 * hour, math.MaxInt64},
		{"roll ms beats hours", map[string]string{"log.roll.ms": "10", "log.roll.hours": "3"}, 168 * hour, 10, math.MaxInt64},
		{"flush falls back to scheduler interval", map[string]string{"log.flush.scheduler.interval.ms": "5000"}, 168 * hour, 168 * hour, 5000},
		{"flush interval beats scheduler interval", map[string]string{"log.flush.interval.ms": "100", "log.flush.scheduler.interval.ms": "5000"}, 168 * hour, 168 * hour, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, err := Parse(tt.props)
			if err != nil {
				t.Fatal(err)
			}
			if b.LogRetentionMs != tt.retention || b.LogRollMs != tt.roll || b.LogFlushIntervalMs != tt.flushMs {
				t.Errorf("retention %d roll %d flush %d, want %d %d %d",
					b.LogRetentionMs, b.LogRollMs, b.LogFlushIntervalMs, tt.retention, tt.roll, tt.flushMs)
			}
		})
	}
}

func TestParseErrorNamesKeyAndValue(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		want  []string // substrings of the error
	}{
		{"unknown key", map[string]string{"no.such.key": "1"}, []string{"unknown config key no.such.key"}},
		{"unknown samsa key", map[string]string{"samsa.nope": "1"}, []string{"samsa.nope"}},
		{"not an int", map[string]string{"num.partitions": "abc"}, []string{"num.partitions", `"abc"`}},
		{"below range", map[string]string{"num.partitions": "0"}, []string{"num.partitions", `"0"`, "at least 1"}},
		{"int overflow", map[string]string{"message.max.bytes": "3000000000"}, []string{"message.max.bytes", "3000000000"}},
		{"not a bool", map[string]string{"auto.create.topics.enable": "yes"}, []string{"auto.create.topics.enable", "yes"}},
		{"compression enum", map[string]string{"compression.type": "brotli"}, []string{"compression.type", "brotli", "zstd"}},
		{"compression enum is case sensitive", map[string]string{"compression.type": "GZIP"}, []string{"compression.type", "GZIP"}},
		{"timestamp type enum", map[string]string{"log.message.timestamp.type": "Whenever"}, []string{"log.message.timestamp.type", "Whenever"}},
		{"cleanup policy list enum", map[string]string{"log.cleanup.policy": "delete,shred"}, []string{"log.cleanup.policy", "delete,shred"}},
		{"double range", map[string]string{"log.cleaner.min.cleanable.ratio": "1.5"}, []string{"log.cleaner.min.cleanable.ratio", "1.5"}},
		{"replication factor beyond int16", map[string]string{"default.replication.factor": "40000"}, []string{"default.replication.factor", "40000"}},
		{"listener syntax", map[string]string{"listeners": "PLAINTEXT//127.0.0.1:1"}, []string{"listeners", "PLAINTEXT//127.0.0.1:1"}},
		{"listener port range", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:70000"}, []string{"listeners", "70000"}},
		{"duplicate listener name", map[string]string{"listeners": "PLAINTEXT://:1,plaintext://:2"}, []string{"listeners", "PLAINTEXT"}},
		{"duplicate listener port", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9092"}, []string{"listeners", "port 9092"}},
		{"voter without id", map[string]string{"controller.quorum.voters": "127.0.0.1:9093"}, []string{"controller.quorum.voters", "127.0.0.1:9093"}},
		{"voter without port", map[string]string{"controller.quorum.voters": "1@host"}, []string{"controller.quorum.voters", "1@host"}},
		{"voter id not a number", map[string]string{"controller.quorum.voters": "x@h:1"}, []string{"controller.quorum.voters", "x@h:1"}},
		{"node not a voter", map[string]string{"node.id": "2"}, []string{"controller.quorum.voters", "node.id 2"}},
		{"negative node id", map[string]string{"node.id": "-1"}, []string{"node.id", "-1"}},
		{"node.id and broker.id differ", map[string]string{"node.id": "1", "broker.id": "2"}, []string{"node.id", "broker.id"}},
		{"unknown role", map[string]string{"process.roles": "broker,admin"}, []string{"process.roles", "admin"}},
		{"no role", map[string]string{"process.roles": ""}, []string{"process.roles"}},
		{"duplicate role", map[string]string{"process.roles": "broker,broker"}, []string{"process.roles", "broker"}},
		{"listener without protocol", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,EXTERNAL://127.0.0.1:9094"},
			[]string{"listeners", "EXTERNAL", "listener.security.protocol.map"}},
		{"non-plaintext listener", map[string]string{"listener.security.protocol.map": "PLAINTEXT:SSL,CONTROLLER:PLAINTEXT"},
			[]string{"listener.security.protocol.map", "PLAINTEXT uses SSL", "only PLAINTEXT"}},
		{"bad protocol map entry", map[string]string{"listener.security.protocol.map": "PLAINTEXT"}, []string{"listener.security.protocol.map", "PLAINTEXT"}},
		{"unknown protocol", map[string]string{"listener.security.protocol.map": "PLAINTEXT:QUIC"}, []string{"listener.security.protocol.map", "QUIC"}},
		{"advertised listener not in listeners", map[string]string{"advertised.listeners": "OTHER://h:1"}, []string{"advertised.listeners", "OTHER"}},
		{"advertising 0.0.0.0", map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, []string{"advertised.listeners", "0.0.0.0"}},
		{"controller listener not in listeners", map[string]string{"controller.listener.names": "FOO"}, []string{"controller.listener.names", "FOO"}},
		{"broker-only node listening as controller", map[string]string{"process.roles": "broker"}, []string{"controller.listener.names", "CONTROLLER"}},
		{"inter-broker listener is the controller's", map[string]string{"inter.broker.listener.name": "CONTROLLER"}, []string{"inter.broker.listener.name", "CONTROLLER"}},
		{"inter-broker listener missing", map[string]string{"inter.broker.listener.name": "INTERNAL"}, []string{"inter.broker.listener.name", "INTERNAL"}},
		{"both inter-broker keys", map[string]string{"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "PLAINTEXT"},
			[]string{"inter.broker.listener.name", "security.inter.broker.protocol"}},
		{"no quorum", map[string]string{"controller.quorum.voters": ""}, []string{"controller.quorum.voters", "controller.quorum.bootstrap.servers"}},
		{"empty log dirs", map[string]string{"log.dirs": " "}, []string{"log.dirs"}},
		{"log level", map[string]string{"samsa.log.level": "loud"}, []string{"samsa.log.level", "loud"}},
		{"metrics listener", map[string]string{"samsa.metrics.listener": "nope"}, []string{"samsa.metrics.listener", "nope"}},
		{"gzip level", map[string]string{"compression.gzip.level": "0"}, []string{"compression.gzip.level", `"0"`}},
		{"class name", map[string]string{"alter.config.policy.class.name": "not a class"}, []string{"alter.config.policy.class.name"}},
		{"unknown listener override", map[string]string{"listener.name.plaintext.no.such": "1"}, []string{"listener.name.plaintext.no.such"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(tt.props)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseAcceptsKafkaSyntaxVariants(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		check func(b *Broker) bool
	}{
		{"lower-case listener names are normalised", map[string]string{
			"listeners": "plaintext://127.0.0.1:9092,controller://127.0.0.1:9093", "advertised.listeners": "PLAINTEXT://localhost:9092",
			"controller.listener.names": "controller"},
			func(b *Broker) bool {
				return b.Listeners[1].Name == "CONTROLLER" && b.ControllerListenerNames[0] == "CONTROLLER"
			}},
		{"empty host binds all interfaces", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093"},
			func(b *Broker) bool { return b.Listeners[0].Host == "" && b.Listeners[0].Address() == ":9092" }},
		{"IPv6 listener", map[string]string{"listeners": "PLAINTEXT://[::1]:9092,CONTROLLER://127.0.0.1:9093"},
			func(b *Broker) bool {
				return b.Listeners[0].Host == "::1" && b.Listeners[0].String() == "PLAINTEXT://[::1]:9092"
			}},
		{"port 0 on several listeners", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"},
			func(b *Broker) bool { return b.Listeners[0].Port == 0 && b.Listeners[1].Port == 0 }},
		{"listeners alone re-derive advertised listeners", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9000,CONTROLLER://127.0.0.1:9093"},
			func(b *Broker) bool { return len(b.AdvertisedListeners) == 2 && b.AdvertisedListeners[0].Port == 9000 }},
		{"log.dir alone replaces the profile's log.dirs", map[string]string{"log.dir": "/var/k"},
			func(b *Broker) bool { return slices.Equal(b.LogDirs, []string{"/var/k"}) }},
		{"security.inter.broker.protocol alone", map[string]string{"security.inter.broker.protocol": "PLAINTEXT"},
			func(b *Broker) bool { return b.InterBrokerListenerName == "PLAINTEXT" }},
		{"broker.id alone sets node.id", map[string]string{"broker.id": "1"},
			func(b *Broker) bool { return b.NodeID == 1 }},
		{"unmapped controller listener is PLAINTEXT", map[string]string{"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT"},
			func(b *Broker) bool { return b.ListenerSecurityProtocolMap["CONTROLLER"] == "PLAINTEXT" }},
		{"voters with several nodes", map[string]string{"controller.quorum.voters": "1@a:1, 2@b:2,3@[::1]:3"},
			func(b *Broker) bool {
				return len(b.ControllerQuorumVoters) == 3 && b.ControllerQuorumVoters[2].Address() == "[::1]:3"
			}},
		{"controller-only node", map[string]string{"process.roles": "controller", "listeners": "CONTROLLER://127.0.0.1:9093", "advertised.listeners": "CONTROLLER://127.0.0.1:9093"},
			func(b *Broker) bool { return slices.Equal(b.ProcessRoles, []string{"controller"}) }},
		{"broker-only node", map[string]string{"process.roles": "broker", "node.id": "2", "listeners": "PLAINTEXT://127.0.0.1:9092"},
			func(b *Broker) bool { return b.NodeID == 2 && len(b.Listeners) == 1 }},
		{"booleans are case-insensitive", map[string]string{"auto.create.topics.enable": "FALSE"},
			func(b *Broker) bool { return !b.AutoCreateTopicsEnable }},
		{"values are trimmed", map[string]string{"num.partitions": " 7 "},
			func(b *Broker) bool { return b.NumPartitions == 7 }},
		{"log level is case-insensitive", map[string]string{"samsa.log.level": "DEBUG"},
			func(b *Broker) bool { return b.LogLevel == slog.LevelDebug }},
		{"rack", map[string]string{"broker.rack": "eu-1a"},
			func(b *Broker) bool { return b.BrokerRack == "eu-1a" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, err := Parse(tt.props)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(b) {
				t.Errorf("unexpected broker config %+v", b)
			}
		})
	}
}

func TestStockKafkaServerPropertiesLoads(t *testing.T) {
	b, unused, err := Load("testdata/server.properties", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.NodeID != 1 || !slices.Equal(b.ProcessRoles, []string{"broker", "controller"}) {
		t.Errorf("node %d roles %v", b.NodeID, b.ProcessRoles)
	}
	wantListeners := []Listener{{Name: "PLAINTEXT", Port: 9092}, {Name: "CONTROLLER", Port: 9093}}
	if !reflect.DeepEqual(b.Listeners, wantListeners) {
		t.Errorf("listeners %v, want %v", b.Listeners, wantListeners)
	}
	wantAdvertised := []Listener{{Name: "PLAINTEXT", Host: "localhost", Port: 9092}, {Name: "CONTROLLER", Host: "localhost", Port: 9093}}
	if !reflect.DeepEqual(b.AdvertisedListeners, wantAdvertised) {
		t.Errorf("advertised %v, want %v", b.AdvertisedListeners, wantAdvertised)
	}
	if !slices.Equal(b.LogDirs, []string{"/tmp/kraft-combined-logs"}) || b.LogRetentionMs != 168*3600*1000 || b.NumRecoveryThreadsPerDataDir != 1 {
		t.Errorf("log dirs %v retention %d recovery threads %d", b.LogDirs, b.LogRetentionMs, b.NumRecoveryThreadsPerDataDir)
	}
	wantUnused := []string{
		"controller.quorum.bootstrap.servers", "num.io.threads", "num.network.threads",
		"share.coordinator.state.topic.min.isr", "share.coordinator.state.topic.replication.factor",
		"socket.receive.buffer.bytes", "socket.send.buffer.bytes",
	}
	if !slices.Equal(unused, wantUnused) {
		t.Errorf("unused %v, want %v", unused, wantUnused)
	}
}

func TestUnusedKeysAreTheSetOnesSamsaIgnores(t *testing.T) {
	_, unused, err := Parse(map[string]string{
		"num.io.threads":                            "4",
		"log.retention.hours":                       "1",
		"listener.name.plaintext.ssl.keystore.type": "PKCS12",
		"samsa.log.level":                           "warn",
		"producer.id.expiration.check.interval.ms":  "1000",
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"listener.name.plaintext.ssl.keystore.type", "num.io.threads"}; !slices.Equal(unused, want) {
		t.Errorf("unused %v, want %v", unused, want)
	}
}

func TestGetReportsValueAndSource(t *testing.T) {
	b, _, err := Parse(map[string]string{"num.io.threads": "4", "listener.name.plaintext.ssl.keystore.type": "PKCS12"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key    string
		value  string
		source Source
		ok     bool
	}{
		{"num.io.threads", "4", SourceStaticBrokerConfig, true},
		{"num.partitions", "1", SourceStaticBrokerConfig, true}, // the profile is static config
		{"broker.id", "1", SourceStaticBrokerConfig, true},
		{"num.network.threads", "3", SourceDefaultConfig, true},
		{"log.retention.hours", "168", SourceDefaultConfig, true},
		{"log.retention.ms", "", SourceDefaultConfig, false},
		{"samsa.log.level", "info", SourceDefaultConfig, true},
		{"listener.name.plaintext.ssl.keystore.type", "PKCS12", SourceStaticBrokerConfig, true},
		{"listener.name.other.ssl.keystore.type", "", SourceDefaultConfig, false},
		{"no.such.key", "", 0, false},
	}
	for _, tt := range tests {
		v, src, ok := b.Get(tt.key)
		if v != tt.value || src != tt.source || ok != tt.ok {
			t.Errorf("Get(%s) = %q, %d, %v; want %q, %d, %v", tt.key, v, src, ok, tt.value, tt.source, tt.ok)
		}
	}
}
