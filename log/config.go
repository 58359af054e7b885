package log

import (
	"fmt"
	"math"
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
	}
	return nil
}

// minSegmentBytes is the smallest segment that can hold a batch header. Kafka's
// own minimum (14, LegacyRecord.RECORD_OVERHEAD_V0) predates v2 batches.
const minSegmentBytes = 61
