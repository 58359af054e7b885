package log

import "errors"

// Sentinel errors of the storage engine. Callers test them with errors.Is;
// handlers map them to Kafka error codes (the log itself knows no codes).
var (
	// ErrOffsetOutOfRange means a read asked for an offset outside
	// [log start offset, log end offset] (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrOutOfOrderSequence means an idempotent batch does not continue its
	// producer's sequence (OUT_OF_ORDER_SEQUENCE_NUMBER), as Kafka's
	// ProducerAppendInfo.checkSequence decides.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch means a produce carries a producer epoch older
	// than the one the partition has seen (INVALID_PRODUCER_EPOCH; Kafka
	// answers this, not PRODUCER_FENCED, on Produce since 2.7).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrLogClosed means the log or partition was closed or deleted while
	// the caller used it.
	ErrLogClosed = errors.New("log closed")
	// ErrMessageTooLarge means a batch is larger than a segment can hold or
	// than max.message.bytes allows (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("message too large")
	// ErrCorruptCheckpoint means a checkpoint file (offset checkpoints,
	// leader-epoch-checkpoint) exists but does not parse. Kafka treats such
	// a file as a storage error of its log dir.
	ErrCorruptCheckpoint = errors.New("corrupt checkpoint file")
	// ErrCorruptSnapshot means a producer-state snapshot failed its CRC or
	// does not decode. LoadSnapshot skips and deletes such a snapshot, as
	// Kafka's ProducerStateManager does, and logs this error at WARN.
	ErrCorruptSnapshot = errors.New("corrupt producer state snapshot")
	// ErrNoKeyOnCompactedTopic means a leader append to a log with
	// cleanup.policy=compact holds a record without a key (INVALID_RECORD,
	// Kafka's LogValidator: "Compacted topic cannot accept message without
	// key"). The error returned also wraps record.ErrInvalidRecord.
	ErrNoKeyOnCompactedTopic = errors.New("compacted topic cannot accept message without key")
)
