package log

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// swapStage names the points of a swap at which a crash leaves a distinct
// set of files (the test hook stops there).
type swapStage int

const (
	stageCleaned    swapStage = iota // "<base>.*.cleaned" written and fsynced
	stageSwap                        // renamed to "<base>.*.swap", directory fsynced
	stageOldDeleted                  // the replaced segments' files renamed to "*.deleted"
	stageDone                        // ".swap" renamed to the final names, directory fsynced
)

// errSwapInterrupted means the test hook stopped a swap: the files stay as
// a crash at that stage would leave them.
var errSwapInterrupted = errors.New("segment swap interrupted")

// replaceWithCleaned swaps the cleaned segment in for old, as Kafka's
// LocalLog.replaceSegments does, crash-safely: the .cleaned files are
// renamed to .swap (from then on a restart completes the swap), the old
// segments' files are renamed to .deleted, the .swap files take the final
// names, and only then does the segment list change. It holds writeMu for
// the swap alone, and mu only to change the list, so reads and appends go
// on while the cleaner works; a read holds mu for its whole lookup and
// pread, so none is left on an old segment when its files close. The swap
// is aborted (errCleaningAborted; nothing changed) when the log was closed,
// taken offline or truncated since the cleaning began, or old is no longer
// part of it (retention or DeleteRecords removed a segment). A failure
// after the first rename takes the log offline: its files are then in a
// state the next start finishes.
func (l *Log) replaceWithCleaned(old []*segment, c *cleanedSegment, truncations int64, hook func(swapStage) error, now time.Time) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return fmt.Errorf("%w: %v", errCleaningAborted, err)
	}
	if l.truncations.Load() != truncations {
		return fmt.Errorf("%w: the log was truncated", errCleaningAborted)
	}
	i := slices.Index(l.segments, old[0])
	if i < 0 || i+len(old) >= len(l.segments) || !slices.Equal(l.segments[i:i+len(old)], old) {
		return fmt.Errorf("%w: segments were deleted", errCleaningAborted)
	}
	stop := func(stage swapStage) error {
		if hook == nil {
			return nil
		}
		if err := hook(stage); err != nil {
			return fmt.Errorf("%w at stage %d: %v", errSwapInterrupted, stage, err)
		}
		return nil
	}
	if err := stop(stageCleaned); err != nil {
		return err
	}
	// A failure from here on takes the log offline: its files are in a
	// state only the next start's recovery finishes.
	fail := func(err error) error {
		return l.failLocked(fmt.Errorf("swap cleaned segment into %s: %w", l.tp, err))
	}
	paths := c.finalPaths()
	renameAll := func(fromSuffix, toSuffix string) error {
		for _, p := range paths {
			if err := os.Rename(p+fromSuffix, p+toSuffix); err != nil {
				return err
			}
		}
		return fsyncDirectory(l.dir)
	}
	if err := renameAll(cleanedSuffix, swapSuffix); err != nil {
		return fail(err)
	}
	if err := stop(stageSwap); err != nil {
		return err
	}
	for _, s := range old {
		if err := s.markDeleted(); err != nil {
			return fail(err)
		}
	}
	// Kafka fsyncs the directory only at the end; doing it here too means
	// no old segment can reappear beside the final names after a power
	// loss, whatever order the file system persists renames in.
	if err := fsyncDirectory(l.dir); err != nil {
		return fail(err)
	}
	if err := stop(stageOldDeleted); err != nil {
		return err
	}
	if err := renameAll(swapSuffix, ""); err != nil {
		return fail(err)
	}
	seg := c.toSegment(l.config(), now)
	l.mu.Lock()
	l.segments = slices.Concat(l.segments[:i], []*segment{seg}, l.segments[i+len(old):])
	l.mu.Unlock()
	due := now.Add(time.Duration(l.config().FileDeleteDelayMs) * time.Millisecond)
	for _, s := range old {
		l.pending = append(l.pending, pendingDeletion{seg: s, due: due})
	}
	if err := l.removePendingLocked(now, false); err != nil {
		l.logger.Warn("removing replaced segment failed", slog.Any("error", err))
	}
	return stop(stageDone)
}

