package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	plog "github.com/samsa-broker/samsa/log"
)

// FetchTransport sends a follower's Fetch to another broker's inter-broker
// listener and returns its answer. The node implements it; tests call the
// other Manager directly. The byte slices of a response may be reused by
// the next Fetch to the same broker: the fetcher, the only caller per
// broker, is done with one response before it sends the next request.
type FetchTransport interface {
	Fetch(ctx context.Context, brokerID int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error)
}

// Fetch versions a follower may send: v12 brings LastFetchedEpoch and
// DivergingEpoch (KIP-320 truncation on fetch, no OffsetForLeaderEpoch
// round trip), v13 topic IDs, v15 ReplicaState (KIP-903).
const (
	minFollowerFetchVersion = 12
	maxFollowerFetchVersion = 17
)

// fetchTarget is one partition a fetcher follows, at the leader epoch the
// metadata named when it was added.
type fetchTarget struct {
	p           *Partition
	leaderEpoch int32
	topicID     [16]byte
	// delayedUntil backs the partition off after an error (Kafka's
	// delayPartitions, replica.fetch.backoff.ms). Backoffs are wall-clock
	// waits, not decisions, so they use time.Now, not the Manager's clock.
	delayedUntil time.Time
	// retryBackoff is the next backoff: it starts short and doubles up to
	// replica.fetch.backoff.ms while errors repeat, and resets on success.
	// Only the fetcher's goroutine reads or writes it, so it needs no lock.
	retryBackoff time.Duration
	// parked stops fetching until new metadata re-adds the partition:
	// fenced by a newer leader epoch, or its log failed.
	parked bool
}

// fetcher is the follower fetcher of one source broker (Kafka's
// ReplicaFetcherThread): one goroutine sending sessionless full fetches for
// every partition this node follows there. The Manager starts it when the
// first partition arrives and cancels it when the last one leaves.
type fetcher struct {
	m      *Manager
	source int32
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}

	mu      sync.Mutex
	targets map[plog.TopicPartition]*fetchTarget
}

// follow makes sure p is fetched from its leader: added to that broker's
// fetcher (out of any other), and restarted at the current epoch when
// restart is set or it was not being fetched.
func (m *Manager) follow(p *Partition, restart bool) {
	st := p.State()
	if m.cfg.FetchTransport == nil {
		m.logger.Debug("no fetch transport; not following", slog.String("partition", p.tp.String()))
		return
	}
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.closed {
		return
	}
	target := &fetchTarget{p: p, leaderEpoch: st.LeaderEpoch, topicID: st.TopicID}
	if src, ok := m.fetchSource[p.tp]; ok {
		switch {
		case src == st.Leader && !restart:
			return
		case src == st.Leader:
			// Same source, new epoch: a fresh fetch state replaces the old
			// one (answers to the old one are then dropped).
			m.fetchers[src].add(target)
			m.logFollowing(p, st)
			return
		}
		m.removeFetchLocked(p.tp)
	}
	f, ok := m.fetchers[st.Leader]
	if !ok {
		ctx, cancel := context.WithCancel(m.ctx)
		f = &fetcher{m: m, source: st.Leader, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1),
			targets: make(map[plog.TopicPartition]*fetchTarget)}
		m.fetchers[st.Leader] = f
		m.bg.Add(1)
		go f.run()
	}
	f.add(target)
	m.fetchSource[p.tp] = st.Leader
	m.logFollowing(p, st)
}

func (m *Manager) logFollowing(p *Partition, st State) {
	m.logger.Info("following partition", slog.String("partition", p.tp.String()), slog.Int("leader", int(st.Leader)),
		slog.Int("leader_epoch", int(st.LeaderEpoch)), slog.Int64("log_end_offset", p.log.LogEndOffset()))
}

// stopFollowing takes tp out of its fetcher, if any.
func (m *Manager) stopFollowing(tp plog.TopicPartition) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	m.removeFetchLocked(tp)
}

// removeFetchLocked removes tp from its fetcher and stops a fetcher left
// with nothing to fetch; its goroutine exits on its own and Close waits for
// it. Requires bgMu.
func (m *Manager) removeFetchLocked(tp plog.TopicPartition) {
	src, ok := m.fetchSource[tp]
	if !ok {
		return
	}
	delete(m.fetchSource, tp)
	m.repl.metrics.forgetLag(tp)
	f := m.fetchers[src]
	if f.remove(tp) == 0 {
		f.cancel()
		delete(m.fetchers, src)
	}
}

