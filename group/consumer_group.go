package group

import (
	"cmp"
	"regexp"
	"slices"
	"time"
)

// This file holds the state of KIP-848 consumer groups (Kafka's
// modern/consumer/ConsumerGroup and ConsumerGroupMember) and the pure
// decisions about it: the target assignment (assignors) and each member's
// reconciliation towards it (Kafka's CurrentAssignmentBuilder). The request
// path is consumer_heartbeat.go, the records consumer_records.go.
//
// A consumer group lives in the same *group value as a classic one, with
// group.consumer set and protocolType "consumer"; its committed offsets are
// the group's offsets, so OffsetFetch, OffsetDelete, DeleteGroups and
// retention work unchanged. The classic state mirrors the consumer group's:
// Empty without members, Stable with (syncClassicViewLocked).

// TopicInfo is one topic of the node's metadata as the assignors see it.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// TopicLookup is a snapshot of the node's topics, passed with each
// ConsumerGroupHeartbeat: Kafka's coordinator checks the subscribed topics'
// metadata on heartbeats and bumps the group epoch when it changed.
type TopicLookup interface {
	TopicByName(name string) (TopicInfo, bool)
	TopicNames() []string
}

// Consumer group defaults (Kafka's GroupCoordinatorConfig).
const (
	defaultConsumerHeartbeatInterval = 5 * time.Second  // group.consumer.heartbeat.interval.ms
	defaultConsumerSessionTimeout    = 45 * time.Second // group.consumer.session.timeout.ms
	// uniformAssignor is the default and first of
	// group.consumer.assignors ("uniform", "range").
	uniformAssignor = "uniform"
	rangeAssignor   = "range"
)

// memberState is a consumer group member's reconciliation state, with the
// values Kafka's MemberState stores in ConsumerGroupCurrentMemberAssignment.
type memberState int8

const (
	// memberUnrevoked: the member must first revoke partitions.
	memberUnrevoked memberState = 0
	// memberUnreleased: the member waits for partitions others still own.
	memberUnreleased memberState = 1
	// memberStable: the member owns its whole target assignment.
	memberStable memberState = 2
)

// tpID is one partition of a topic, by topic ID.
type tpID struct {
	topic     [16]byte
	partition int32
}

// partSet is a set of partitions.
type partSet map[tpID]struct{}

func (p partSet) clone() partSet {
	out := make(partSet, len(p))
	for k := range p {
		out[k] = struct{}{}
	}
	return out
}

func (p partSet) equal(o partSet) bool {
	if len(p) != len(o) {
		return false
	}
	for k := range p {
		if _, ok := o[k]; !ok {
			return false
		}
	}
	return true
}

// minus is p without o.
func (p partSet) minus(o partSet) partSet {
	out := make(partSet)
	for k := range p {
		if _, ok := o[k]; !ok {
			out[k] = struct{}{}
		}
	}
	return out
}

// intersect is p and o.
func (p partSet) intersect(o partSet) partSet {
	out := make(partSet)
	for k := range p {
		if _, ok := o[k]; ok {
			out[k] = struct{}{}
		}
	}
	return out
}

// byTopic groups p by topic, topics and partitions sorted, for records and
// responses.
func (p partSet) byTopic() []topicPartitions {
	m := make(map[[16]byte][]int32)
	for k := range p {
		m[k.topic] = append(m[k.topic], k.partition)
	}
	out := make([]topicPartitions, 0, len(m))
	for id, ps := range m {
		slices.Sort(ps)
		out = append(out, topicPartitions{id: id, partitions: ps})
	}
	slices.SortFunc(out, func(a, b topicPartitions) int { return slices.Compare(a.id[:], b.id[:]) })
	return out
}

func partSetOf(tps []topicPartitions) partSet {
	out := make(partSet)
	for _, t := range tps {
		for _, p := range t.partitions {
			out[tpID{t.id, p}] = struct{}{}
		}
	}
	return out
}

// topicPartitions is the partitions of one topic.
type topicPartitions struct {
	id         [16]byte
	partitions []int32
}

// consumerMember is one member of a consumer group (Kafka's
// ConsumerGroupMember).
type consumerMember struct {
	id                 string
	instanceID         *string
	rackID             *string
	clientID           string
	clientHost         string
	subscribedNames    []string
	subscribedRegex    *string
	serverAssignor     *string
	rebalanceTimeoutMs int32

	epoch     int32
	prevEpoch int32
	state     memberState
	assigned  partSet
	revoking  partSet
	// hasMetadata is false for a member known only from its assignment
	// records while loading.
	hasMetadata bool

	session     timer
	sessionSeq  uint64
	revokeTimer timer
	revokeSeq   uint64
}

