package group

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// OffsetsTopic is the internal topic that holds committed offsets and group
// metadata (Kafka's Topic.GROUP_METADATA_TOPIC_NAME).
const OffsetsTopic = "__consumer_offsets"

// Config of a Coordinator. Durations are already converted from the Kafka
// keys named. A zero value takes Kafka's default, except
// InitialRebalanceDelay, where zero means no delay.
type Config struct {
	NodeID int32
	// Replicas are the node's partitions; __consumer_offsets-N are found
	// here.
	Replicas *replica.Manager
	Codecs   *record.Codecs
	// NumPartitions is offsets.topic.num.partitions (50).
	NumPartitions int32
	Logger        *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	MinSessionTimeout      time.Duration // group.min.session.timeout.ms (6000)
	MaxSessionTimeout      time.Duration // group.max.session.timeout.ms (1800000)
	InitialRebalanceDelay  time.Duration // group.initial.rebalance.delay.ms (Kafka 3000; zero-config node 0)
	MaxSize                int           // group.max.size (MaxInt32)
	OffsetsRetention       time.Duration // offsets.retention.minutes (7 days)
	OffsetsRetentionCheck  time.Duration // offsets.retention.check.interval.ms (600000)
	OffsetMetadataMaxBytes int           // offset.metadata.max.bytes (4096)
	OffsetCommitTimeout    time.Duration // offsets.commit.timeout.ms (5000): bound of the acks=all wait

	// KIP-848 consumer groups.
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms (5000)
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms (45000)
	ConsumerMaxSize           int           // group.consumer.max.size (MaxInt32)

	// TopicExists reports whether a topic partition exists in the node's
	// metadata. Kafka's request handlers answer OffsetCommit and
	// OffsetDelete partitions of unknown topics or partitions with
	// UNKNOWN_TOPIC_OR_PARTITION before the coordinator sees them; nil
	// skips the check (every partition is taken as existing).
	TopicExists func(topic string, partition int32) bool
}

// withDefaults fills zero fields with Kafka's defaults.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinSessionTimeout, 6*time.Second)
	def(&c.MaxSessionTimeout, 30*time.Minute)
	def(&c.OffsetsRetention, 7*24*time.Hour)
	def(&c.OffsetsRetentionCheck, 10*time.Minute)
	def(&c.OffsetCommitTimeout, 5*time.Second)
	def(&c.ConsumerHeartbeatInterval, defaultConsumerHeartbeatInterval)
	def(&c.ConsumerSessionTimeout, defaultConsumerSessionTimeout)
	if c.ConsumerMaxSize <= 0 {
		c.ConsumerMaxSize = math.MaxInt32
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.MaxSize <= 0 {
		c.MaxSize = math.MaxInt32
	}
	if c.OffsetMetadataMaxBytes <= 0 {
		c.OffsetMetadataMaxBytes = 4096
	}
	if c.NumPartitions <= 0 {
		c.NumPartitions = 50
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Codecs == nil {
		c.Codecs = record.NewCodecs()
	}
	return c
}

// Coordinator is the node's group coordinator: one shard per
// __consumer_offsets partition this node leads. Its request methods take
// the decoded kmsg request (Version set) and return the full, version-correct
// response. JoinGroup and SyncGroup block until the rebalance step completes;
// OffsetCommit, OffsetDelete, DeleteGroups and OffsetFetch with
// require_stable block until their records are replicated; all return
// promptly when ctx ends (the answer is then meaningless). Heartbeat,
// LeaveGroup, DescribeGroups, ListGroups and plain OffsetFetch never wait.
// JoinGroup reads the client's ID and host from ctx (WithClient).
type Coordinator struct {
	cfg    Config
	logger *slog.Logger
	clock  clock

	mu     sync.Mutex
	shards map[int32]*shard
	closed bool

	// bgMu guards bgClosed and every bg.Add, so that no goroutine starts
	// once Close waits.
	bgMu     sync.Mutex
	bgClosed bool
	bg       sync.WaitGroup

	// loadHook, when set (tests), runs at the start of each load.
	loadHook func(partition int32)
}

// NewCoordinator returns a Coordinator that leads no partition yet; Elect
// hands it partitions.
func NewCoordinator(cfg Config) *Coordinator {
	cfg = cfg.withDefaults()
	return newCoordinator(cfg, realClock{now: cfg.Now})
}

func newCoordinator(cfg Config, clk clock) *Coordinator {
	cfg = cfg.withDefaults()
	return &Coordinator{
		cfg:    cfg,
		logger: cfg.Logger.With(slog.String("component", "group-coordinator")),
		clock:  clk,
		shards: make(map[int32]*shard),
	}
}

// Close stops every shard (timers, loaders), answers parked JoinGroup and
// SyncGroup requests and writes in flight with NOT_COORDINATOR, and waits for
// the coordinator's goroutines.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	c.closed = true
	shards := c.shards
	c.shards = make(map[int32]*shard)
	c.mu.Unlock()

	c.bgMu.Lock()
	c.bgClosed = true
	c.bgMu.Unlock()
	for _, s := range shards {
		s.drop("coordinator closed")
	}
	c.bg.Wait()
	return nil
}

// PartitionFor is the __consumer_offsets partition that holds groupID:
// Utils.abs(groupId.hashCode()) % NumPartitions, with Java's String.hashCode
// over UTF-16 code units and Kafka's Utils.abs (abs(MinInt32) is 0).
func (c *Coordinator) PartitionFor(groupID string) int32 {
	return partitionFor(groupID, c.cfg.NumPartitions)
}

func partitionFor(groupID string, numPartitions int32) int32 {
	return javaAbs(javaStringHashCode(groupID)) % numPartitions
}

