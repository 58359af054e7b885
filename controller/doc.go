// Package controller keeps samsa's cluster metadata the KRaft way: typed
// records (records.go) are ordered and stored by a Quorum (quorum.go), applied
// in order to an immutable Image (image.go, apply.go), and every committed
// change is published as a Delta (delta.go) that brokers react to.
//
// The Controller (controller.go) is both the active controller of this node,
// which validates admin operations against the current image and turns them
// into records (topics.go, configs.go, brokers.go), and the broker-side
// metadata view, which applies what the quorum commits.
//
// The metadata log is replicated by RaftQuorum (raft_quorum.go): hashicorp/raft
// with one voter or several (controller.quorum.voters) and broker-only nodes as
// observers (non-voters), its connections sharing the node's ports through
// RaftStream (raft_stream.go), its entries applied by raftFSM (raft_fsm.go).
// Every node applies the same entries to its own image; the Controller is
// active only on the quorum's leader and follows leadership changes
// (controller.go). LocalQuorum (localquorum.go) is the original single-node
// log in a local file, kept for tests. Formats in FORMAT.md.
//
// Broker lifecycle (KRaft's heartbeat manager and replication control) is
// lifecycle.go (sessions, session expiry), heartbeat.go (BrokerHeartbeat,
// controlled shutdown), election.go (pure election and ISR decisions) and
// alter_partition.go (ISR changes proposed by leaders).
//
// Admin operations on leadership and placement: elect.go (ElectLeaders,
// preferred and unclean elections, KIP-183/KIP-460), reassign.go (partition
// reassignment, KIP-455: AlterPartitionReassignments and
// ListPartitionReassignments; completion happens in election.go's decide,
// whichever change lets the ISR cover the target) and balance.go (the
// active controller's automatic preferred leader balancing,
// auto.leader.rebalance.enable).
//
// Lock order: Controller.opMu, then brokerLifecycle.mu (never held across a
// Propose), then the quorum's own lock, then the loader's lock (held while
// the image is replaced and deltas are delivered). leaderBalancer.mu is a
// leaf, never held while calling out.
package controller