func newConsumerMember(id string) *consumerMember {
	return &consumerMember{id: id, state: memberStable, assigned: make(partSet), revoking: make(partSet), rebalanceTimeoutMs: -1}
}

// consumerGroup is the KIP-848 state of a group (Kafka's ConsumerGroup).
type consumerGroup struct {
	epoch           int32 // group epoch
	assignmentEpoch int32 // epoch of the target assignment
	members         map[string]*consumerMember
	target          map[string]partSet
	// topics is the subscription metadata: every subscribed topic that
	// exists, by name, as of the last group epoch bump.
	topics map[string]TopicInfo
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{members: make(map[string]*consumerMember), target: make(map[string]partSet), topics: make(map[string]TopicInfo)}
}

func (cg *consumerGroup) sortedMemberIDs() []string {
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// state is the group's state as Kafka's ConsumerGroup.State names it.
func (cg *consumerGroup) state() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.assignmentEpoch != cg.epoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch || m.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

// topicName resolves a topic ID through the subscription metadata.
func (cg *consumerGroup) topicName(id [16]byte) string {
	for name, t := range cg.topics {
		if t.ID == id {
			return name
		}
	}
	return ""
}

// subscribedTopicNames is the union of the members' subscriptions,
// resolving regexes against lookup (nil: only the explicit names and the
// topics already in the subscription metadata that match).
func (cg *consumerGroup) subscribedTopicNames(lookup TopicLookup) map[string]struct{} {
	out := make(map[string]struct{})
	var all []string
	listed := false
	for _, m := range cg.members {
		if m.subscribedRegex != nil && !listed {
			// Only regex subscriptions need every topic name.
			listed = true
			if lookup != nil {
				all = lookup.TopicNames()
			} else {
				for n := range cg.topics {
					all = append(all, n)
				}
			}
		}
		for _, n := range m.subscribedNames {
			out[n] = struct{}{}
		}
		if m.subscribedRegex != nil {
			for _, n := range matchRegex(*m.subscribedRegex, all) {
				out[n] = struct{}{}
			}
		}
	}
	return out
}

// memberTopics are the topics one member consumes among the subscription
// metadata.
func (cg *consumerGroup) memberTopics(m *consumerMember) []TopicInfo {
	seen := make(map[string]bool)
	var out []TopicInfo
	add := func(n string) {
		if t, ok := cg.topics[n]; ok && !seen[n] {
			seen[n] = true
			out = append(out, t)
		}
	}
	for _, n := range m.subscribedNames {
		add(n)
	}
	if m.subscribedRegex != nil {
		names := make([]string, 0, len(cg.topics))
		for n := range cg.topics {
			names = append(names, n)
		}
		for _, n := range matchRegex(*m.subscribedRegex, names) {
			add(n)
		}
	}
	slices.SortFunc(out, func(a, b TopicInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// matchRegex returns the names the whole regex matches (Kafka matches the
// entire topic name, Pattern.matcher(topic).matches(), internal topics
// included). Go's RE2 syntax stands in for RE2/J, which Kafka uses for
// these regexes.
func matchRegex(expr string, names []string) []string {
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range names {
		if re.MatchString(n) {
			out = append(out, n)
		}
	}
	return out
}

// preferredAssignor is the server assignor most members ask for (ties to
// the name that sorts first), or "uniform" (Kafka's
// computePreferredServerAssignor over group.consumer.assignors).
func (cg *consumerGroup) preferredAssignor() string {
	votes := make(map[string]int)
	for _, m := range cg.members {
		if m.serverAssignor != nil {
			votes[*m.serverAssignor]++
		}
	}
	best, n := uniformAssignor, 0
	for name, v := range votes {
		if v > n || (v == n && name < best) {
			best, n = name, v
		}
	}
	return best
}

// computeTarget computes the target assignment of the members with the
// group's assignor over the subscription metadata.
func (cg *consumerGroup) computeTarget() map[string]partSet {
	ids := cg.sortedMemberIDs()
	subs := make(map[string][]TopicInfo, len(ids))
	for _, id := range ids {
		subs[id] = cg.memberTopics(cg.members[id])
	}
	if cg.preferredAssignor() == rangeAssignor {
		return assignRange(ids, subs)
	}
	return assignUniform(ids, subs, cg.target)
}

// assignRange is Kafka's RangeAssignor per topic: the members subscribed to
// the topic, in member ID order, get contiguous ranges, the first
// partitions%members one partition more.
func assignRange(ids []string, subs map[string][]TopicInfo) map[string]partSet {
	out := make(map[string]partSet, len(ids))
	byTopic := make(map[string][]string)
	topics := make(map[string]TopicInfo)
	for _, id := range ids {
		out[id] = make(partSet)
		for _, t := range subs[id] {
			byTopic[t.Name] = append(byTopic[t.Name], id)
			topics[t.Name] = t
		}
	}
	for name, members := range byTopic {
		t := topics[name]
		n, m := int(t.Partitions), len(members)
		p := 0
		for i, id := range members {
			count := n / m
			if i < n%m {
				count++
			}
			for range count {
				out[id][tpID{t.ID, int32(p)}] = struct{}{}
				p++
			}
		}
	}
	return out
}

// assignUniform spreads the partitions evenly and stickily (the aim of
// Kafka's UniformAssignor): each member keeps what it had in the previous
// target and still subscribes to, up to its fair share, and every
// remaining partition goes to the subscribed member holding the fewest.
func assignUniform(ids []string, subs map[string][]TopicInfo, prev map[string]partSet) map[string]partSet {
	out := make(map[string]partSet, len(ids))
	eligible := make(map[tpID][]string)
	var all []tpID
	for _, id := range ids {
		out[id] = make(partSet)
		for _, t := range subs[id] {
			for p := range t.Partitions {
				k := tpID{t.ID, p}
				if _, seen := eligible[k]; !seen {
					all = append(all, k)
				}
				eligible[k] = append(eligible[k], id)
			}
		}
	}
	slices.SortFunc(all, func(a, b tpID) int {
		if c := slices.Compare(a.topic[:], b.topic[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.partition, b.partition)
	})
	members := 0
	for _, id := range ids {
		if len(subs[id]) > 0 {
			members++
		}
	}
	if members == 0 {
		return out
	}
	minQuota, extra := len(all)/members, len(all)%members
	taken := make(map[tpID]bool)
	// Sticky pass: keep previous partitions up to the quota; the first
	// `extra` members to reach minQuota+1 take the remainder's slots.
	for _, id := range ids {
		quota := minQuota
		if extra > 0 {
			quota++
		}
		var kept []tpID
		for k := range prev[id] {
			if slices.Contains(eligible[k], id) && !taken[k] {
				kept = append(kept, k)
			}
		}
		slices.SortFunc(kept, func(a, b tpID) int {
			if c := slices.Compare(a.topic[:], b.topic[:]); c != 0 {
				return c
			}
			return cmp.Compare(a.partition, b.partition)
		})
		if len(kept) > quota {
			kept = kept[:quota]
		}
		if len(kept) == minQuota+1 && extra > 0 {
			extra--
		}
		for _, k := range kept {
			out[id][k] = struct{}{}
			taken[k] = true
		}
	}
	// The most constrained partitions (fewest subscribers) go first, so
	// that heterogeneous subscriptions still balance.
	slices.SortStableFunc(all, func(a, b tpID) int { return cmp.Compare(len(eligible[a]), len(eligible[b])) })
	for _, k := range all {
		if taken[k] {
			continue
		}
		best := ""
		for _, id := range eligible[k] {
			if best == "" || len(out[id]) < len(out[best]) {
				best = id
			}
		}
		out[best][k] = struct{}{}
		taken[k] = true
	}
	return out
}

// ownedByOther reports whether a member other than self holds p, assigned
// or pending revocation (Kafka's currentPartitionEpoch).
func (cg *consumerGroup) ownedByOther(self string, p tpID) bool {
	for id, m := range cg.members {
		if id == self {
			continue
		}
		if _, ok := m.assigned[p]; ok {
			return true
		}
		if _, ok := m.revoking[p]; ok {
			return true
		}
	}
	return false
}

// reconcile moves m towards its target assignment (Kafka's
// CurrentAssignmentBuilder.build). owned are the partitions the member
// reported in this heartbeat (nil: not reported). A member first revokes
// what it must give up, keeping its epoch; only then does it take the
// epoch of the target assignment and the new partitions that no other
// member still holds.
func (cg *consumerGroup) reconcile(m *consumerMember, owned partSet) {
	target := cg.target[m.id]
	if target == nil {
		target = make(partSet)
	}
	switch m.state {
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return
		}
	case memberUnrevoked:
		// Still holding partitions to revoke: wait for the member to
		// report that it no longer owns them.
		if owned == nil || len(owned.intersect(m.revoking)) > 0 {
			return
		}
	case memberUnreleased:
	}
	cg.computeNextAssignment(m, target)
}

func (cg *consumerGroup) computeNextAssignment(m *consumerMember, target partSet) {
	keep := m.assigned.intersect(target)
	revoke := m.assigned.minus(target)
	if len(revoke) > 0 {
		m.assigned, m.revoking, m.state = keep, revoke, memberUnrevoked
		return
	}
	unreleased := false
	for p := range target.minus(m.assigned) {
		if cg.ownedByOther(m.id, p) {
			unreleased = true
			continue
		}
		keep[p] = struct{}{}
	}
	m.assigned, m.revoking = keep, make(partSet)
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
}
