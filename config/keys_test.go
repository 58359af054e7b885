package config

import (
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestKeyTablesAreSortedForBinarySearch(t *testing.T) {
	for name, n := range map[string]int{"brokerKeys": len(brokerKeys), "samsaKeys": len(samsaKeys), "topicKeys": len(topicKeys)} {
		var sorted bool
		switch name {
		case "brokerKeys":
			sorted = sort.SliceIsSorted(brokerKeys, func(i, j int) bool { return brokerKeys[i].name < brokerKeys[j].name })
		case "samsaKeys":
			sorted = sort.SliceIsSorted(samsaKeys, func(i, j int) bool { return samsaKeys[i].name < samsaKeys[j].name })
		case "topicKeys":
			sorted = sort.SliceIsSorted(topicKeys, func(i, j int) bool { return topicKeys[i].name < topicKeys[j].name })
		}
		if !sorted || n == 0 {
			t.Errorf("%s (%d keys) is not sorted", name, n)
		}
	}
	if len(brokerKeys) < 300 || len(topicKeys) < 30 {
		t.Errorf("only %d broker and %d topic keys", len(brokerKeys), len(topicKeys))
	}
}

// Every default must pass its own key's validation and render unchanged:
// this catches generator mistakes and drift in canonical().
func TestDefaultsAreCanonicalAndValid(t *testing.T) {
	check := func(d *keyDef) {
		if d.nullDefault || d.required {
			return
		}
		got, err := canonical(d, d.def)
		if err != nil {
			t.Errorf("%s: default %q rejected: %v", d.name, d.def, err)
		} else if got != d.def && d.typ != typePassword {
			t.Errorf("%s: default %q renders as %q", d.name, d.def, got)
		}
	}
	for i := range brokerKeys {
		check(&brokerKeys[i])
	}
	for i := range samsaKeys {
		check(&samsaKeys[i])
	}
	for i := range topicKeys {
		check(&topicKeys[i].keyDef)
	}
}

func TestSynonymTablesReferToKnownKeys(t *testing.T) {
	for _, td := range topicKeys {
		for _, s := range td.brokerSynonyms {
			if findKey(brokerKeys, s.name) == nil {
				t.Errorf("topic %s: broker synonym %s unknown", td.name, s.name)
			}
		}
	}
	for _, d := range brokerKeys {
		for _, s := range d.synonyms {
			if findKey(brokerKeys, s) == nil {
				t.Errorf("broker %s: synonym %s unknown", d.name, s)
			}
		}
	}
	for _, k := range saslMechanismKeys {
		if findKey(brokerKeys, k) == nil {
			t.Errorf("sasl mechanism key %s unknown", k)
		}
	}
	wantRetention := []topicSynonym{{"log.retention.ms", convertNone}, {"log.retention.minutes", convertMinutesToMs}, {"log.retention.hours", convertHoursToMs}}
	if got := topicKey("retention.ms").brokerSynonyms; !reflect.DeepEqual(got, wantRetention) {
		t.Errorf("retention.ms synonyms %v", got)
	}
}

// Names used by the code (rather than by the tables) must exist, so a Kafka
// upgrade that renames one fails here rather than silently.
func TestKeysNamedInCodeExist(t *testing.T) {
	for _, k := range strings.Fields(`node.id broker.id process.roles listeners advertised.listeners
		listener.security.protocol.map controller.listener.names inter.broker.listener.name
		security.inter.broker.protocol controller.quorum.voters log.dirs log.dir
		num.partitions default.replication.factor min.insync.replicas replica.lag.time.max.ms
		unclean.leader.election.enable auto.create.topics.enable delete.topic.enable log.segment.bytes
		log.roll.ms log.roll.hours log.retention.ms log.retention.minutes log.retention.hours log.retention.bytes
		log.retention.check.interval.ms log.index.interval.bytes log.index.size.max.bytes
		log.flush.interval.messages log.flush.interval.ms log.flush.scheduler.interval.ms
		log.flush.offset.checkpoint.interval.ms log.flush.start.offset.checkpoint.interval.ms
		log.segment.delete.delay.ms num.recovery.threads.per.data.dir message.max.bytes compression.type
		log.message.timestamp.type socket.request.max.bytes connections.max.idle.ms producer.id.expiration.ms
		producer.id.expiration.check.interval.ms offsets.topic.replication.factor offsets.topic.num.partitions
		transaction.state.log.replication.factor transaction.state.log.min.isr group.initial.rebalance.delay.ms
		broker.heartbeat.interval.ms broker.session.timeout.ms broker.rack group.min.session.timeout.ms
		group.max.session.timeout.ms group.max.size offsets.topic.segment.bytes offsets.retention.minutes
		offsets.retention.check.interval.ms offset.metadata.max.bytes offsets.commit.timeout.ms`) {
		if findKey(brokerKeys, k) == nil {
			t.Errorf("broker key %s unknown", k)
		}
		if !actedOn(k) {
			t.Errorf("%s is not reported as acted on", k)
		}
	}
	if findKey(brokerKeys, "controller.quorum.bootstrap.servers") == nil {
		t.Error("broker key controller.quorum.bootstrap.servers unknown")
	}
	for k := range zeroConfigProfile() {
		if d, _ := brokerKey(k); d == nil {
			t.Errorf("profile key %s unknown", k)
		}
	}
	for _, k := range strings.Fields(`cleanup.policy compression.type compression.gzip.level compression.lz4.level
		compression.zstd.level delete.retention.ms file.delete.delay.ms flush.messages flush.ms index.interval.bytes
		max.compaction.lag.ms max.message.bytes message.timestamp.after.max.ms message.timestamp.before.max.ms
		message.timestamp.type min.cleanable.dirty.ratio min.compaction.lag.ms min.insync.replicas preallocate
		retention.bytes retention.ms segment.bytes segment.index.bytes segment.jitter.ms segment.ms
		unclean.leader.election.enable`) {
		if topicKey(k) == nil {
			t.Errorf("topic key %s unknown", k)
		}
	}
}

func TestFormatJavaDouble(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0.5, "0.5"}, {1, "1.0"}, {0.25, "0.25"}, {0.001, "0.001"}, {0.0001, "1.0E-4"},
		{1e7, "1.0E7"}, {9999999, "9999999.0"}, {1.5e10, "1.5E10"}, {0, "0.0"}, {-2.5, "-2.5"},
		{math.Inf(1), "Infinity"}, {math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := formatJavaDouble(tt.in); got != tt.want {
			t.Errorf("formatJavaDouble(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseJavaDouble(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.5", 0.5, true}, {"1e-3", 0.001, true}, {"2d", 2, true}, {"2.5F", 2.5, true}, {".5", 0.5, true},
		{"Infinity", math.Inf(1), true}, {"inf", 0, false}, {"0x1p3", 0, false}, {"1_0", 0, false}, {"abc", 0, false},
	}
	for _, tt := range tests {
		got, err := parseJavaDouble(tt.in)
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("parseJavaDouble(%q) = %v, %v", tt.in, got, err)
		}
	}
}
