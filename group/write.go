package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
)

// pendingWrite is one appended batch waiting to be answered. complete runs
// under shard.mu, in log order, with the batch's base offset and the outcome
// of the acks=all wait.
type pendingWrite struct {
	base     int64
	done     bool
	err      error
	complete func(base int64, err error)
}

// appendLocked writes recs to the shard's partition as one acks=all batch
// and calls complete exactly once: at once, before returning, when nothing
// could be written; otherwise under s.mu once every ISR member has the batch
// (or the wait failed), after the completions of all earlier batches, so that
// in-memory state follows the log order (as Kafka's CoordinatorRuntime
// applies writes in offset order).
func (s *shard) appendLocked(recs []coordinatorRecord, complete func(base int64, err error)) {
	if len(recs) == 0 {
		complete(-1, nil)
		return
	}
	if err := s.appendBatchLocked(recs, complete); err != nil {
		complete(-1, err)
	}
}

func (s *shard) appendBatchLocked(recs []coordinatorRecord, complete func(base int64, err error)) error {
	if s.status != shardActive {
		return errShardDropped
	}
	batch := buildBatch(recs, s.now())
	cfg := s.part.Config()
	if cfg.MaxMessageBytes > 0 && len(batch) > int(cfg.MaxMessageBytes) {
		return fmt.Errorf("%w: batch of %d bytes for %s-%d exceeds max.message.bytes %d",
			kerr.MessageTooLarge, len(batch), OffsetsTopic, s.partition, cfg.MaxMessageBytes)
	}
	res, err := s.part.AppendAsLeader(batch, -1)
	if err != nil {
		return fmt.Errorf("append to %s-%d: %w", OffsetsTopic, s.partition, err)
	}
	w := &pendingWrite{base: res.BaseOffset, complete: complete}
	s.writes = append(s.writes, w)
	next := res.LastOffset + 1
	flush := cfg.Log.FlushMessages == 1
	// The deadline (offsets.commit.timeout.ms) runs from the append.
	deadline := make(chan time.Time)
	t := s.c.clock.AfterFunc(s.c.cfg.OffsetCommitTimeout, func() { close(deadline) })
	// Refused only while closing: drop then completes w.
	if !s.c.goBackground(func() { s.awaitCommit(w, next, flush, deadline, t) }) {
		t.Stop()
	}
	return nil
}

// barrierLocked calls complete once every write appended before it has
// completed (at once when none is pending). OffsetFetch with require_stable
// waits this way, as Kafka 4 runs it as a write operation.
func (s *shard) barrierLocked(complete func()) {
	s.writes = append(s.writes, &pendingWrite{base: -1, done: true, complete: func(int64, error) { complete() }})
	s.drainLocked()
}

// awaitCommit waits until the batch ending before next is replicated to
// the ISR (after its fsync when flush.messages=1) or the deadline passes,
// then completes it.
func (s *shard) awaitCommit(w *pendingWrite, next int64, flush bool, deadline <-chan time.Time, t timer) {
	defer t.Stop()
	var err error
	if flush {
		err = s.part.Log().WaitFlushed(next)
	}
	if err == nil {
		err = s.part.WaitCommitted(s.ctx, next, s.epoch, deadline)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w.done, w.err = true, err
	s.drainLocked()
}

// drainLocked completes the finished writes at the head of the queue.
func (s *shard) drainLocked() {
	for len(s.writes) > 0 && s.writes[0].done {
		w := s.writes[0]
		s.writes[0] = nil
		s.writes = s.writes[1:]
		w.complete(w.base, w.err)
	}
}

// The error codes a failed write is answered with, after Kafka's
// GroupMetadataManager (storeOffsets and storeGroup) and CoordinatorRuntime.
func isKafkaError(err error, ke *kerr.Error) bool {
	var got *kerr.Error
	return errors.As(err, &got) && got.Code == ke.Code
}

// writeErrorCode maps a failed append or replication wait. tooLarge is the
// code for a batch over max.message.bytes: INVALID_COMMIT_OFFSET_SIZE for
// offset commits, UNKNOWN_SERVER_ERROR for group metadata.
func (s *shard) writeErrorCode(err error, tooLarge int16) int16 {
	switch {
	case err == nil:
		return 0
	case isKafkaError(err, kerr.UnknownTopicOrPartition), isKafkaError(err, kerr.NotEnoughReplicas),
		isKafkaError(err, kerr.NotEnoughReplicasAfterAppend), isKafkaError(err, kerr.RequestTimedOut):
		return kerr.CoordinatorNotAvailable.Code
	case isKafkaError(err, kerr.NotLeaderForPartition), isKafkaError(err, kerr.KafkaStorageError),
		errors.Is(err, plog.ErrLogClosed), errors.Is(err, errShardDropped), errors.Is(err, context.Canceled):
		return kerr.NotCoordinator.Code
	case isKafkaError(err, kerr.MessageTooLarge), isKafkaError(err, kerr.RecordListTooLarge),
		isKafkaError(err, kerr.InvalidFetchSize), errors.Is(err, plog.ErrMessageTooLarge):
		return tooLarge
	}
	// A disk failure takes the log offline; Kafka answers its
	// KAFKA_STORAGE_ERROR as NOT_COORDINATOR so that clients move on.
	s.logger.Warn("write to the offsets topic failed", slog.Any("error", err))
	return kerr.NotCoordinator.Code
}

func (s *shard) commitErrorCode(err error) int16 {
	return s.writeErrorCode(err, kerr.InvalidCommitOffsetSize.Code)
}

func (s *shard) groupWriteErrorCode(err error) int16 {
	return s.writeErrorCode(err, kerr.UnknownServerError.Code)
}

// storeGroupLocked writes g's metadata with assignment (nil: the members'
// current assignments), as Kafka's storeGroup, and calls complete as
// appendLocked does.
func (s *shard) storeGroupLocked(g *group, assignment map[string][]byte, complete func(err error)) {
	s.appendLocked([]coordinatorRecord{groupMetadataRecord(g, assignment)}, func(_ int64, err error) { complete(err) })
}
