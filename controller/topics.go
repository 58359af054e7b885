package controller

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CreateTopic is one topic of a CreateTopics request.
type CreateTopic struct {
	Name string
	// NumPartitions -1 means the broker's num.partitions.
	NumPartitions int32
	// ReplicationFactor -1 means the broker's default.replication.factor.
	ReplicationFactor int16
	// Assignments places each partition by hand (partition -> brokers, the
	// first one preferred leader). With them NumPartitions and
	// ReplicationFactor must be -1.
	Assignments map[int32][]int32
	// Configs are the topic's overrides; a nil value is refused, as Kafka
	// does.
	Configs map[string]*string
}

// CreateTopicResult is the outcome for one CreateTopic.
type CreateTopicResult struct {
	Name              string
	ID                [16]byte
	NumPartitions     int32
	ReplicationFactor int16
	// Configs are the overrides the topic was created with; the handler
	// describes the effective config from them (CreateTopics v5+).
	Configs map[string]string
	Err     error
}

// TopicRef names a topic by Name or by ID (exactly one of them).
type TopicRef struct {
	Name string
	ID   [16]byte
}

// DeleteTopicResult is the outcome for one TopicRef; Name and ID are both
// filled when the topic was found.
type DeleteTopicResult struct {
	Name string
	ID   [16]byte
	Err  error
}

// CreatePartitions grows one topic to Count partitions. Assignments, when
// not nil, places each new partition by hand.
type CreatePartitions struct {
	Topic       string
	Count       int32
	Assignments [][]int32
}

// CreatePartitionsResult is the outcome for one CreatePartitions.
type CreatePartitionsResult struct {
	Topic string
	Err   error
}

// maxPartitionsPerRequest bounds the partitions one topic can gain in one
// request, as Kafka bounds the records of one controller operation
// (QuorumController MAX_RECORDS_PER_USER_OP).
const maxPartitionsPerRequest = 10000

// CreateTopics creates topics, following Kafka's
// ReplicationControlManager.createTopics: names, then existence, then
// configs, then partitions and replication. Every topic that passes is
// committed in one entry; with validateOnly nothing is.
func (c *Controller) CreateTopics(ctx context.Context, topics []CreateTopic, validateOnly bool) []CreateTopicResult {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	img := c.Image()
	results := make([]CreateTopicResult, len(topics))
	if err := c.checkActiveLocked(); err != nil {
		for i, t := range topics {
			results[i] = CreateTopicResult{Name: t.Name, Err: err}
		}
		return results
	}
	seen := map[string]int{}
	for _, t := range topics {
		seen[t.Name]++
	}
	plan := newTopicPlan(img)
	var recs []Record
	var created []int
	for i, t := range topics {
		results[i].Name = t.Name
		if seen[t.Name] > 1 {
			// Kafka's ControllerApis refuses every copy of a repeated name.
			results[i].Err = fmt.Errorf("%w: duplicate topic name %q", kerr.InvalidRequest, t.Name)
			continue
		}
		trecs, err := c.createTopicLocked(img, plan, t, &results[i])
		if err != nil {
			results[i].Err = err
			continue
		}
		recs = append(recs, trecs...)
		created = append(created, i)
	}
	if validateOnly || len(recs) == 0 {
		return results
	}
	if err := c.proposeLocked(ctx, recs); err != nil {
		for _, i := range created {
			results[i] = CreateTopicResult{Name: results[i].Name, Err: err}
		}
		return results
	}
	for _, i := range created {
		c.logger.Info("created topic", slog.String("topic", results[i].Name), slog.String("topic_id", formatUUID(results[i].ID)),
			slog.Int("partitions", int(results[i].NumPartitions)), slog.Int("replication_factor", int(results[i].ReplicationFactor)))
	}
	return results
}

// topicPlan tracks the names and IDs an operation has claimed so far on top
// of the image, so two topics of one request cannot collide.
type topicPlan struct {
	img     *Image
	names   map[string]bool
	ids     map[[16]byte]bool
	unified map[string]string // collision-normalised name -> a name holding it
}

