package group

import (
	"bytes"
	"testing"
	"time"
)

// TestConsumerRecordBytes checks the encoding against Kafka's schemas: an
// int16 record type and non-flexible key fields; an int16 value version 0,
// flexible fields and an empty tagged-field section.
func TestConsumerRecordBytes(t *testing.T) {
	m := newConsumerMember("m")
	m.clientID, m.clientHost, m.subscribedNames, m.rebalanceTimeoutMs = "c", "/h", []string{"t"}, 300
	m.epoch, m.prevEpoch, m.state = 5, 4, memberUnrevoked
	m.assigned = partSet{{[16]byte{1}, 2}: {}}
	tid := [16]byte{1}
	for _, tc := range []struct {
		name       string
		rec        coordinatorRecord
		key, value []byte
	}{
		{"group metadata", consumerGroupMetadataRecord("g", 7),
			[]byte{0, 3, 0, 1, 'g'}, []byte{0, 0, 0, 0, 0, 7, 0}},
		{"target metadata", consumerTargetMetadataRecord("g", 7),
			[]byte{0, 6, 0, 1, 'g'}, []byte{0, 0, 0, 0, 0, 7, 0}},
		{"target member", consumerTargetMemberRecord("g", "m", partSet{{tid, 2}: {}}),
			[]byte{0, 7, 0, 1, 'g', 0, 1, 'm'},
			append(append([]byte{0, 0, 2}, tid[:]...), 2, 0, 0, 0, 2, 0, 0)},
		{"member metadata", consumerMemberMetadataRecord("g", m),
			[]byte{0, 5, 0, 1, 'g', 0, 1, 'm'},
			[]byte{0, 0, 0, 0, 2, 'c', 3, '/', 'h', 2, 2, 't', 0, 0, 0, 1, 44, 0, 0}},
		{"current assignment", consumerCurrentMemberRecord("g", m),
			[]byte{0, 8, 0, 1, 'g', 0, 1, 'm'},
			append(append([]byte{0, 0, 0, 0, 0, 5, 0, 0, 0, 4, 0, 2}, tid[:]...), 2, 0, 0, 0, 2, 0, 1, 0)},
	} {
		if !bytes.Equal(tc.rec.key, tc.key) || !bytes.Equal(tc.rec.value, tc.value) {
			t.Errorf("%s:\nkey   %v want %v\nvalue %v want %v", tc.name, tc.rec.key, tc.key, tc.rec.value, tc.value)
		}
	}
}

// TestConsumerRecordsReplay writes a group's records and replays them.
func TestConsumerRecordsReplay(t *testing.T) {
	cg := newConsumerGroup()
	cg.epoch, cg.assignmentEpoch = 3, 3
	cg.topics = map[string]TopicInfo{"t": topicT}
	inst := "i"
	m := newConsumerMember("m")
	m.instanceID, m.clientID, m.clientHost, m.subscribedNames = &inst, "c", "/h", []string{"t"}
	m.subscribedRegex, m.serverAssignor, m.rebalanceTimeoutMs = new("x.*"), new("range"), 1000
	m.epoch, m.prevEpoch, m.state = 3, 2, memberUnreleased
	m.assigned = partSet{{topicT.ID, 0}: {}}
	m.revoking = partSet{{topicT.ID, 1}: {}}
	cg.members["m"] = m
	cg.target["m"] = partSet{{topicT.ID, 0}: {}, {topicT.ID, 3}: {}}
	recs := []coordinatorRecord{
		consumerMemberMetadataRecord("g", m),
		consumerPartitionMetadataRecord("g", 3, cg.topics),
		consumerGroupMetadataRecord("g", 3),
		consumerTargetMemberRecord("g", "m", cg.target["m"]),
		consumerTargetMetadataRecord("g", 3),
		consumerCurrentMemberRecord("g", m),
		// A member removed later leaves nothing behind.
		consumerCurrentMemberRecord("g", newConsumerMember("gone")),
	}
	recs = append(recs, consumerMemberTombstones("g", "gone")...)
	groups := make(map[string]*group)
	mk := func(id string) *group { return newGroup(id, time.Time{}) }
	for _, r := range recs {
		if err := replayConsumer(groups, int16(r.key[1]), r.key, r.value, mk); err != nil {
			t.Fatal(err)
		}
	}
	g := groups["g"]
	finishConsumerLoad(g)
	got := g.consumer
	gm := got.members["m"]
	switch {
	case got.epoch != 3 || got.assignmentEpoch != 3 || got.topics["t"] != topicT || len(got.members) != 1:
		t.Fatalf("group: %+v", got)
	case *gm.instanceID != "i" || gm.clientID != "c" || gm.clientHost != "/h" || gm.subscribedNames[0] != "t" ||
		*gm.subscribedRegex != "x.*" || *gm.serverAssignor != "range" || gm.rebalanceTimeoutMs != 1000:
		t.Fatalf("member metadata: %+v", gm)
	case gm.epoch != 3 || gm.prevEpoch != 2 || gm.state != memberUnreleased || !gm.assigned.equal(m.assigned) || !gm.revoking.equal(m.revoking):
		t.Fatalf("member assignment: %+v", gm)
	case !got.target["m"].equal(cg.target["m"]):
		t.Fatalf("target: %v", got.target)
	case g.state != stateStable || g.protocolType != "consumer":
		t.Fatalf("classic view: %v %q", g.state, g.protocolType)
	}
	// The group's tombstones remove it.
	for _, r := range consumerGroupTombstones("g", got) {
		if err := replayConsumer(groups, int16(r.key[1]), r.key, r.value, mk); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := groups["g"]; ok {
		t.Fatal("group still there after its tombstones")
	}
}
