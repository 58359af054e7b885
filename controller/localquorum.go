package controller

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// File names inside the metadata directory (FORMAT.md).
const (
	logFileName      = "metadata.log"
	snapshotFileName = "metadata.snapshot"
	snapshotTmpName  = "metadata.snapshot.tmp"
)

// DefaultSnapshotEvery is how many log entries LocalQuorum appends between
// snapshots when LocalQuorumConfig.SnapshotEvery is 0.
const DefaultSnapshotEvery = 1000

// Frame limits: an entry is one admin operation's records; a snapshot is the
// whole image. Anything larger is corruption, not data.
const (
	maxEntryBytes    = 64 << 20
	maxSnapshotBytes = 1 << 30
)

// frameVersion is the version byte at the start of every frame body.
const frameVersion = 1

// frameHeaderSize is the length and CRC fields before a frame body.
const frameHeaderSize = 8

// frameBodyMin is the version byte and the offset.
const frameBodyMin = 9

// LocalQuorumConfig configures a LocalQuorum.
type LocalQuorumConfig struct {
	// Dir holds the log and the snapshot; created if missing.
	Dir string
	// SnapshotEvery is the number of entries between snapshots; 0 means
	// DefaultSnapshotEvery.
	SnapshotEvery int
	Logger        *slog.Logger
}

// LocalQuorum is the single-node Quorum: an append-only file of
// length-prefixed, CRC-32C-checked entries, fsynced once per Propose (the
// metadata changes rarely and losing a committed topic is not an option),
// plus a snapshot of the whole image every SnapshotEvery entries, after which
// the log starts over. It has no goroutines: Propose writes, syncs and applies
// in the caller's goroutine.
type LocalQuorum struct {
	dir           string
	snapshotEvery int
	logger        *slog.Logger
	sm            StateMachine

	mu            sync.Mutex
	log           *os.File // nil once closed
	size          int64    // bytes of valid entries in log
	nextOffset    int64    // offset of the next record
	sinceSnapshot int      // entries appended since the last snapshot
	failed        error    // a write or sync failed: the log is no longer trusted
}

