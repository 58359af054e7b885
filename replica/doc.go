// Package replica holds the replication state of every partition on a node:
// its role (leader or follower), leader epoch, high watermark, ISR and the
// log it writes to, and the Manager that owns them, parks produce and fetch
// requests until the events that can satisfy them (Kafka's purgatory), runs
// the follower fetchers and proposes ISR changes.
//
// A Partition learns its role only from ApplyState, which the node calls for
// each metadata delta; it never decides leadership by itself. Decisions that
// depend only on state and time (the high watermark, the effective minimum
// ISR, who leaves or joins the ISR, divergence and where to truncate) are
// plain functions in replication_rules.go, testable without goroutines.
//
// Files: partition.go (roles, appends, consumer reads, the HW), leader_fetch.go
// (serving follower fetches: Kafka's Partition.fetchRecords for replicas),
// isr.go (ISR shrink/expand proposals and the isr-expiration loop),
// fetcher.go and follower.go (the follower side: one fetcher goroutine per
// source broker; truncation, appends, HW), fetch.go (consumer fetches),
// metrics.go (Prometheus, Kafka's names).
//
// Lock order: Manager.mu, Partition.mu, Partition.rmu, Manager.bgMu,
// fetcher.mu, then the log's own locks. Partition.mu is never held across a
// blocking wait or a network call; ISR proposals and fetches run on
// goroutines the Manager owns (started under bgMu while not closed) and
// Close waits for them. The hooks in ManagerConfig (BrokerState,
// BrokerEpoch) are called with partition locks held and must not call back
// into the Manager; FetchTransport and ISRChanger are called without locks
// and must honour their context, which Close cancels.
package replica
