package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// periodicTask owns one goroutine that runs step every interval while it
// is started. The active controller's background work (the broker session
// checker, the leader balancer) runs only while the node is the active
// controller, so its owner starts the task from an OnActivate hook and
// stops it from OnDeactivate.
//
// stop does not wait for the goroutine: a step may be waiting for
// Controller.opMu, which a deactivation hook's caller may hold. close
// stops the task for good and waits for every goroutine it started, so it
// must not be called with opMu held. mu is a leaf lock: the owner may hold
// its own lock while it calls start or stop.
type periodicTask struct {
	interval time.Duration
	// step runs once per tick with the task's context; it bounds its own
	// duration so a quorum that cannot commit does not keep opMu.
	step func(ctx context.Context) error
	// logger and failure report failed steps, once per distinct error.
	logger  *slog.Logger
	failure string

	// runners counts goroutines started and not yet exited; close waits
	// for it.
	runners sync.WaitGroup

	mu     sync.Mutex
	closed bool
	cancel context.CancelFunc // nil while not running
}

// newPeriodicTask returns a stopped task that, once started, runs step
// every interval and logs a failed step as a warning with message failure.
func newPeriodicTask(logger *slog.Logger, interval time.Duration, step func(ctx context.Context) error, failure string) *periodicTask {
	return &periodicTask{interval: interval, step: step, logger: logger, failure: failure}
}

// start starts the goroutine unless it runs already or the task is closed.
func (t *periodicTask) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	t.runners.Add(1)
	go t.run(ctx)
}

// stop cancels the goroutine without waiting for it.
func (t *periodicTask) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopLocked()
}

// close stops the task for good and waits for its goroutine.
func (t *periodicTask) close() {
	t.mu.Lock()
	t.closed = true
	t.stopLocked()
	t.mu.Unlock()
	t.runners.Wait()
}

func (t *periodicTask) stopLocked() {
	if t.cancel != nil {
		t.cancel()
		t.cancel = nil
	}
}

// running reports whether the goroutine was started and not stopped since.
func (t *periodicTask) running() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cancel != nil
}

// run calls step every interval until ctx ends.
func (t *periodicTask) run(ctx context.Context) {
	defer t.runners.Done()
	ticker := time.NewTicker(t.interval)
	defer ticker.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := t.step(ctx)
		switch {
		case err == nil:
			lastErr = ""
		case ctx.Err() != nil || errors.Is(err, kerr.NotController):
			// Stopped, or no longer the active controller: the
			// deactivation hook stops the task; nothing to report.
		case err.Error() != lastErr:
			// Once per distinct failure, not once per tick: a lost quorum
			// fails every step until it is back.
			lastErr = err.Error()
			t.logger.Warn(t.failure, slog.Any("err", err))
		}
	}
}
