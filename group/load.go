package group

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/record"
)

const (
	// loadReadBytes is how much of the log one read returns (Kafka's
	// offsets.load.buffer.size).
	loadReadBytes = 5 << 20
	// loadMaxDecompressed bounds one batch decompressed on load; samsa
	// writes uncompressed batches, this only guards a damaged or foreign
	// log.
	loadMaxDecompressed = 64 << 20
)

// load replays the partition's log, from its start to the log end offset
// seen when the load begins, into the groups and their offsets, then starts
// serving them (Kafka's loadGroupsAndOffsets). A drop during the load
// cancels it. Members of loaded groups get fresh session timers, so that
// those whose clients are gone expire (Kafka's onGroupLoaded).
func (s *shard) load() {
	defer close(s.loaded)
	if s.c.loadHook != nil {
		s.c.loadHook(s.partition)
	}
	start := time.Now()
	groups, records, err := s.readLog()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != shardLoading {
		return
	}
	if err != nil {
		s.status = shardFailed
		s.logger.Error("loading group coordinator partition failed", slog.Any("error", err))
		return
	}
	s.groups = groups
	s.status = shardActive
	for _, g := range s.groups {
		for _, m := range g.members {
			s.scheduleSessionLocked(g, m, m.sessionTimeout())
		}
		if g.consumer != nil {
			// Members keep their epochs and assignments; their sessions
			// restart (Kafka's onLoaded for consumer groups).
			for _, m := range g.consumer.members {
				s.scheduleConsumerSessionLocked(g, m)
				if m.state == memberUnrevoked {
					s.scheduleRevocationLocked(g, m)
				}
			}
		}
		if len(g.members) > s.c.cfg.MaxSize {
			s.prepareRebalanceLocked(g, fmt.Sprintf("freshly-loaded group is over capacity (group.max.size %d)", s.c.cfg.MaxSize))
		}
	}
	s.scheduleRetentionLocked()
	s.logger.Info("loaded group coordinator partition", slog.Int("groups", len(groups)),
		slog.Int("records", records), slog.Duration("took", time.Since(start)))
}

// readLog reads the partition and replays its records.
func (s *shard) readLog() (map[string]*group, int, error) {
	tp := plog.TopicPartition{Topic: OffsetsTopic, Partition: s.partition}
	part, ok := s.c.cfg.Replicas.Partition(tp)
	if !ok {
		return nil, 0, fmt.Errorf("%s is not hosted on node %d", tp, s.c.cfg.NodeID)
	}
	s.mu.Lock()
	s.part = part
	s.mu.Unlock()

	l := part.Log()
	end := l.LogEndOffset()
	offset := l.LogStartOffset()
	r := replayer{groups: make(map[string]*group), now: s.now()}
	for offset < end {
		if err := s.ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("load %s: %w", tp, err)
		}
		b, err := l.Read(offset, loadReadBytes, end, true)
		if errors.Is(err, plog.ErrOffsetOutOfRange) && l.LogStartOffset() > offset {
			// Retention or DeleteRecords moved the start past us.
			offset = l.LogStartOffset()
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("load %s at offset %d: %w", tp, offset, err)
		}
		if len(b) == 0 {
			return nil, 0, fmt.Errorf("load %s: no batch at offset %d below the log end offset %d", tp, offset, end)
		}
		for len(b) > 0 {
			h, err := record.ParseHeader(b)
			if err != nil || h.Size() > len(b) {
				return nil, 0, fmt.Errorf("load %s at offset %d: malformed batch: %w", tp, offset, err)
			}
			batch := b[:h.Size()]
			b = b[h.Size():]
			if !h.Control() {
				from := offset
				if _, err := s.c.cfg.Codecs.Records(batch, loadMaxDecompressed, func(rec record.Record) error {
					if rec.Offset < from {
						return nil
					}
					return r.replay(rec)
				}); err != nil {
					return nil, 0, fmt.Errorf("load %s batch at offset %d: %w", tp, h.BaseOffset, err)
				}
			}
			offset = max(offset, h.NextOffset())
		}
	}
	for _, g := range r.groups {
		finishConsumerLoad(g)
	}
	for _, id := range r.skipped {
		s.logger.Warn("skipped a record of unknown type while loading", slog.String("key_version", id))
	}
	return r.groups, r.records, nil
}

// replayer applies records in log order: the latest record of a key wins and
// a tombstone deletes it (Kafka's replay methods).
type replayer struct {
	groups  map[string]*group
	now     time.Time
	records int
	skipped []string
}

func (r *replayer) replay(rec record.Record) error {
	r.records++
	switch keyKind(rec.Key) {
	case kindOffsetCommit:
		groupID, tp, o, err := decodeOffsetCommit(rec.Key, rec.Value, rec.Offset)
		if err != nil {
			return err
		}
		g := r.groups[groupID]
		if o == nil {
			if g != nil {
				delete(g.offsets, tp)
			}
			return nil
		}
		if g == nil {
			// Offsets without group metadata: a simple group (Kafka
			// creates an Empty classic group without protocol type).
			g = newGroup(groupID, r.now)
			g.stateTime = time.Time{}
			r.groups[groupID] = g
		}
		g.offsets[tp] = o
	case kindGroupMetadata:
		groupID, v, err := decodeGroupMetadata(rec.Key, rec.Value)
		if err != nil {
			return err
		}
		if v == nil {
			delete(r.groups, groupID)
			return nil
		}
		r.groups[groupID] = groupFromRecord(groupID, v, r.groups[groupID], r.now)
	case kindConsumerGroup:
		typ := int16(rec.Key[0])<<8 | int16(rec.Key[1])
		return replayConsumer(r.groups, typ, rec.Key, rec.Value, func(id string) *group {
			g := newGroup(id, r.now)
			g.stateTime = time.Time{}
			return g
		})
	default:
		if len(r.skipped) < 10 {
			ver := "none"
			if len(rec.Key) >= 2 {
				ver = fmt.Sprint(int16(rec.Key[0])<<8 | int16(rec.Key[1]))
			}
			r.skipped = append(r.skipped, ver)
		}
	}
	return nil
}
