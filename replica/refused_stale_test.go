package replica

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestRefusedAsStale: the controller's answers after which a leader waits
// for new metadata instead of retrying its ISR change (Kafka's
// Partition.handleAlterPartitionError).
func TestRefusedAsStale(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("alter ISR: %w", kerr.FencedLeaderEpoch), true},
		{fmt.Errorf("alter ISR: %w", kerr.InvalidUpdateVersion), true},
		// A committed change that completed a reassignment moving
		// leadership away (KIP-455).
		{fmt.Errorf("alter ISR: %w", kerr.NewLeaderElected), true},
		{fmt.Errorf("alter ISR: %w", kerr.IneligibleReplica), false},
		{fmt.Errorf("alter ISR: %w", kerr.RequestTimedOut), false},
		{errors.New("connection reset"), false},
	}
	for _, tt := range tests {
		if got := refusedAsStale(tt.err); got != tt.want {
			t.Errorf("refusedAsStale(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
