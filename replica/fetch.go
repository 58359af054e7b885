package replica

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
)

// FetchPartition is one partition of a consumer fetch.
type FetchPartition struct {
	TP                 plog.TopicPartition
	Offset             int64
	CurrentLeaderEpoch int32
	MaxBytes           int32
}

// FetchRequest is a consumer fetch over many partitions.
type FetchRequest struct {
	Partitions []FetchPartition
	MaxWait    time.Duration
	MinBytes   int32
	MaxBytes   int32
}

// FetchResult is one partition's answer, in request order.
type FetchResult struct {
	ReadResult
	Err error
}

// Fetch reads every requested partition once. If that already satisfies the
// request (min bytes reached, an error to report, or no wait allowed), wait
// is nil. Otherwise wait parks until an append or HW advance on any of the
// partitions satisfies min bytes, or MaxWait passes, and then reads again;
// it is event-driven (Kafka's DelayedFetch), never a sleep loop.
func (m *Manager) Fetch(ctx context.Context, req FetchRequest) (results []FetchResult, wait func() []FetchResult) {
	results, bytes, hasErr := m.readAll(req)
	if req.MaxWait <= 0 || bytes >= int(req.MinBytes) || hasErr || len(req.Partitions) == 0 {
		return results, nil
	}
	return nil, func() []FetchResult { return m.waitFetch(ctx, req) }
}

func (m *Manager) waitFetch(ctx context.Context, req FetchRequest) []FetchResult {
	tps := make([]plog.TopicPartition, len(req.Partitions))
	for i, fp := range req.Partitions {
		tps[i] = fp.TP
	}
	return park(ctx, m, tps, req.MaxWait, func() ([]FetchResult, bool) {
		results, bytes, hasErr := m.readAll(req)
		return results, bytes >= int(req.MinBytes) || hasErr
	})
}

// park is the purgatory shared by consumer and follower fetches (Kafka's
// DelayedFetch): it watches the partitions and re-reads after each change
// until read says the request is satisfied, maxWait passes (one last read),
// or ctx ends. It reads after registering the waiter, so a change between
// the caller's first read and the watch is not missed; it never polls.
func park[T any](ctx context.Context, m *Manager, tps []plog.TopicPartition, maxWait time.Duration, read func() (T, bool)) T {
	w := NewWaiter()
	var watched []*Partition
	for _, tp := range tps {
		if p, ok := m.Partition(tp); ok {
			p.Watch(w)
			watched = append(watched, p)
		}
	}
	defer func() {
		for _, p := range watched {
			p.Unwatch(w)
		}
	}()
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	for {
		results, done := read()
		if done {
			return results
		}
		select {
		case <-w.C:
		case <-timer.C:
			results, _ := read()
			return results
		case <-ctx.Done():
			return results
		}
	}
}

// readAll reads each partition under the response-wide byte budget. The
// first partition that has data may exceed the budget with one whole batch
// (KIP-74), so a consumer always makes progress.
func (m *Manager) readAll(req FetchRequest) (results []FetchResult, total int, hasErr bool) {
	results = make([]FetchResult, len(req.Partitions))
	budget := int(req.MaxBytes)
	for i, fp := range req.Partitions {
		p, ok := m.Partition(fp.TP)
		if !ok {
			results[i].Err = fmt.Errorf("%w: %s is not hosted on this node", kerr.NotLeaderForPartition, fp.TP)
			hasErr = true
			continue
		}
		limit := min(int(fp.MaxBytes), max(budget, 0))
		minOne := total == 0
		if limit <= 0 && !minOne {
			// Budget spent: report offsets without data.
			rr, err := p.Read(fp.Offset, fp.CurrentLeaderEpoch, 0, false)
			results[i] = FetchResult{ReadResult: rr, Err: err}
			hasErr = hasErr || err != nil
			continue
		}
		rr, err := p.Read(fp.Offset, fp.CurrentLeaderEpoch, limit, minOne)
		results[i] = FetchResult{ReadResult: rr, Err: err}
		if err != nil {
			hasErr = true
			continue
		}
		total += len(rr.Batches)
		budget -= len(rr.Batches)
	}
	return results, total, hasErr
}
