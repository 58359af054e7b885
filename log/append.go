package log

import (
	"errors"
	"fmt"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// AppendAsLeader appends one validated v2 batch as the partition leader.
// The log takes ownership of b and rewrites it in place: base offset = the
// log end offset, partition leader epoch = leaderEpoch and, with
// logAppendTime, the broker's timestamp (message.timestamp.type). An
// idempotent batch is first checked against the producer state, atomically
// with the append (Kafka's analyzeAndValidateProducerState): a retry of one
// of the producer's last five batches is answered with the original offsets
// and Duplicate set, without writing; a sequence gap is
// ErrOutOfOrderSequence, a stale epoch ErrInvalidProducerEpoch. A batch
// larger than segment.bytes is ErrMessageTooLarge. On a log with
// cleanup.policy=compact a record without a key is ErrNoKeyOnCompactedTopic
// (which also wraps record.ErrInvalidRecord), as Kafka's LogValidator
// refuses it: compaction could never replace or delete it.
//
// With flush.messages = N > 1 the append that makes N records unflushed
// fsyncs before returning (after releasing the append lock). With
// flush.messages = 1 the caller calls WaitFlushed, so that it can release its
// own locks first and concurrent producers share one fsync.
func (l *Log) AppendAsLeader(b []byte, leaderEpoch int32, logAppendTime bool, now time.Time) (AppendResult, error) {
	h, err := record.ParseHeader(b)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: %w", l.tp, err)
	}
	if len(b) != h.Size() {
		return AppendResult{}, fmt.Errorf("append to %s: %w: %d bytes given, batch length says %d", l.tp, record.ErrCorrupt, len(b), h.Size())
	}
	if err := l.checkBatchSize(h); err != nil {
		return AppendResult{}, err
	}
	if l.config().CleanupPolicy.Compact && !h.Control() {
		if err := l.checkKeys(b); err != nil {
			return AppendResult{}, err
		}
	}
	l.writeMu.Lock()
	res, err := l.appendAsLeaderLocked(b, h, leaderEpoch, logAppendTime, now)
	l.writeMu.Unlock()
	if err != nil {
		return AppendResult{}, err
	}
	return res, l.maybeFlushMessages()
}

func (l *Log) appendAsLeaderLocked(b []byte, h record.Header, leaderEpoch int32, logAppendTime bool, now time.Time) (AppendResult, error) {
	if err := l.checkWritableLocked(); err != nil {
		return AppendResult{}, err
	}
	if h.ProducerID >= 0 {
		dup, err := l.producers.CheckAppend(h)
		if err != nil {
			return AppendResult{}, fmt.Errorf("append to %s: %w", l.tp, err)
		}
		if dup != nil {
			return AppendResult{BaseOffset: dup.FirstOffset, LastOffset: dup.LastOffset, LogAppendTime: -1,
				LogStartOffset: l.logStart.Load(), Duplicate: true}, nil
		}
	}
	base := l.leo.Load()
	record.SetBaseOffset(b, base)
	record.SetPartitionLeaderEpoch(b, leaderEpoch)
	appendTime := int64(-1)
	if logAppendTime {
		appendTime = now.UnixMilli()
		record.SetLogAppendTime(b, appendTime)
	}
	h, err := record.ParseHeader(b)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: %w", l.tp, err)
	}
	hs := [1]record.Header{h}
	if err := l.writeBatchesLocked(b, hs[:], now); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{BaseOffset: base, LastOffset: h.LastOffset(), LogAppendTime: appendTime, LogStartOffset: l.logStart.Load()}, nil
}

// AppendAsFollower appends batches copied from the leader, back to back,
// keeping their offsets and leader epochs. Each must be a whole v2 batch
// with a valid CRC; the first must start at or after the log end offset and
// each after the previous one (Kafka's UnexpectedAppendOffsetException
// otherwise). The leader-epoch cache and producer state follow the batches.
// Empty input appends nothing.
func (l *Log) AppendAsFollower(batches []byte, now time.Time) (AppendResult, error) {
	hs, err := l.parseFollowerBatches(batches)
	if err != nil {
		return AppendResult{}, err
	}
	l.writeMu.Lock()
	res, err := l.appendAsFollowerLocked(batches, hs, now)
	l.writeMu.Unlock()
	if err != nil {
		return AppendResult{}, err
	}
	return res, l.maybeFlushMessages()
}

