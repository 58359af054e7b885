package config

import (
	"strconv"
	"strings"
)

// Topic is the effective config of one topic: its overrides, else this
// broker's dynamic config, else the cluster-wide dynamic config, else the
// node's static config, else Kafka's defaults, with the broker keys mapped
// to topic keys as Kafka's KafkaConfig.extractLogConfigMap does.
type Topic struct {
	CleanupPolicy               []string // cleanup.policy: delete and/or compact
	CompressionType             string   // compression.type: producer, uncompressed, gzip, snappy, lz4, zstd
	CompressionGzipLevel        int32    // compression.gzip.level
	CompressionLz4Level         int32    // compression.lz4.level
	CompressionZstdLevel        int32    // compression.zstd.level
	DeleteRetentionMs           int64    // delete.retention.ms
	FileDeleteDelayMs           int64    // file.delete.delay.ms
	FlushMessages               int64    // flush.messages (MaxInt64: never)
	FlushMs                     int64    // flush.ms (MaxInt64: never)
	IndexIntervalBytes          int32    // index.interval.bytes
	MaxCompactionLagMs          int64    // max.compaction.lag.ms
	MaxMessageBytes             int32    // max.message.bytes
	MessageTimestampAfterMaxMs  int64    // message.timestamp.after.max.ms
	MessageTimestampBeforeMaxMs int64    // message.timestamp.before.max.ms
	MessageTimestampType        string   // message.timestamp.type: CreateTime or LogAppendTime
	MinCleanableDirtyRatio      float64  // min.cleanable.dirty.ratio
	MinCompactionLagMs          int64    // min.compaction.lag.ms
	MinInsyncReplicas           int32    // min.insync.replicas
	Preallocate                 bool     // preallocate
	RetentionBytes              int64    // retention.bytes (-1: unlimited)
	RetentionMs                 int64    // retention.ms (-1: forever)
	SegmentBytes                int64    // segment.bytes (an INT in Kafka; int64 to match the log package)
	SegmentIndexBytes           int32    // segment.index.bytes
	SegmentJitterMs             int64    // segment.jitter.ms
	SegmentMs                   int64    // segment.ms
	UncleanLeaderElectionEnable bool     // unclean.leader.election.enable

	// ProducerIDExpirationMs is the broker's producer.id.expiration.ms
	// (KIP-854). It is not a topic key, but it is dynamic cluster-wide and
	// read by each log, so it resolves through the same broker layers.
	ProducerIDExpirationMs int64

	// Values holds the effective value of every topic key that has one,
	// rendered as DescribeConfigs shows it.
	Values map[string]string
}

// ResolveTopic computes a topic's effective config from its overrides and
// this broker's dynamic layers (each may be nil). Invalid or non-dynamic
// entries in the maps are ignored, as Kafka ignores them when it loads
// dynamic configs.
func (b *Broker) ResolveTopic(overrides, dynBroker, dynCluster map[string]string) Topic {
	l := newLayers(b.Values, dynBroker, dynCluster)
	v := resolveTopicValues(overrides, l.merged)
	t := Topic{Values: v}
	i64 := func(name string) int64 { n, _ := strconv.ParseInt(v[name], 10, 64); return n }
	i32 := func(name string) int32 { return int32(i64(name)) }
	t.CleanupPolicy = splitList(v["cleanup.policy"])
	t.CompressionType = v["compression.type"]
	t.CompressionGzipLevel = i32("compression.gzip.level")
	t.CompressionLz4Level = i32("compression.lz4.level")
	t.CompressionZstdLevel = i32("compression.zstd.level")
	t.DeleteRetentionMs = i64("delete.retention.ms")
	t.FileDeleteDelayMs = i64("file.delete.delay.ms")
	t.FlushMessages = i64("flush.messages")
	t.FlushMs = i64("flush.ms")
	t.IndexIntervalBytes = i32("index.interval.bytes")
	t.MaxCompactionLagMs = i64("max.compaction.lag.ms")
	t.MaxMessageBytes = i32("max.message.bytes")
	t.MessageTimestampAfterMaxMs = i64("message.timestamp.after.max.ms")
	t.MessageTimestampBeforeMaxMs = i64("message.timestamp.before.max.ms")
	t.MessageTimestampType = v["message.timestamp.type"]
	t.MinCleanableDirtyRatio, _ = strconv.ParseFloat(v["min.cleanable.dirty.ratio"], 64)
	t.MinCompactionLagMs = i64("min.compaction.lag.ms")
	t.MinInsyncReplicas = i32("min.insync.replicas")
	t.Preallocate = v["preallocate"] == "true"
	t.RetentionBytes = i64("retention.bytes")
	t.RetentionMs = i64("retention.ms")
	t.SegmentBytes = i64("segment.bytes")
	t.SegmentIndexBytes = i32("segment.index.bytes")
	t.SegmentJitterMs = i64("segment.jitter.ms")
	t.SegmentMs = i64("segment.ms")
	t.UncleanLeaderElectionEnable = v["unclean.leader.election.enable"] == "true"
	t.ProducerIDExpirationMs, _ = strconv.ParseInt(effectiveBrokerValue("producer.id.expiration.ms", l.merged), 10, 64)
	return t
}

// resolveTopicValues returns the canonical effective value of every topic
// key: a valid override, else the first of its broker synonyms set in
// merged (converted to the topic's unit), else the first broker synonym
// with a default, else the topic key's own default.
func resolveTopicValues(overrides, merged map[string]string) map[string]string {
	out := make(map[string]string, len(topicKeys))
	for i := range topicKeys {
		td := &topicKeys[i]
		if v, ok := validOverride(td, overrides); ok {
			out[td.name] = v
			continue
		}
		if v, ok := fromBrokerSynonyms(td, merged); ok {
			out[td.name] = v
			continue
		}
		if !td.nullDefault && !td.required {
			out[td.name] = td.def
		}
	}
	return out
}

func fromBrokerSynonyms(td *topicKeyDef, merged map[string]string) (string, bool) {
	v, ok := "", false
	for _, s := range td.brokerSynonyms {
		raw, set := merged[s.name]
		if !set {
			continue
		}
		if c, err := canonical(findKey(brokerKeys, s.name), raw); err == nil {
			v, ok = convertSynonym(s.convert, c), true
			break
		}
	}
	if !ok {
		for _, s := range td.brokerSynonyms {
			if d := findKey(brokerKeys, s.name); !d.nullDefault && !d.required {
				v, ok = convertSynonym(s.convert, d.def), true
				break
			}
		}
	}
	// KafkaConfig.logRetentionTimeMillis turns any negative time into -1.
	if ok && td.name == "retention.ms" && strings.HasPrefix(v, "-") {
		v = "-1"
	}
	return v, ok
}

// effectiveBrokerValue is a broker key's canonical value in merged, else
// its default.
func effectiveBrokerValue(name string, merged map[string]string) string {
	d := findKey(brokerKeys, name)
	if raw, ok := merged[name]; ok {
		if c, err := canonical(d, raw); err == nil {
			return c
		}
	}
	return d.def
}