// javaStringHashCode is java.lang.String.hashCode: s[0]*31^(n-1) + ... +
// s[n-1] over the UTF-16 code units, in int32 arithmetic.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// javaAbs is Kafka's Utils.abs: Math.abs except that MinInt32 maps to 0.
func javaAbs(n int32) int32 {
	switch {
	case n == math.MinInt32:
		return 0
	case n < 0:
		return -n
	}
	return n
}

// Elect tells the coordinator that this node now leads
// __consumer_offsets-partition at leaderEpoch. It returns at once: a goroutine
// the Coordinator owns replays the partition's log into the groups, and
// until it is done requests for those groups get COORDINATOR_LOAD_IN_PROGRESS.
// An Elect for an epoch the coordinator already holds is ignored (unless its
// load failed: it is retried); a newer epoch drops the old state and loads
// again.
func (c *Coordinator) Elect(partition, leaderEpoch int32) {
	c.mu.Lock()
	if c.closed || partition < 0 || partition >= c.cfg.NumPartitions {
		c.mu.Unlock()
		if partition < 0 || partition >= c.cfg.NumPartitions {
			c.logger.Warn("ignored election for a partition outside offsets.topic.num.partitions",
				slog.Int("partition", int(partition)), slog.Int("num_partitions", int(c.cfg.NumPartitions)))
		}
		return
	}
	old := c.shards[partition]
	if old != nil && (old.epoch > leaderEpoch || (old.epoch == leaderEpoch && !old.failed())) {
		c.mu.Unlock()
		return
	}
	s := newShard(c, partition, leaderEpoch)
	c.shards[partition] = s
	c.mu.Unlock()
	if old != nil {
		old.drop("leader epoch changed")
	}
	c.logger.Info("elected group coordinator for partition", slog.Int("partition", int(partition)),
		slog.Int("leader_epoch", int(leaderEpoch)))
	if !c.goBackground(s.load) {
		s.drop("coordinator closed")
	}
}

// Resign tells the coordinator that this node no longer leads
// __consumer_offsets-partition (it follows, or the partition was removed).
// Its groups are dropped; parked and later requests get NOT_COORDINATOR. A
// leaderEpoch older than the one the coordinator was elected at is stale and
// ignored; a negative leaderEpoch (partition deleted, epoch unknown) always
// resigns. It does not block.
func (c *Coordinator) Resign(partition, leaderEpoch int32) {
	c.mu.Lock()
	s := c.shards[partition]
	if s == nil || (leaderEpoch >= 0 && leaderEpoch < s.epoch) {
		c.mu.Unlock()
		return
	}
	delete(c.shards, partition)
	c.mu.Unlock()
	c.logger.Info("resigned as group coordinator for partition", slog.Int("partition", int(partition)),
		slog.Int("leader_epoch", int(leaderEpoch)))
	s.drop("resigned")
}

// lockShard returns the shard that coordinates groupID, locked and active,
// or the error code for the request: NOT_COORDINATOR when this node does not
// lead the group's partition, COORDINATOR_LOAD_IN_PROGRESS while it loads
// (Kafka's validateGroupStatus).
func (c *Coordinator) lockShard(groupID string) (*shard, int16) {
	c.mu.Lock()
	s := c.shards[c.PartitionFor(groupID)]
	c.mu.Unlock()
	if s == nil {
		return nil, kerr.NotCoordinator.Code
	}
	s.mu.Lock()
	switch s.status {
	case shardActive:
		return s, 0
	case shardLoading:
		s.mu.Unlock()
		return nil, kerr.CoordinatorLoadInProgress.Code
	default:
		s.mu.Unlock()
		return nil, kerr.NotCoordinator.Code
	}
}

// allShards returns the shards of the partitions this node leads.
func (c *Coordinator) allShards() []*shard {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*shard, 0, len(c.shards))
	for _, s := range c.shards {
		out = append(out, s)
	}
	return out
}

// goBackground runs f on a goroutine Close waits for; it refuses (false)
// once Close has begun.
func (c *Coordinator) goBackground(f func()) bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.bgClosed {
		return false
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		f()
	}()
	return true
}

// afterFunc schedules f on the clock; a callback that fires after Close has
// begun does nothing, and Close waits for callbacks already running.
func (c *Coordinator) afterFunc(d time.Duration, f func()) timer {
	return c.clock.AfterFunc(d, func() {
		c.bgMu.Lock()
		if c.bgClosed {
			c.bgMu.Unlock()
			return
		}
		c.bg.Add(1)
		c.bgMu.Unlock()
		defer c.bg.Done()
		f()
	})
}

// clientInfoKey is the context key of the requesting client's identity.
type clientInfoKey struct{}

// clientInfo is who sent a request: Kafka builds member IDs from the client
// ID and shows both in DescribeGroups.
type clientInfo struct {
	id   string
	host string
}

// WithClient returns ctx carrying the request header's client ID and the
// client's host as Kafka shows it in DescribeGroups ("/" + IP address).
// Handlers pass such a context to JoinGroup so that member IDs read
// "<client.id>-<uuid>" as in Kafka; without it the client ID is empty.
func WithClient(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientInfoKey{}, clientInfo{id: clientID, host: clientHost})
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientInfoKey{}).(clientInfo)
	return ci
}

// await waits for a parked request's result or for ctx to end.
func await[T any](ctx context.Context, ch <-chan T) (T, bool) {
	select {
	case r := <-ch:
		return r, true
	case <-ctx.Done():
		var zero T
		return zero, false
	}
}

// msDuration converts a Kafka millisecond field.
func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
