package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/config"
)

// ConfigChange is one resource of an AlterConfigs or IncrementalAlterConfigs
// request.
type ConfigChange struct {
	Resource ConfigResource
	Ops      []ConfigOp
}

// ConfigOp is one key of a ConfigChange. Legacy AlterConfigs ignores Op: its
// ops are the resource's complete new set of overrides.
type ConfigOp struct {
	Name  string
	Op    kmsg.IncrementalAlterConfigOp // SET, DELETE, APPEND, SUBTRACT
	Value *string
}

// ConfigChangeResult is the outcome for one ConfigChange.
type ConfigChangeResult struct {
	Resource ConfigResource
	Err      error
}

// The compaction lag keys, which Kafka checks against each other
// (LogConfig.validateValues).
const (
	topicMinCompactionLag = "min.compaction.lag.ms"
	topicMaxCompactionLag = "max.compaction.lag.ms"
)

// AlterConfigs changes dynamic configs of topics and brokers, following
// Kafka's ConfigurationControlManager. incremental selects
// IncrementalAlterConfigs (SET, DELETE, and APPEND/SUBTRACT on list keys);
// otherwise it is legacy AlterConfigs, which replaces all of a resource's
// overrides with the ones given. A broker resource is "" (the cluster-wide
// default) or a broker ID, and takes only keys Kafka can update dynamically.
// Every resource that passes is committed in one entry; with validateOnly
// nothing is.
func (c *Controller) AlterConfigs(ctx context.Context, changes []ConfigChange, incremental, validateOnly bool) []ConfigChangeResult {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	img := c.Image()
	results := make([]ConfigChangeResult, len(changes))
	if err := c.checkActiveLocked(); err != nil {
		for i, ch := range changes {
			results[i] = ConfigChangeResult{Resource: ch.Resource, Err: err}
		}
		return results
	}
	seen := map[ConfigResource]int{}
	for _, ch := range changes {
		seen[ch.Resource]++
	}
	var recs []Record
	var altered []int
	for i, ch := range changes {
		results[i].Resource = ch.Resource
		if seen[ch.Resource] > 1 {
			results[i].Err = fmt.Errorf("%w: duplicate resource %d/%q", kerr.InvalidRequest, ch.Resource.Type, ch.Resource.Name)
			continue
		}
		crecs, err := c.alterConfigLocked(img, ch, incremental)
		if err != nil {
			results[i].Err = err
			continue
		}
		recs = append(recs, crecs...)
		altered = append(altered, i)
	}
	if validateOnly || len(recs) == 0 {
		return results
	}
	if err := c.proposeLocked(ctx, recs); err != nil {
		for _, i := range altered {
			results[i].Err = err
		}
		return results
	}
	for _, i := range altered {
		c.logger.Info("altered configs", slog.Int("resource_type", int(changes[i].Resource.Type)), slog.String("resource", changes[i].Resource.Name))
	}
	return results
}

