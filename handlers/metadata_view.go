package handlers

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/replica"
)

// lookupTopic finds a request's topic by name, or by ID for versions that
// carry topic IDs instead of names.
func lookupTopic(img *controller.Image, byID bool, name string, id [16]byte) (*controller.TopicImage, error) {
	if byID {
		if t, ok := img.TopicByID(id); ok {
			return t, nil
		}
		return nil, fmt.Errorf("%w: topic ID %x", kerr.UnknownTopicID, id)
	}
	if t, ok := img.Topic(name); ok {
		return t, nil
	}
	return nil, fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, name)
}

// partitionExists checks that the topic has the partition.
func partitionExists(t *controller.TopicImage, p int32) error {
	if p < 0 || int(p) >= len(t.Partitions) {
		return fmt.Errorf("%w: topic %q has no partition %d", kerr.UnknownTopicOrPartition, t.Name, p)
	}
	return nil
}

// brokerEndpoint returns a broker's address on the named listener.
func brokerEndpoint(b controller.BrokerInfo, listener string) (host string, port int32, ok bool) {
	for _, e := range b.Listeners {
		if e.Name == listener {
			return e.Host, e.Port, true
		}
	}
	return "", 0, false
}

// listenerOf names the listener a request arrived on, the one whose
// endpoints clients must be told about.
func (h *Handlers) listenerOf(req *protocol.Request) string {
	if req.Conn != nil && req.Conn.Listener != "" {
		return req.Conn.Listener
	}
	if ls := h.d.Config.AdvertisedListeners; len(ls) > 0 {
		return ls[0].Name
	}
	return "PLAINTEXT"
}

// leaderHints collects current-leader hints for NOT_LEADER_OR_FOLLOWER
// answers and the endpoints of the brokers named (KIP-951).
type leaderHints struct {
	img      *controller.Image
	listener string
	named    []int32
}

func newLeaderHints(h *Handlers, img *controller.Image, req *protocol.Request) *leaderHints {
	return &leaderHints{img: img, listener: h.listenerOf(req)}
}

func (l *leaderHints) fill(t *controller.TopicImage, p int32, leaderID, leaderEpoch *int32) {
	*leaderID, *leaderEpoch = -1, -1
	if p < 0 || int(p) >= len(t.Partitions) {
		return
	}
	pi := t.Partitions[p]
	*leaderID, *leaderEpoch = pi.Leader, pi.LeaderEpoch
	if pi.Leader >= 0 && !slices.Contains(l.named, pi.Leader) {
		l.named = append(l.named, pi.Leader)
	}
}

func (l *leaderHints) produceBrokers() []kmsg.ProduceResponseBroker {
	var out []kmsg.ProduceResponseBroker
	for _, id := range l.named {
		b, ok := l.img.Brokers[id]
		if !ok {
			continue
		}
		host, port, ok := brokerEndpoint(b, l.listener)
		if !ok {
			continue
		}
		rb := kmsg.NewProduceResponseBroker()
		rb.NodeID, rb.Host, rb.Port = id, host, port
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		out = append(out, rb)
	}
	return out
}

func (l *leaderHints) fetchBrokers() []kmsg.FetchResponseBroker {
	var out []kmsg.FetchResponseBroker
	for _, pb := range l.produceBrokers() {
		fb := kmsg.NewFetchResponseBroker()
		fb.NodeID, fb.Host, fb.Port, fb.Rack = pb.NodeID, pb.Host, pb.Port, pb.Rack
		out = append(out, fb)
	}
	return out
}

// offlineReplicas lists the replicas on brokers that are not live.
func offlineReplicas(img *controller.Image, replicas []int32) []int32 {
	out := []int32{}
	for _, r := range replicas {
		if b, ok := img.Brokers[r]; !ok || b.Fenced {
			out = append(out, r)
		}
	}
	return out
}

// localPartition returns the partition this node hosts, or the error Kafka's
// ReplicaManager.getPartitionOrError gives when it hosts none:
// NOT_LEADER_OR_FOLLOWER if the metadata knows the partition (this node is
// not, or not yet, one of its replicas), UNKNOWN_TOPIC_OR_PARTITION if not.
func (h *Handlers) localPartition(img *controller.Image, topic string, p int32) (*replica.Partition, error) {
	if part, ok := h.d.Replicas.Partition(plog.TopicPartition{Topic: topic, Partition: p}); ok {
		return part, nil
	}
	t, err := lookupTopic(img, false, topic, [16]byte{})
	if err != nil {
		return nil, err
	}
	if err := partitionExists(t, p); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s-%d is not hosted on node %d", kerr.NotLeaderForPartition, topic, p, h.d.NodeID)
}
