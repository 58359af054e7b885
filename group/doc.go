// Package group is the group coordinator: classic consumer groups (Kafka's
// GroupCoordinator before KIP-848) with group membership through JoinGroup,
// SyncGroup, Heartbeat and LeaveGroup, committed offsets through
// OffsetCommit, OffsetFetch and OffsetDelete, and the admin views
// DescribeGroups, ListGroups and DeleteGroups.
//
// A group belongs to one partition of __consumer_offsets (PartitionFor), and
// this node coordinates it while it leads that partition. Everything durable
// is written to that partition in Kafka's own record formats (records.go), so
// a new leader rebuilds the groups by replaying the log (load.go), and log
// compaction keeps the latest record per key.
//
// Files: coordinator.go (Config, Elect/Resign, routing of requests to
// shards), shard.go (the state of one led partition and its lifecycle),
// load.go (replaying the log on election), write.go (acks=all appends and
// their completion in log order), records.go (record and batch encoding),
// group.go (group and member state, Kafka's ClassicGroup), join.go
// (JoinGroup and the rebalance), membership.go (SyncGroup, Heartbeat,
// LeaveGroup, session expiry), offsets.go (OffsetCommit, OffsetFetch,
// OffsetDelete), admin.go (DescribeGroups, ListGroups, DeleteGroups),
// retention.go (offset expiry, KIP-211), clock.go (time source).
//
// KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe)
// share the shards, offsets and admin paths: consumer_group.go (state,
// assignors "uniform" and "range", per-member reconciliation),
// consumer_heartbeat.go (the heartbeat), consumer_membership.go (member
// epochs, leaving, static members, session and rebalance timeouts),
// consumer_records.go (Kafka's ConsumerGroup* records, key types 3-8, and
// their replay), consumer_admin.go (describe, list, offset checks, type
// changes of empty groups). A group is classic or consumer, never both;
// an empty one changes type when a member of the other protocol joins.
//
// Concurrency: each led partition is a shard with one mutex, shard.mu, that
// guards the shard and all its groups and members; group and member values
// are plain data touched only under it (methods on shard that need it end in
// Locked). Requests run on the caller's goroutine up to the point where they
// must wait (a JoinGroup parked until the rebalance completes, a SyncGroup
// until the leader's assignment is stored, any write until it is
// replicated); then they wait on a buffered channel that the shard completes
// under its lock, so completing never blocks.
//
// Goroutines: the loader of each elected partition, one waiter per
// appended batch (replica.Partition.WaitCommitted), and the timers' callbacks.
// All are started through Coordinator.goBackground or Coordinator.afterFunc,
// which refuse to start once Close has begun; Close waits for the running
// ones.
//
// Lock order: Coordinator.mu, shard.mu, then the replica partition's locks
// (appends run under shard.mu so that the log order is the decision order),
// and Coordinator.bgMu last.
package group
