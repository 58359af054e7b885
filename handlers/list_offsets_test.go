package handlers

import (
	"testing"

	plog "github.com/samsa-broker/samsa/log"
)

func TestEpochForOffsetIsTheLastEpochStartingAtOrBefore(t *testing.T) {
	entries := []plog.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 2, StartOffset: 10}, {Epoch: 5, StartOffset: 25}}
	tests := []struct {
		name    string
		entries []plog.EpochEntry
		offset  int64
		want    int32
	}{
		{"empty cache", nil, 3, -1},
		{"first offset", entries, 0, 0},
		{"inside first epoch", entries, 9, 0},
		{"exact start of an epoch", entries, 10, 2},
		{"inside middle epoch", entries, 24, 2},
		{"past the last start", entries, 1000, 5},
		{"before the first entry", []plog.EpochEntry{{Epoch: 3, StartOffset: 50}}, 10, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := epochForOffset(tt.entries, tt.offset); got != tt.want {
				t.Fatalf("epochForOffset(%v, %d) = %d, want %d", tt.entries, tt.offset, got, tt.want)
			}
		})
	}
}

func TestTimestampMinVersionFollowsKafka(t *testing.T) {
	tests := []struct {
		ts      int64
		version int16
		known   bool
	}{
		{latestTimestamp, 1, true},
		{earliestTimestamp, 1, true},
		{maxTimestampTimestamp, 7, true},
		{earliestLocalTimestamp, 8, true},
		{latestTieredTimestamp, 9, true},
		{-6, 0, false}, // earliest pending upload is v11, not served
		{-7, 0, false},
	}
	for _, tt := range tests {
		v, known := timestampMinVersion(tt.ts)
		if v != tt.version || known != tt.known {
			t.Errorf("timestampMinVersion(%d) = %d, %v; want %d, %v", tt.ts, v, known, tt.version, tt.known)
		}
	}
}
