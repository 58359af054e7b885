package group

import "time"

// clock is the coordinator's time source: Now for timestamps and AfterFunc
// for the session, rebalance, pending-sync, retention and write-deadline
// timers. Tests substitute a manual clock so that timeouts fire when the test
// says, without sleeping.
type clock interface {
	Now() time.Time
	// AfterFunc calls f on its own goroutine (or, for a manual clock, on
	// the goroutine that advances time) once d has passed.
	AfterFunc(d time.Duration, f func()) timer
}

// timer is a scheduled AfterFunc; Stop cancels it if it has not fired.
type timer interface{ Stop() bool }

// realClock is Config.Now with the runtime's timers.
type realClock struct{ now func() time.Time }

func (c realClock) Now() time.Time { return c.now() }

func (c realClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }

// stopTimer stops t if it is set.
func stopTimer(t timer) {
	if t != nil {
		t.Stop()
	}
}
