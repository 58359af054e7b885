package config

import (
	"math"
	"reflect"
	"testing"
)

func TestResolveTopicPrecedence(t *testing.T) {
	static := map[string]string{"log.segment.bytes": "4194304", "log.retention.hours": "10"}
	b, _, err := Parse(static)
	if err != nil {
		t.Fatal(err)
	}
	const hour = int64(3600 * 1000)
	tests := []struct {
		name                           string
		overrides, dynBroker, dynClust map[string]string
		segmentBytes, retentionMs      int64
	}{
		{"static beats default", nil, nil, nil, 4194304, 10 * hour},
		{"cluster dynamic beats static", nil, nil,
			map[string]string{"log.segment.bytes": "3145728", "log.retention.ms": "5000"}, 3145728, 5000},
		{"broker dynamic beats cluster dynamic",
			nil, map[string]string{"log.segment.bytes": "2097152", "log.retention.ms": "4000"},
			map[string]string{"log.segment.bytes": "3145728", "log.retention.ms": "5000"}, 2097152, 4000},
		{"topic override beats everything",
			map[string]string{"segment.bytes": "1048576", "retention.ms": "3000"},
			map[string]string{"log.segment.bytes": "2097152", "log.retention.ms": "4000"},
			map[string]string{"log.segment.bytes": "3145728", "log.retention.ms": "5000"}, 1048576, 3000},
		{"dynamic ms beats static hours of a lower layer", nil, nil, map[string]string{"log.retention.ms": "-1"}, 4194304, -1},
		{"non-dynamic synonym in dynamic config is ignored", nil, map[string]string{"log.retention.hours": "1"}, nil, 4194304, 10 * hour},
		{"invalid dynamic value is ignored", nil, map[string]string{"log.segment.bytes": "lots"}, nil, 4194304, 10 * hour},
		{"invalid override is ignored", map[string]string{"segment.bytes": "12"}, nil, nil, 4194304, 10 * hour},
		{"negative dynamic retention is forever", nil, map[string]string{"log.retention.ms": "-5"}, nil, 4194304, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := b.ResolveTopic(tt.overrides, tt.dynBroker, tt.dynClust)
			if topic.SegmentBytes != tt.segmentBytes || topic.RetentionMs != tt.retentionMs {
				t.Errorf("segment.bytes %d retention.ms %d, want %d %d", topic.SegmentBytes, topic.RetentionMs, tt.segmentBytes, tt.retentionMs)
			}
		})
	}
}

func TestResolveTopicDefaultsMatchKafka(t *testing.T) {
	b, _, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := b.ResolveTopic(nil, nil, nil)
	want := Topic{
		CleanupPolicy:               []string{"delete"},
		CompressionType:             "producer",
		CompressionGzipLevel:        -1,
		CompressionLz4Level:         9,
		CompressionZstdLevel:        3,
		DeleteRetentionMs:           86400000,
		FileDeleteDelayMs:           60000,
		FlushMessages:               math.MaxInt64,
		FlushMs:                     math.MaxInt64,
		IndexIntervalBytes:          4096,
		MaxCompactionLagMs:          math.MaxInt64,
		MaxMessageBytes:             1048588,
		MessageTimestampAfterMaxMs:  3600000,
		MessageTimestampBeforeMaxMs: math.MaxInt64,
		MessageTimestampType:        "CreateTime",
		MinCleanableDirtyRatio:      0.5,
		MinCompactionLagMs:          0,
		MinInsyncReplicas:           1,
		Preallocate:                 false,
		RetentionBytes:              -1,
		RetentionMs:                 604800000,
		SegmentBytes:                1073741824,
		SegmentIndexBytes:           10485760,
		SegmentJitterMs:             0,
		SegmentMs:                   604800000,
		UncleanLeaderElectionEnable: false,
		ProducerIDExpirationMs:      86400000,
	}
	values := got.Values
	got.Values = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if values["retention.ms"] != "604800000" || values["min.cleanable.dirty.ratio"] != "0.5" || values["remote.storage.enable"] != "false" {
		t.Errorf("Values %v", values)
	}
	if _, ok := values["internal.segment.bytes"]; ok {
		t.Error("internal.segment.bytes has a value but its default is null")
	}
}

func TestResolveTopicMapsBrokerKeys(t *testing.T) {
	b, _, err := Parse(map[string]string{
		"log.roll.hours":                  "2",
		"log.roll.jitter.hours":           "1",
		"log.flush.scheduler.interval.ms": "5000",
		"message.max.bytes":               "2000",
		"log.cleanup.policy":              "compact, delete",
		"log.message.timestamp.type":      "LogAppendTime",
		"compression.type":                "zstd",
		"log.index.interval.bytes":        "100",
		"log.index.size.max.bytes":        "4096",
		"log.segment.delete.delay.ms":     "5",
		"log.flush.interval.messages":     "1",
		"unclean.leader.election.enable":  "true",
		"min.insync.replicas":             "2",
		"log.cleaner.min.cleanable.ratio": "0.25",
		"log.preallocate":                 "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := b.ResolveTopic(map[string]string{"flush.messages": "3"}, nil, map[string]string{"producer.id.expiration.ms": "1000"})
	checks := []struct {
		key       string
		got, want any
	}{
		{"segment.ms", got.SegmentMs, int64(2 * 3600 * 1000)},
		{"segment.jitter.ms", got.SegmentJitterMs, int64(3600 * 1000)},
		{"flush.ms", got.FlushMs, int64(5000)},
		{"flush.messages", got.FlushMessages, int64(3)},
		{"max.message.bytes", got.MaxMessageBytes, int32(2000)},
		{"cleanup.policy", got.Values["cleanup.policy"], "compact,delete"},
		{"message.timestamp.type", got.MessageTimestampType, "LogAppendTime"},
		{"compression.type", got.CompressionType, "zstd"},
		{"index.interval.bytes", got.IndexIntervalBytes, int32(100)},
		{"segment.index.bytes", got.SegmentIndexBytes, int32(4096)},
		{"file.delete.delay.ms", got.FileDeleteDelayMs, int64(5)},
		{"unclean.leader.election.enable", got.UncleanLeaderElectionEnable, true},
		{"min.insync.replicas", got.MinInsyncReplicas, int32(2)},
		{"min.cleanable.dirty.ratio", got.MinCleanableDirtyRatio, 0.25},
		{"preallocate", got.Preallocate, true},
		{"producer.id.expiration.ms", got.ProducerIDExpirationMs, int64(1000)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.key, c.got, c.want)
		}
	}
}