// OpenLocalQuorum opens (or creates) the quorum in cfg.Dir and replays it into
// sm: the snapshot through Restore, then every later log entry through
// ApplyEntry. A torn or corrupt tail (a crash mid-append) is truncated with a
// WARN; an entry that is intact but unreadable (written by a newer samsa) is
// an error, since dropping it would lose committed metadata.
func OpenLocalQuorum(cfg LocalQuorumConfig, sm StateMachine) (*LocalQuorum, error) {
	q := &LocalQuorum{
		dir:           cfg.Dir,
		snapshotEvery: cfg.SnapshotEvery,
		logger:        cfg.Logger,
		sm:            sm,
	}
	if q.snapshotEvery <= 0 {
		q.snapshotEvery = DefaultSnapshotEvery
	}
	if q.logger == nil {
		q.logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create metadata dir %s: %w", q.dir, err)
	}
	// A temp file is a snapshot that never finished; the log still has
	// everything it would have held.
	if err := os.Remove(filepath.Join(q.dir, snapshotTmpName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove unfinished snapshot: %w", err)
	}
	snapOffset, err := q.restoreSnapshot()
	if err != nil {
		return nil, err
	}
	q.nextOffset = snapOffset + 1
	if err := q.replayLog(snapOffset); err != nil {
		return nil, err
	}
	return q, nil
}

// restoreSnapshot loads the snapshot, if any, and returns its offset (-1
// without one).
func (q *LocalQuorum) restoreSnapshot() (int64, error) {
	path := filepath.Join(q.dir, snapshotFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read snapshot %s: %w", path, err)
	}
	// The snapshot is written to a temp file, synced and renamed, so it is
	// whole or absent: any damage is real corruption, not a torn write.
	frames, _, tail := parseFrames(data, maxSnapshotBytes)
	if tail != nil || len(frames) != 1 {
		return 0, fmt.Errorf("snapshot %s is corrupt (%d frames): %v", path, len(frames), tail)
	}
	offset, recs, err := decodeFrameBody(frames[0].body)
	if err != nil {
		return 0, fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := q.sm.Restore(offset, recs); err != nil {
		return 0, fmt.Errorf("restore snapshot %s at offset %d: %w", path, offset, err)
	}
	q.logger.Info("loaded metadata snapshot", slog.String("path", path),
		slog.Int64("offset", offset), slog.Int("records", len(recs)))
	return offset, nil
}

// replayLog applies the log entries past snapOffset and opens the log for
// appending, truncating a damaged tail first.
func (q *LocalQuorum) replayLog(snapOffset int64) error {
	path := filepath.Join(q.dir, logFileName)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read metadata log %s: %w", path, err)
	}
	frames, valid, tail := parseFrames(data, maxEntryBytes)
	applied := 0
	for _, f := range frames {
		base, recs, err := decodeFrameBody(f.body)
		if err != nil {
			return fmt.Errorf("metadata log %s entry at byte %d: %w", path, f.pos, err)
		}
		last := base + int64(len(recs)) - 1
		if last <= snapOffset {
			// Already in the snapshot: a crash came between writing the
			// snapshot and restarting the log.
			continue
		}
		if base != q.nextOffset {
			return fmt.Errorf("metadata log %s entry at byte %d starts at offset %d, expected %d", path, f.pos, base, q.nextOffset)
		}
		// An entry that does not apply was skipped the same way when it was
		// proposed (the state machine logs it); replay must agree.
		_ = q.sm.ApplyEntry(recs)
		q.nextOffset += int64(len(recs))
		q.sinceSnapshot++
		applied++
	}
	flags := os.O_RDWR | os.O_CREATE
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("open metadata log %s: %w", path, err)
	}
	if tail != nil {
		q.logger.Warn("truncating torn metadata log tail",
			slog.String("path", path), slog.Int64("position", int64(valid)),
			slog.Int("dropped_bytes", len(data)-valid), slog.String("reason", tail.Error()))
		if err := f.Truncate(int64(valid)); err != nil {
			f.Close()
			return fmt.Errorf("truncate metadata log %s to %d: %w", path, valid, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("sync metadata log %s: %w", path, err)
		}
	}
	if data == nil {
		// A new file: make its directory entry durable.
		if err := syncDir(q.dir); err != nil {
			f.Close()
			return err
		}
	}
	q.log = f
	q.size = int64(valid)
	q.logger.Info("replayed metadata log", slog.String("path", path),
		slog.Int("entries", applied), slog.Int64("next_offset", q.nextOffset))
	return nil
}

// Propose appends recs as one entry, fsyncs it, applies it through the state
// machine and, every SnapshotEvery entries, writes a snapshot and restarts
// the log. A failed write or sync leaves the log untrusted: this and every
// later Propose fail (the node must be restarted to recover from disk).
func (q *LocalQuorum) Propose(ctx context.Context, recs []Record) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.log == nil {
		return ErrQuorumClosed
	}
	if q.failed != nil {
		return fmt.Errorf("metadata log failed earlier: %w", q.failed)
	}
	if len(recs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("propose metadata: %w", err)
	}
	frame := appendFrame(nil, q.nextOffset, EncodeRecords(recs))
	if len(frame)-frameHeaderSize > maxEntryBytes {
		return fmt.Errorf("metadata entry of %d bytes exceeds the %d byte limit", len(frame), maxEntryBytes)
	}
	if err := q.appendLocked(frame); err != nil {
		return err
	}
	applyErr := q.sm.ApplyEntry(recs)
	q.nextOffset += int64(len(recs))
	q.sinceSnapshot++
	if q.sinceSnapshot >= q.snapshotEvery {
		if err := q.snapshotLocked(); err != nil {
			// The log still holds every entry; the next Propose retries.
			q.logger.Error("metadata snapshot failed", slog.Any("err", err))
		}
	}
	if applyErr != nil {
		return fmt.Errorf("committed metadata entry does not apply: %w", applyErr)
	}
	return nil
}

func (q *LocalQuorum) appendLocked(frame []byte) error {
	if _, err := q.log.WriteAt(frame, q.size); err != nil {
		q.failLocked(fmt.Errorf("write metadata log: %w", err))
		return q.failed
	}
	if err := q.log.Sync(); err != nil {
		q.failLocked(fmt.Errorf("sync metadata log: %w", err))
		return q.failed
	}
	q.size += int64(len(frame))
	return nil
}

// failLocked marks the log failed. It cuts off whatever part of the entry
// reached the file so a restart does not find a committed-looking entry the
// caller was told failed; after a failed fsync the page cache cannot be
// trusted anyway, so the quorum stays failed.
func (q *LocalQuorum) failLocked(err error) {
	q.failed = err
	q.logger.Error("metadata log write failed; refusing further changes", slog.Any("err", err))
	if terr := q.log.Truncate(q.size); terr != nil {
		q.logger.Error("truncate metadata log after failed write", slog.Any("err", terr))
	}
}

