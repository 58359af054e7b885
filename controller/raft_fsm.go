package controller

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// raftFSM drives the StateMachine from hashicorp/raft's FSM (Apply,
// Snapshot, Restore); raft calls Apply and Restore from one goroutine, in log
// order. A raft command entry is the encoded record list of one Propose
// (FORMAT.md "Record list"); raft's own entries (no-ops, configuration
// changes) never reach Apply, so every node applies the same records in the
// same order and its image offsets, one per record, match every other
// node's. A raft snapshot is one frame as in metadata.snapshot (FORMAT.md
// "Frames"): the image's offset and its records, CRC-checked.
type raftFSM struct {
	sm     StateMachine
	logger *slog.Logger

	// offset is the offset of the last record applied (the image's).
	offset atomic.Int64
	// entries counts entries applied through Apply since open; restores
	// counts snapshots restored. Both say how a node got its state (logs,
	// tests).
	entries  atomic.Int64
	restores atomic.Int64
}

func newRaftFSM(sm StateMachine, logger *slog.Logger) *raftFSM {
	f := &raftFSM{sm: sm, logger: logger}
	f.offset.Store(-1)
	return f
}

// Apply implements raft.FSM. Its result, the StateMachine's error or nil, is
// what the leader's ApplyFuture.Response returns.
func (f *raftFSM) Apply(l *raft.Log) any {
	f.entries.Add(1)
	recs, err := DecodeRecords(l.Data)
	if err != nil {
		// A committed entry this node cannot read (a newer samsa wrote it,
		// or it is damaged): skipping it would silently diverge this node's
		// image and offsets from the others', so shout.
		f.logger.Error("committed metadata entry cannot be decoded; this node's metadata is now behind",
			slog.Uint64("raft_index", l.Index), slog.Any("err", err))
		return fmt.Errorf("decode metadata entry at raft index %d: %w", l.Index, err)
	}
	err = f.sm.ApplyEntry(recs)
	f.offset.Add(int64(len(recs)))
	if err != nil {
		return err
	}
	return nil
}

// Snapshot implements raft.FSM. It runs between two Applies, so the image
// is taken there; the records share the immutable image and are encoded
// later by Persist, off the FSM goroutine.
func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	offset, recs := f.sm.Snapshot()
	return &raftSnapshot{offset: offset, recs: recs}, nil
}

// Restore implements raft.FSM: at start from the latest local snapshot, and
// when the leader installs one on a follower that lags behind its log.
func (f *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, frameHeaderSize+maxSnapshotBytes+1))
	if err != nil {
		return fmt.Errorf("read metadata snapshot: %w", err)
	}
	frames, _, tail := parseFrames(data, maxSnapshotBytes)
	if tail != nil || len(frames) != 1 {
		return fmt.Errorf("metadata snapshot is corrupt (%d frames): %v", len(frames), tail)
	}
	offset, recs, err := decodeFrameBody(frames[0].body)
	if err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	if err := f.sm.Restore(offset, recs); err != nil {
		return fmt.Errorf("restore metadata snapshot at offset %d: %w", offset, err)
	}
	f.offset.Store(offset)
	f.restores.Add(1)
	f.logger.Info("restored metadata snapshot", slog.Int64("offset", offset), slog.Int("records", len(recs)))
	return nil
}

// raftSnapshot is one image, written by Persist as a snapshot frame.
type raftSnapshot struct {
	offset int64
	recs   []Record
}

// Persist implements raft.FSMSnapshot.
func (s *raftSnapshot) Persist(sink raft.SnapshotSink) error {
	data := appendFrame(nil, s.offset, EncodeRecords(s.recs))
	if _, err := sink.Write(data); err != nil {
		return errors.Join(fmt.Errorf("write metadata snapshot at offset %d: %w", s.offset, err), sink.Cancel())
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close metadata snapshot at offset %d: %w", s.offset, err)
	}
	return nil
}

// Release implements raft.FSMSnapshot.
func (s *raftSnapshot) Release() {}
