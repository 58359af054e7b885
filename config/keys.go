package config

import (
	"sort"
	"strings"
)

// KafkaVersion is the Apache Kafka release whose config keys, defaults and
// validators samsa follows (the one kafka_keys.go was generated from).
const KafkaVersion = kafkaVersion

// configType is the type of a config key. Its values are those of Kafka's
// DescribeConfigs ConfigType (kmsg.ConfigType), so Entry.Type can carry it
// unchanged.
type configType int8

const (
	typeUnknown  configType = 0
	typeBoolean  configType = 1
	typeString   configType = 2
	typeInt      configType = 3
	typeShort    configType = 4
	typeLong     configType = 5
	typeDouble   configType = 6
	typeList     configType = 7
	typeClass    configType = 8
	typePassword configType = 9
)

// UpdateMode says whether and where a broker key can be changed at run time,
// as Kafka's DynamicBrokerConfig defines it (the "Dynamic Update Mode" column
// of Kafka's broker config docs).
type UpdateMode int8

const (
	// UpdateReadOnly keys need a restart: they are static only.
	UpdateReadOnly UpdateMode = iota
	// UpdatePerBroker keys may be set dynamically for one broker, not as a
	// cluster-wide default.
	UpdatePerBroker
	// UpdateClusterWide keys may be set dynamically per broker or as a
	// cluster-wide default.
	UpdateClusterWide
)

// String returns Kafka's name for the mode.
func (m UpdateMode) String() string {
	switch m {
	case UpdatePerBroker:
		return "per-broker"
	case UpdateClusterWide:
		return "cluster-wide"
	default:
		return "read-only"
	}
}

// valueCheck names a validator of Kafka's that is not one of ConfigDef's
// generic ones (range, enum, non-empty); see checkValue.
type valueCheck int8

const (
	checkNone valueCheck = iota
	checkQuorumVoters
	checkBootstrapServers
	checkThrottledReplicas
	checkGzipLevel
	checkHostPort
)

// synonymConversion converts a broker synonym's value to the unit of the
// topic key it stands in for (ServerTopicConfigSynonyms' converters).
type synonymConversion int8

const (
	convertNone synonymConversion = iota
	convertHoursToMs
	convertMinutesToMs
)

// keyDef describes one config key as Kafka's ConfigDef does.
type keyDef struct {
	name string
	typ  configType
	// def is the default rendered as DescribeConfigs shows it; it is
	// meaningless when nullDefault or required is set.
	def         string
	nullDefault bool // the default is null: no value unless set
	required    bool // no default at all: Kafka refuses to start without it
	// min and max bound numeric values (inclusive); empty means unbounded.
	min, max string
	// enum lists the allowed values (for lists: of each element).
	enum     []string
	enumFold bool // enum compared case-insensitively
	nonEmpty bool
	check    valueCheck
	update   UpdateMode
	// listenerOnly keys (the SSL key and trust stores) can be updated
	// dynamically only under a listener.name.<listener>. prefix.
	listenerOnly bool
	internal     bool // hidden from docs and DescribeConfigs unless set
	// synonyms are the keys sharing this key's value in Kafka's precedence
	// order (DynamicBrokerConfig.brokerConfigSynonyms); empty means just
	// the key itself.
	synonyms []string
	doc      string
}

// topicSynonym is a broker key that supplies a topic key's default.
type topicSynonym struct {
	name    string
	convert synonymConversion
}

// topicKeyDef describes a topic key and the broker keys behind its default.
type topicKeyDef struct {
	keyDef
	brokerSynonyms []topicSynonym
}

// samsaKeys are samsa's own keys, sorted by name. Read-only table.
var samsaKeys = []keyDef{
	{name: "samsa.log.level", typ: typeString, def: "info", enum: []string{"debug", "info", "warn", "error"}, enumFold: true,
		doc: "The minimum level of the log lines samsa writes to stderr: debug, info, warn or error."},
	{name: "samsa.metrics.listener", typ: typeString, def: "127.0.0.1:0", check: checkHostPort,
		doc: "host:port of the HTTP endpoint serving Prometheus metrics at /metrics. Port 0 picks a free port."},
}

