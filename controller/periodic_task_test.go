package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestPeriodicTaskStartStopClose: start runs the step until stop; after
// close, start does nothing.
func TestPeriodicTaskStartStopClose(t *testing.T) {
	ran := make(chan struct{}, 1)
	task := newPeriodicTask(slog.New(slog.DiscardHandler), time.Millisecond, func(context.Context) error {
		select {
		case ran <- struct{}{}:
		default:
		}
		return nil
	}, "step failed")
	wantEq(t, task.running(), false)
	task.start()
	task.start() // already running: no second goroutine
	wantEq(t, task.running(), true)
	<-ran
	task.stop()
	wantEq(t, task.running(), false)
	task.start()
	<-ran
	task.close()
	wantEq(t, task.running(), false)
	task.start()
	wantEq(t, task.running(), false)
}

// TestPeriodicTaskWarnsOncePerDistinctFailure: a failure repeated on the
// next tick is not logged again, a success resets that, and
// NOT_CONTROLLER (the node lost its leadership) is not logged at all.
func TestPeriodicTaskWarnsOncePerDistinctFailure(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	steps := []error{errA, errA, errB, nil, errB, fmt.Errorf("%w: moved", kerr.NotController), nil}
	var logged bytes.Buffer
	done := make(chan struct{})
	n := 0
	task := newPeriodicTask(slog.New(slog.NewTextHandler(&logged, nil)), time.Millisecond, func(context.Context) error {
		if n == len(steps) {
			return nil
		}
		err := steps[n]
		if n++; n == len(steps) {
			close(done)
		}
		return err
	}, "step failed")
	task.start()
	<-done
	task.close() // waits for the goroutine: logged is complete
	var got []string
	for line := range strings.Lines(logged.String()) {
		_, errText, _ := strings.Cut(strings.TrimSpace(line), "err=")
		got = append(got, errText)
	}
	wantEq(t, strings.Join(got, ","), "a,b,b")
}
