package controller

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/samsa-broker/samsa/config"
)

// raftStoreFileName is the raft log and stable store (bbolt) in a
// RaftQuorum's directory; raft.FileSnapshotStore keeps its snapshots in
// snapshots/ next to it (FORMAT.md).
const raftStoreFileName = "raft.db"

// Raft tuning. A quorum of several voters detects a lost leader after one to
// two heartbeat timeouts and elects another within an election timeout, so
// ~1-2 s, as KRaft's controller.quorum.election.timeout.ms (1 s) and
// fetch.timeout.ms (2 s) give. A single voter has nobody to wait for: it
// starts with tiny timeouts and campaigns at once (electNow), so it elects
// itself within a few milliseconds of a start (the node must answer
// Metadata within 100 ms), then raises them to the cluster values, which
// only pace its heartbeats to observers.
const (
	clusterHeartbeatTimeout   = 500 * time.Millisecond
	clusterElectionTimeout    = 500 * time.Millisecond
	clusterLeaderLeaseTimeout = 250 * time.Millisecond
	singleHeartbeatTimeout    = 20 * time.Millisecond
	singleElectionTimeout     = 20 * time.Millisecond
	singleLeaderLeaseTimeout  = 10 * time.Millisecond
	// commitTimeout bounds how long a follower waits to learn that an entry
	// committed when nothing else is replicated: brokers wait for that
	// (WaitForOffset) after forwarding an admin request.
	commitTimeout = 20 * time.Millisecond
	// Snapshot every snapshotThreshold entries and keep trailingLogs after
	// it for followers that lag a little, so a restart restores the
	// snapshot and replays at most about snapshotThreshold entries.
	snapshotThreshold = 1024
	trailingLogs      = 1024
	snapshotInterval  = 30 * time.Second
	snapshotsRetained = 2
	// transportTimeout is the I/O deadline of one raft RPC.
	transportTimeout = 5 * time.Second
	// defaultProposeTimeout bounds a Propose whose context has no deadline,
	// so a quorum that lost its majority never makes a caller hang.
	defaultProposeTimeout = 30 * time.Second
	// barrierRetry paces a new leader's retries to catch up with its log.
	barrierRetry = 50 * time.Millisecond
	// boltOpenTimeout bounds the wait for raft.db's file lock, held by
	// another process using the same directory.
	boltOpenTimeout = 2 * time.Second
)

// RaftQuorumConfig configures a RaftQuorum.
type RaftQuorumConfig struct {
	NodeID int32
	// Dir holds raft.db and snapshots/ (<first log dir>/__cluster_metadata-0).
	Dir string
	// Voters is controller.quorum.voters: every voter's raft address.
	Voters []config.Voter
	// Voter says this node is one of Voters (process.roles has controller);
	// otherwise it is an observer that the leader adds with AddNonVoter.
	Voter bool
	// Advertise is the host:port other nodes reach this node's raft at; for
	// a voter it is its entry in Voters. Empty means Stream.Addr().
	Advertise string
	// Stream carries the raft connections; the quorum closes it (also when
	// OpenRaftQuorum fails).
	Stream *RaftStream
	Logger *slog.Logger
	// Timeouts; zero means the defaults above (single voter or cluster).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration
}

// checkRaftQuorumConfig validates cfg and fills its defaults.
func checkRaftQuorumConfig(cfg *RaftQuorumConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.NodeID < 0:
		return fmt.Errorf("metadata quorum: invalid node ID %d", cfg.NodeID)
	case cfg.Dir == "":
		return errors.New("metadata quorum: RaftQuorumConfig.Dir is empty")
	case cfg.Stream == nil:
		return errors.New("metadata quorum: RaftQuorumConfig.Stream is nil")
	case len(cfg.Voters) == 0:
		return errors.New("metadata quorum: controller.quorum.voters names no voter")
	}
	ids := map[int32]bool{}
	var self *config.Voter
	for i, v := range cfg.Voters {
		if ids[v.ID] {
			return fmt.Errorf("metadata quorum: controller.quorum.voters names voter %d twice", v.ID)
		}
		ids[v.ID] = true
		if v.ID == cfg.NodeID {
			self = &cfg.Voters[i]
		}
	}
	if cfg.Voter && self == nil {
		return fmt.Errorf("metadata quorum: node %d is a controller but not in controller.quorum.voters (%s)",
			cfg.NodeID, formatVoters(cfg.Voters))
	}
	if !cfg.Voter && self != nil {
		return fmt.Errorf("metadata quorum: node %d is in controller.quorum.voters but is not a controller (process.roles)", cfg.NodeID)
	}
	if cfg.Advertise == "" {
		if a := cfg.Stream.Addr(); a != nil {
			cfg.Advertise = a.String()
		}
	}
	if self != nil && cfg.Advertise != self.Address() {
		cfg.Logger.Warn("raft advertised address differs from this node's controller.quorum.voters entry; other voters dial the latter",
			slog.String("advertise", cfg.Advertise), slog.String("voter", self.Address()))
	}
	return nil
}

