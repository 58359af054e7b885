package replica

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/record"
)

// oneRecordBatch encodes a valid v2 batch holding one record.
func oneRecordBatch(t *testing.T) []byte {
	t.Helper()
	rec := kmsg.NewRecord()
	rec.Value = []byte("v")
	rb := kmsg.NewRecordBatch()
	rb.Magic, rb.NumRecords, rb.LastOffsetDelta = 2, 1, 0
	rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = -1, -1, -1
	rb.Records = rec.AppendTo(nil)
	b := rb.AppendTo(nil)
	rb.Length = int32(len(b) - 12)
	b = rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

// deleteRecordsPartition hosts tp on node 1 as leader (or follower of node
// 2) with n one-record batches appended while it led.
func deleteRecordsPartition(t *testing.T, n int, leader bool) *Partition {
	t.Helper()
	logs, err := plog.NewManager(plog.ManagerConfig{Dirs: []string{t.TempDir()}, NodeID: 1, Defaults: plog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	m := NewManager(ManagerConfig{NodeID: 1, Logs: logs, Now: time.Now})
	tp := plog.TopicPartition{Topic: "t", Partition: 0}
	st := State{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}
	cfg := Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}
	if err := m.ApplyState(tp, st, cfg); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Partition(tp)
	for range n {
		if _, err := p.AppendAsLeader(oneRecordBatch(t), 1); err != nil {
			t.Fatal(err)
		}
	}
	if !leader {
		st.Leader, st.LeaderEpoch, st.Replicas = 2, 1, []int32{2, 1}
		if err := m.ApplyState(tp, st, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestDeleteRecordsBefore(t *testing.T) {
	tests := []struct {
		name    string
		leader  bool
		offsets []int64 // applied in order; the last one is checked
		want    int64
		wantErr *kerr.Error
	}{
		{"moves the log start", true, []int64{3}, 3, nil},
		{"up to the high watermark", true, []int64{-1}, 5, nil},
		{"at the high watermark", true, []int64{5}, 5, nil},
		{"above the high watermark", true, []int64{6}, -1, kerr.OffsetOutOfRange},
		{"negative other than -1", true, []int64{-2}, -1, kerr.OffsetOutOfRange},
		{"below the log start changes nothing", true, []int64{4, 2}, 4, nil},
		{"on a follower", false, []int64{1}, -1, kerr.NotLeaderForPartition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := deleteRecordsPartition(t, 5, tt.leader)
			var got int64
			var err error
			for _, off := range tt.offsets {
				got, err = p.DeleteRecordsBefore(off)
			}
			if tt.wantErr != nil {
				var ke *kerr.Error
				if !errors.As(err, &ke) || ke.Code != tt.wantErr.Code {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("low watermark %d, err %v; want %d", got, err, tt.want)
			}
			if start := p.Log().LogStartOffset(); start != tt.want {
				t.Fatalf("log start offset %d, want %d", start, tt.want)
			}
		})
	}
}
