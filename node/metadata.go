package node

import (
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/replica"
)

// registration describes this broker to the controller: its advertised
// endpoints, by listener name.
func (n *Node) registration() controller.BrokerRegistration {
	reg := controller.BrokerRegistration{NodeID: n.cfg.NodeID, Rack: n.cfg.BrokerRack, IncarnationID: n.incarnation}
	for _, l := range n.cfg.AdvertisedListeners {
		host, port := l.Host, int32(l.Port)
		// A listener bound to port 0 advertises the port it got.
		if ln, ok := n.listeners[l.Name]; ok && port == 0 {
			port = int32(ln.Addr().(*net.TCPAddr).Port)
		}
		reg.Listeners = append(reg.Listeners, controller.Endpoint{Name: l.Name, Host: host, Port: port})
	}
	return reg
}

// applyDelta is the replica manager's only source of roles (design.md:
// "learns you now lead tp at epoch 7 only from a delta"). It runs in
// metadata order on the controller's apply path.
func (n *Node) applyDelta(d *controller.Delta) {
	defer n.meta.notify()
	if d.ClusterIDChanged() && d.New.ClusterID != "" {
		// Written to meta.properties on first contact; a log dir of
		// another cluster is refused (the node then serves nothing).
		if err := n.logs.SetClusterID(d.New.ClusterID); err != nil {
			n.logger.Error("log dirs belong to another cluster; this broker will not register", slog.Any("err", err))
			n.clusterMismatch.Store(&err)
		}
	}
	for _, dt := range d.DeletedTopics() {
		for p := int32(0); p < dt.Partitions; p++ {
			tp := plog.TopicPartition{Topic: dt.Name, Partition: p}
			if err := n.replicas.Remove(tp, true); err != nil {
				n.logger.Error("delete partition", slog.String("partition", tp.String()), slog.Any("err", err))
			}
		}
	}
	img := d.New
	for _, pc := range d.ChangedPartitions() {
		tp := plog.TopicPartition{Topic: pc.Topic, Partition: pc.Partition}
		t, ok := img.Topic(pc.Topic)
		if !ok {
			continue
		}
		if !isReplica(pc.New.Replicas, n.cfg.NodeID) {
			if err := n.replicas.Remove(tp, true); err != nil {
				n.logger.Error("stop hosting partition", slog.String("partition", tp.String()), slog.Any("err", err))
			}
			continue
		}
		if err := n.replicas.ApplyState(tp, partitionState(t, pc.New), n.topicConfig(img, pc.Topic)); err != nil {
			n.logger.Error("apply partition state", slog.String("partition", tp.String()), slog.Any("err", err))
		}
	}
	n.applyGroupRoles(d)
	if d.ConfigsChanged() {
		// A topic or broker config change can alter any topic's effective
		// config; recompute for every hosted partition.
		for _, p := range n.replicas.Partitions() {
			tp := p.TopicPartition()
			n.replicas.UpdateConfig(tp, n.topicConfig(img, tp.Topic))
		}
	}
}

// topicConfig resolves a topic's effective config: its overrides, then
// this broker's dynamic config, the cluster-wide dynamic config, the static
// file and Kafka's defaults.
func (n *Node) topicConfig(img *controller.Image, topic string) replica.Config {
	tc := n.cfg.ResolveTopic(img.TopicConfig(topic), img.BrokerConfig(n.cfg.NodeID), img.ClusterBrokerConfig())
	return replica.Config{
		Log:               logConfig(tc),
		MinInsyncReplicas: tc.MinInsyncReplicas,
		MaxMessageBytes:   tc.MaxMessageBytes,
		LogAppendTime:     tc.MessageTimestampType == "LogAppendTime",
		Compression:       tc.CompressionType,
	}
}

// logConfig extracts the storage settings of a topic's config.
func logConfig(tc config.Topic) plog.Config {
	return plog.Config{
		SegmentBytes:           tc.SegmentBytes,
		SegmentMs:              tc.SegmentMs,
		IndexIntervalBytes:     int(tc.IndexIntervalBytes),
		MaxIndexBytes:          int(tc.SegmentIndexBytes),
		RetentionMs:            tc.RetentionMs,
		RetentionBytes:         tc.RetentionBytes,
		FlushMessages:          tc.FlushMessages,
		FlushMs:                tc.FlushMs,
		FileDeleteDelayMs:      tc.FileDeleteDelayMs,
		ProducerIDExpirationMs: tc.ProducerIDExpirationMs,
		CleanupPolicy:          plog.CleanupPolicyOf(tc.CleanupPolicy),
		DeleteRetentionMs:      tc.DeleteRetentionMs,
		MinCleanableDirtyRatio: tc.MinCleanableDirtyRatio,
		MinCompactionLagMs:     tc.MinCompactionLagMs,
		MaxCompactionLagMs:     tc.MaxCompactionLagMs,
	}
}

func partitionState(t *controller.TopicImage, p controller.PartitionImage) replica.State {
	return replica.State{
		TopicID:        t.ID,
		Replicas:       p.Replicas,
		ISR:            p.ISR,
		Leader:         p.Leader,
		LeaderEpoch:    p.LeaderEpoch,
		PartitionEpoch: p.PartitionEpoch,
	}
}

func isReplica(replicas []int32, id int32) bool {
	for _, r := range replicas {
		if r == id {
			return true
		}
	}
	return false
}

// logCleanerConfig reads the log cleaner's broker keys (log.cleaner.*),
// which only the log manager uses, so they stay out of config.Broker's
// typed fields; a zero field takes Kafka's default in the log package.
func logCleanerConfig(cfg *config.Broker) plog.ManagerConfig {
	get := func(k string) string { v, _, _ := cfg.Get(k); return v }
	getInt := func(k string) int64 { n, _ := strconv.ParseInt(get(k), 10, 64); return n }
	enabled, _ := strconv.ParseBool(get("log.cleaner.enable"))
	loadFactor, _ := strconv.ParseFloat(get("log.cleaner.io.buffer.load.factor"), 64)
	return plog.ManagerConfig{
		CleanerDisabled:               !enabled || get("log.cleaner.threads") == "0",
		CleanerBackoff:                time.Duration(getInt("log.cleaner.backoff.ms")) * time.Millisecond,
		CleanerDedupeBufferSize:       getInt("log.cleaner.dedupe.buffer.size"),
		CleanerDedupeBufferLoadFactor: loadFactor,
		CleanerIOBufferSize:           int(getInt("log.cleaner.io.buffer.size")),
	}
}