// snapshotLocked writes the state machine's snapshot (temp file, fsync,
// rename, fsync dir, as Kafka writes checkpoints) and then restarts the log.
func (q *LocalQuorum) snapshotLocked() error {
	offset, recs := q.sm.Snapshot()
	if offset != q.nextOffset-1 {
		return fmt.Errorf("state machine is at offset %d, log at %d", offset, q.nextOffset-1)
	}
	data := appendFrame(nil, offset, EncodeRecords(recs))
	if err := writeFileDurably(q.dir, snapshotFileName, data); err != nil {
		return err
	}
	q.sinceSnapshot = 0
	// The snapshot is durable; entries left in the log are skipped on replay,
	// so a failed truncate costs space, not correctness.
	if err := q.log.Truncate(0); err != nil {
		return fmt.Errorf("restart metadata log after snapshot: %w", err)
	}
	q.size = 0
	if err := q.log.Sync(); err != nil {
		q.failLocked(fmt.Errorf("sync restarted metadata log: %w", err))
		return q.failed
	}
	q.logger.Info("wrote metadata snapshot", slog.Int64("offset", offset), slog.Int("records", len(recs)))
	return nil
}

// Close closes the log file. Later Proposes return ErrQuorumClosed.
func (q *LocalQuorum) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.log == nil {
		return nil
	}
	err := q.log.Close()
	q.log = nil
	if err != nil {
		return fmt.Errorf("close metadata log: %w", err)
	}
	return nil
}

// frame is one parsed frame: its byte position and its body (version,
// offset, records).
type frame struct {
	pos  int
	body []byte
}

// errTornFrame describes why parsing stopped before the end of the data.
type errTornFrame struct {
	pos    int
	reason string
}

func (e *errTornFrame) Error() string {
	return fmt.Sprintf("bad frame at byte %d: %s", e.pos, e.reason)
}

// parseFrames splits data into frames, checking length and CRC-32C. It stops
// at the first frame that is short, oversized or fails its CRC and returns
// the frames before it, the length of that valid prefix, and why it stopped
// (nil when data ended exactly after a frame).
func parseFrames(data []byte, maxBody int) ([]frame, int, error) {
	var frames []frame
	pos := 0
	for pos < len(data) {
		rest := data[pos:]
		if len(rest) < frameHeaderSize {
			return frames, pos, &errTornFrame{pos, "short frame header"}
		}
		n := binary.BigEndian.Uint32(rest)
		if n < frameBodyMin || uint64(n) > uint64(maxBody) {
			return frames, pos, &errTornFrame{pos, fmt.Sprintf("invalid frame length %d", n)}
		}
		if uint64(len(rest)-frameHeaderSize) < uint64(n) {
			return frames, pos, &errTornFrame{pos, fmt.Sprintf("frame of %d bytes cut at %d", n, len(rest)-frameHeaderSize)}
		}
		body := rest[frameHeaderSize : frameHeaderSize+int(n)]
		if crc32c(body) != binary.BigEndian.Uint32(rest[4:]) {
			return frames, pos, &errTornFrame{pos, "CRC-32C mismatch"}
		}
		frames = append(frames, frame{pos: pos, body: body})
		pos += frameHeaderSize + int(n)
	}
	return frames, pos, nil
}

// decodeFrameBody reads a frame body: version, offset, records.
func decodeFrameBody(body []byte) (int64, []Record, error) {
	if len(body) < frameBodyMin {
		return 0, nil, fmt.Errorf("frame body of %d bytes", len(body))
	}
	if body[0] != frameVersion {
		return 0, nil, fmt.Errorf("frame version %d is not understood by this broker", body[0])
	}
	offset := int64(binary.BigEndian.Uint64(body[1:]))
	if offset < -1 {
		return 0, nil, fmt.Errorf("invalid frame offset %d", offset)
	}
	recs, err := DecodeRecords(body[frameBodyMin:])
	if err != nil {
		return 0, nil, err
	}
	return offset, recs, nil
}

// appendFrame appends [length][crc32c][version offset payload] to b.
func appendFrame(b []byte, offset int64, payload []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(frameBodyMin+len(payload)))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = append(b, frameVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[start+4:], crc32c(b[start+frameHeaderSize:]))
	return b
}

// crc32c is CRC-32C (Castagnoli), the checksum Kafka uses for record
// batches. MakeTable returns the library's shared, read-only table.
func crc32c(b []byte) uint32 {
	return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
}

// writeFileDurably replaces dir/name with data: temp file, fsync, rename,
// fsync of the directory, so a crash leaves the old file or the new one.
func writeFileDurably(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, snapshotTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	dst := filepath.Join(dir, name)
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, dst, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
