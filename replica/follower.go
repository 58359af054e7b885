package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/samsa-broker/samsa/record"
)

// errStaleFetch means a fetch answer no longer applies: the partition's
// role, leader or epoch changed, or its log moved, while the request was in
// flight. The answer is dropped; the next fetch asks again.
var errStaleFetch = errors.New("fetch answer is stale")

// fetchedPartition is one partition of a leader's answer to a follower
// fetch.
type fetchedPartition struct {
	Records        []byte
	HighWatermark  int64
	LogStartOffset int64
	// DivergingEpoch, when set, says the follower's log diverges (KIP-320):
	// Records is empty and the follower truncates.
	DivergingEpoch *EpochEndOffset
}

// checkFetchLocked verifies that an answer to a fetch sent to source at
// leader epoch epoch from fetchOffset still applies. Requires mu.
func (p *Partition) checkFetchLocked(source, epoch int32, fetchOffset int64) error {
	if p.isLeader || p.state.Leader != source || p.state.LeaderEpoch != epoch || p.log.LogEndOffset() != fetchOffset {
		return errStaleFetch
	}
	return nil
}

// applyFetched applies a leader's answer for this follower partition, as
// Kafka's ReplicaFetcherThread.processPartitionData and
// truncateOnFetchResponse do: truncate where the logs diverge, or append
// the batches as they are (offsets and leader epochs kept); then take the
// leader's high watermark, never above the local LEO, only after any
// truncation (KAFKA-14704), and follow the leader's log start offset. It
// returns the follower's lag behind the leader's HW in records.
func (p *Partition) applyFetched(source, epoch int32, fetchOffset int64, d fetchedPartition) (lag int64, err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.checkFetchLocked(source, epoch, fetchOffset); err != nil {
		return 0, err
	}
	if d.DivergingEpoch != nil {
		to := localTruncationOffset(p.log, *d.DivergingEpoch)
		p.repl.logger.Warn("truncating diverging follower log", slog.String("partition", p.tp.String()),
			slog.Int("leader", int(source)), slog.Int("diverging_epoch", int(d.DivergingEpoch.Epoch)),
			slog.Int64("diverging_end_offset", d.DivergingEpoch.EndOffset),
			slog.Int64("log_end_offset", fetchOffset), slog.Int64("truncate_to", to))
		if err := p.log.Truncate(to); err != nil {
			return 0, fmt.Errorf("truncate %s to %d: %w", p.tp, to, err)
		}
	} else if err := p.appendFetchedLocked(d.Records); err != nil {
		return 0, err
	}
	p.followHighWatermarkLocked(d.HighWatermark)
	if err := p.followLogStartLocked(d.LogStartOffset); err != nil {
		return 0, err
	}
	return max(0, d.HighWatermark-p.log.LogEndOffset()), nil
}

// appendFetchedLocked appends the whole batches of records (a leader may
// cut the last one short at the byte limit). Requires mu.
func (p *Partition) appendFetchedLocked(records []byte) error {
	records = wholeBatches(records)
	if len(records) == 0 {
		return nil
	}
	first, err := record.ParseHeader(records)
	if err != nil {
		return fmt.Errorf("append to %s as follower: %w", p.tp, err)
	}
	leo := p.log.LogEndOffset()
	if first.BaseOffset < leo && leo == p.log.LogStartOffset() && first.LastOffset() >= leo {
		// The leader's log start offset is inside this batch (DeleteRecords
		// moved it there) and this follower's log is empty from there:
		// restart the log at the batch's base offset, as Kafka's
		// appendRecordsToFollowerOrFutureReplica does.
		if err := p.log.TruncateFullyAndStartAt(first.BaseOffset); err != nil {
			return fmt.Errorf("restart %s at %d: %w", p.tp, first.BaseOffset, err)
		}
	}
	if _, err := p.log.AppendAsFollower(records, p.now()); err != nil {
		return fmt.Errorf("append to %s as follower: %w", p.tp, err)
	}
	return nil
}

