package log

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const (
	// leaderEpochCheckpointName is the cache's file in a partition
	// directory, named as Kafka names it.
	leaderEpochCheckpointName = "leader-epoch-checkpoint"
	// leaderEpochCheckpointVersion is LeaderEpochCheckpointFile's version.
	leaderEpochCheckpointVersion = 0
	// undefinedEpoch and undefinedEpochOffset are Kafka's
	// OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH(_OFFSET).
	undefinedEpoch       = -1
	undefinedEpochOffset = -1
)

// EpochEntry says that the records of leader epoch Epoch start at
// StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// LeaderEpochCache is Kafka's LeaderEpochFileCache: the start offset of each
// leader epoch present in a partition's log, used to answer
// OffsetForLeaderEpoch and to find where a follower's log diverges from its
// leader's (KIP-101, KIP-279). Entries are strictly increasing in both epoch
// and start offset. Every change is written to
// <partitionDir>/leader-epoch-checkpoint before it becomes visible in
// memory, so the file never lacks an entry the cache has handed out (Kafka
// flushes truncations asynchronously; samsa writes them synchronously, which
// is simpler and equally correct). Safe for concurrent use.
type LeaderEpochCache struct {
	path string

	mu      sync.RWMutex
	entries []EpochEntry // ascending by Epoch and by StartOffset
}

// OpenLeaderEpochCache loads the cache of the partition directory dir. A
// missing checkpoint is an empty cache. Like Kafka's constructor, the file's
// entries are re-assigned one by one, so entries that break monotonicity are
// dropped rather than trusted. A malformed file is an error wrapping
// ErrCorruptCheckpoint.
func OpenLeaderEpochCache(dir string) (*LeaderEpochCache, error) {
	c := &LeaderEpochCache{path: filepath.Join(dir, leaderEpochCheckpointName)}
	version, lines, err := ReadCheckpointFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open leader epoch cache: %w", err)
	}
	loaded, err := parseLeaderEpochCheckpoint(version, lines)
	if err != nil {
		return nil, fmt.Errorf("open leader epoch cache %s: %w", c.path, err)
	}
	c.entries = assignEpochs(loaded)
	return c, nil
}

// assignEpochs assigns entries one by one to an empty cache, as Kafka's
// constructor does with the checkpoint's entries.
func assignEpochs(entries []EpochEntry) []EpochEntry {
	var out []EpochEntry
	for _, e := range entries {
		out, _ = assignEpoch(out, e)
	}
	return out
}

func parseLeaderEpochCheckpoint(version int, lines []string) ([]EpochEntry, error) {
	if version != leaderEpochCheckpointVersion {
		return nil, fmt.Errorf("%w: version %d, expected %d", ErrCorruptCheckpoint, version, leaderEpochCheckpointVersion)
	}
	entries := make([]EpochEntry, 0, len(lines))
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: entry %d %q: want \"<epoch> <startOffset>\"", ErrCorruptCheckpoint, i, line)
		}
		epoch, err1 := strconv.ParseInt(f[0], 10, 32)
		start, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || start < 0 {
			return nil, fmt.Errorf("%w: entry %d %q: epoch and start offset must be non-negative numbers", ErrCorruptCheckpoint, i, line)
		}
		entries = append(entries, EpochEntry{Epoch: int32(epoch), StartOffset: start})
	}
	return entries, nil
}

// Assign records that epoch starts at startOffset, as Kafka's assign does:
// nothing changes if epoch is already the latest epoch and starts at or
// before startOffset; otherwise every entry from the end whose epoch is >=
// epoch or whose start offset is >= startOffset is removed (it conflicts with
// the new entry) and the entry is appended. Epoch and offset must be
// non-negative.
func (c *LeaderEpochCache) Assign(epoch int32, startOffset int64) error {
	if epoch < 0 || startOffset < 0 {
		return fmt.Errorf("assign leader epoch %d at offset %d: epoch and offset must be non-negative", epoch, startOffset)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next, changed := assignEpoch(c.entries, EpochEntry{Epoch: epoch, StartOffset: startOffset})
	if !changed {
		return nil
	}
	if err := c.replaceLocked(next); err != nil {
		return fmt.Errorf("assign leader epoch %d at offset %d: %w", epoch, startOffset, err)
	}
	return nil
}

// assignEpoch returns entries with e assigned (Kafka's isUpdateNeeded and
// maybeTruncateNonMonotonicEntries) and whether anything changed. It never
// modifies entries in place.
func assignEpoch(entries []EpochEntry, e EpochEntry) ([]EpochEntry, bool) {
	if n := len(entries); n > 0 {
		latest := entries[n-1]
		if e.Epoch == latest.Epoch && e.StartOffset >= latest.StartOffset {
			return entries, false
		}
	}
	keep := len(entries)
	for keep > 0 && (entries[keep-1].Epoch >= e.Epoch || entries[keep-1].StartOffset >= e.StartOffset) {
		keep--
	}
	next := make([]EpochEntry, keep, keep+1)
	copy(next, entries[:keep])
	return append(next, e), true
}

// LatestEpoch returns the newest epoch in the cache; false if it is empty.
func (c *LeaderEpochCache) LatestEpoch() (int32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) == 0 {
		return 0, false
	}
	return c.entries[len(c.entries)-1].Epoch, true
}

