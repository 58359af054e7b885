// Package log is samsa's storage engine: one segmented log per partition,
// laid out on disk as Apache Kafka lays it out (see FORMAT.md), with its
// offset and time indexes, crash recovery, retention, compaction (the log
// cleaner, for cleanup.policy=compact), the per-log-dir checkpoints, the
// leader-epoch cache and the idempotent-producer state. It knows nothing of
// leaders, the network or replication; the replica manager decides what to
// append and which offsets readers may see.
//
// Import it under its own name (plog "github.com/samsa-broker/samsa/log"):
// inside samsa it shadows the standard library's log, so this package logs
// with log/slog.
//
// # Concurrency and lock order
//
// A Log serialises everything that changes it (appends, rolls, truncation,
// retention, DeleteRecords, Close) under Log.writeMu. Readers never take
// writeMu: they take Log.mu for reading while they look up and pread a
// segment, and the writer takes Log.mu for writing only while it changes the
// segment list or the log start offset, or truncates a file, never while it
// fsyncs. New data becomes visible to readers through atomics published in
// order: bytes written, indexes updated, segment size stored, log end offset
// stored. fsync runs outside both locks (group commit, see flush.go), so
// neither appends nor reads wait behind the disk.
//
// Lock order (a lock may be taken while holding the ones before it):
//
//	Log.writeMu -> Log.mu -> segment.closeMu -> segment.statsMu, indexFile.mu
//	Log.flushMu is a leaf: it is never held while taking another lock (the
//	flush itself runs with only a "flushing" flag set).
//	Manager.mu -> Log locks: GetOrCreate opens or reconfigures a log under
//	Manager.mu; a Log never calls back into its Manager.
//	Manager.checkpointMu is a leaf: offsets are collected before it is taken.
//	LeaderEpochCache has its own leaf mutex; ProducerStateManager has none
//	and is used only under Log.writeMu.
//
// The log cleaner (cleaner.go) runs on the Manager's cleaner goroutine. It
// reads segments that are no longer active through ReadAt, holding no lock,
// and writes its output to new files; it takes Log.writeMu (then Log.mu)
// only to swap the output in, and briefly to read the producer state and
// to record how far it cleaned. A truncation, a deletion of segments or a
// close that happens meanwhile is detected at the swap, which is then
// abandoned.
package log
