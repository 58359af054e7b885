package controller

import (
	"context"
	"errors"
)

// Quorum orders and stores metadata records. Propose returns once the records
// are committed AND applied by the local loader (so a caller that then reads
// Image() sees them).
//
// LocalQuorum is the single-node implementation; a replicated one (raft with
// one or three voters) implements the same two methods and drives the same
// StateMachine, so nothing above this seam changes.
type Quorum interface {
	Propose(ctx context.Context, recs []Record) error
	Close() error
}

// StateMachine is what a Quorum drives: the local loader that applies
// committed entries to the image. It has the shape of hashicorp/raft's FSM
// (Apply, Snapshot, Restore) on purpose. A Quorum calls it from one goroutine
// at a time.
type StateMachine interface {
	// ApplyEntry applies one committed entry, the records of one Propose,
	// atomically and in log order. The state machine's offset advances by
	// len(recs) even when it returns an error (an entry that does not apply
	// is skipped as a whole), so every replica stays at the same offset.
	ApplyEntry(recs []Record) error
	// Snapshot returns the current state as records and the offset of the
	// last record it reflects.
	Snapshot() (offset int64, recs []Record)
	// Restore replaces the state with a snapshot taken at offset.
	Restore(offset int64, recs []Record) error
}

// ErrQuorumClosed is returned by Propose after Close.
var ErrQuorumClosed = errors.New("metadata quorum is closed")