// Entries returns a copy of the cache's entries, oldest first.
func (c *LeaderEpochCache) Entries() []EpochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.entries)
}

// EpochStartOffset returns the start offset of exactly epoch; false if the
// cache has no entry for it.
func (c *LeaderEpochCache) EpochStartOffset(epoch int32) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, found := c.searchLocked(epoch)
	if !found {
		return 0, false
	}
	return c.entries[i].StartOffset, true
}

// EndOffsetFor answers OffsetForLeaderEpoch as Kafka's endOffsetFor does:
// the largest epoch <= requestedEpoch and the offset where it ends, i.e. the
// start offset of the next larger epoch, or logEndOffset when requestedEpoch
// is the latest epoch. A requested epoch older than every cached epoch
// returns itself and the first cached start offset (the older data is gone;
// the follower may replicate from there). An undefined (-1) requested epoch,
// a requested epoch newer than every cached one, and an empty cache return
// (-1, -1).
func (c *LeaderEpochCache) EndOffsetFor(requestedEpoch int32, logEndOffset int64) (foundEpoch int32, endOffset int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := len(c.entries)
	if requestedEpoch == undefinedEpoch || n == 0 {
		return undefinedEpoch, undefinedEpochOffset
	}
	if c.entries[n-1].Epoch == requestedEpoch {
		return requestedEpoch, logEndOffset
	}
	// higher is the first entry with Epoch > requestedEpoch.
	higher, found := c.searchLocked(requestedEpoch)
	if found {
		higher++
	}
	switch {
	case higher == n:
		return undefinedEpoch, undefinedEpochOffset
	case higher == 0:
		return requestedEpoch, c.entries[0].StartOffset
	default:
		return c.entries[higher-1].Epoch, c.entries[higher].StartOffset
	}
}

// TruncateFromEnd removes every entry whose start offset is >= endOffset,
// after the log was truncated to endOffset (Kafka's truncateFromEnd). A
// negative endOffset changes nothing.
func (c *LeaderEpochCache) TruncateFromEnd(endOffset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if endOffset < 0 {
		return nil
	}
	keep := len(c.entries)
	for keep > 0 && c.entries[keep-1].StartOffset >= endOffset {
		keep--
	}
	if keep == len(c.entries) {
		return nil
	}
	if err := c.replaceLocked(slices.Clone(c.entries[:keep])); err != nil {
		return fmt.Errorf("truncate leader epoch cache from end offset %d: %w", endOffset, err)
	}
	return nil
}

// TruncateFromStart follows the log start offset moving to startOffset
// (retention, DeleteRecords), as Kafka's truncateFromStart does: entries
// starting at or before startOffset are removed, and the newest of them comes
// back starting at startOffset, since the records at startOffset belong to
// its epoch. An entry starting exactly at startOffset is thus kept as is.
func (c *LeaderEpochCache) TruncateFromStart(startOffset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	removed := 0
	for removed < len(c.entries) && c.entries[removed].StartOffset <= startOffset {
		removed++
	}
	if removed == 0 {
		return nil
	}
	first := EpochEntry{Epoch: c.entries[removed-1].Epoch, StartOffset: startOffset}
	if removed == 1 && c.entries[0] == first {
		return nil
	}
	next := append([]EpochEntry{first}, c.entries[removed:]...)
	if err := c.replaceLocked(next); err != nil {
		return fmt.Errorf("truncate leader epoch cache from start offset %d: %w", startOffset, err)
	}
	return nil
}

// Reset removes every entry (Kafka's clearAndFlush), e.g. when the log is
// truncated fully.
func (c *LeaderEpochCache) Reset() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.replaceLocked(nil); err != nil {
		return fmt.Errorf("reset leader epoch cache: %w", err)
	}
	return nil
}

// searchLocked finds epoch among the entries: its index and true, or the
// index where it would be inserted and false.
func (c *LeaderEpochCache) searchLocked(epoch int32) (int, bool) {
	return slices.BinarySearchFunc(c.entries, epoch, func(e EpochEntry, target int32) int {
		return int(e.Epoch) - int(target)
	})
}

// replaceLocked writes next to the checkpoint file and, once that succeeded,
// makes it the cache's state; on a write error the cache keeps its previous
// entries, which the file still holds (the write is atomic).
func (c *LeaderEpochCache) replaceLocked(next []EpochEntry) error {
	if err := WriteCheckpointFile(c.path, leaderEpochCheckpointVersion, leaderEpochLines(next)); err != nil {
		return err
	}
	c.entries = next
	return nil
}

func leaderEpochLines(entries []EpochEntry) []string {
	lines := make([]string, len(entries))
	for i, e := range entries {
		lines[i] = strconv.FormatInt(int64(e.Epoch), 10) + " " + strconv.FormatInt(e.StartOffset, 10)
	}
	return lines
}
