package handlers

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// CreateTopics: v2-v7 (Kafka 4.0's floor is v2, KIP-896). The controller
// validates and creates (Kafka's ReplicationControlManager.createTopics:
// names, existence, '.'/'_' collisions, configs, partition counts,
// replication factors, manual assignments); with ValidateOnly it only
// validates. As in Kafka's ControllerApis, a name given twice is
// INVALID_REQUEST ("Duplicate topic name."), answered once, and
// __cluster_metadata cannot be created.
//
// Versions: v1+ carry ErrorMessage; v4+ let NumPartitions and
// ReplicationFactor be -1 for the broker defaults (KIP-464); v5+ answer the
// partition count, replication factor and every config of the new topic
// with its source and read-only and sensitive flags, sorted by name
// (KIP-525); v7 answers the topic ID. The answer comes once the topic is in
// this node's metadata image; TimeoutMillis needs no wait of its own.
var createTopicsAPI = api{key: 19, min: 2, max: 7, handle: (*Handlers).createTopics}

// clusterMetadataTopic is KRaft's metadata log, which no client may create
// (Kafka's Topic.CLUSTER_METADATA_TOPIC_NAME).
const clusterMetadataTopic = "__cluster_metadata"

func (h *Handlers) createTopics(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			code, msg := h.errorCode(err)
			resp := kr.(*kmsg.CreateTopicsResponse)
			for _, rt := range r.Topics {
				st := kmsg.NewCreateTopicsResponseTopic()
				st.Topic, st.ErrorCode, st.ErrorMessage = rt.Topic, code, msg
				resp.Topics = append(resp.Topics, st)
			}
		}, func(kr kmsg.Response, img *controller.Image) bool {
			if r.ValidateOnly {
				return true
			}
			for _, t := range kr.(*kmsg.CreateTopicsResponse).Topics {
				if _, ok := img.Topic(t.Topic); t.ErrorCode == 0 && !ok {
					return false
				}
			}
			return true
		})
	}

	// slot is one answered topic: an error found here, or the
	// controller's result at index create.
	type slot struct {
		topic  string
		err    error
		create int
	}
	count := make(map[string]int)
	for _, rt := range r.Topics {
		count[rt.Topic]++
	}
	var (
		slots   []slot
		creates []controller.CreateTopic
		emitted = make(map[string]bool)
	)
	for _, rt := range r.Topics {
		if emitted[rt.Topic] {
			continue // a duplicate is answered once
		}
		emitted[rt.Topic] = true
		s := slot{topic: rt.Topic, create: -1}
		switch {
		case count[rt.Topic] > 1:
			s.err = fmt.Errorf("%w: Duplicate topic name.", kerr.InvalidRequest)
		case rt.Topic == clusterMetadataTopic:
			s.err = fmt.Errorf("%w: Creation of internal topic %s is prohibited.", kerr.InvalidRequest, clusterMetadataTopic)
		default:
			ct, err := createTopicRequest(rt)
			if err != nil {
				s.err = err
			} else {
				s.create = len(creates)
				creates = append(creates, ct)
			}
		}
		slots = append(slots, s)
	}

	var results []controller.CreateTopicResult
	if len(creates) > 0 {
		results = h.d.Controller.CreateTopics(ctx, creates, r.ValidateOnly)
	}
	img := h.d.Controller.Image()
	for _, s := range slots {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = s.topic
		err := s.err
		if err == nil {
			res := results[s.create]
			if err = res.Err; err == nil {
				st.TopicID = res.ID
				st.NumPartitions, st.ReplicationFactor = res.NumPartitions, res.ReplicationFactor
				if r.Version >= 5 {
					st.Configs = h.createdTopicConfigs(img, res.Configs)
				}
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = h.errorCode(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}

// createTopicRequest converts one request topic for the controller. A
// manual assignment that names a partition twice is refused here, since the
// controller receives assignments keyed by partition (Kafka requires the
// partitions to be 0, 1, 2, ... in order).
func createTopicRequest(rt kmsg.CreateTopicsRequestTopic) (controller.CreateTopic, error) {
	ct := controller.CreateTopic{Name: rt.Topic, NumPartitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor}
	if len(rt.ReplicaAssignment) > 0 {
		ct.Assignments = make(map[int32][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if _, dup := ct.Assignments[a.Partition]; dup {
				return ct, fmt.Errorf("%w: partition %d is assigned twice; partitions should be a consecutive 0-based integer sequence", kerr.InvalidReplicaAssignment, a.Partition)
			}
			ct.Assignments[a.Partition] = slices.Clone(a.Replicas)
		}
	}
	if len(rt.Configs) > 0 {
		ct.Configs = make(map[string]*string, len(rt.Configs))
		for _, c := range rt.Configs {
			var v *string
			if c.Value != nil {
				s := *c.Value
				v = &s
			}
			ct.Configs[c.Name] = v
		}
	}
	return ct, nil
}

// createdTopicConfigs describes every config of a topic created with the
// given overrides, sorted by name, as Kafka's createTopics answers v5+
// (sensitive values are null).
func (h *Handlers) createdTopicConfigs(img *controller.Image, overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	entries := h.d.Config.DescribeTopic(overrides, img.BrokerConfig(h.d.NodeID), img.ClusterBrokerConfig())
	slices.SortFunc(entries, func(a, b config.Entry) int { return cmp.Compare(a.Name, b.Name) })
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.ReadOnly, int8(e.Source), e.Sensitive
		if !e.Sensitive && e.Value != nil {
			v := *e.Value
			c.Value = &v
		}
		out = append(out, c)
	}
	return out
}