func (f *fetcher) add(t *fetchTarget) {
	f.mu.Lock()
	f.targets[t.p.tp] = t
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// remove returns how many partitions are left.
func (f *fetcher) remove(tp plog.TopicPartition) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.targets, tp)
	return len(f.targets)
}

// current reports whether t is still the fetch state of its partition.
func (f *fetcher) current(t *fetchTarget) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.targets[t.p.tp] == t
}

// sentPartition is one partition of a request in flight.
type sentPartition struct {
	t           *fetchTarget
	fetchOffset int64
}

// fetchKey finds a response partition among those sent: by topic name
// before v13, by topic ID from v13 on.
type fetchKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

func (f *fetcher) run() {
	defer f.m.bg.Done()
	backoff := f.m.cfg.ReplicaFetchBackoff
	for {
		req, sent, next := f.buildRequest(time.Now())
		if req == nil {
			if !f.sleep(next, true) {
				return
			}
			continue
		}
		resp, err := f.m.cfg.FetchTransport.Fetch(f.ctx, f.source, req)
		if f.ctx.Err() != nil {
			return
		}
		if err == nil && resp.ErrorCode != 0 {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			f.m.logger.Warn("follower fetch failed", slog.Int("leader", int(f.source)), slog.Int("partitions", len(sent)), slog.Any("err", err))
			if !f.sleep(backoff, false) {
				return
			}
			continue
		}
		f.handleResponse(req.Version, resp, sent)
	}
}

// sleep waits d (forever when d < 0), or until a partition is added when
// wakeable; false when the fetcher is stopped.
func (f *fetcher) sleep(d time.Duration, wakeable bool) bool {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	wake := f.wake
	if !wakeable {
		wake = nil
	}
	select {
	case <-f.ctx.Done():
		return false
	case <-wake:
	case <-timer:
	}
	return true
}

// buildRequest builds one full Fetch (KIP-227 sessions are not used:
// SessionID 0, SessionEpoch -1) for every partition ready to fetch. With
// none ready it returns nil and how long until the first delayed one is
// (-1: none).
func (f *fetcher) buildRequest(now time.Time) (*kmsg.FetchRequest, map[fetchKey]sentPartition, time.Duration) {
	cfg := f.m.cfg
	f.mu.Lock()
	defer f.mu.Unlock()
	req := kmsg.NewPtrFetchRequest()
	req.Version = cfg.FetchVersion
	req.ReplicaID = f.m.nodeID
	req.ReplicaState.ID = f.m.nodeID
	req.ReplicaState.Epoch = -1
	if cfg.BrokerEpoch != nil {
		req.ReplicaState.Epoch = cfg.BrokerEpoch()
	}
	if req.Version >= 15 {
		// The replica ID moved into ReplicaState (KIP-903).
		req.ReplicaID = -1
	}
	req.MaxWaitMillis = int32(cfg.ReplicaFetchWaitMax.Milliseconds())
	req.MinBytes = cfg.ReplicaFetchMinBytes
	req.MaxBytes = cfg.ReplicaFetchResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1
	byTopic := map[plog.TopicPartition]int{}
	sent := map[fetchKey]sentPartition{}
	next := time.Duration(-1)
	for tp, t := range f.targets {
		if t.parked {
			continue
		}
		if wait := t.delayedUntil.Sub(now); wait > 0 {
			if next < 0 || wait < next {
				next = wait
			}
			continue
		}
		l := t.p.log
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.CurrentLeaderEpoch = t.leaderEpoch
		rp.FetchOffset = l.LogEndOffset()
		rp.LastFetchedEpoch = -1
		if e, ok := l.LeaderEpochCache().LatestEpoch(); ok {
			rp.LastFetchedEpoch = e
		}
		rp.LogStartOffset = l.LogStartOffset()
		rp.PartitionMaxBytes = cfg.ReplicaFetchMaxBytes
		key := fetchKey{partition: tp.Partition}
		topicKey := plog.TopicPartition{Topic: tp.Topic}
		i, ok := byTopic[topicKey]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = tp.Topic, t.topicID
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[topicKey] = i
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		if req.Version >= 13 {
			key.topicID = t.topicID
		} else {
			key.topic = tp.Topic
		}
		sent[key] = sentPartition{t: t, fetchOffset: rp.FetchOffset}
	}
	if len(sent) == 0 {
		return nil, nil, next
	}
	return req, sent, 0
}

