package log

import (
	"fmt"
	"math"
	"strings"
)

// Config is the per-log configuration, resolved from broker defaults and
// topic overrides by the caller. Field names follow Kafka's topic configs.
type Config struct {
	SegmentBytes           int64 // segment.bytes: roll when the next batch would not fit
	SegmentMs              int64 // segment.ms: roll when the segment's first batch is this old
	IndexIntervalBytes     int   // index.interval.bytes: bytes between offset index entries
	MaxIndexBytes          int   // segment.index.bytes: roll when the offset or time index is full
	RetentionMs            int64 // retention.ms, -1 keeps segments forever
	RetentionBytes         int64 // retention.bytes, -1 is unlimited
	FlushMessages          int64 // flush.messages: fsync after this many unflushed records (MaxInt64 never)
	FlushMs                int64 // flush.ms: fsync when the last flush is this old (MaxInt64 never)
	FileDeleteDelayMs      int64 // file.delete.delay.ms: how long deleted segment files linger
	ProducerIDExpirationMs int64 // producer.id.expiration.ms (KIP-854), read when the log opens

	CleanupPolicy          CleanupPolicy // cleanup.policy: retention (delete) and/or compaction (compact)
	DeleteRetentionMs      int64         // delete.retention.ms: how long compaction keeps tombstones (KIP-534)
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio: dirty/total bytes that make a log worth cleaning
	MinCompactionLagMs     int64         // min.compaction.lag.ms: records younger than this are not compacted
	MaxCompactionLagMs     int64         // max.compaction.lag.ms: dirty records older than this force a cleaning
}

// CleanupPolicy is a log's cleanup.policy (Kafka's LogConfig.delete and
// .compact): Delete applies retention.ms and retention.bytes, Compact has
// the log cleaner keep only the latest record of each key. Both may be set
// ("compact,delete"); with neither, segments leave only through the log
// start offset (DeleteRecords).
type CleanupPolicy struct {
	Delete  bool
	Compact bool
}

// CleanupPolicyOf reads cleanup.policy's list of names. Names other than
// "delete" and "compact" are ignored: the config package rejects them.
func CleanupPolicyOf(names []string) CleanupPolicy {
	var p CleanupPolicy
	for _, n := range names {
		switch strings.TrimSpace(n) {
		case "delete":
			p.Delete = true
		case "compact":
			p.Compact = true
		}
	}
	return p
}

// String renders the policy as cleanup.policy's value.
func (p CleanupPolicy) String() string {
	switch {
	case p.Compact && p.Delete:
		return "compact,delete"
	case p.Compact:
		return "compact"
	case p.Delete:
		return "delete"
	}
	return ""
}

// DefaultConfig returns Kafka's defaults for the settings in Config.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * 24 * 60 * 60 * 1000,
		IndexIntervalBytes:     4096,
		MaxIndexBytes:          10 << 20,
		RetentionMs:            7 * 24 * 60 * 60 * 1000,
		RetentionBytes:         -1,
		FlushMessages:          math.MaxInt64,
		FlushMs:                math.MaxInt64,
		FileDeleteDelayMs:      60_000,
		ProducerIDExpirationMs: 24 * 60 * 60 * 1000,
		CleanupPolicy:          CleanupPolicy{Delete: true},
		DeleteRetentionMs:      24 * 60 * 60 * 1000,
		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
	}
}

// Validate reports settings the log cannot work with. The config package
// enforces Kafka's documented bounds; these are the ones the storage engine
// relies on itself.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < minSegmentBytes:
		return fmt.Errorf("segment.bytes %d is below %d", c.SegmentBytes, minSegmentBytes)
	case c.SegmentBytes > math.MaxInt32:
		// Index positions are uint32 and Kafka caps segment.bytes at MaxInt32.
		return fmt.Errorf("segment.bytes %d is above %d", c.SegmentBytes, math.MaxInt32)
	case c.SegmentMs < 1:
		return fmt.Errorf("segment.ms %d is below 1", c.SegmentMs)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("index.interval.bytes %d is negative", c.IndexIntervalBytes)
	case c.MaxIndexBytes < timeIndexEntrySize:
		return fmt.Errorf("segment.index.bytes %d is below %d", c.MaxIndexBytes, timeIndexEntrySize)
	case c.FlushMessages < 1:
		return fmt.Errorf("flush.messages %d is below 1", c.FlushMessages)
	case c.FlushMs < 0:
		return fmt.Errorf("flush.ms %d is negative", c.FlushMs)
	case c.FileDeleteDelayMs < 0:
		return fmt.Errorf("file.delete.delay.ms %d is negative", c.FileDeleteDelayMs)
	case c.DeleteRetentionMs < 0:
		return fmt.Errorf("delete.retention.ms %d is negative", c.DeleteRetentionMs)
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1):
		return fmt.Errorf("min.cleanable.dirty.ratio %v is not in [0, 1]", c.MinCleanableDirtyRatio)
	case c.MinCompactionLagMs < 0:
		return fmt.Errorf("min.compaction.lag.ms %d is negative", c.MinCompactionLagMs)
	case c.MaxCompactionLagMs < 1:
		return fmt.Errorf("max.compaction.lag.ms %d is below 1", c.MaxCompactionLagMs)
	case c.MinCompactionLagMs > c.MaxCompactionLagMs:
		// Kafka's LogConfig.validate: "conflict topic config setting
		// min.compaction.lag.ms > max.compaction.lag.ms".
		return fmt.Errorf("min.compaction.lag.ms %d is above max.compaction.lag.ms %d", c.MinCompactionLagMs, c.MaxCompactionLagMs)
	}
	return nil
}

// minSegmentBytes is the smallest segment that can hold a batch header. Kafka's
// own minimum (14, LegacyRecord.RECORD_OVERHEAD_V0) predates v2 batches.
const minSegmentBytes = 61
