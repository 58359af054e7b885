package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// Broker is one node's static configuration: the typed settings samsa acts
// on, named after their Kafka keys, plus every key that was set.
type Broker struct {
	NodeID                      int32             // node.id (broker.id is its synonym)
	ProcessRoles                []string          // process.roles: broker, controller
	Listeners                   []Listener        // listeners
	AdvertisedListeners         []Listener        // advertised.listeners (default: listeners)
	ListenerSecurityProtocolMap map[string]string // listener.security.protocol.map, names upper case
	ControllerListenerNames     []string          // controller.listener.names
	InterBrokerListenerName     string            // inter.broker.listener.name, else security.inter.broker.protocol
	ControllerQuorumVoters      []Voter           // controller.quorum.voters
	LogDirs                     []string          // log.dirs, else log.dir

	NumPartitions               int32 // num.partitions
	DefaultReplicationFactor    int16 // default.replication.factor (an INT in Kafka, an INT16 on the wire)
	MinInsyncReplicas           int32 // min.insync.replicas
	ReplicaLagTimeMaxMs         int64 // replica.lag.time.max.ms
	UncleanLeaderElectionEnable bool  // unclean.leader.election.enable
	AutoCreateTopicsEnable      bool  // auto.create.topics.enable
	DeleteTopicEnable           bool  // delete.topic.enable

	LogSegmentBytes                         int32  // log.segment.bytes
	LogRollMs                               int64  // log.roll.ms, else log.roll.hours
	LogRetentionMs                          int64  // log.retention.ms > .minutes > .hours; -1 keeps forever
	LogRetentionBytes                       int64  // log.retention.bytes; -1 is unlimited
	LogRetentionCheckIntervalMs             int64  // log.retention.check.interval.ms
	LogIndexIntervalBytes                   int32  // log.index.interval.bytes
	LogIndexSizeMaxBytes                    int32  // log.index.size.max.bytes
	LogFlushIntervalMessages                int64  // log.flush.interval.messages
	LogFlushIntervalMs                      int64  // log.flush.interval.ms, else log.flush.scheduler.interval.ms
	LogFlushSchedulerIntervalMs             int64  // log.flush.scheduler.interval.ms
	LogFlushOffsetCheckpointIntervalMs      int32  // log.flush.offset.checkpoint.interval.ms
	LogFlushStartOffsetCheckpointIntervalMs int32  // log.flush.start.offset.checkpoint.interval.ms
	FileDeleteDelayMs                       int64  // log.segment.delete.delay.ms
	NumRecoveryThreadsPerDataDir            int32  // num.recovery.threads.per.data.dir
	MessageMaxBytes                         int32  // message.max.bytes
	CompressionType                         string // compression.type
	LogMessageTimestampType                 string // log.message.timestamp.type: CreateTime or LogAppendTime

	SocketRequestMaxBytes int32 // socket.request.max.bytes
	ConnectionsMaxIdleMs  int64 // connections.max.idle.ms

	ProducerIDExpirationMs              int32 // producer.id.expiration.ms
	ProducerIDExpirationCheckIntervalMs int32 // producer.id.expiration.check.interval.ms

	OffsetsTopicReplicationFactor        int16 // offsets.topic.replication.factor
	OffsetsTopicNumPartitions            int32 // offsets.topic.num.partitions
	TransactionStateLogReplicationFactor int16 // transaction.state.log.replication.factor
	TransactionStateLogMinISR            int32 // transaction.state.log.min.isr
	GroupInitialRebalanceDelayMs         int32 // group.initial.rebalance.delay.ms
	GroupMinSessionTimeoutMs             int32 // group.min.session.timeout.ms
	GroupMaxSessionTimeoutMs             int32 // group.max.session.timeout.ms
	GroupMaxSize                         int32 // group.max.size
	OffsetsTopicSegmentBytes             int32 // offsets.topic.segment.bytes
	OffsetsRetentionMinutes              int32 // offsets.retention.minutes
	OffsetsRetentionCheckIntervalMs      int64 // offsets.retention.check.interval.ms
	OffsetMetadataMaxBytes               int32 // offset.metadata.max.bytes
	OffsetsCommitTimeoutMs               int32 // offsets.commit.timeout.ms
	GroupConsumerHeartbeatIntervalMs     int32 // group.consumer.heartbeat.interval.ms (KIP-848)
	GroupConsumerSessionTimeoutMs        int32 // group.consumer.session.timeout.ms (KIP-848)
	GroupConsumerMaxSize                 int32 // group.consumer.max.size (KIP-848)

	BrokerHeartbeatIntervalMs int32  // broker.heartbeat.interval.ms
	BrokerSessionTimeoutMs    int32  // broker.session.timeout.ms
	BrokerRack                string // broker.rack ("" when unset)

	MetricsListener string     // samsa.metrics.listener: host:port of the Prometheus endpoint
	LogLevel        slog.Level // samsa.log.level

	// Values holds every key set statically, raw as written: the
	// zero-config profile, then the file, then the -c overrides. Kafka's
	// broker.id/node.id synonym pair is filled in like Kafka does.
	Values map[string]string
}

