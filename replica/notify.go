package replica

import "sync"

// Waiter is woken by every partition it watches when that partition's
// readable state changes (append, high-watermark advance, role change). A
// request that spans many partitions (a fetch) watches them all with one
// Waiter; the buffered channel coalesces wake-ups, so a slow waiter never
// blocks a partition.
type Waiter struct {
	C chan struct{}
}

// NewWaiter returns a Waiter ready to be passed to Partition.Watch.
func NewWaiter() *Waiter { return &Waiter{C: make(chan struct{}, 1)} }

func (w *Waiter) wake() {
	select {
	case w.C <- struct{}{}:
	default:
	}
}

// watchers is a set of waiters; the zero value is ready to use.
type watchers struct {
	mu  sync.Mutex
	set map[*Waiter]struct{}
}

func (ws *watchers) add(w *Waiter) {
	ws.mu.Lock()
	if ws.set == nil {
		ws.set = make(map[*Waiter]struct{})
	}
	ws.set[w] = struct{}{}
	ws.mu.Unlock()
}

func (ws *watchers) remove(w *Waiter) {
	ws.mu.Lock()
	delete(ws.set, w)
	ws.mu.Unlock()
}

func (ws *watchers) wakeAll() {
	ws.mu.Lock()
	for w := range ws.set {
		w.wake()
	}
	ws.mu.Unlock()
}