// alterConfigLocked validates one resource's change and returns its
// ConfigRecords, one per key whose value changes.
func (c *Controller) alterConfigLocked(img *Image, ch ConfigChange, incremental bool) ([]Record, error) {
	if err := c.checkConfigResource(img, ch.Resource); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, op := range ch.Ops {
		if names[op.Name] {
			return nil, fmt.Errorf("%w: error due to duplicate config keys: %s", kerr.InvalidRequest, op.Name)
		}
		names[op.Name] = true
	}
	if ch.Resource.Type == ConfigResourceBroker {
		if err := checkDynamicBrokerKeys(ch); err != nil {
			return nil, err
		}
	}
	current := img.Configs[ch.Resource]
	var updated map[string]*string
	var err error
	if incremental {
		updated, err = c.incrementalValues(ch, current)
	} else {
		updated, err = legacyValues(ch, current)
	}
	if err != nil {
		return nil, err
	}
	var recs []Record
	for _, k := range slices.Sorted(maps.Keys(updated)) {
		v := updated[k]
		old, had := current[k]
		if v == nil && !had || v != nil && had && old == *v {
			continue
		}
		if err := c.validateConfigValue(ch.Resource.Type, k, v); err != nil {
			return nil, err
		}
		recs = append(recs, ConfigRecord{ResourceType: ch.Resource.Type, ResourceName: ch.Resource.Name, Name: k, Value: v})
	}
	if ch.Resource.Type == ConfigResourceTopic && len(recs) > 0 {
		after := make(map[string]string, len(current)+len(updated))
		maps.Copy(after, current)
		for k, v := range updated {
			if v == nil {
				delete(after, k)
			} else {
				after[k] = *v
			}
		}
		if err := c.checkCompactionLags(img, after); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// checkCompactionLags refuses a topic whose effective min.compaction.lag.ms
// exceeds its max.compaction.lag.ms, as Kafka's LogConfig.validateValues
// does; the log would refuse to open with it.
func (c *Controller) checkCompactionLags(img *Image, overrides map[string]string) error {
	tc := c.cfg.Broker.ResolveTopic(overrides, img.BrokerConfig(c.cfg.NodeID), img.ClusterBrokerConfig())
	if tc.MinCompactionLagMs > tc.MaxCompactionLagMs {
		return fmt.Errorf("%w: conflict topic config setting %s (%d) > %s (%d)", kerr.InvalidConfig,
			topicMinCompactionLag, tc.MinCompactionLagMs, topicMaxCompactionLag, tc.MaxCompactionLagMs)
	}
	return nil
}

// checkConfigResource checks that the resource exists and may be altered
// here.
func (c *Controller) checkConfigResource(img *Image, r ConfigResource) error {
	switch r.Type {
	case ConfigResourceTopic:
		if r.Name == "" {
			return fmt.Errorf("%w: default topic resources are not allowed", kerr.InvalidRequest)
		}
		if _, ok := img.Topics[r.Name]; !ok {
			return fmt.Errorf("%w: the topic '%s' does not exist", kerr.UnknownTopicOrPartition, r.Name)
		}
		return nil
	case ConfigResourceBroker:
		if r.Name == "" {
			return nil
		}
		if !validBrokerResourceName(r.Name) {
			return fmt.Errorf("%w: broker id must be an integer, but it is: %s", kerr.InvalidRequest, r.Name)
		}
		id, _ := strconv.ParseInt(r.Name, 10, 32)
		if _, registered := img.Brokers[int32(id)]; int32(id) != c.cfg.NodeID && !registered {
			return fmt.Errorf("%w: unexpected broker id, expected %d, a registered broker or empty string, but received %s", kerr.InvalidRequest, c.cfg.NodeID, r.Name)
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, r.Type)
}

// incrementalValues computes the new value of every key an
// IncrementalAlterConfigs resource names (nil = delete), as Kafka's
// incrementalAlterConfigResource does.
func (c *Controller) incrementalValues(ch ConfigChange, current map[string]string) (map[string]*string, error) {
	out := make(map[string]*string, len(ch.Ops))
	for _, op := range ch.Ops {
		if op.Op != kmsg.IncrementalAlterConfigOpDelete && op.Value == nil {
			return nil, fmt.Errorf("%w: null value not supported for: %s", kerr.InvalidRequest, op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			v := *op.Value
			out[op.Name] = &v
		case kmsg.IncrementalAlterConfigOpDelete:
			out[op.Name] = nil
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if !config.IsListConfig(op.Name) {
				return nil, fmt.Errorf("%w: can't %s to key %s because its type is not LIST", kerr.InvalidConfig, op.Op, op.Name)
			}
			old, ok := current[op.Name]
			if !ok {
				// Kafka appends to (or subtracts from) the default when
				// the key has no override (getParts).
				old = c.defaultValue(ch.Resource.Type, op.Name)
			}
			v := strings.Join(editList(splitList(old), splitList(*op.Value), op.Op == kmsg.IncrementalAlterConfigOpAppend), ",")
			out[op.Name] = &v
		default:
			return nil, fmt.Errorf("%w: unknown alter configs operation %d for %s", kerr.InvalidRequest, op.Op, op.Name)
		}
	}
	return out, nil
}

// legacyValues computes legacy AlterConfigs' new values: the given set
// replaces every override, so keys not given are deleted.
func legacyValues(ch ConfigChange, current map[string]string) (map[string]*string, error) {
	out := make(map[string]*string, len(ch.Ops)+len(current))
	for k := range current {
		out[k] = nil
	}
	for _, op := range ch.Ops {
		if op.Value == nil {
			return nil, fmt.Errorf("%w: null value not supported for: %s", kerr.InvalidRequest, op.Name)
		}
		v := *op.Value
		out[op.Name] = &v
	}
	return out, nil
}

// validateConfigValue validates one new value (nil = delete) of a topic or
// broker key.
func (c *Controller) validateConfigValue(resourceType int8, name string, value *string) error {
	var err error
	if resourceType == ConfigResourceTopic {
		err = config.ValidateTopicConfig(name, value)
	} else {
		err = config.ValidateBrokerConfig(name, value)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, config.ErrReadOnlyConfig):
		// Kafka answers keys that cannot change at run time (or only per
		// listener) with INVALID_REQUEST, bad keys and values with
		// INVALID_CONFIG.
		return fmt.Errorf("%w: %w", kerr.InvalidRequest, err)
	}
	return fmt.Errorf("%w: %w", kerr.InvalidConfig, err)
}

// checkDynamicBrokerKeys applies the resource-wide checks of Kafka's
// DynamicBrokerConfig.validateConfigs: any key that cannot change at run
// time refuses the whole resource, and so does a per-broker key set as the
// cluster-wide default.
func checkDynamicBrokerKeys(ch ConfigChange) error {
	var static, perBroker []string
	for _, op := range ch.Ops {
		switch {
		case !config.IsDynamicBrokerConfig(op.Name):
			static = append(static, op.Name)
		case ch.Resource.Name == "" && config.BrokerConfigUpdateMode(op.Name) == config.UpdatePerBroker:
			perBroker = append(perBroker, op.Name)
		}
	}
	if len(static) > 0 {
		slices.Sort(static)
		return fmt.Errorf("%w: cannot update these configs dynamically: Set(%s)", kerr.InvalidRequest, strings.Join(static, ", "))
	}
	if len(perBroker) > 0 {
		slices.Sort(perBroker)
		return fmt.Errorf("%w: cannot update these configs at default cluster level, broker id must be specified: Set(%s)",
			kerr.InvalidRequest, strings.Join(perBroker, ", "))
	}
	return nil
}

// defaultValue is the value a list key has without an override, the base
// APPEND and SUBTRACT edit (Kafka's getParts falls back to the default): for
// a topic key, what this broker's static config resolves it to; for a
// broker key, its static value or Kafka's default.
func (c *Controller) defaultValue(resourceType int8, name string) string {
	if resourceType == ConfigResourceBroker {
		v, _, _ := c.cfg.Broker.Get(name)
		return v
	}
	for _, e := range c.cfg.Broker.DescribeTopic(nil, nil, nil) {
		if e.Name == name && e.Value != nil {
			return *e.Value
		}
	}
	return ""
}

// splitList splits a list config value on ',' dropping empty elements and
// surrounding blanks, as Kafka's ConfigDef parses LIST values.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// editList appends the values list does not hold yet, or removes every
// occurrence of the values.
func editList(list, values []string, appending bool) []string {
	out := slices.Clone(list)
	for _, v := range values {
		if appending {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		} else {
			out = slices.DeleteFunc(out, func(s string) bool { return s == v })
		}
	}
	return out
}
