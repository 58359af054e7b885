package config

import (
	"maps"
	"slices"
)

// Source says where a config value comes from. Its values are those of
// Kafka's DescribeConfigs ConfigSource (kmsg.ConfigSource).
type Source int8

const (
	SourceDynamicTopicConfig         Source = 1 // a topic's own override
	SourceDynamicBrokerConfig        Source = 2 // dynamic, for this broker
	SourceDynamicDefaultBrokerConfig Source = 3 // dynamic, cluster-wide default
	SourceStaticBrokerConfig         Source = 4 // the node's file, -c flags or zero-config profile
	SourceDefaultConfig              Source = 5 // Kafka's default
)

// Synonym is one place a value of a key (or of a key standing in for it)
// is set, as in DescribeConfigs' synonyms.
type Synonym struct {
	Name   string
	Value  *string // nil for sensitive keys
	Source Source
}

// Entry is one described config key, shaped like a DescribeConfigs
// response entry.
type Entry struct {
	Name      string
	Value     *string // nil when sensitive or when the key has no value
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      int8 // kmsg.ConfigType
	Doc       string
	// Synonyms in precedence order, the entry's own source first.
	Synonyms []Synonym
}

// layers are the broker config layers DescribeConfigs and topic
// resolution read, as Kafka's DynamicBrokerConfig keeps them.
type layers struct {
	dynBroker, dynCluster, static map[string]string
	// merged is what Kafka's live KafkaConfig is built from: the static
	// values, then the cluster-wide dynamic ones, then the per-broker ones,
	// each dynamic key first removing its synonyms from below
	// (DynamicBrokerConfig.overrideProps), so log.retention.ms set
	// dynamically beats log.retention.hours set in the file.
	merged map[string]string
}

// newLayers filters the dynamic maps as Kafka does when it loads them
// (DynamicBrokerConfig.fromPersistentProps): keys that are not dynamic,
// values that do not parse, base security keys without a listener prefix
// and, at cluster level, per-broker keys are ignored.
func newLayers(static, dynBroker, dynCluster map[string]string) layers {
	l := layers{
		static:     static,
		dynBroker:  usableDynamic(dynBroker, true),
		dynCluster: usableDynamic(dynCluster, false),
		merged:     make(map[string]string, len(static)+len(dynBroker)+len(dynCluster)),
	}
	for k, v := range static {
		l.merged[k] = v
	}
	for _, dyn := range []map[string]string{l.dynCluster, l.dynBroker} {
		for _, k := range sortedKeys(dyn) {
			for _, s := range synonymNames(k) {
				delete(l.merged, s)
			}
			l.merged[k] = dyn[k]
		}
	}
	return l
}