func newTopicPlan(img *Image) *topicPlan {
	p := &topicPlan{img: img, names: map[string]bool{}, ids: map[[16]byte]bool{}, unified: map[string]string{}}
	for name := range img.Topics {
		p.unified[unifyCollisionChars(name)] = name
	}
	return p
}

func (p *topicPlan) claim(name string, id [16]byte) {
	p.names[name] = true
	p.ids[id] = true
	p.unified[unifyCollisionChars(name)] = name
}

func (c *Controller) createTopicLocked(img *Image, plan *topicPlan, t CreateTopic, res *CreateTopicResult) ([]Record, error) {
	if err := validateTopicName(t.Name); err != nil {
		return nil, err
	}
	if _, ok := img.Topics[t.Name]; ok || plan.names[t.Name] {
		return nil, fmt.Errorf("%w: topic '%s' already exists", kerr.TopicAlreadyExists, t.Name)
	}
	// Kafka refuses names that differ only in '.' versus '_': both map to
	// the same metric names (Topic.hasCollision).
	if other, ok := plan.unified[unifyCollisionChars(t.Name)]; ok {
		return nil, fmt.Errorf("%w: topic '%s' collides with existing topic: %s", kerr.InvalidTopicException, t.Name, other)
	}
	configs, err := c.newTopicConfigs(t.Configs)
	if err != nil {
		return nil, err
	}
	if err := c.checkCompactionLags(img, configs); err != nil {
		return nil, err
	}
	parts, err := c.newTopicPartitions(img, t)
	if err != nil {
		return nil, err
	}
	id, err := plan.newTopicID(c)
	if err != nil {
		return nil, err
	}
	plan.claim(t.Name, id)

	recs := make([]Record, 0, 1+len(configs)+len(parts))
	recs = append(recs, TopicRecord{Name: t.Name, ID: id})
	// Config records go after the TopicRecord and before the partitions, as
	// in Kafka, so a broker creating the partitions already sees them.
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		v := configs[k]
		recs = append(recs, ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: t.Name, Name: k, Value: &v})
	}
	for i, p := range parts {
		recs = append(recs, PartitionRecord{
			TopicID: id, Partition: int32(i), Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader,
		})
	}
	res.ID = id
	res.NumPartitions = int32(len(parts))
	res.ReplicationFactor = int16(len(parts[0].Replicas))
	res.Configs = configs
	return recs, nil
}

// newTopicConfigs validates a new topic's overrides.
func (c *Controller) newTopicConfigs(in map[string]*string) (map[string]string, error) {
	var nulls []string
	for k, v := range in {
		if v == nil {
			nulls = append(nulls, k)
		}
	}
	if len(nulls) > 0 {
		slices.Sort(nulls)
		return nil, fmt.Errorf("%w: null value not supported for topic configs: %s", kerr.InvalidConfig, strings.Join(nulls, ","))
	}
	out := make(map[string]string, len(in))
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if err := c.validateConfigValue(ConfigResourceTopic, k, in[k]); err != nil {
			return nil, err
		}
		out[k] = *in[k]
	}
	return out, nil
}

