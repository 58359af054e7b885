package replica

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// DeleteRecordsToHighWatermark is the DeleteRecords offset that means "up to
// the high watermark" (Kafka's DeleteRecordsRequest.HIGH_WATERMARK).
const DeleteRecordsToHighWatermark = -1

// DeleteRecordsBefore advances the log start offset to offset on the leader
// and returns the new log start offset (the low watermark DeleteRecords
// answers), as Kafka's Partition.deleteRecordsOnLeader does: offset -1 means
// the high watermark; a negative offset or one above the high watermark is
// OFFSET_OUT_OF_RANGE (records a consumer cannot read yet are never
// deleted); an offset at or below the current log start changes nothing.
// A node that does not lead the partition answers NOT_LEADER_OR_FOLLOWER.
//
// With followers the leader's answer is the minimum log start offset over
// the replicas (Kafka's lowWatermarkIfLeader); while this node is the only
// replica that is its own.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeader {
		return -1, fmt.Errorf("%w: %s is not led by node %d", kerr.NotLeaderForPartition, p.tp, p.nodeID)
	}
	// The high watermark only moves forward on a leader, so checking it
	// before the delete cannot let the log start pass it.
	hw := p.hw.Load()
	if offset == DeleteRecordsToHighWatermark {
		offset = hw
	}
	switch {
	case offset < 0:
		return -1, fmt.Errorf("%w: %s: offset %d is not valid", kerr.OffsetOutOfRange, p.tp, offset)
	case offset > hw:
		return -1, fmt.Errorf("%w: %s: cannot delete records before %d, above the high watermark %d", kerr.OffsetOutOfRange, p.tp, offset, hw)
	case offset <= p.log.LogStartOffset():
		return p.log.LogStartOffset(), nil
	}
	start, err := p.log.DeleteRecordsBefore(offset)
	if err != nil {
		return -1, fmt.Errorf("delete records of %s before %d: %w", p.tp, offset, err)
	}
	// Parked fetches positioned below the new start must learn they are
	// out of range.
	p.watchers.wakeAll()
	return start, nil
}
