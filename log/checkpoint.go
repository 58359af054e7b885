package log

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// offsetCheckpointVersion is the version of Kafka's OffsetCheckpointFile
// (recovery-point-offset-checkpoint, log-start-offset-checkpoint,
// replication-offset-checkpoint).
const offsetCheckpointVersion = 0

// WriteCheckpointFile writes a Kafka checkpoint file: a version line, a count
// line, then one line per entry, each ending in '\n'. Like Kafka's
// CheckpointFile.write it writes "<path>.tmp", fsyncs it, renames it over path
// and fsyncs the directory, so a crash leaves either the old or the new file,
// never a torn one. Lines must not contain '\n' or '\r'. Calls for the same
// path must not run concurrently (they share the temporary file); Kafka's
// CheckpointFile serialises them with a lock per file, samsa's callers own
// their files and write them from one place.
func WriteCheckpointFile(path string, version int, lines []string) error {
	data, err := formatCheckpoint(version, lines)
	if err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	if err := replaceFileDurably(path, data); err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	return nil
}

// formatCheckpoint renders a checkpoint file's contents.
func formatCheckpoint(version int, lines []string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(strconv.Itoa(version))
	buf.WriteByte('\n')
	buf.WriteString(strconv.Itoa(len(lines)))
	buf.WriteByte('\n')
	for i, line := range lines {
		if strings.ContainsAny(line, "\r\n") {
			return nil, fmt.Errorf("line %d contains a line break", i)
		}
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// ReadCheckpointFile reads a file written by WriteCheckpointFile (or by
// Kafka) and returns its version and entry lines; parsing the lines is the
// caller's. A count line that disagrees with the number of lines, or a
// version or count that is not a decimal number, is an error wrapping
// ErrCorruptCheckpoint. A missing file is an error wrapping fs.ErrNotExist.
// Like Kafka's CheckpointFile reader, an empty file reads as version 0 with
// no entries and a file with only a version line as that version with none.
func ReadCheckpointFile(path string) (version int, lines []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	version, lines, err = parseCheckpoint(data)
	if err != nil {
		return 0, nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	return version, lines, nil
}

// parseCheckpoint splits checkpoint file contents into version and entry
// lines. Lines end in "\n" (or "\r\n", as Java's readLine also accepts); the
// last line may lack its terminator.
func parseCheckpoint(data []byte) (int, []string, error) {
	text := string(data)
	if text == "" {
		return 0, nil, nil
	}
	all := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i := range all {
		all[i] = strings.TrimSuffix(all[i], "\r")
	}
	version, err := strconv.Atoi(all[0])
	if err != nil {
		return 0, nil, fmt.Errorf("%w: version line %q is not a number", ErrCorruptCheckpoint, all[0])
	}
	if len(all) == 1 {
		return version, nil, nil
	}
	count, err := strconv.Atoi(all[1])
	if err != nil || count < 0 {
		return 0, nil, fmt.Errorf("%w: count line %q is not a non-negative number", ErrCorruptCheckpoint, all[1])
	}
	entries := all[2:]
	if len(entries) != count {
		return 0, nil, fmt.Errorf("%w: expected %d entries, found %d", ErrCorruptCheckpoint, count, len(entries))
	}
	return version, entries, nil
}

// WriteOffsetCheckpoint writes an offset checkpoint in Kafka's
// OffsetCheckpointFile format, version 0: "<topic> <partition> <offset>" per
// line, sorted by topic and partition so the file is deterministic.
func WriteOffsetCheckpoint(path string, offsets map[TopicPartition]int64) error {
	return WriteCheckpointFile(path, offsetCheckpointVersion, offsetCheckpointLines(offsets))
}

func offsetCheckpointLines(offsets map[TopicPartition]int64) []string {
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	lines := make([]string, len(tps))
	for i, tp := range tps {
		lines[i] = tp.Topic + " " + strconv.FormatInt(int64(tp.Partition), 10) + " " + strconv.FormatInt(offsets[tp], 10)
	}
	return lines
}

// ReadOffsetCheckpoint reads a file written by WriteOffsetCheckpoint. A
// missing file is an empty map and no error (a new log dir). A wrong version,
// a line that is not "<topic> <partition> <offset>" with a legal topic and
// non-negative numbers, or a partition listed twice, is an error wrapping
// ErrCorruptCheckpoint.
func ReadOffsetCheckpoint(path string) (map[TopicPartition]int64, error) {
	version, lines, err := ReadCheckpointFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	offsets, err := parseOffsetCheckpoint(version, lines)
	if err != nil {
		return nil, fmt.Errorf("read offset checkpoint %s: %w", path, err)
	}
	return offsets, nil
}

func parseOffsetCheckpoint(version int, lines []string) (map[TopicPartition]int64, error) {
	if version != offsetCheckpointVersion {
		return nil, fmt.Errorf("%w: version %d, expected %d", ErrCorruptCheckpoint, version, offsetCheckpointVersion)
	}
	offsets := make(map[TopicPartition]int64, len(lines))
	for i, line := range lines {
		tp, offset, err := parseOffsetLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d %q: %v", ErrCorruptCheckpoint, i, line, err)
		}
		if _, dup := offsets[tp]; dup {
			return nil, fmt.Errorf("%w: entry %d: %s listed twice", ErrCorruptCheckpoint, i, tp)
		}
		offsets[tp] = offset
	}
	return offsets, nil
}

// parseOffsetLine parses "<topic> <partition> <offset>". Kafka splits on
// runs of white space; topic names cannot contain any.
func parseOffsetLine(line string) (TopicPartition, int64, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return TopicPartition{}, 0, fmt.Errorf("want 3 fields, got %d", len(f))
	}
	if err := validateTopicName(f[0]); err != nil {
		return TopicPartition{}, 0, err
	}
	p, err := strconv.ParseInt(f[1], 10, 32)
	if err != nil || p < 0 {
		return TopicPartition{}, 0, fmt.Errorf("partition %q is not a non-negative int32", f[1])
	}
	off, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || off < 0 {
		return TopicPartition{}, 0, fmt.Errorf("offset %q is not a non-negative int64", f[2])
	}
	return TopicPartition{Topic: f[0], Partition: int32(p)}, off, nil
}

// replaceFileDurably replaces path with data durably: write "<path>.tmp",
// fsync it, rename it over path, fsync the directory so the rename itself
// survives a power loss (Kafka's Utils.atomicMoveWithFallback + flushDir).
func replaceFileDurably(path string, data []byte) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return fsyncDirectory(filepath.Dir(path))
}

// fsyncDirectory fsyncs a directory so that renames, creations and removals in it
// are durable.
func fsyncDirectory(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close dir %s: %w", dir, err)
	}
	return nil
}
