package group

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/record"
)

// referenceHashCode is an independent rendering of Java's String.hashCode:
// UTF-16 code units computed by hand (surrogate pairs for runes above the
// BMP), summed as s[0]*31^(n-1) + ... + s[n-1] in int32 arithmetic.
func referenceHashCode(s string) int32 {
	var units []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			units = append(units, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
			continue
		}
		units = append(units, uint16(r))
	}
	var h int32
	pow := int32(1)
	for i := len(units) - 1; i >= 0; i-- {
		h += int32(units[i]) * pow
		pow *= 31
	}
	return h
}

func TestPartitionForMatchesJavaHashCode(t *testing.T) {
	// Hash codes printed by Java 21 ("s".hashCode()) and the partition for
	// Kafka's default of 50 offsets partitions.
	tests := []struct {
		group     string
		hash      int32
		partition int32
	}{
		{"group", 98629247, 47},
		{"test-group", 627841412, 12},
		{"", 0, 0},
		{"my-consumer-group", 1513705513, 13},
		{"console-consumer-12345", 158455506, 6},
		{"äöü-€-𝄞", 423496046, 46},               // a rune outside the BMP counts as two code units
		{"polygenelubricants", math.MinInt32, 0}, // Utils.abs(MinInt32) is 0
	}
	for _, tt := range tests {
		if got := javaStringHashCode(tt.group); got != tt.hash {
			t.Errorf("hashCode(%q) = %d, want %d", tt.group, got, tt.hash)
		}
		if got := referenceHashCode(tt.group); got != tt.hash {
			t.Errorf("reference hashCode(%q) = %d, want %d", tt.group, got, tt.hash)
		}
		if got := partitionFor(tt.group, 50); got != tt.partition {
			t.Errorf("partitionFor(%q, 50) = %d, want %d", tt.group, got, tt.partition)
		}
	}
	for _, s := range []string{"a", "consumer-group-with-a-long-name-0123456789", "日本語のグループ", "🙂🙃", "x\u00ff\u0100"} {
		if got, want := javaStringHashCode(s), referenceHashCode(s); got != want {
			t.Errorf("hashCode(%q) = %d, reference %d", s, got, want)
		}
		if p := partitionFor(s, 7); p < 0 || p >= 7 {
			t.Errorf("partitionFor(%q, 7) = %d out of range", s, p)
		}
	}
}

func TestBuildBatchIsValidAndRoundTrips(t *testing.T) {
	g := newGroup("g1", time.UnixMilli(1000))
	g.protocolType, g.protocol, g.generation, g.leader = "consumer", "range", 3, "m1"
	g.members["m1"] = &member{id: "m1", clientID: "c", clientHost: "/h", rebalanceTimeoutMs: 2000, sessionTimeoutMs: 1000,
		protocols: []protocol{{name: "range", metadata: []byte("sub")}}, assignment: []byte("asg")}
	tests := []struct {
		name string
		recs []coordinatorRecord
	}{
		{"one offset", []coordinatorRecord{offsetCommitRecord("g1", topicPartition{"t", 0}, &committedOffset{offset: 5, leaderEpoch: 2, metadata: "m", commitTime: 9, expireTime: -1})}},
		{"offset with expiry", []coordinatorRecord{offsetCommitRecord("g1", topicPartition{"t", 1}, &committedOffset{offset: 6, leaderEpoch: -1, commitTime: 9, expireTime: 99})}},
		{"tombstones", []coordinatorRecord{offsetCommitRecord("g1", topicPartition{"t", 0}, nil), groupTombstone("g1")}},
		{"group metadata", []coordinatorRecord{groupMetadataRecord(g, nil)}},
	}
	codecs := record.NewCodecs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := buildBatch(tt.recs, time.UnixMilli(12345))
			h, err := codecs.Validate(b, 1<<20)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if h.NumRecords != int32(len(tt.recs)) || h.MaxTimestamp != 12345 || h.ProducerID != -1 || h.Codec() != record.CodecNone {
				t.Fatalf("header %+v", h)
			}
			i := 0
			if _, err := codecs.Records(b, 1<<20, func(r record.Record) error {
				want := tt.recs[i]
				if !bytes.Equal(r.Key, want.key) || !bytes.Equal(r.Value, want.value) || (r.Value == nil) != (want.value == nil) {
					t.Errorf("record %d: key %x value %x, want %x %x", i, r.Key, r.Value, want.key, want.value)
				}
				i++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRecordsDecodeAsKafkaWritesThem(t *testing.T) {
	rec := offsetCommitRecord("g", topicPartition{"t", 3}, &committedOffset{offset: 42, leaderEpoch: 5, metadata: "hi", commitTime: 77, expireTime: -1})
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(rec.value); err != nil || v.Version != 3 || v.Offset != 42 || v.LeaderEpoch != 5 || v.Metadata != "hi" || v.CommitTimestamp != 77 {
		t.Fatalf("offset commit value v%d %+v: %v", v.Version, v, err)
	}
	gid, tp, o, err := decodeOffsetCommit(rec.key, rec.value, 10)
	if err != nil || gid != "g" || tp != (topicPartition{"t", 3}) || o.offset != 42 || o.leaderEpoch != 5 || o.recordOffset != 10 {
		t.Fatalf("decode: %q %v %+v %v", gid, tp, o, err)
	}
	if keyKind(rec.key) != kindOffsetCommit || keyKind(groupTombstone("g").key) != kindGroupMetadata || keyKind([]byte{0, 100, 1}) != kindUnknown {
		t.Fatal("key kinds")
	}

	g := newGroup("g", time.UnixMilli(5000))
	g.protocolType, g.protocol, g.generation, g.leader, g.state = "consumer", "range", 4, "a", stateStable
	inst := "i-1"
	g.members["a"] = &member{id: "a", instanceID: &inst, clientID: "c", clientHost: "/1.2.3.4", rebalanceTimeoutMs: 3000, sessionTimeoutMs: 2000,
		protocols: []protocol{{name: "range", metadata: consumerMetadata("t1", "t2")}}}
	grec := groupMetadataRecord(g, map[string][]byte{"a": []byte("assignment")})
	id, gv, err := decodeGroupMetadata(grec.key, grec.value)
	if err != nil || id != "g" || gv.Version != 3 || gv.Generation != 4 || *gv.Protocol != "range" || *gv.Leader != "a" || gv.CurrentStateTimestamp != 5000 {
		t.Fatalf("group metadata %q %+v: %v", id, gv, err)
	}
	loaded := groupFromRecord("g", gv, nil, time.Now())
	m := loaded.members["a"]
	if loaded.state != stateStable || m == nil || *m.instanceID != "i-1" || string(m.assignment) != "assignment" ||
		m.sessionTimeoutMs != 2000 || loaded.static["i-1"] != "a" || !loaded.isSubscribedToTopic("t2") || loaded.isSubscribedToTopic("t3") {
		t.Fatalf("loaded group %+v member %+v", loaded, m)
	}
}