// recoverInterruptedSwap finishes or undoes a swap a crash interrupted, as
// Kafka's LogLoader does before loading segments:
//   - every "*.cleaned" file is removed, and with it every "*.swap" file
//     whose base is not below the lowest .cleaned one (the cleaned segment
//     had not been wholly renamed: the old segments are intact);
//   - for the remaining .swap segments, the old segments' files with a base
//     in [lowest swap base, highest swap next offset) are removed, and the
//     .swap files renamed to their final names.
func (l *Log) recoverInterruptedSwap() error {
	des, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", l.dir, err)
	}
	var cleaned, swaps []string
	minCleaned := int64(math.MaxInt64)
	for _, de := range des {
		name := de.Name()
		if de.IsDir() {
			continue
		}
		base, ok := parseFileBase(name)
		switch {
		case !ok:
		case strings.HasSuffix(name, cleanedSuffix):
			cleaned = append(cleaned, name)
			minCleaned = min(minCleaned, base)
		case strings.HasSuffix(name, swapSuffix):
			swaps = append(swaps, name)
		}
	}
	if len(cleaned) == 0 && len(swaps) == 0 {
		return nil
	}
	remove := func(name, why string) error {
		l.logger.Info(why, slog.String("file", name))
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("recover interrupted swap: %w", err)
		}
		return nil
	}
	var valid []string
	for _, name := range swaps {
		if base, _ := parseFileBase(name); base >= minCleaned {
			if err := remove(name, "removing swap file of an unfinished swap"); err != nil {
				return err
			}
			continue
		}
		valid = append(valid, name)
	}
	for _, name := range cleaned {
		if err := remove(name, "removing cleaned file of an unfinished cleaning"); err != nil {
			return err
		}
	}
	minSwap, maxSwap := int64(math.MaxInt64), int64(math.MinInt64)
	for _, name := range valid {
		if !strings.HasSuffix(name, logSuffix+swapSuffix) {
			continue
		}
		base, _ := parseFileBase(name)
		next, err := swapSegmentNextOffset(filepath.Join(l.dir, name), base)
		if err != nil {
			return err
		}
		minSwap, maxSwap = min(minSwap, base), max(maxSwap, next)
	}
	for _, de := range des {
		name := de.Name()
		base, ok := parseFileBase(name)
		if !ok || de.IsDir() || !isSegmentFile(name) || base < minSwap || base >= maxSwap {
			continue
		}
		if err := remove(name, "removing segment file replaced by an interrupted swap"); err != nil {
			return err
		}
	}
	for _, name := range valid {
		l.logger.Info("completing interrupted swap", slog.String("file", name))
		from := filepath.Join(l.dir, name)
		if err := os.Rename(from, strings.TrimSuffix(from, swapSuffix)); err != nil {
			return fmt.Errorf("recover interrupted swap: %w", err)
		}
	}
	return fsyncDirectory(l.dir)
}

// parseFileBase reads the 20-digit offset a segment or cleaner file name
// starts with ("00000000000000001234.log.swap").
func parseFileBase(name string) (int64, bool) {
	if len(name) <= offsetDigits || name[offsetDigits] != '.' {
		return 0, false
	}
	return parseSegmentBase(name[:offsetDigits+1], ".")
}

// isSegmentFile reports whether name is a segment's .log, .index or
// .timeindex under its final name.
func isSegmentFile(name string) bool {
	ext := name[offsetDigits:]
	return ext == logSuffix || ext == indexSuffix || ext == timeIndexSuffix
}

// swapSegmentNextOffset returns the offset after the last batch of a .swap
// segment file (its base when it holds none), Kafka's readNextOffset.
func swapSegmentNextOffset(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("recover interrupted swap: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("recover interrupted swap: %w", err)
	}
	next := base
	sc := newBatchScanner(f, 0, st.Size(), scanChunkSize, false)
	for {
		h, _, _, err := sc.next()
		if err == io.EOF || errors.Is(err, errTornBatch) {
			// The file was fsynced before it was renamed; a torn tail
			// would be cut by recovery all the same.
			return next, nil
		}
		if err != nil {
			return 0, fmt.Errorf("recover interrupted swap: read %s: %w", path, err)
		}
		next = h.NextOffset()
	}
}