// zeroConfigProfile is the base layer under every file and -c flag; see
// the package documentation.
func zeroConfigProfile() map[string]string {
	return map[string]string{
		"node.id":                                          "1",
		"process.roles":                                    "broker,controller",
		"listeners":                                        "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
		"advertised.listeners":                             "PLAINTEXT://127.0.0.1:9092",
		"controller.listener.names":                        "CONTROLLER",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"controller.quorum.voters":                         "1@127.0.0.1:9093",
		"listener.security.protocol.map":                   "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
		"log.dirs":                                         "/tmp/samsa-logs",
		"num.partitions":                                   "1",
		"offsets.topic.replication.factor":                 "1",
		"transaction.state.log.replication.factor":         "1",
		"transaction.state.log.min.isr":                    "1",
		"share.coordinator.state.topic.replication.factor": "1",
		"share.coordinator.state.topic.min.isr":            "1",
	}
}

// Load reads the properties file at path (none when path is ""), applies
// the key=value overrides in order on top of it, and parses the result with
// Parse. It returns the keys that were set but samsa does not act on yet.
func Load(path string, overrides []string) (*Broker, []string, error) {
	props := map[string]string{}
	if path != "" {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("read config file: %w", err)
		}
		pairs, err := parseProperties(string(text))
		if err != nil {
			return nil, nil, fmt.Errorf("parse config file %s: %w", path, err)
		}
		for _, p := range pairs {
			props[p.key] = p.value
		}
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, nil, fmt.Errorf("config override %q is not key=value", o)
		}
		props[k] = strings.TrimSpace(v)
	}
	return Parse(props)
}

// Parse builds a Broker from props laid over the zero-config profile. An
// unknown key, a bad value or an inconsistent combination is an error that
// names the key (and the value). It returns, sorted, the keys of props that
// samsa accepts but does not act on yet, so the caller can say so once.
func Parse(props map[string]string) (*Broker, []string, error) {
	values := zeroConfigProfile()
	var unused []string
	// Sorted so the first bad key reported does not depend on map order.
	for _, k := range sortedKeys(props) {
		v := props[k]
		def, _ := brokerKey(k)
		if def == nil {
			return nil, nil, fmt.Errorf("unknown config key %s", k)
		}
		if _, err := canonical(def, v); err != nil {
			return nil, nil, fmt.Errorf("config %s=%q: %w", k, v, err)
		}
		if err := checkSyntax(k, v); err != nil {
			return nil, nil, fmt.Errorf("config %s=%q: %w", k, v, err)
		}
		if !actedOn(k) {
			unused = append(unused, k)
		}
		values[k] = v
	}
	// A profile key gives way when a key Kafka ranks against it is set
	// without it, so the profile never beats what a file says in Kafka's
	// own terms: log.dir is read only when log.dirs is unset,
	// security.inter.broker.protocol may not be combined with
	// inter.broker.listener.name, advertised.listeners defaults to listeners.
	for _, y := range [...]struct{ set, displaced string }{
		{"log.dir", "log.dirs"},
		{"security.inter.broker.protocol", "inter.broker.listener.name"},
		{"listeners", "advertised.listeners"},
	} {
		if _, set := props[y.set]; set {
			if _, alsoSet := props[y.displaced]; !alsoSet {
				delete(values, y.displaced)
			}
		}
	}
	if err := populateNodeID(values, props); err != nil {
		return nil, nil, err
	}
	b := &Broker{Values: values}
	if err := b.build(); err != nil {
		return nil, nil, err
	}
	if err := b.check(); err != nil {
		return nil, nil, err
	}
	return b, unused, nil
}

// populateNodeID mirrors node.id and broker.id as Kafka's
// KafkaConfig.populateSynonyms does: either one set fills in the other;
// both set to different ids is an error.
func populateNodeID(values, props map[string]string) error {
	nodeID, nodeSet := props["node.id"]
	brokerID, brokerSet := props["broker.id"]
	switch {
	case nodeSet && brokerSet:
		if strings.TrimSpace(nodeID) != strings.TrimSpace(brokerID) {
			return fmt.Errorf("config node.id=%q and broker.id=%q must match when both are set", nodeID, brokerID)
		}
	case brokerSet:
		values["node.id"] = brokerID
	default:
		values["broker.id"] = values["node.id"]
	}
	return nil
}