// wholeBatches trims records to the batches it holds whole.
func wholeBatches(records []byte) []byte {
	pos := 0
	for pos+record.LogOverhead <= len(records) {
		size := int(int32(binary.BigEndian.Uint32(records[pos+8:]))) + record.LogOverhead
		if size < record.HeaderSize || pos+size > len(records) {
			break
		}
		pos += size
	}
	return records[:pos]
}

// followHighWatermarkLocked sets a follower's HW to the leader's, clamped to
// [log start, LEO] (Kafka's UnifiedLog.maybeUpdateHighWatermark). Unlike a
// leader's, it may move back: a new leader's HW can be below the old one's.
// An unknown leader HW (-1) only clamps the current one after a
// truncation. Requires mu.
func (p *Partition) followHighWatermarkLocked(leaderHW int64) {
	if leaderHW < 0 {
		leaderHW = p.hw.Load()
	}
	hw := min(max(leaderHW, p.log.LogStartOffset()), p.log.LogEndOffset())
	if p.hw.Swap(hw) != hw {
		p.watchers.wakeAll()
	}
}

// followLogStartLocked moves the log start offset up to the leader's
// (retention or DeleteRecords on the leader), never past the local HW
// (Kafka's maybeIncrementLogStartOffset refuses offsets above it). Requires
// mu.
func (p *Partition) followLogStartLocked(leaderLogStart int64) error {
	to := min(leaderLogStart, p.hw.Load())
	if to <= p.log.LogStartOffset() {
		return nil
	}
	if _, err := p.log.DeleteRecordsBefore(to); err != nil {
		return fmt.Errorf("follow log start offset of %s to %d: %w", p.tp, to, err)
	}
	return nil
}

// handleOutOfRange handles OFFSET_OUT_OF_RANGE for a follower fetch (Kafka's
// AbstractFetcherThread.fetchOffsetAndTruncate). A samsa leader answers it
// with its log start offset and HW filled in (Kafka's leaders send -1 and
// their followers ask with ListOffsets), so no second round trip is needed:
//   - the leader's log starts above our LEO (we were down while it deleted
//     old segments): empty the log and restart it at the leader's start;
//   - our LEO is above the leader's HW (its log ends below ours, e.g. after
//     an unclean election, which OffsetForLeaderEpoch-style truncation could
//     not place): truncate to the leader's HW, which its log certainly
//     reaches, and fetch the rest again.
//
// Anything else is retried after the backoff.
func (p *Partition) handleOutOfRange(source, epoch int32, fetchOffset, leaderLogStart, leaderHW int64) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.checkFetchLocked(source, epoch, fetchOffset); err != nil {
		return err
	}
	attrs := []any{slog.String("partition", p.tp.String()), slog.Int("leader", int(source)), slog.Int64("log_end_offset", fetchOffset),
		slog.Int64("leader_log_start_offset", leaderLogStart), slog.Int64("leader_high_watermark", leaderHW)}
	switch {
	case leaderLogStart > fetchOffset:
		p.repl.logger.Warn("follower is behind the leader's log start; restarting its log there", attrs...)
		if err := p.log.TruncateFullyAndStartAt(leaderLogStart); err != nil {
			return fmt.Errorf("restart %s at %d: %w", p.tp, leaderLogStart, err)
		}
	case leaderHW >= 0 && leaderHW < fetchOffset:
		p.repl.logger.Warn("follower log ends past the leader's; truncating to the leader's high watermark", attrs...)
		if err := p.log.Truncate(leaderHW); err != nil {
			return fmt.Errorf("truncate %s to %d: %w", p.tp, leaderHW, err)
		}
	default:
		return fmt.Errorf("fetch offset %d of %s is out of the leader's range (log start %d, high watermark %d)", fetchOffset, p.tp, leaderLogStart, leaderHW)
	}
	p.followHighWatermarkLocked(leaderHW)
	return nil
}