// newTopicPartitions places a new topic's partitions, by hand or evenly.
func (c *Controller) newTopicPartitions(img *Image, t CreateTopic) ([]PartitionImage, error) {
	if len(t.Assignments) > 0 {
		if t.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: a manual partition assignment was specified, but replication factor was not set to -1", kerr.InvalidRequest)
		}
		if t.NumPartitions != -1 {
			return nil, fmt.Errorf("%w: a manual partition assignment was specified, but numPartitions was not set to -1", kerr.InvalidRequest)
		}
		if len(t.Assignments) > maxPartitionsPerRequest {
			return nil, fmt.Errorf("%w: %d partitions exceed the limit of %d per request", kerr.InvalidPartitions, len(t.Assignments), maxPartitionsPerRequest)
		}
		parts := make([]PartitionImage, len(t.Assignments))
		rf := -1
		for i := range parts {
			replicas, ok := t.Assignments[int32(i)]
			if !ok {
				return nil, fmt.Errorf("%w: partitions should be a consecutive 0-based integer sequence", kerr.InvalidReplicaAssignment)
			}
			p, err := manualPartition(img, int32(i), replicas, rf)
			if err != nil {
				return nil, err
			}
			rf = len(replicas)
			parts[i] = p
		}
		return parts, nil
	}
	if t.ReplicationFactor < -1 || t.ReplicationFactor == 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0, or -1 to use the default value", kerr.InvalidReplicationFactor)
	}
	if t.NumPartitions < -1 || t.NumPartitions == 0 {
		return nil, fmt.Errorf("%w: number of partitions was set to an invalid non-positive value", kerr.InvalidPartitions)
	}
	n, rf := t.NumPartitions, t.ReplicationFactor
	if n == -1 {
		n = c.cfg.Broker.NumPartitions
	}
	if rf == -1 {
		rf = c.cfg.Broker.DefaultReplicationFactor
	}
	if n > maxPartitionsPerRequest {
		return nil, fmt.Errorf("%w: %d partitions exceed the limit of %d per request", kerr.InvalidPartitions, n, maxPartitionsPerRequest)
	}
	return c.placePartitions(img, 0, n, int(rf))
}

// placePartitions places count new partitions, numbered from first, on the
// live brokers, rack-aware when brokers have a broker.rack.
func (c *Controller) placePartitions(img *Image, first, count int32, rf int) ([]PartitionImage, error) {
	live := img.LiveBrokers()
	start, err := randomIndex(c.cfg.Rand, len(live))
	if err != nil {
		return nil, err
	}
	assignment, err := placeReplicasOnRacks(live, start, first, count, rf)
	if err != nil {
		return nil, err
	}
	parts := make([]PartitionImage, len(assignment))
	for i, replicas := range assignment {
		// Every placed replica is live, so the ISR is all of them.
		parts[i] = PartitionImage{Replicas: replicas, ISR: slices.Clone(replicas), Leader: replicas[0]}
	}
	return parts, nil
}

// manualPartition validates one hand-placed partition like Kafka's
// validateManualPartitionAssignment: replicas non-empty, registered,
// distinct, as many as the other partitions have (rf, -1 for the first
// partition), and at least one live so the partition has a leader.
func manualPartition(img *Image, partition int32, replicas []int32, rf int) (PartitionImage, error) {
	if err := validateManualReplicas(img, replicas); err != nil {
		return PartitionImage{}, err
	}
	if rf != -1 && len(replicas) != rf {
		return PartitionImage{}, fmt.Errorf("%w: the manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s)",
			kerr.InvalidReplicaAssignment, len(replicas), rf)
	}
	var isr []int32
	for _, id := range replicas {
		if !img.Brokers[id].Fenced {
			isr = append(isr, id)
		}
	}
	if len(isr) == 0 {
		return PartitionImage{}, fmt.Errorf("%w: all brokers specified in the manual partition assignment for partition %d are fenced", kerr.InvalidReplicaAssignment, partition)
	}
	// The leader is the first live replica (Kafka's buildPartitionRegistration).
	return PartitionImage{Replicas: slices.Clone(replicas), ISR: isr, Leader: isr[0]}, nil
}

// validateManualReplicas is the part of Kafka's
// validateManualPartitionAssignment that CreateTopics, CreatePartitions and
// AlterPartitionReassignments share: a non-empty list of distinct
// registered brokers (INVALID_REPLICA_ASSIGNMENT otherwise).
func validateManualReplicas(img *Image, replicas []int32) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: the manual partition assignment includes an empty replica list", kerr.InvalidReplicaAssignment)
	}
	seen := map[int32]bool{}
	for _, id := range slices.Sorted(slices.Values(replicas)) {
		if _, ok := img.Brokers[id]; !ok {
			return fmt.Errorf("%w: the manual partition assignment includes broker %d, but no such broker is registered", kerr.InvalidReplicaAssignment, id)
		}
		if seen[id] {
			return fmt.Errorf("%w: the manual partition assignment includes the broker %d more than once", kerr.InvalidReplicaAssignment, id)
		}
		seen[id] = true
	}
	return nil
}

