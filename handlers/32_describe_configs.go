package handlers

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// DescribeConfigs: v1-v4 (Kafka 4.0's floor is v1, KIP-896). Follows Kafka's
// ConfigHelper.describeConfigs:
//
//   - TOPIC: every topic key with its effective value and source (topic
//     override, dynamic per-broker, dynamic cluster-wide default, static,
//     default); an invalid name is INVALID_TOPIC_EXCEPTION, an unknown topic
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - BROKER named by this node's ID: every broker key, read-only unless
//     Kafka can change it dynamically. Named "": the cluster-wide dynamic
//     defaults only (the keys set for every broker at once). Any other name
//     is INVALID_REQUEST, as Kafka answers for another broker's ID.
//   - BROKER_LOGGER: Kafka lists its log4j loggers; samsa logs through one
//     slog level fixed at start-up and has no per-logger levels to show, so
//     after Kafka's name checks the answer is INVALID_REQUEST saying so.
//   - any other type (GROUP, CLIENT_METRICS, ...): INVALID_REQUEST.
//
// ConfigNames null or empty asks for every key; otherwise only the named
// keys are answered (unknown ones are left out). Synonyms (the keys behind a
// value, in precedence order) come with IncludeSynonyms, documentation with
// IncludeDocumentation (v3+); ConfigType is answered from v3 on. Sensitive
// values are null. Keys are answered sorted by name.
var describeConfigsAPI = api{key: 32, min: 1, max: 4, handle: (*Handlers).describeConfigs}

func (h *Handlers) describeConfigs(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := h.d.Controller.Image()

	for _, rr := range r.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		entries, err := h.describeConfigResource(img, rr.ResourceType, rr.ResourceName)
		if err != nil {
			res.ErrorCode, res.ErrorMessage = h.errorCode(err)
			resp.Resources = append(resp.Resources, res)
			continue
		}
		for _, e := range filterConfigEntries(entries, rr.ConfigNames) {
			res.Configs = append(res.Configs, describedConfig(e, r.IncludeSynonyms, r.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, res)
	}
	return respond(resp)
}

// describeConfigResource returns the entries of one resource.
func (h *Handlers) describeConfigResource(img *controller.Image, typ kmsg.ConfigResourceType, name string) ([]config.Entry, error) {
	dynBroker, dynCluster := img.BrokerConfig(h.d.NodeID), img.ClusterBrokerConfig()
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !validTopicName(name) {
			return nil, fmt.Errorf("%w: %q is not a valid topic name", kerr.InvalidTopicException, name)
		}
		if _, err := lookupTopic(img, false, name, [16]byte{}); err != nil {
			return nil, err
		}
		return h.d.Config.DescribeTopic(img.TopicConfig(name), dynBroker, dynCluster), nil
	case kmsg.ConfigResourceTypeBroker:
		if name == "" {
			return h.d.Config.DescribeClusterDefault(dynCluster), nil
		}
		id, err := brokerResourceID(name, "Broker")
		if err != nil {
			return nil, err
		}
		if id != h.d.NodeID {
			return nil, fmt.Errorf("%w: Unexpected broker id, expected %d or empty string, but received %s", kerr.InvalidRequest, h.d.NodeID, name)
		}
		return h.d.Config.DescribeBroker(dynBroker, dynCluster), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if name == "" {
			return nil, fmt.Errorf("%w: Broker id must not be empty", kerr.InvalidRequest)
		}
		id, err := brokerResourceID(name, "Broker")
		if err != nil {
			return nil, err
		}
		if id != h.d.NodeID {
			return nil, fmt.Errorf("%w: Unexpected broker id, expected %d but received %s", kerr.InvalidRequest, h.d.NodeID, name)
		}
		return nil, fmt.Errorf("%w: samsa has no per-logger log levels to describe (BROKER_LOGGER); its level is samsa.log.level, set at start-up", kerr.InvalidRequest)
	}
	return nil, fmt.Errorf("%w: Unsupported resource type: %d", kerr.InvalidRequest, typ)
}

// brokerResourceID parses a broker resource name (Kafka's
// resourceNameToBrokerId); what is "Broker" or "Node", as Kafka words the
// error in each place.
func brokerResourceID(name, what string) (int32, error) {
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %s id must be an integer, but it is: %s", kerr.InvalidRequest, what, name)
	}
	return int32(id), nil
}

// filterConfigEntries keeps the entries named in names; null or empty names
// keep all, as in Kafka.
func filterConfigEntries(entries []config.Entry, names []string) []config.Entry {
	if len(names) == 0 {
		return entries
	}
	var out []config.Entry
	for _, e := range entries {
		if slices.Contains(names, e.Name) {
			out = append(out, e)
		}
	}
	return out
}

// describedConfig converts one entry; kmsg writes only the fields the
// response's version has.
func describedConfig(e config.Entry, synonyms, documentation bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.Name
	c.Value = cloneString(e.Value)
	c.ReadOnly = e.ReadOnly
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = e.Source == config.SourceDefaultConfig
	c.IsSensitive = e.Sensitive
	c.ConfigType = kmsg.ConfigType(e.Type)
	if synonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.Name, cloneString(s.Value), kmsg.ConfigSource(s.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if documentation && e.Doc != "" {
		doc := e.Doc
		c.Documentation = &doc
	}
	return c
}

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}