// actedOn reports whether samsa uses a key (directly or as a synonym of a
// key it uses); other keys are accepted for compatibility and reported.
func actedOn(name string) bool {
	switch name {
	case "node.id", "broker.id", "process.roles", "listeners", "advertised.listeners",
		"listener.security.protocol.map", "controller.listener.names", "inter.broker.listener.name",
		"security.inter.broker.protocol", "controller.quorum.voters", "log.dirs", "log.dir",
		"num.partitions", "default.replication.factor", "min.insync.replicas", "replica.lag.time.max.ms",
		"unclean.leader.election.enable", "auto.create.topics.enable", "delete.topic.enable",
		"log.segment.bytes", "log.roll.ms", "log.roll.hours", "log.retention.ms", "log.retention.minutes",
		"log.retention.hours", "log.retention.bytes", "log.retention.check.interval.ms",
		"log.index.interval.bytes", "log.index.size.max.bytes", "log.flush.interval.messages",
		"log.flush.interval.ms", "log.flush.scheduler.interval.ms", "log.flush.offset.checkpoint.interval.ms",
		"log.flush.start.offset.checkpoint.interval.ms", "log.segment.delete.delay.ms",
		"num.recovery.threads.per.data.dir", "message.max.bytes", "compression.type",
		"log.message.timestamp.type", "socket.request.max.bytes", "connections.max.idle.ms",
		"producer.id.expiration.ms", "producer.id.expiration.check.interval.ms",
		"offsets.topic.replication.factor", "offsets.topic.num.partitions",
		"transaction.state.log.replication.factor", "transaction.state.log.min.isr",
		"group.initial.rebalance.delay.ms", "broker.heartbeat.interval.ms", "broker.session.timeout.ms",
		"broker.rack", "group.min.session.timeout.ms", "group.max.session.timeout.ms", "group.max.size",
		"offsets.topic.segment.bytes", "offsets.retention.minutes", "offsets.retention.check.interval.ms",
		"offset.metadata.max.bytes", "offsets.commit.timeout.ms",
		"group.consumer.heartbeat.interval.ms", "group.consumer.session.timeout.ms", "group.consumer.max.size",
		"auto.leader.rebalance.enable", "leader.imbalance.check.interval.seconds",
		"log.cleanup.policy", "log.cleaner.enable", "log.cleaner.threads", "log.cleaner.backoff.ms",
		"log.cleaner.dedupe.buffer.size", "log.cleaner.io.buffer.load.factor", "log.cleaner.io.buffer.size",
		"log.cleaner.delete.retention.ms", "log.cleaner.min.cleanable.ratio", "log.cleaner.min.compaction.lag.ms",
		"log.cleaner.max.compaction.lag.ms":
		return true
	}
	return isSamsaKey(name)
}

// Get returns a key's static value: what was set (source
// STATIC_BROKER_CONFIG) or Kafka's default (DEFAULT_CONFIG). ok is false
// for an unknown key and for a key with no value (a null default).
func (b *Broker) Get(name string) (value string, source Source, ok bool) {
	def, base := brokerKey(name)
	if def == nil {
		return "", 0, false
	}
	if v, set := b.Values[name]; set {
		return v, SourceStaticBrokerConfig, true
	}
	if base != "" || def.nullDefault || def.required {
		// A listener override has no default of its own.
		return "", SourceDefaultConfig, false
	}
	return def.def, SourceDefaultConfig, true
}

// static returns the canonical static value of a key: set or default. ok
// is false for a null default.
func (b *Broker) static(name string) (string, bool) {
	def, _ := brokerKey(name)
	if v, set := b.Values[name]; set {
		c, err := canonical(def, v)
		return c, err == nil
	}
	if def.nullDefault || def.required {
		return "", false
	}
	return def.def, true
}