// newTopicID draws a topic ID no topic has or this operation claimed.
func (p *topicPlan) newTopicID(c *Controller) ([16]byte, error) {
	for {
		id, err := randomUUID(c.cfg.Rand)
		if err != nil {
			return id, err
		}
		if _, taken := p.img.TopicsByID[id]; !taken && !p.ids[id] {
			return id, nil
		}
	}
}

// DeleteTopics deletes topics by name (unknown: UNKNOWN_TOPIC_OR_PARTITION)
// or by ID (unknown: UNKNOWN_TOPIC_ID). The topics found are removed in one
// entry, their configs with them. With delete.topic.enable=false every topic
// gets TOPIC_DELETION_DISABLED, as in Kafka.
func (c *Controller) DeleteTopics(ctx context.Context, topics []TopicRef) []DeleteTopicResult {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	img := c.Image()
	results := make([]DeleteTopicResult, len(topics))
	if err := c.checkActiveLocked(); err != nil {
		for i, ref := range topics {
			results[i] = DeleteTopicResult{Name: ref.Name, ID: ref.ID, Err: err}
		}
		return results
	}
	if !c.cfg.Broker.DeleteTopicEnable {
		for i, ref := range topics {
			results[i] = DeleteTopicResult{Name: ref.Name, ID: ref.ID,
				Err: fmt.Errorf("%w: topic deletion is disabled (delete.topic.enable=false)", kerr.TopicDeletionDisabled)}
		}
		return results
	}
	names, ids := map[string]int{}, map[[16]byte]int{}
	for _, t := range topics {
		if t.Name != "" {
			names[t.Name]++
		}
		if t.ID != ([16]byte{}) {
			ids[t.ID]++
		}
	}
	deleting := map[[16]byte]bool{}
	var recs []Record
	var deleted []int
	for i, ref := range topics {
		res := &results[i]
		res.Name, res.ID = ref.Name, ref.ID
		t, err := lookupDeleteRef(img, ref, names, ids)
		if err == nil && deleting[t.ID] {
			err = fmt.Errorf("%w: topic %q is named twice", kerr.InvalidRequest, t.Name)
		}
		if err != nil {
			res.Err = err
			continue
		}
		res.Name, res.ID = t.Name, t.ID
		deleting[t.ID] = true
		recs = append(recs, RemoveTopicRecord{ID: t.ID})
		deleted = append(deleted, i)
	}
	if len(recs) == 0 {
		return results
	}
	if err := c.proposeLocked(ctx, recs); err != nil {
		for _, i := range deleted {
			results[i].Err = err
		}
		return results
	}
	for _, i := range deleted {
		c.logger.Info("deleted topic", slog.String("topic", results[i].Name), slog.String("topic_id", formatUUID(results[i].ID)))
	}
	return results
}

// lookupDeleteRef resolves one DeleteTopics entry with the checks of Kafka's
// ControllerApis.deleteTopics.
func lookupDeleteRef(img *Image, ref TopicRef, names map[string]int, ids map[[16]byte]int) (*TopicImage, error) {
	byID := ref.ID != ([16]byte{})
	switch {
	case ref.Name != "" && byID:
		return nil, fmt.Errorf("%w: you may not specify both topic name and topic id", kerr.InvalidRequest)
	case ref.Name == "" && !byID:
		return nil, fmt.Errorf("%w: neither topic name nor id were specified", kerr.InvalidRequest)
	case byID && ids[ref.ID] > 1:
		return nil, fmt.Errorf("%w: duplicate topic id %s", kerr.InvalidRequest, formatUUID(ref.ID))
	case !byID && names[ref.Name] > 1:
		return nil, fmt.Errorf("%w: duplicate topic name %q", kerr.InvalidRequest, ref.Name)
	case byID:
		if t, ok := img.TopicsByID[ref.ID]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("%w: topic ID %s", kerr.UnknownTopicID, formatUUID(ref.ID))
	}
	if t, ok := img.Topics[ref.Name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, ref.Name)
}