func usableDynamic(dyn map[string]string, perBroker bool) map[string]string {
	out := make(map[string]string, len(dyn))
	for k, v := range dyn {
		if validateDynamic(k, &v, perBroker) == nil {
			out[k] = v
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// synonymsOf lists where the synonyms of name are set, level by level
// (per-broker dynamic, cluster dynamic, static, default) and within a level
// in synonym order, then drops entries before the first one for name itself,
// exactly as Kafka's ConfigHelper.configSynonyms does (so describing
// log.retention.hours does not list log.retention.ms).
func (l layers) synonymsOf(name string, names []string, sensitive bool) []Synonym {
	var out []Synonym
	add := func(m map[string]string, src Source) {
		for _, n := range names {
			if v, ok := m[n]; ok {
				out = append(out, Synonym{Name: n, Value: hide(v, sensitive), Source: src})
			}
		}
	}
	add(l.dynBroker, SourceDynamicBrokerConfig)
	add(l.dynCluster, SourceDynamicDefaultBrokerConfig)
	add(l.static, SourceStaticBrokerConfig)
	for _, n := range names {
		if d, base := brokerKey(n); d != nil && base == "" && !d.nullDefault && !d.required {
			out = append(out, Synonym{Name: n, Value: hide(d.def, sensitive), Source: SourceDefaultConfig})
		}
	}
	for i, s := range out {
		if s.Name == name {
			return out[i:]
		}
	}
	return nil
}

func hide(v string, sensitive bool) *string {
	if sensitive {
		return nil
	}
	return &v
}

// DescribeBroker describes every broker key for this broker, sorted by
// name, as Kafka's DescribeConfigs does for a BROKER resource named by this
// node's id: values are the effective ones (dynamic layers applied),
// sensitive values are nil, internal keys appear only when set. dynBroker
// and dynCluster are the dynamic configs of this broker and the cluster-wide
// default from cluster metadata.
func (b *Broker) DescribeBroker(dynBroker, dynCluster map[string]string) []Entry {
	l := newLayers(b.Values, dynBroker, dynCluster)
	names := map[string]bool{}
	for _, table := range [][]keyDef{brokerKeys, samsaKeys} {
		for i := range table {
			if !table[i].internal {
				names[table[i].name] = true
			}
		}
	}
	for k := range l.merged {
		names[k] = true
	}
	out := make([]Entry, 0, len(names))
	for _, name := range sortedKeys(names) {
		out = append(out, l.brokerEntry(name, true))
	}
	return out
}

// DescribeClusterDefault describes the cluster-wide dynamic broker configs,
// as Kafka's DescribeConfigs does for the BROKER resource with an empty
// name: only the keys set there, with only their cluster-level synonyms.
func (b *Broker) DescribeClusterDefault(dynCluster map[string]string) []Entry {
	l := newLayers(b.Values, nil, dynCluster)
	out := make([]Entry, 0, len(l.dynCluster))
	for _, name := range sortedKeys(l.dynCluster) {
		out = append(out, l.brokerEntry(name, false))
	}
	return out
}

// brokerEntry is Kafka's ConfigHelper.createBrokerConfigEntry.
func (l layers) brokerEntry(name string, perBroker bool) Entry {
	def, _ := brokerKey(name)
	sensitive := def.typ == typePassword
	e := Entry{
		Name:      name,
		Source:    SourceDefaultConfig,
		Sensitive: sensitive,
		Type:      int8(def.typ),
		Doc:       def.doc,
		// Kafka marks read-only whatever is not in AllDynamicConfigs,
		// listener overrides included.
		ReadOnly: findKey(brokerKeys, name) == nil || def.update == UpdateReadOnly,
	}
	// The value is the effective one; the cluster-default resource shows
	// the raw dynamic value instead (Kafka describes that map as stored).
	raw, set := l.merged[name]
	if !perBroker {
		raw, set = l.dynCluster[name]
	}
	// Kafka renders parsed values of its public keys; internal keys and
	// listener overrides are shown as stored (ConfigHelper's allConfigs).
	parsed := !def.internal && findKey(brokerKeys, name) != nil || isSamsaKey(name)
	switch {
	case sensitive:
	case set && perBroker && parsed:
		if c, err := canonical(def, raw); err == nil {
			e.Value = &c
		} else {
			e.Value = &raw
		}
	case set:
		e.Value = &raw
	case !def.nullDefault && !def.required:
		v := def.def
		e.Value = &v
	}
	for _, s := range l.synonymsOf(name, describeSynonymNames(name), sensitive) {
		if perBroker || s.Source == SourceDynamicDefaultBrokerConfig {
			e.Synonyms = append(e.Synonyms, s)
		}
	}
	if len(e.Synonyms) > 0 {
		e.Source = e.Synonyms[0].Source
	}
	return e
}

// DescribeTopic describes every topic key of a topic with the given
// overrides, sorted by name, as Kafka's DescribeConfigs does for a TOPIC
// resource: the effective value, and as synonyms the topic override
// followed by where the broker keys behind its default are set.
func (b *Broker) DescribeTopic(overrides, dynBroker, dynCluster map[string]string) []Entry {
	l := newLayers(b.Values, dynBroker, dynCluster)
	values := resolveTopicValues(overrides, l.merged)
	out := make([]Entry, 0, len(topicKeys))
	for i := range topicKeys {
		td := &topicKeys[i]
		ov, overridden := validOverride(td, overrides)
		if td.internal && !overridden {
			continue
		}
		e := Entry{Name: td.name, Source: SourceDefaultConfig, Type: int8(td.typ), Doc: td.doc}
		if v, ok := values[td.name]; ok {
			e.Value = &v
		}
		if overridden {
			e.Synonyms = append(e.Synonyms, Synonym{Name: td.name, Value: &ov, Source: SourceDynamicTopicConfig})
		}
		if len(td.brokerSynonyms) > 0 {
			primary := td.brokerSynonyms[0].name
			e.Synonyms = append(e.Synonyms, l.synonymsOf(primary, describeSynonymNames(primary), false)...)
		}
		if len(e.Synonyms) > 0 {
			e.Source = e.Synonyms[0].Source
		}
		out = append(out, e)
	}
	return out
}

// validOverride returns a topic override in canonical form, or false when
// it is absent or invalid (then it is ignored, as the lower layers apply).
func validOverride(td *topicKeyDef, overrides map[string]string) (string, bool) {
	raw, ok := overrides[td.name]
	if !ok {
		return "", false
	}
	c, err := canonical(&td.keyDef, raw)
	return c, err == nil
}