// handleResponse applies each answered partition (Kafka's
// AbstractFetcherThread.processFetchRequest).
func (f *fetcher) handleResponse(version int16, resp *kmsg.FetchResponse, sent map[fetchKey]sentPartition) {
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			key := fetchKey{partition: rp.Partition}
			if version >= 13 {
				key.topicID = rt.TopicID
			} else {
				key.topic = rt.Topic
			}
			s, ok := sent[key]
			if !ok || !f.current(s.t) {
				continue
			}
			f.handlePartition(s, rp)
		}
	}
}

func (f *fetcher) handlePartition(s sentPartition, rp *kmsg.FetchResponseTopicPartition) {
	t, p := s.t, s.t.p
	attrs := []any{slog.String("partition", p.tp.String()), slog.Int("leader", int(f.source)), slog.Int("leader_epoch", int(t.leaderEpoch))}
	err := kerr.ErrorForCode(rp.ErrorCode)
	switch {
	case err == nil:
		data := fetchedPartition{Records: rp.RecordBatches, HighWatermark: rp.HighWatermark, LogStartOffset: rp.LogStartOffset}
		if rp.DivergingEpoch.Epoch >= 0 && rp.DivergingEpoch.EndOffset >= 0 {
			data.DivergingEpoch = &EpochEndOffset{Epoch: rp.DivergingEpoch.Epoch, EndOffset: rp.DivergingEpoch.EndOffset}
		}
		lag, aerr := p.applyFetched(f.source, t.leaderEpoch, s.fetchOffset, data)
		switch {
		case errors.Is(aerr, errStaleFetch):
		case aerr != nil:
			// A storage error: the log is offline (log.failLocked); stop
			// fetching until new metadata, as Kafka marks the partition
			// failed.
			f.m.logger.Error("follower append failed; stopped fetching the partition", append(attrs, slog.Any("err", aerr))...)
			f.park(t)
		default:
			f.m.repl.metrics.setLag(p.tp, lag)
			t.retryBackoff = 0
		}
	case errors.Is(err, kerr.OffsetOutOfRange):
		if oerr := p.handleOutOfRange(f.source, t.leaderEpoch, s.fetchOffset, rp.LogStartOffset, rp.HighWatermark); oerr != nil && !errors.Is(oerr, errStaleFetch) {
			f.m.logger.Warn("fetch offset out of range on the leader", append(attrs, slog.Int64("fetch_offset", s.fetchOffset), slog.Any("err", oerr))...)
			f.delay(t)
		}
	case errors.Is(err, kerr.FencedLeaderEpoch):
		// The leader is at a newer epoch than our metadata: wait for the
		// delta that re-adds the partition (Kafka's onPartitionFenced).
		f.m.logger.Info("follower fetch fenced; waiting for new metadata", attrs...)
		f.park(t)
	default:
		// NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH (the leader's
		// metadata is behind ours), UNKNOWN_TOPIC_OR_PARTITION and the rest:
		// retry after replica.fetch.backoff.ms.
		f.m.logger.Info("follower fetch error; backing off", append(attrs, slog.Any("err", err))...)
		f.delay(t)
	}
}

// firstFetchRetry is the first backoff after a partition error. Most errors
// a follower sees are the leader's metadata lagging its own by a few
// milliseconds (a topic just created: UNKNOWN_TOPIC_ID; a leadership just
// moved: NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH); a full
// replica.fetch.backoff.ms (1 s) there stalled every acks=all produce to
// a new topic for a second. Repeated errors back off exponentially to it,
// as KIP-580 does for clients.
const firstFetchRetry = 10 * time.Millisecond

func (f *fetcher) delay(t *fetchTarget) {
	f.mu.Lock()
	limit := f.m.cfg.ReplicaFetchBackoff
	d := t.retryBackoff
	if d <= 0 {
		d = min(firstFetchRetry, limit)
	}
	t.delayedUntil = time.Now().Add(d)
	t.retryBackoff = min(2*d, limit)
	f.mu.Unlock()
}

func (f *fetcher) park(t *fetchTarget) {
	f.mu.Lock()
	t.parked = true
	f.mu.Unlock()
}