// listenerPrefix starts a per-listener override of a broker key
// (listener.name.<listener>.<key>), as in Kafka's KafkaConfig.
const listenerPrefix = "listener.name."

// saslMechanismKeys are keys Kafka also accepts per SASL mechanism under a
// listener prefix (listener.name.<listener>.<mechanism>.<key>); Kafka calls
// them ListenerMechanismConfigs.
var saslMechanismKeys = []string{
	"sasl.jaas.config",
	"sasl.login.callback.handler.class",
	"sasl.login.class",
	"sasl.server.callback.handler.class",
	"sasl.server.max.receive.size",
}

// findKey returns the entry of a sorted key table.
func findKey(table []keyDef, name string) *keyDef {
	i := sort.Search(len(table), func(i int) bool { return table[i].name >= name })
	if i < len(table) && table[i].name == name {
		return &table[i]
	}
	return nil
}

// brokerKey returns the definition of a broker key: one of Kafka's, one of
// samsa's, or a listener-prefixed override of one of Kafka's (then base is
// the key it overrides).
func brokerKey(name string) (def *keyDef, base string) {
	if d := findKey(brokerKeys, name); d != nil {
		return d, ""
	}
	if d := findKey(samsaKeys, name); d != nil {
		return d, ""
	}
	return listenerOverride(name)
}

// listenerOverride resolves listener.name.<listener>.<key> and
// listener.name.<listener>.<mechanism>.<key>.
func listenerOverride(name string) (*keyDef, string) {
	rest, ok := strings.CutPrefix(name, listenerPrefix)
	if !ok {
		return nil, ""
	}
	listener, key, ok := strings.Cut(rest, ".")
	if !ok || listener == "" || key == "" {
		return nil, ""
	}
	for _, m := range saslMechanismKeys {
		if strings.HasSuffix(key, "."+m) {
			return findKey(brokerKeys, m), m
		}
	}
	if d := findKey(brokerKeys, key); d != nil {
		return d, key
	}
	return nil, ""
}

// topicKey returns the definition of a topic key.
func topicKey(name string) *topicKeyDef {
	i := sort.Search(len(topicKeys), func(i int) bool { return topicKeys[i].name >= name })
	if i < len(topicKeys) && topicKeys[i].name == name {
		return &topicKeys[i]
	}
	return nil
}

// isSamsaKey reports whether a key is in samsa's own namespace.
func isSamsaKey(name string) bool { return strings.HasPrefix(name, "samsa.") }

// synonymNames is a broker key's synonym list in precedence order, the key
// itself included (Kafka's brokerConfigSynonyms with matchListenerOverride
// false: used when a dynamic value replaces lower layers).
func synonymNames(name string) []string {
	if d := findKey(brokerKeys, name); d != nil && len(d.synonyms) > 0 {
		return d.synonyms
	}
	return []string{name}
}

// describeSynonymNames is synonymNames plus, for a listener override, the
// key it overrides (brokerConfigSynonyms with matchListenerOverride true:
// used by DescribeConfigs).
func describeSynonymNames(name string) []string {
	if _, base := listenerOverride(name); base != "" && findKey(brokerKeys, name) == nil {
		return []string{name, base}
	}
	return synonymNames(name)
}

// brokerUpdateMode is the dynamic update mode of a broker key; listener
// overrides are per-broker, as Kafka's DynamicBrokerConfig.perBrokerConfigs
// treats them.
func brokerUpdateMode(name string) UpdateMode {
	def, base := brokerKey(name)
	switch {
	case def == nil || isSamsaKey(name):
		return UpdateReadOnly
	case base != "":
		return UpdatePerBroker
	default:
		return def.update
	}
}