// build fills the typed fields from Values. Values are already validated,
// so parse errors here can only come from a missing required key.
func (b *Broker) build() error {
	var err error
	str := func(name string) string { v, _ := b.static(name); return v }
	integer := func(name string, bits int) int64 {
		v, ok := b.static(name)
		if !ok {
			if err == nil {
				err = fmt.Errorf("config %s is required", name)
			}
			return 0
		}
		n, perr := strconv.ParseInt(v, 10, bits)
		if perr != nil && err == nil {
			err = fmt.Errorf("config %s=%q: does not fit %d bits", name, v, bits)
		}
		return n
	}
	boolean := func(name string) bool { return str(name) == "true" }

	b.NodeID = int32(integer("node.id", 32))
	b.ProcessRoles = splitList(str("process.roles"))
	b.NumPartitions = int32(integer("num.partitions", 32))
	b.DefaultReplicationFactor = int16(integer("default.replication.factor", 16))
	b.MinInsyncReplicas = int32(integer("min.insync.replicas", 32))
	b.ReplicaLagTimeMaxMs = integer("replica.lag.time.max.ms", 64)
	b.UncleanLeaderElectionEnable = boolean("unclean.leader.election.enable")
	b.AutoCreateTopicsEnable = boolean("auto.create.topics.enable")
	b.DeleteTopicEnable = boolean("delete.topic.enable")

	b.LogSegmentBytes = int32(integer("log.segment.bytes", 32))
	b.LogRetentionBytes = integer("log.retention.bytes", 64)
	b.LogRetentionCheckIntervalMs = integer("log.retention.check.interval.ms", 64)
	b.LogIndexIntervalBytes = int32(integer("log.index.interval.bytes", 32))
	b.LogIndexSizeMaxBytes = int32(integer("log.index.size.max.bytes", 32))
	b.LogFlushIntervalMessages = integer("log.flush.interval.messages", 64)
	b.LogFlushSchedulerIntervalMs = integer("log.flush.scheduler.interval.ms", 64)
	b.LogFlushOffsetCheckpointIntervalMs = int32(integer("log.flush.offset.checkpoint.interval.ms", 32))
	b.LogFlushStartOffsetCheckpointIntervalMs = int32(integer("log.flush.start.offset.checkpoint.interval.ms", 32))
	b.FileDeleteDelayMs = integer("log.segment.delete.delay.ms", 64)
	b.NumRecoveryThreadsPerDataDir = int32(integer("num.recovery.threads.per.data.dir", 32))
	b.MessageMaxBytes = int32(integer("message.max.bytes", 32))
	b.CompressionType = str("compression.type")
	b.LogMessageTimestampType = str("log.message.timestamp.type")

	// The ms > minutes > hours precedence and the flush fallback are the
	// same rules topics resolve by (KafkaConfig.logRetentionTimeMillis,
	// logRollTimeMillis, logFlushIntervalMs).
	topic := resolveTopicValues(nil, b.Values)
	b.LogRetentionMs, _ = strconv.ParseInt(topic["retention.ms"], 10, 64)
	b.LogRollMs, _ = strconv.ParseInt(topic["segment.ms"], 10, 64)
	b.LogFlushIntervalMs, _ = strconv.ParseInt(topic["flush.ms"], 10, 64)

	b.SocketRequestMaxBytes = int32(integer("socket.request.max.bytes", 32))
	b.ConnectionsMaxIdleMs = integer("connections.max.idle.ms", 64)
	b.ProducerIDExpirationMs = int32(integer("producer.id.expiration.ms", 32))
	b.ProducerIDExpirationCheckIntervalMs = int32(integer("producer.id.expiration.check.interval.ms", 32))
	b.OffsetsTopicReplicationFactor = int16(integer("offsets.topic.replication.factor", 16))
	b.OffsetsTopicNumPartitions = int32(integer("offsets.topic.num.partitions", 32))
	b.TransactionStateLogReplicationFactor = int16(integer("transaction.state.log.replication.factor", 16))
	b.TransactionStateLogMinISR = int32(integer("transaction.state.log.min.isr", 32))
	b.GroupInitialRebalanceDelayMs = int32(integer("group.initial.rebalance.delay.ms", 32))
	b.GroupMinSessionTimeoutMs = int32(integer("group.min.session.timeout.ms", 32))
	b.GroupMaxSessionTimeoutMs = int32(integer("group.max.session.timeout.ms", 32))
	b.GroupMaxSize = int32(integer("group.max.size", 32))
	b.OffsetsTopicSegmentBytes = int32(integer("offsets.topic.segment.bytes", 32))
	b.OffsetsRetentionMinutes = int32(integer("offsets.retention.minutes", 32))
	b.OffsetsRetentionCheckIntervalMs = integer("offsets.retention.check.interval.ms", 64)
	b.OffsetMetadataMaxBytes = int32(integer("offset.metadata.max.bytes", 32))
	b.OffsetsCommitTimeoutMs = int32(integer("offsets.commit.timeout.ms", 32))
	b.GroupConsumerHeartbeatIntervalMs = int32(integer("group.consumer.heartbeat.interval.ms", 32))
	b.GroupConsumerSessionTimeoutMs = int32(integer("group.consumer.session.timeout.ms", 32))
	b.GroupConsumerMaxSize = int32(integer("group.consumer.max.size", 32))
	b.BrokerHeartbeatIntervalMs = int32(integer("broker.heartbeat.interval.ms", 32))
	b.BrokerSessionTimeoutMs = int32(integer("broker.session.timeout.ms", 32))
	b.BrokerRack = str("broker.rack")
	b.MetricsListener = str("samsa.metrics.listener")
	if lerr := b.LogLevel.UnmarshalText([]byte(str("samsa.log.level"))); lerr != nil && err == nil {
		err = fmt.Errorf("config samsa.log.level: %w", lerr)
	}
	if err != nil {
		return err
	}
	return b.buildNetwork()
}
