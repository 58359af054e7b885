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

// LeaderAware is implemented by a Quorum whose leadership moves between
// nodes (RaftQuorum). A Quorum without it (LocalQuorum) is a single node that
// always leads: its Controller is active from Open on.
type LeaderAware interface {
	// IsLeader reports whether this node leads the quorum and has applied
	// every entry committed before its term, so it may validate operations
	// against its image and propose (KRaft: the active controller).
	IsLeader() bool
	// Leader returns the node ID of the leader as far as this node knows.
	Leader() (id int32, ok bool)
	// OnLeaderChange calls fn, from one goroutine the quorum owns and in
	// order, first with the state at registration and then at every change
	// of (isLeader, leaderID); leaderID is -1 while no leader is known. fn
	// must return promptly and must not call Propose.
	OnLeaderChange(fn func(isLeader bool, leaderID int32))
}

// ReplicatedQuorum is a LeaderAware quorum that replicates to other nodes and
// can describe them (KIP-595 DescribeQuorum).
type ReplicatedQuorum interface {
	Quorum
	LeaderAware
	// AddNonVoter makes node id, reachable at addr, an observer that
	// receives every committed entry. Leader only.
	AddNonVoter(ctx context.Context, id int32, addr string) error
	// RemoveNonVoter removes observer id. Leader only.
	RemoveNonVoter(ctx context.Context, id int32) error
	// Describe returns the quorum's state as this node knows it.
	Describe() QuorumInfo
}

// QuorumInfo is the state of the metadata quorum, what DescribeQuorum
// (KIP-595, KIP-836) reports for partition __cluster_metadata-0.
type QuorumInfo struct {
	LeaderID int32
	// LeaderEpoch is the leader's term.
	LeaderEpoch int32
	// HighWatermark is the offset after the last record applied on this
	// node; on the active controller every committed record is applied, so
	// it is the quorum's high watermark in record offsets (FORMAT.md).
	HighWatermark int64
	Voters        []ReplicaState
	Observers     []ReplicaState
}

// ReplicaState is one replica of the metadata log in a QuorumInfo. Offsets
// are record offsets (the image's), timestamps Unix milliseconds; -1 means
// unknown, as in Kafka's DescribeQuorumResponse.
type ReplicaState struct {
	ID                    int32
	LogEndOffset          int64
	LastFetchTimestamp    int64
	LastCaughtUpTimestamp int64
}
