package group

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state, as Kafka's ClassicGroupState.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

// String is the state's name as Kafka reports it in DescribeGroups and
// ListGroups.
func (st groupState) String() string {
	switch st {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Dead"
}

// consumerProtocolType is the protocol type of Kafka's consumers
// (ConsumerProtocol.PROTOCOL_TYPE); only such groups are parsed for their
// subscriptions.
const consumerProtocolType = "consumer"

// newMemberJoinTimeout bounds how long a new member may wait in its first
// JoinGroup before it is dropped (Kafka's NewMemberJoinTimeoutMs, KIP-394):
// it cannot heartbeat yet, and a client that gave up would otherwise linger
// through a long rebalance.
const newMemberJoinTimeout = 5 * time.Minute

// protocol is one assignment protocol a member supports, with its metadata
// (for consumers, the serialized subscription).
type protocol struct {
	name     string
	metadata []byte
}

func copyProtocols(ps []kmsg.JoinGroupRequestProtocol) []protocol {
	out := make([]protocol, len(ps))
	for i, p := range ps {
		out[i] = protocol{name: p.Name, metadata: bytes.Clone(p.Metadata)}
	}
	return out
}

// member is a member of a classic group (Kafka's ClassicGroupMember).
type member struct {
	id                 string
	instanceID         *string // group.instance.id of a static member (KIP-345)
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
	protocolType       string
	protocols          []protocol
	assignment         []byte

	// join and sync are the member's parked JoinGroup and SyncGroup.
	join *joinWaiter
	sync *syncWaiter
	// isNew marks a member that has not yet received a join response: its
	// session cannot be kept alive by heartbeats yet.
	isNew bool

	session    timer
	sessionSeq uint64
}

func (m *member) sessionTimeout() time.Duration {
	return time.Duration(m.sessionTimeoutMs) * time.Millisecond
}

// matches reports whether ps are exactly the member's protocols, in order
// (Kafka's MemberMetadata.matches): a rejoin with the same metadata changes
// nothing.
func (m *member) matches(ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i, p := range ps {
		if p.Name != m.protocols[i].name || !bytes.Equal(p.Metadata, m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// metadataFor returns the member's metadata for protocol name.
func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// committedOffset is one committed offset with what Kafka stores for it.
type committedOffset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  int64 // ms
	// expireTime is the explicit expiry of a v1 record (OffsetCommit v2-v4
	// with a retention time), or -1.
	expireTime int64
	// recordOffset is where the record sits in __consumer_offsets: of two
	// commits completing out of order the later record wins.
	recordOffset int64
}

// topicPartition names a committed offset.
type topicPartition struct {
	topic     string
	partition int32
}

// inflight marks one offset commit appended but not yet replicated. Deleting
// an offset drops its in-flight commits, so that a commit written before the
// tombstone never resurrects it when it completes. It is not zero-sized:
// pointers to distinct zero-sized values may be equal, and each commit needs
// its own identity.
type inflight struct{ _ byte }

// group is one classic group (Kafka's ClassicGroup) with its committed
// offsets.
type group struct {
	id        string
	state     groupState
	prevState groupState
	// stateTime is when the group entered its state (Kafka's
	// currentStateTimestamp); zero when unknown (a record without it).
	stateTime    time.Time
	protocolType string // "" for a simple group that only stores offsets
	protocol     string // the selected protocol, "" when none
	generation   int32
	leader       string // "" when none
	members      map[string]*member
	static       map[string]string // group.instance.id -> member ID
	// pending are member IDs handed out with MEMBER_ID_REQUIRED (KIP-394)
	// whose owners have not joined yet, each with its session timer.
	pending        map[string]timer
	supported      map[string]int // protocol name -> members supporting it
	awaitingJoin   int            // members with a parked JoinGroup
	pendingSync    map[string]struct{}
	newMemberAdded bool
	// subscribed are the topics the members consume, parsed from the
	// consumer protocol; nil when unknown.
	subscribed map[string]struct{}

	joinTimer timer
	joinSeq   uint64
	syncTimer timer
	syncSeq   uint64

	offsets        map[topicPartition]*committedOffset
	pendingCommits map[topicPartition]map[*inflight]struct{}

	// consumer is the KIP-848 state when this is a consumer group
	// (consumer_group.go); nil for a classic group.
	consumer *consumerGroup
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id:             id,
		state:          stateEmpty,
		prevState:      stateDead,
		stateTime:      now,
		members:        make(map[string]*member),
		static:         make(map[string]string),
		pending:        make(map[string]timer),
		supported:      make(map[string]int),
		pendingSync:    make(map[string]struct{}),
		offsets:        make(map[topicPartition]*committedOffset),
		pendingCommits: make(map[topicPartition]map[*inflight]struct{}),
	}
}

func (g *group) transitionTo(st groupState, now time.Time) {
	g.prevState, g.state, g.stateTime = g.state, st, now
}

// canRebalance: a rebalance may start from Stable, CompletingRebalance or
// Empty (the valid previous states of PreparingRebalance).
func (g *group) canRebalance() bool {
	return g.state == stateStable || g.state == stateCompletingRebalance || g.state == stateEmpty
}

// hasOffsets reports whether the group holds or is writing any offset.
func (g *group) hasOffsets() bool { return len(g.offsets) > 0 || len(g.pendingCommits) > 0 }

// add makes m a member, its JoinGroup parked on w (Kafka's
// ClassicGroup.add): the first member sets the protocol type, a group
// without a leader gets m as leader.
func (g *group) add(m *member, w *joinWaiter) {
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members[m.id] = m
	for _, p := range m.protocols {
		g.supported[p.name]++
	}
	m.join = w
	if w != nil {
		g.awaitingJoin++
	}
	if t, ok := g.pending[m.id]; ok {
		stopTimer(t)
		delete(g.pending, m.id)
	}
}

// remove takes member id out of the group (Kafka's ClassicGroup.remove):
// its protocols stop counting, a departing leader is replaced by any
// remaining member, and it leaves the pending sets. Its parked requests are
// answered UNKNOWN_MEMBER_ID so that a client still waiting rejoins.
func (g *group) remove(id string) {
	if m, ok := g.members[id]; ok {
		delete(g.members, id)
		for _, p := range m.protocols {
			g.supported[p.name]--
		}
		g.completeJoin(m, joinError("", kerr.UnknownMemberID.Code))
		g.completeSync(m, syncResult{errCode: kerr.UnknownMemberID.Code})
		if m.instanceID != nil && g.static[*m.instanceID] == id {
			delete(g.static, *m.instanceID)
		}
		stopTimer(m.session)
		m.session = nil
	}
	if g.leader == id {
		g.leader = ""
		if ids := g.sortedMemberIDs(); len(ids) > 0 {
			g.leader = ids[0]
		}
	}
	if t, ok := g.pending[id]; ok {
		stopTimer(t)
		delete(g.pending, id)
	}
	delete(g.pendingSync, id)
}

// supportsProtocols reports whether a member of protocolType supporting
// names may join: any non-empty type and protocol list joins an Empty
// group; otherwise the type must match and one of names must be supported by
// every member.
func (g *group) supportsProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(ps) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range ps {
		if g.supported[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the group's protocol as Kafka does: among the
// protocols every member supports, each member votes for the first one in
// its own preference order, and the most votes win (ties go to the name that
// sorts first, to be deterministic).
func (g *group) selectProtocol() string {
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.supported[p.name] == len(g.members) {
				votes[p.name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for name, n := range votes {
		if n > bestVotes || (n == bestVotes && name < best) {
			best, bestVotes = name, n
		}
	}
	return best
}

// hasAllMembersJoined: every member has a parked JoinGroup and no member ID
// handed out is still to come.
func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.awaitingJoin && len(g.pending) == 0
}

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var ms int32
	for _, m := range g.members {
		ms = max(ms, m.rebalanceTimeoutMs)
	}
	return time.Duration(ms) * time.Millisecond
}

// maybeElectNewJoinedLeader keeps a leader that rejoined, or elects a member
// that did; false when no member rejoined (or the group has no leader).
func (g *group) maybeElectNewJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if l, ok := g.members[g.leader]; ok && l.join != nil {
		return true
	}
	for _, id := range g.sortedMemberIDs() {
		if g.members[id].join != nil {
			g.leader = id
			return true
		}
	}
	return false
}

// initNextGeneration starts the next generation: with members it selects
// the protocol and moves to CompletingRebalance, without it moves to Empty.
func (g *group) initNextGeneration(now time.Time) {
	g.generation++
	if len(g.members) > 0 {
		g.protocol = g.selectProtocol()
		g.computeSubscribedTopics()
		g.transitionTo(stateCompletingRebalance, now)
	} else {
		g.protocol = ""
		g.computeSubscribedTopics()
		g.transitionTo(stateEmpty, now)
	}
	clear(g.pendingSync)
}

// sortedMemberIDs lists the members in a stable order, so responses and
// records do not depend on map iteration.
func (g *group) sortedMemberIDs() []string {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// currentMemberMetadata is the member list the leader's JoinGroup response
// carries: each member with its metadata for the selected protocol.
func (g *group) currentMemberMetadata() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadataFor(g.protocol)
		out = append(out, jm)
	}
	return out
}

// updateMember replaces m's protocols and timeouts from a rejoin and parks
// its JoinGroup on w (nil: not waiting). A JoinGroup still parked from an
// earlier attempt is answered REBALANCE_IN_PROGRESS so that it does not hang.
func (g *group) updateMember(m *member, ps []protocol, rebalanceTimeoutMs, sessionTimeoutMs int32, w *joinWaiter) {
	for _, p := range m.protocols {
		g.supported[p.name]--
	}
	m.protocols = ps
	for _, p := range m.protocols {
		g.supported[p.name]++
	}
	m.rebalanceTimeoutMs, m.sessionTimeoutMs = rebalanceTimeoutMs, sessionTimeoutMs
	if m.join != nil && w != nil {
		m.join.complete(joinError(m.id, kerr.RebalanceInProgress.Code))
		m.join = nil
		g.awaitingJoin--
	}
	switch {
	case w != nil && m.join == nil:
		g.awaitingJoin++
	case w == nil && m.join != nil:
		g.awaitingJoin--
	}
	m.join = w
}

// replaceStaticMember gives the static member of instanceID the new member
// ID (Kafka's replaceStaticMember): the old ID's parked requests are fenced
// with FENCED_INSTANCE_ID, everything else, including the assignment, moves
// to a member under the new ID, which inherits leadership.
func (g *group) replaceStaticMember(instanceID, oldID, newID string) *member {
	old := g.members[oldID]
	delete(g.members, oldID)
	g.completeJoin(old, joinError(oldID, kerr.FencedInstanceID.Code))
	g.completeSync(old, syncResult{errCode: kerr.FencedInstanceID.Code})
	stopTimer(old.session)
	old.session = nil
	m := &member{
		id:                 newID,
		instanceID:         old.instanceID,
		clientID:           old.clientID,
		clientHost:         old.clientHost,
		rebalanceTimeoutMs: old.rebalanceTimeoutMs,
		sessionTimeoutMs:   old.sessionTimeoutMs,
		protocolType:       old.protocolType,
		protocols:          old.protocols,
		assignment:         old.assignment,
	}
	g.members[newID] = m
	if g.leader == oldID {
		g.leader = newID
	}
	if _, ok := g.pendingSync[oldID]; ok {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = struct{}{}
	}
	g.static[instanceID] = newID
	return m
}

// validateCurrentMember checks a request from a known member (Kafka's
// validateCurrentMember): a group.instance.id must map to memberID
// (FENCED_INSTANCE_ID when another ID holds it, UNKNOWN_MEMBER_ID when none),
// and memberID must be a member.
func (g *group) validateCurrentMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case cur != memberID:
			return kerr.FencedInstanceID.Code
		}
	}
	if _, ok := g.members[memberID]; !ok {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func (g *group) usesConsumerProtocol() bool { return g.protocolType == consumerProtocolType }

// computeSubscribedTopics parses the members' subscriptions when the group
// uses the consumer protocol (Kafka's computeSubscribedTopics): the topics
// are the union of every member's; unknown (nil) when the protocol is not
// "consumer", none is selected yet, or a subscription does not parse.
func (g *group) computeSubscribedTopics() {
	g.subscribed = nil
	if !g.usesConsumerProtocol() {
		return
	}
	if len(g.members) == 0 {
		g.subscribed = map[string]struct{}{}
		return
	}
	if g.protocol == "" {
		return
	}
	topics := make(map[string]struct{})
	for _, m := range g.members {
		ts, ok := parseSubscriptionTopics(m.metadataFor(g.protocol))
		if !ok {
			return
		}
		for _, t := range ts {
			topics[t] = struct{}{}
		}
	}
	g.subscribed = topics
}

// isSubscribedToTopic reports whether the members consume topic; when the
// subscriptions are unknown, a consumer group counts as subscribed to
// everything and any other group to nothing (Kafka's isSubscribedToTopic).
func (g *group) isSubscribedToTopic(topic string) bool {
	if g.subscribed == nil {
		return g.usesConsumerProtocol()
	}
	_, ok := g.subscribed[topic]
	return ok
}

// parseSubscriptionTopics reads the topics of a ConsumerProtocolSubscription
// by its version-0 prefix, which every version shares (version int16, topic
// array of int16-length strings), as Kafka does so it depends on no version.
func parseSubscriptionTopics(b []byte) ([]string, bool) {
	if len(b) < 6 || int16(binary.BigEndian.Uint16(b)) < 0 {
		return nil, false
	}
	n := int(int32(binary.BigEndian.Uint32(b[2:])))
	b = b[6:]
	if n < 0 || n > len(b)/2 {
		return nil, false
	}
	topics := make([]string, 0, n)
	for range n {
		if len(b) < 2 {
			return nil, false
		}
		l := int(int16(binary.BigEndian.Uint16(b)))
		if l < 0 || len(b) < 2+l {
			return nil, false
		}
		topics = append(topics, string(b[2:2+l]))
		b = b[2+l:]
	}
	return topics, true
}

// joinResult is what a JoinGroup is answered with.
type joinResult struct {
	errCode        int16
	memberID       string
	generation     int32
	protocolType   *string
	protocol       *string
	leader         string
	skipAssignment bool
	members        []kmsg.JoinGroupResponseMember
}

// joinError is an error answer (Kafka's JoinGroupResult(memberId, error)).
func joinError(memberID string, code int16) joinResult {
	return joinResult{errCode: code, memberID: memberID, generation: -1}
}

func (r joinResult) fill(resp *kmsg.JoinGroupResponse) {
	resp.ErrorCode = r.errCode
	resp.MemberID = r.memberID
	resp.Generation = r.generation
	resp.ProtocolType = r.protocolType
	resp.Protocol = r.protocol
	resp.LeaderID = r.leader
	resp.SkipAssignment = r.skipAssignment
	resp.Members = r.members
}

// joinWaiter is a parked JoinGroup; completing never blocks.
type joinWaiter struct{ ch chan joinResult }

func newJoinWaiter() *joinWaiter { return &joinWaiter{ch: make(chan joinResult, 1)} }

func (w *joinWaiter) complete(r joinResult) {
	select {
	case w.ch <- r:
	default:
	}
}

// completeJoin answers m's parked JoinGroup, if any.
func (g *group) completeJoin(m *member, r joinResult) bool {
	if m.join == nil {
		return false
	}
	m.join.complete(r)
	m.join = nil
	g.awaitingJoin--
	return true
}

// syncResult is what a SyncGroup is answered with.
type syncResult struct {
	errCode      int16
	protocolType *string
	protocol     *string
	assignment   []byte
}

func (r syncResult) fill(resp *kmsg.SyncGroupResponse) {
	resp.ErrorCode = r.errCode
	resp.ProtocolType = r.protocolType
	resp.Protocol = r.protocol
	resp.MemberAssignment = r.assignment
}

// syncWaiter is a parked SyncGroup; completing never blocks.
type syncWaiter struct{ ch chan syncResult }

func newSyncWaiter() *syncWaiter { return &syncWaiter{ch: make(chan syncResult, 1)} }

// completeSync answers m's parked SyncGroup, if any.
func (g *group) completeSync(m *member, r syncResult) bool {
	if m.sync == nil {
		return false
	}
	select {
	case m.sync.ch <- r:
	default:
	}
	m.sync = nil
	return true
}

// optString returns a pointer to s, nil when s is empty (Kafka's Optional).
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// newMemberID builds a member ID as Kafka's generateMemberId: the
// group.instance.id (static members) or the client ID, "-", and a random
// UUID in java.util.UUID's text form.
func newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return prefix + "-" + randomUUID()
}

// randomUUID is a version 4 UUID as java.util.UUID.randomUUID().toString().
func randomUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// sortedOffsets lists g's committed offsets by topic and partition.
func sortedOffsets(g *group) []topicPartition {
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b topicPartition) int {
		if a.topic != b.topic {
			return strings.Compare(a.topic, b.topic)
		}
		return cmp.Compare(a.partition, b.partition)
	})
	return tps
}