// CreatePartitions grows topics (Kafka's
// ReplicationControlManager.createPartitions). The new partitions keep the
// topic's replication factor; they are placed evenly unless assigned by
// hand. Every topic that passes is committed in one entry.
func (c *Controller) CreatePartitions(ctx context.Context, reqs []CreatePartitions, validateOnly bool) []CreatePartitionsResult {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	img := c.Image()
	results := make([]CreatePartitionsResult, len(reqs))
	if err := c.checkActiveLocked(); err != nil {
		for i, r := range reqs {
			results[i] = CreatePartitionsResult{Topic: r.Topic, Err: err}
		}
		return results
	}
	seen := map[string]int{}
	for _, r := range reqs {
		seen[r.Topic]++
	}
	var recs []Record
	var grown []int
	for i, r := range reqs {
		results[i].Topic = r.Topic
		if seen[r.Topic] > 1 {
			results[i].Err = fmt.Errorf("%w: duplicate topic name %q", kerr.InvalidRequest, r.Topic)
			continue
		}
		precs, err := c.createPartitionsLocked(img, r)
		if err != nil {
			results[i].Err = err
			continue
		}
		recs = append(recs, precs...)
		grown = append(grown, i)
	}
	if validateOnly || len(recs) == 0 {
		return results
	}
	if err := c.proposeLocked(ctx, recs); err != nil {
		for _, i := range grown {
			results[i].Err = err
		}
		return results
	}
	for _, i := range grown {
		c.logger.Info("created partitions", slog.String("topic", reqs[i].Topic), slog.Int("count", int(reqs[i].Count)))
	}
	return results
}

func (c *Controller) createPartitionsLocked(img *Image, r CreatePartitions) ([]Record, error) {
	t, ok := img.Topics[r.Topic]
	if !ok {
		return nil, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, r.Topic)
	}
	have := int32(len(t.Partitions))
	switch {
	case r.Count == have:
		return nil, fmt.Errorf("%w: topic already has %d partition(s)", kerr.InvalidPartitions, have)
	case r.Count < have:
		return nil, fmt.Errorf("%w: the topic %s currently has %d partition(s); %d would not be an increase", kerr.InvalidPartitions, r.Topic, have, r.Count)
	case r.Count-have > maxPartitionsPerRequest:
		return nil, fmt.Errorf("%w: %d new partitions exceed the limit of %d per request", kerr.InvalidPartitions, r.Count-have, maxPartitionsPerRequest)
	}
	additional := r.Count - have
	rf := len(t.Partitions[0].Replicas)
	var parts []PartitionImage
	if r.Assignments != nil {
		if int32(len(r.Assignments)) != additional {
			return nil, fmt.Errorf("%w: attempted to add %d additional partition(s), but only %d assignment(s) were specified",
				kerr.InvalidReplicaAssignment, additional, len(r.Assignments))
		}
		for i, replicas := range r.Assignments {
			p, err := manualPartition(img, have+int32(i), replicas, rf)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
	} else {
		var err error
		if parts, err = c.placePartitions(img, have, additional, rf); err != nil {
			return nil, err
		}
	}
	recs := make([]Record, len(parts))
	for i, p := range parts {
		recs[i] = PartitionRecord{TopicID: t.ID, Partition: have + int32(i), Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader}
	}
	return recs, nil
}

// maxTopicNameLength is Kafka's Topic.MAX_NAME_LENGTH.
const maxTopicNameLength = 249

// validateTopicName applies Kafka's Topic.validate.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is illegal, it can't be empty", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be \".\" or \"..\"", kerr.InvalidTopicException)
	case len(name) > maxTopicNameLength:
		return fmt.Errorf("%w: topic name is illegal, it can't be longer than %d characters, topic name: %s", kerr.InvalidTopicException, maxTopicNameLength, name)
	}
	for _, ch := range []byte(name) {
		legal := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-'
		if !legal {
			return fmt.Errorf("%w: topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", kerr.InvalidTopicException, name)
		}
	}
	return nil
}

// unifyCollisionChars maps '.' to '_' (Kafka's Topic.unifyCollisionChars).
func unifyCollisionChars(name string) string { return strings.ReplaceAll(name, ".", "_") }
