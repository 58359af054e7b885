package controller

import (
	"errors"
	"reflect"
	"testing"
)

func strPtr(s string) *string { return &s }

// sampleRecords has one record of every type, with fields chosen to hit the
// encoding's edge cases: empty and nil arrays, nil and empty strings,
// negative numbers.
func sampleRecords() []Record {
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	return []Record{
		ClusterIDRecord{ClusterID: "MkU3OEVBNTcwNTJENDM2Qk"},
		RegisterBrokerRecord{NodeID: 1, Epoch: 42, IncarnationID: id, Listeners: []Endpoint{
			{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: 0},
			{Name: "SSL", Host: "", Port: -1, SecurityProtocol: 1},
		}, Rack: "rack-a", Fenced: true},
		RegisterBrokerRecord{NodeID: 2, Epoch: 43},
		FenceBrokerRecord{NodeID: 1, Epoch: 42},
		UnfenceBrokerRecord{NodeID: 1, Epoch: 42},
		UnregisterBrokerRecord{NodeID: 2, Epoch: 43},
		TopicRecord{Name: "orders", ID: id},
		PartitionRecord{TopicID: id, Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 7, PartitionEpoch: 9},
		PartitionChangeRecord{TopicID: id, Partition: 0, ISR: []int32{1}, Leader: NoLeaderChange},
		PartitionChangeRecord{TopicID: id, Partition: 3, ISR: []int32{}, Leader: NoLeader, Replicas: []int32{4}},
		// Version 1: a reassignment in progress, one completing.
		PartitionRecord{TopicID: id, Partition: 1, Replicas: []int32{3, 4, 1}, ISR: []int32{1}, Leader: 1,
			AddingReplicas: []int32{3, 4}, RemovingReplicas: []int32{1}},
		PartitionChangeRecord{TopicID: id, Partition: 1, Leader: 3, Replicas: []int32{3, 4},
			AddingReplicas: []int32{}, RemovingReplicas: []int32{}},
		PartitionChangeRecord{TopicID: id, Partition: 2, Leader: NoLeaderChange, AddingReplicas: []int32{5}},
		RemoveTopicRecord{ID: id},
		ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "orders", Name: "retention.ms", Value: strPtr("1000")},
		ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Name: "log.retention.ms", Value: nil},
		ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "1", Name: "x", Value: strPtr("")},
		ProducerIDsRecord{BrokerID: 1, BrokerEpoch: 42, NextProducerID: 2000},
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		recs []Record
	}{
		{"empty list", []Record{}},
		{"every type", sampleRecords()},
	}
	for _, r := range sampleRecords() {
		tests = append(tests, struct {
			name string
			recs []Record
		}{r.Type().String(), []Record{r}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodeRecords(tt.recs)
			got, err := DecodeRecords(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.recs) {
				t.Fatalf("round trip changed records:\n got %#v\nwant %#v", got, tt.recs)
			}
		})
	}
}

// TestRecordEncodingIsStable pins the bytes of one record: raft peers and old
// logs depend on them never changing for version 0.
func TestRecordEncodingIsStable(t *testing.T) {
	got := EncodeRecords([]Record{TopicRecord{Name: "t", ID: [16]byte{15: 1}}})
	want := []byte{
		1,    // one record
		20,   // its length
		6, 0, // TopicRecord, version 0
		1, 't', // name
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // ID
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("encoding changed:\n got %v\nwant %v", got, want)
	}
}

func TestDecodeRecordsRejects(t *testing.T) {
	valid := EncodeRecords([]Record{ClusterIDRecord{ClusterID: "abc"}})
	tests := []struct {
		name string
		b    []byte
	}{
		{"nothing", nil},
		{"count larger than input", []byte{5, 1}},
		{"record length past end", []byte{1, 9, 1, 0}},
		{"unknown type", []byte{1, 2, 99, 0}},
		{"newer version", []byte{1, 3, 1, 1, 0}},
		{"short field", []byte{1, 4, 1, 0, 5, 'a'}},
		{"trailing bytes in record", []byte{1, 4, 1, 0, 0, 0}},
		{"trailing bytes after records", append(append([]byte{}, valid...), 0)},
		{"bad bool", encodeWithFencedByte(7)},
		// A PartitionRecord whose replica array length is -2 (zigzag 3).
		{"array length below -1", oneRecord(append([]byte{7, 0}, append(make([]byte, 20), 3)...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeRecords(tt.b); !errors.Is(err, ErrCorruptRecords) {
				t.Fatalf("DecodeRecords(%v) = %v, want ErrCorruptRecords", tt.b, err)
			}
		})
	}
}

// oneRecord frames a raw record body as a list of one record.
func oneRecord(body []byte) []byte {
	return append([]byte{1, byte(len(body))}, body...)
}

// encodeWithFencedByte encodes a broker registration whose Fenced byte is b.
func encodeWithFencedByte(b byte) []byte {
	enc := EncodeRecords([]Record{RegisterBrokerRecord{NodeID: 1}})
	enc[len(enc)-1] = b
	return enc
}

// FuzzDecodeRecords checks that any bytes either fail to decode or decode
// to records that encode back to the same bytes.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(EncodeRecords(sampleRecords()))
	f.Add(EncodeRecords(nil))
	f.Add([]byte{1, 3, 1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeRecords(b)
		if err != nil {
			return
		}
		again, err := DecodeRecords(EncodeRecords(recs))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, recs) {
			t.Fatalf("re-encode changed records: %#v vs %#v", again, recs)
		}
	})
}