// raftConfig builds raft's configuration: the defaults above unless cfg sets
// a timeout.
func raftConfig(cfg RaftQuorumConfig, single bool, hlog *raftLogger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raftServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.NoLegacyTelemetry = true
	// A removed observer (an unregistered broker) keeps its raft: it may
	// register again and be added back.
	rc.ShutdownOnRemove = false
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = clusterHeartbeatTimeout, clusterElectionTimeout, clusterLeaderLeaseTimeout
	if single {
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = singleHeartbeatTimeout, singleElectionTimeout, singleLeaderLeaseTimeout
	}
	rc.CommitTimeout = commitTimeout
	setIfNonZero(&rc.HeartbeatTimeout, cfg.HeartbeatTimeout)
	setIfNonZero(&rc.ElectionTimeout, cfg.ElectionTimeout)
	setIfNonZero(&rc.LeaderLeaseTimeout, cfg.LeaderLeaseTimeout)
	setIfNonZero(&rc.CommitTimeout, cfg.CommitTimeout)
	rc.SnapshotThreshold = snapshotThreshold
	rc.TrailingLogs = trailingLogs
	rc.SnapshotInterval = snapshotInterval
	return rc
}

func setIfNonZero(dst *time.Duration, v time.Duration) {
	if v != 0 {
		*dst = v
	}
}

// bootstrapOrCheck gives a new voter the configuration of
// controller.quorum.voters (every voter bootstraps the same one, which raft
// allows), and checks an existing node's stored configuration against it: a
// voter list that disagrees between nodes is a start-up error, never a
// silent split brain.
func (q *RaftQuorum) bootstrapOrCheck(cfg RaftQuorumConfig, hasState bool) error {
	if !hasState {
		if !cfg.Voter {
			return nil // an observer waits for the leader to add it
		}
		servers := make([]raft.Server, len(cfg.Voters))
		for i, v := range cfg.Voters {
			servers[i] = raft.Server{Suffrage: raft.Voter, ID: raftServerID(v.ID), Address: raft.ServerAddress(v.Address())}
		}
		err := q.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
		if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap metadata quorum: %w", err)
		}
		return nil
	}
	f := q.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("read metadata quorum configuration: %w", err)
	}
	stored := map[raft.ServerID]raft.Server{}
	for _, s := range f.Configuration().Servers {
		stored[s.ID] = s
	}
	if len(stored) == 0 {
		return nil // an observer that was never added
	}
	storedVoters := 0
	for _, s := range stored {
		if s.Suffrage == raft.Voter {
			storedVoters++
		}
	}
	mismatch := storedVoters != len(cfg.Voters)
	for _, v := range cfg.Voters {
		s, found := stored[raftServerID(v.ID)]
		if !found || s.Suffrage != raft.Voter || string(s.Address) != v.Address() {
			mismatch = true
		}
	}
	if mismatch {
		return fmt.Errorf("controller.quorum.voters (%s) disagrees with the voters stored in %s (%s); samsa cannot change the voter set",
			formatVoters(cfg.Voters), cfg.Dir, formatRaftVoters(f.Configuration()))
	}
	return nil
}

// electNow makes a single voter start its election at once instead of
// after a heartbeat timeout: lowering the heartbeat timeout makes raft
// re-check its follower timer immediately (Raft.ReloadConfig), and a node
// that never heard from a leader then campaigns. The one vote it needs is
// its own.
func (q *RaftQuorum) electNow() {
	rc := q.raft.ReloadableConfig()
	rc.HeartbeatTimeout = singleLeaderLeaseTimeout // the lowest raft accepts with this lease
	if err := q.raft.ReloadConfig(rc); err != nil {
		q.logger.Warn("hurry the single voter's election", slog.Any("err", err))
	}
}

// refuseLocalQuorumFiles fails when dir holds a LocalQuorum's metadata log:
// raft would start an empty cluster next to it and the node would lose its
// topics (its meta.properties would then name another cluster ID).
func refuseLocalQuorumFiles(dir string) error {
	for _, name := range []string{logFileName, snapshotFileName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check metadata dir %s: %w", dir, err)
		}
		return fmt.Errorf("metadata dir %s holds a single-node metadata log (%s) that the raft quorum cannot read; move the log dirs away to start a new cluster", dir, name)
	}
	return nil
}

func raftServerID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

func parseRaftServerID(id raft.ServerID) (int32, bool) {
	n, err := strconv.ParseInt(string(id), 10, 32)
	return int32(n), err == nil
}

func formatVoters(vs []config.Voter) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%d@%s", v.ID, v.Address())
	}
	return s
}

// formatRaftVoters formats the voters of a raft configuration as
// controller.quorum.voters does.
func formatRaftVoters(c raft.Configuration) string {
	s := ""
	for _, srv := range c.Servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		if s != "" {
			s += ","
		}
		s += fmt.Sprintf("%s@%s", srv.ID, srv.Address)
	}
	return s
}
