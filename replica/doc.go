// Package replica holds the replication state of every partition on a node:
// its role (leader or follower), leader epoch, high watermark, ISR and the
// log it writes to, and the Manager that owns them and parks produce and
// fetch requests until the events that can satisfy them (Kafka's purgatory).
//
// A Partition learns its role only from ApplyState, which the node calls for
// each metadata delta; it never decides leadership by itself. Decisions that
// depend only on state and time (the high watermark, the effective minimum
// ISR) are plain functions so they are testable without goroutines.
//
// Lock order: Manager.mu before Partition.mu. Partition.mu is never held
// across a blocking wait; the log has its own locks below both.
package replica