func (l *Log) parseFollowerBatches(batches []byte) ([]record.Header, error) {
	var hs []record.Header
	for pos := 0; pos < len(batches); {
		h, err := record.ParseHeader(batches[pos:])
		if err != nil {
			return nil, fmt.Errorf("append to %s as follower: batch at byte %d: %w", l.tp, pos, err)
		}
		if pos+h.Size() > len(batches) {
			return nil, fmt.Errorf("append to %s as follower: %w: batch at byte %d is cut short", l.tp, record.ErrCorrupt, pos)
		}
		if !record.CheckCRC(batches[pos : pos+h.Size()]) {
			return nil, fmt.Errorf("append to %s as follower: %w: batch at offset %d fails its CRC", l.tp, record.ErrCorrupt, h.BaseOffset)
		}
		if h.LastOffsetDelta < 0 {
			return nil, fmt.Errorf("append to %s as follower: %w: batch at offset %d has last offset delta %d", l.tp, record.ErrCorrupt, h.BaseOffset, h.LastOffsetDelta)
		}
		if n := len(hs); n > 0 && h.BaseOffset < hs[n-1].NextOffset() {
			return nil, fmt.Errorf("append to %s as follower: batch offset %d does not follow %d", l.tp, h.BaseOffset, hs[n-1].LastOffset())
		}
		if err := l.checkBatchSize(h); err != nil {
			return nil, err
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, nil
}

func (l *Log) appendAsFollowerLocked(batches []byte, hs []record.Header, now time.Time) (AppendResult, error) {
	if err := l.checkWritableLocked(); err != nil {
		return AppendResult{}, err
	}
	leo := l.leo.Load()
	if len(hs) == 0 {
		return AppendResult{BaseOffset: leo, LastOffset: leo - 1, LogAppendTime: -1, LogStartOffset: l.logStart.Load()}, nil
	}
	if hs[0].BaseOffset < leo {
		return AppendResult{}, fmt.Errorf("append to %s as follower: first offset %d is below the log end offset %d", l.tp, hs[0].BaseOffset, leo)
	}
	if err := l.writeBatchesLocked(batches, hs, now); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{BaseOffset: hs[0].BaseOffset, LastOffset: hs[len(hs)-1].LastOffset(), LogAppendTime: -1,
		LogStartOffset: l.logStart.Load()}, nil
}

// checkKeys refuses a batch holding a record without a key, for a
// compacted log (Kafka's LogValidator.validateKey). It decodes the records,
// decompressing them if needed: compacted topics (__consumer_offsets and the
// like) carry small batches, and the check must see every record.
func (l *Log) checkKeys(b []byte) error {
	var keyless int64 = -1
	_, err := l.codecs.Records(b, maxDecompressedLookup, func(r record.Record) error {
		if r.Key == nil {
			keyless = int64(r.OffsetDelta)
			return errStopWalk
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopWalk) {
		return fmt.Errorf("append to %s: %w", l.tp, err)
	}
	if keyless >= 0 {
		return fmt.Errorf("append to %s: %w in topic partition %s (record %d): %w",
			l.tp, ErrNoKeyOnCompactedTopic, l.tp, keyless, record.ErrInvalidRecord)
	}
	return nil
}

func (l *Log) checkBatchSize(h record.Header) error {
	if limit := l.config().SegmentBytes; int64(h.Size()) > limit {
		// Kafka's RecordBatchTooLargeException: a batch must fit a segment.
		return fmt.Errorf("append to %s: %w: batch of %d bytes exceeds segment.bytes %d", l.tp, ErrMessageTooLarge, h.Size(), limit)
	}
	return nil
}

// writeBatchesLocked writes data, holding the batches hs (offsets and epochs
// final), to the active segment, rolling first where Kafka would. Batches
// between rolls go to the file in one write. It records new leader epochs
// before writing (Kafka's maybeAssignEpochStartOffset), producer state after,
// then publishes the new log end offset. Requires writeMu.
func (l *Log) writeBatchesLocked(data []byte, hs []record.Header, now time.Time) error {
	if err := l.assignEpochsLocked(hs); err != nil {
		return l.failLocked(fmt.Errorf("append to %s: %w", l.tp, err))
	}
	cfg := l.config()
	infos := make([]batchInfo, 0, len(hs))
	for i, pos := 0, 0; i < len(hs); {
		active := l.activeSegmentLocked()
		roll, err := active.shouldRollLocked(hs[i], hs[i].Size(), cfg, now)
		if err != nil {
			return l.failLocked(fmt.Errorf("append to %s: %w", l.tp, err))
		}
		if roll {
			if active, err = l.rollLocked(max(hs[i].BaseOffset, l.leo.Load()), now); err != nil {
				return l.failLocked(fmt.Errorf("append to %s: %w", l.tp, err))
			}
		}
		// Take the following batches that fit this segment without a roll.
		infos = infos[:0]
		start, groupBytes := pos, 0
		for i < len(hs) {
			h := hs[i]
			if len(infos) > 0 {
				if fits, err := l.fitsWithLocked(active, h, groupBytes, cfg, now); err != nil {
					return l.failLocked(fmt.Errorf("append to %s: %w", l.tp, err))
				} else if !fits {
					break
				}
			}
			infos = append(infos, batchInfo{relPos: groupBytes, size: h.Size(), lastOffset: h.LastOffset(), maxTs: h.MaxTimestamp})
			groupBytes += h.Size()
			pos += h.Size()
			i++
		}
		if err := active.appendLocked(data[start:pos], infos, cfg.IndexIntervalBytes); err != nil {
			return l.failLocked(fmt.Errorf("append to %s: %w", l.tp, err))
		}
		l.leo.Store(infos[len(infos)-1].lastOffset + 1)
	}
	nowMs := now.UnixMilli()
	for _, h := range hs {
		if h.ProducerID >= 0 {
			l.producers.Update(h, h.BaseOffset, nowMs)
		}
	}
	return nil
}

// fitsWithLocked reports whether h can join a write of pending bytes to
// active without a roll.
func (l *Log) fitsWithLocked(active *segment, h record.Header, pending int, cfg Config, now time.Time) (bool, error) {
	c := cfg
	c.SegmentBytes -= int64(pending)
	roll, err := active.shouldRollLocked(h, h.Size(), c, now)
	return !roll, err
}

// assignEpochsLocked records each batch's leader epoch in the cache when it
// is newer than the latest (as Kafka's LogSegment.recover and append do).
func (l *Log) assignEpochsLocked(hs []record.Header) error {
	for _, h := range hs {
		if h.PartitionLeaderEpoch < 0 {
			continue
		}
		if latest, ok := l.epochs.LatestEpoch(); ok && h.PartitionLeaderEpoch <= latest {
			continue
		}
		if err := l.epochs.Assign(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
			return err
		}
	}
	return nil
}

// rollLocked starts a new active segment at newBase (Kafka's roll): the old
// one gets its closing time index entry, the producer state is snapshotted
// at the new base so that recovery replays at most the new segment, and the
// old segment is flushed later by the Manager (Kafka schedules that flush
// asynchronously too). An empty active segment is replaced rather than kept.
// Requires writeMu.
func (l *Log) rollLocked(newBase int64, now time.Time) (*segment, error) {
	active := l.activeSegmentLocked()
	empty := active.size.Load() == 0
	if empty && active.baseOffset == newBase {
		return active, nil
	}
	if !empty {
		if err := active.onBecomeInactiveLocked(); err != nil {
			return nil, err
		}
	}
	seg, err := createSegment(l.dir, newBase, l.config(), now)
	if err != nil {
		return nil, fmt.Errorf("roll %s: %w", l.tp, err)
	}
	l.mu.Lock()
	if empty {
		l.segments[len(l.segments)-1] = seg
	} else {
		l.segments = append(l.segments, seg)
	}
	l.mu.Unlock()
	l.dirDirty.Store(true)
	if empty {
		if err := active.markDeleted(); err != nil {
			return nil, err
		}
		if err := active.removeDeleted(); err != nil {
			return nil, err
		}
	}
	if err := l.producers.TakeSnapshot(newBase); err != nil {
		return nil, fmt.Errorf("roll %s: %w", l.tp, err)
	}
	return seg, nil
}
