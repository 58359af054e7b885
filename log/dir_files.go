package log

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Names of the files a log dir holds besides its partitions (Kafka's
// LogManager, MetaPropertiesEnsemble, CleanShutdownFileHandler).
const (
	metaPropertiesFile        = "meta.properties"
	cleanShutdownFile         = ".kafka_cleanshutdown"
	lockFile                  = ".lock"
	recoveryPointCheckpoint   = "recovery-point-offset-checkpoint"
	logStartOffsetCheckpoint  = "log-start-offset-checkpoint"
	replicationCheckpoint     = "replication-offset-checkpoint"
	cleanerOffsetCheckpoint   = "cleaner-offset-checkpoint"
	partitionMetadataFile     = "partition.metadata"
	deleteDirSuffix           = "-delete"
	metaPropertiesVersion     = 1
	partitionMetadataVersion  = 0
	cleanShutdownFileContents = `{"version":0,"brokerEpoch":-1}` + "\n"
	reservedDirectoryIDs      = 100 // Kafka's DirectoryId reserves the lowest UUIDs (UNASSIGNED, LOST, MIGRATING, ...)
	encodedUUIDLen            = 22
	metaPropertiesHeader      = "#\n#Written by samsa\n"
)

// metaProperties is a log dir's meta.properties, version 1 (KRaft).
type metaProperties struct {
	nodeID      int32
	clusterID   string // "" until the cluster is known
	directoryID [16]byte
}

// encodeUUID renders a UUID as Kafka does (Uuid.toString): URL-safe base64
// without padding, 22 characters.
func encodeUUID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// decodeUUID parses Kafka's UUID form.
func decodeUUID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != encodedUUIDLen {
		return id, fmt.Errorf("uuid %q is not %d characters", s, encodedUUIDLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("uuid %q is not URL-safe base64 of 16 bytes", s)
	}
	copy(id[:], b)
	return id, nil
}

// randomDirectoryID returns a new directory ID, avoiding the reserved ones
// and IDs whose string form starts with '-' (Kafka's Uuid.randomUuid and
// DirectoryId.random do the same, to keep them usable on command lines).
func randomDirectoryID() [16]byte {
	for {
		var id [16]byte
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
		reserved := bytes.Equal(id[:15], make([]byte, 15)) && id[15] < reservedDirectoryIDs
		if !reserved && encodeUUID(id)[0] != '-' {
			return id
		}
	}
}

// readMetaProperties reads "<dir>/meta.properties"; ok is false when there
// is none.
func readMetaProperties(dir string) (mp metaProperties, ok bool, err error) {
	path := filepath.Join(dir, metaPropertiesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return mp, false, nil
	}
	if err != nil {
		return mp, false, fmt.Errorf("read %s: %w", path, err)
	}
	props := parseProperties(data)
	if v := props["version"]; v != strconv.Itoa(metaPropertiesVersion) {
		return mp, false, fmt.Errorf("read %s: version %q, samsa reads version %d (KRaft)", path, v, metaPropertiesVersion)
	}
	id, err := strconv.ParseInt(props["node.id"], 10, 32)
	if err != nil {
		return mp, false, fmt.Errorf("read %s: node.id %q is not an int32", path, props["node.id"])
	}
	mp.nodeID = int32(id)
	mp.clusterID = props["cluster.id"]
	if s, ok := props["directory.id"]; ok { // absent in files of older Kafka versions: the caller adds one
		if mp.directoryID, err = decodeUUID(s); err != nil {
			return mp, false, fmt.Errorf("read %s: directory.id: %w", path, err)
		}
	}
	return mp, true, nil
}

// parseProperties reads the subset of Java's properties format Kafka writes:
// "key=value" lines, '#' and '!' comments, blank lines.
func parseProperties(data []byte) map[string]string {
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, _ = strings.Cut(line, ":")
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return props
}

// writeMetaProperties writes meta.properties durably, keys sorted.
func writeMetaProperties(dir string, mp metaProperties) error {
	props := map[string]string{
		"version":      strconv.Itoa(metaPropertiesVersion),
		"node.id":      strconv.FormatInt(int64(mp.nodeID), 10),
		"directory.id": encodeUUID(mp.directoryID),
	}
	if mp.clusterID != "" {
		props["cluster.id"] = mp.clusterID
	}
	var buf bytes.Buffer
	buf.WriteString(metaPropertiesHeader)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&buf, "%s=%s\n", k, props[k])
	}
	path := filepath.Join(dir, metaPropertiesFile)
	if err := replaceFileDurably(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readPartitionMetadata reads a partition's topic ID from partition.metadata
// ("version: 0\ntopic_id: <uuid>\n", Kafka's PartitionMetadataFile); ok is
// false when the file is missing.
func readPartitionMetadata(partitionDir string) (topicID [16]byte, ok bool, err error) {
	path := filepath.Join(partitionDir, partitionMetadataFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return topicID, false, nil
	}
	if err != nil {
		return topicID, false, fmt.Errorf("read %s: %w", path, err)
	}
	props := parseProperties(data)
	if v := props["version"]; v != strconv.Itoa(partitionMetadataVersion) {
		return topicID, false, fmt.Errorf("read %s: version %q, expected %d", path, v, partitionMetadataVersion)
	}
	if topicID, err = decodeUUID(props["topic_id"]); err != nil {
		return topicID, false, fmt.Errorf("read %s: topic_id: %w", path, err)
	}
	return topicID, true, nil
}

func writePartitionMetadata(partitionDir string, topicID [16]byte) error {
	path := filepath.Join(partitionDir, partitionMetadataFile)
	data := fmt.Sprintf("version: %d\ntopic_id: %s\n", partitionMetadataVersion, encodeUUID(topicID))
	if err := replaceFileDurably(path, []byte(data)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeCleanShutdownMarker writes the marker durably: its presence at the
// next start says every log of the dir was flushed and closed.
func writeCleanShutdownMarker(dir string) error {
	path := filepath.Join(dir, cleanShutdownFile)
	if err := replaceFileDurably(path, []byte(cleanShutdownFileContents)); err != nil {
		return fmt.Errorf("write clean shutdown marker: %w", err)
	}
	return nil
}

// removeCleanShutdownMarker removes the marker durably, so that a crash from
// now on is seen as unclean.
func removeCleanShutdownMarker(dir string) error {
	if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove clean shutdown marker: %w", err)
	}
	return fsyncDirectory(dir)
}
