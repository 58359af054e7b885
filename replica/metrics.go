package replica

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	plog "github.com/samsa-broker/samsa/log"
)

// Replica metrics, named after Kafka's JMX metrics the way the Prometheus
// JMX exporter's common Kafka rules name them (domain_type_name, lower
// case; meters become counters with _total, whose rate() is the PerSec):
//
//	kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions  kafka_server_replicamanager_underreplicatedpartitions
//	kafka.server:type=ReplicaManager,name=UnderMinIsrPartitionCount  kafka_server_replicamanager_underminisrpartitioncount
//	kafka.controller:type=KafkaController,name=OfflinePartitionsCount kafka_controller_kafkacontroller_offlinepartitionscount
//	kafka.server:type=ReplicaManager,name=IsrShrinksPerSec           kafka_server_replicamanager_isrshrinks_total
//	kafka.server:type=ReplicaManager,name=IsrExpandsPerSec           kafka_server_replicamanager_isrexpands_total
//	kafka.server:type=FetcherLagMetrics,name=ConsumerLag,topic,partition
//	                                                                 kafka_server_fetcherlagmetrics_consumerlag{topic,partition}
//
// The three partition gauges are computed from the hosted partitions at
// each scrape (a Collector), so no counter can drift from the state.
// OfflinePartitionsCount is a controller metric in Kafka; here each broker
// counts the partitions it hosts that have no leader, so across brokers
// take the maximum, not the sum.
type metrics struct {
	m        *Manager
	registry *prometheus.Registry

	underReplicated *prometheus.Desc
	underMinISR     *prometheus.Desc
	offline         *prometheus.Desc
	shrinks         prometheus.Counter
	expands         prometheus.Counter
	lag             *prometheus.GaugeVec
}

func newMetrics(m *Manager, reg *prometheus.Registry) *metrics {
	mt := &metrics{
		m:        m,
		registry: reg,
		underReplicated: prometheus.NewDesc("kafka_server_replicamanager_underreplicatedpartitions",
			"Partitions led by this broker whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions).", nil, nil),
		underMinISR: prometheus.NewDesc("kafka_server_replicamanager_underminisrpartitioncount",
			"Partitions led by this broker whose ISR is below the effective min.insync.replicas (Kafka's UnderMinIsrPartitionCount).", nil, nil),
		offline: prometheus.NewDesc("kafka_controller_kafkacontroller_offlinepartitionscount",
			"Partitions hosted on this broker that have no leader (Kafka's OfflinePartitionsCount); take the max across brokers.", nil, nil),
		shrinks: prometheus.NewCounter(prometheus.CounterOpts{Name: "kafka_server_replicamanager_isrshrinks_total",
			Help: "ISR shrinks committed for partitions led by this broker (Kafka's IsrShrinksPerSec)."}),
		expands: prometheus.NewCounter(prometheus.CounterOpts{Name: "kafka_server_replicamanager_isrexpands_total",
			Help: "ISR expansions committed for partitions led by this broker (Kafka's IsrExpandsPerSec)."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kafka_server_fetcherlagmetrics_consumerlag",
			Help: "Records this follower is behind its leader's high watermark, per followed partition (Kafka's FetcherLagMetrics ConsumerLag)."},
			[]string{"topic", "partition"}),
	}
	reg.MustRegister(mt, mt.shrinks, mt.expands, mt.lag)
	return mt
}

// Describe implements prometheus.Collector for the partition gauges.
func (mt *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- mt.underReplicated
	ch <- mt.underMinISR
	ch <- mt.offline
}

// Collect implements prometheus.Collector: one pass over the hosted
// partitions (Kafka's Partition.isUnderReplicated / isUnderMinIsr).
func (mt *metrics) Collect(ch chan<- prometheus.Metric) {
	var under, underMin, offline int
	for _, p := range mt.m.Partitions() {
		p.mu.RLock()
		st, leader, minISR := p.state, p.isLeader, p.effectiveMinISRLocked()
		p.mu.RUnlock()
		switch {
		case leader:
			if len(st.ISR) < len(st.Replicas) {
				under++
			}
			if len(st.ISR) < minISR {
				underMin++
			}
		case st.Leader < 0:
			offline++
		}
	}
	ch <- prometheus.MustNewConstMetric(mt.underReplicated, prometheus.GaugeValue, float64(under))
	ch <- prometheus.MustNewConstMetric(mt.underMinISR, prometheus.GaugeValue, float64(underMin))
	ch <- prometheus.MustNewConstMetric(mt.offline, prometheus.GaugeValue, float64(offline))
}

// The methods below accept a nil receiver: a Manager without a registry.

func (mt *metrics) isrChanged(expand bool) {
	switch {
	case mt == nil:
	case expand:
		mt.expands.Inc()
	default:
		mt.shrinks.Inc()
	}
}

func (mt *metrics) setLag(tp plog.TopicPartition, lag int64) {
	if mt != nil {
		mt.lag.WithLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition))).Set(float64(lag))
	}
}

func (mt *metrics) forgetLag(tp plog.TopicPartition) {
	if mt != nil {
		mt.lag.DeleteLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition)))
	}
}

func (mt *metrics) unregister() {
	if mt != nil {
		mt.registry.Unregister(mt)
		mt.registry.Unregister(mt.shrinks)
		mt.registry.Unregister(mt.expands)
		mt.registry.Unregister(mt.lag)
	}
}
