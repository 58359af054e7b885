package handlers

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// Metadata: v0-v12, Kafka 4.0's range. Topics are auto-created when
// auto.create.topics.enable is on and the request allows it (v4+ asks; older
// versions always allow). v10+ carries topic IDs and may ask by ID.
var metadataAPI = api{key: 3, min: 0, max: 12, handle: (*Handlers).metadata}

// Authorized-operation bitfields for a broker without an authorizer: every
// operation the resource type supports (Kafka's AclOperation codes).
const (
	authorizedOpsOmitted = -2147483648
	topicAuthorizedOps   = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	clusterAuthorizedOps = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
)

func (h *Handlers) metadata(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.MetadataRequest)
	img := h.d.Controller.Image()
	allTopics := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	autoCreate := h.d.Config.AutoCreateTopicsEnable && (r.Version < 4 || r.AllowAutoTopicCreation)

	var missing []string
	if !allTopics && autoCreate {
		for _, rt := range r.Topics {
			if rt.Topic == nil || *rt.Topic == "" {
				continue
			}
			if _, ok := img.Topic(*rt.Topic); !ok && !isInternalTopic(*rt.Topic) && validTopicName(*rt.Topic) {
				missing = append(missing, *rt.Topic)
			}
		}
	}
	if len(missing) == 0 {
		return respond(h.buildMetadata(req, img, nil))
	}
	// Creating goes through the active controller: wait for it off the
	// read goroutine, then describe the topics as this node now sees them.
	return protocol.Reply{Wait: func() kmsg.Response {
		createErrs := h.autoCreateTopics(ctx, missing)
		return h.buildMetadata(req, h.d.Controller.Image(), createErrs)
	}}, nil
}

// autoCreateTopics creates topics with the broker's default partitions and
// replication factor, as Kafka's AutoTopicCreationManager does, and returns
// the errors other than TOPIC_ALREADY_EXISTS by topic name.
func (h *Handlers) autoCreateTopics(ctx context.Context, names []string) map[string]error {
	errs := map[string]error{}
	if h.forwarding() {
		cr := kmsg.NewPtrCreateTopicsRequest()
		cr.Version = createTopicsAPI.max
		cr.TimeoutMillis = 30000
		for _, name := range names {
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic, t.NumPartitions, t.ReplicationFactor = name, -1, -1
			cr.Topics = append(cr.Topics, t)
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		kr, err := h.d.Forward.Forward(fctx, cr)
		if err != nil {
			for _, name := range names {
				errs[name] = err
			}
			return errs
		}
		created := map[string]bool{}
		for _, t := range kr.(*kmsg.CreateTopicsResponse).Topics {
			switch {
			case t.ErrorCode == 0:
				created[t.Topic] = true
			case t.ErrorCode != kerr.TopicAlreadyExists.Code:
				errs[t.Topic] = fmt.Errorf("auto-create %q: %w", t.Topic, kerr.ErrorForCode(t.ErrorCode))
			}
		}
		wctx, cancel := context.WithTimeout(ctx, metadataSettleTimeout)
		defer cancel()
		h.d.WaitMetadata(wctx, func(img *controller.Image) bool {
			for name := range created {
				if _, ok := img.Topic(name); !ok {
					return false
				}
			}
			return true
		})
		return errs
	}
	creates := make([]controller.CreateTopic, len(names))
	for i, name := range names {
		creates[i] = controller.CreateTopic{Name: name, NumPartitions: -1, ReplicationFactor: -1}
	}
	for _, res := range h.d.Controller.CreateTopics(ctx, creates, false) {
		if res.Err != nil && !isErr(res.Err, kerr.TopicAlreadyExists) {
			errs[res.Name] = res.Err
		}
	}
	return errs
}

// buildMetadata answers from one metadata image.
func (h *Handlers) buildMetadata(req *protocol.Request, img *controller.Image, createErrs map[string]error) *kmsg.MetadataResponse {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	allTopics := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	if !allTopics {
		for _, rt := range r.Topics {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			var t *controller.TopicImage
			var err error
			if rt.Topic != nil && *rt.Topic != "" {
				t, err = lookupTopic(img, false, *rt.Topic, rt.TopicID)
				if err != nil && !validTopicName(*rt.Topic) {
					err = fmt.Errorf("%w: %q is not a valid topic name", kerr.InvalidTopicException, *rt.Topic)
				} else if cerr, ok := createErrs[*rt.Topic]; ok {
					err = cerr
				}
			} else {
				t, err = lookupTopic(img, true, "", rt.TopicID)
			}
			if err != nil {
				mt.ErrorCode = h.code(err)
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, h.describeTopic(img, t, r.IncludeTopicAuthorizedOperations))
		}
	} else {
		names := make([]string, 0, len(img.Topics))
		for name := range img.Topics {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			t, _ := img.Topic(name)
			resp.Topics = append(resp.Topics, h.describeTopic(img, t, r.IncludeTopicAuthorizedOperations))
		}
	}

	listener := h.listenerOf(req)
	for _, id := range sortedBrokerIDs(img) {
		b := img.Brokers[id]
		if b.Fenced {
			continue
		}
		host, port, ok := brokerEndpoint(b, listener)
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = id, host, port
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	clusterID := img.ClusterID
	resp.ClusterID = &clusterID
	// As in KRaft, the controller ID names a live broker: admin clients
	// send controller-bound requests there and brokers forward them.
	resp.ControllerID = h.d.NodeID
	resp.AuthorizedOperations = authorizedOpsOmitted
	if r.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterAuthorizedOps
	}
	return resp
}

func (h *Handlers) describeTopic(img *controller.Image, t *controller.TopicImage, includeOps bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID = &name, t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	mt.AuthorizedOperations = authorizedOpsOmitted
	if includeOps {
		mt.AuthorizedOperations = topicAuthorizedOps
	}
	for i, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader, mp.LeaderEpoch = p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
		mp.OfflineReplicas = offlineReplicas(img, p.Replicas)
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func sortedBrokerIDs(img *controller.Image) []int32 {
	ids := make([]int32, 0, len(img.Brokers))
	for id := range img.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// isInternalTopic reports Kafka's internal topics, which clients never
// auto-create through Metadata.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state" || name == "__share_group_state"
}

// validTopicName applies Kafka's topic name rule (legal characters, length
// at most 249, not "." or ".."); the controller applies the same rule when
// creating, this copy only picks the error code for unknown names.
func validTopicName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) < 0
}
