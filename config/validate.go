package config

import (
	"errors"
	"fmt"
)

// Errors returned (wrapped) by the validators, so callers can pick the
// Kafka error code: unknown keys and bad values are INVALID_CONFIG, keys that
// cannot be changed at run time are INVALID_REQUEST in Kafka.
var (
	ErrUnknownConfig      = errors.New("unknown config key")
	ErrInvalidConfigValue = errors.New("invalid config value")
	ErrReadOnlyConfig     = errors.New("config cannot be updated dynamically")
)

// ValidateTopicConfig checks a topic override: the key must be a topic key
// and the value must parse and pass Kafka's validator. A nil value deletes
// the override and is valid for any known key.
func ValidateTopicConfig(name string, value *string) error {
	td := topicKey(name)
	if td == nil {
		return fmt.Errorf("%w: unknown topic config %s", ErrUnknownConfig, name)
	}
	if value == nil {
		return nil
	}
	if _, err := canonical(&td.keyDef, *value); err != nil {
		return fmt.Errorf("%w: topic config %s=%q: %v", ErrInvalidConfigValue, name, *value, err)
	}
	return nil
}

// ValidateBrokerConfig checks a dynamic broker config for one broker: the
// key must exist and be dynamically updatable (BrokerConfigUpdateMode), and
// the value must be valid. A nil value deletes the setting. Setting a key
// as the cluster-wide default additionally needs BrokerConfigUpdateMode to
// be UpdateClusterWide.
func ValidateBrokerConfig(name string, value *string) error {
	return validateDynamic(name, value, true)
}

// validateDynamic applies Kafka's DynamicBrokerConfig.validateConfigs rules
// to one key, at the per-broker or the cluster-wide level.
func validateDynamic(name string, value *string, perBroker bool) error {
	def, base := brokerKey(name)
	if def == nil {
		return fmt.Errorf("%w: unknown broker config %s", ErrUnknownConfig, name)
	}
	switch mode := brokerUpdateMode(name); {
	case mode == UpdateReadOnly:
		return fmt.Errorf("%w: %s is read-only", ErrReadOnlyConfig, name)
	case mode == UpdatePerBroker && !perBroker:
		return fmt.Errorf("%w: %s can be updated only for a broker, not as a cluster-wide default", ErrReadOnlyConfig, name)
	case def.listenerOnly && base == "":
		return fmt.Errorf("%w: %s can be updated dynamically only per listener (%s<listener>.%s)",
			ErrReadOnlyConfig, name, listenerPrefix, name)
	}
	if value == nil {
		return nil
	}
	if _, err := canonical(def, *value); err != nil {
		return fmt.Errorf("%w: broker config %s=%q: %v", ErrInvalidConfigValue, name, *value, err)
	}
	if err := checkSyntax(name, *value); err != nil {
		return fmt.Errorf("%w: broker config %s=%q: %v", ErrInvalidConfigValue, name, *value, err)
	}
	return nil
}

// checkSyntax validates the keys whose format Kafka checks outside of
// ConfigDef (in KafkaConfig and its listener parsing).
func checkSyntax(name, value string) error {
	var err error
	switch name {
	case "listeners", "advertised.listeners":
		_, err = parseListeners(value)
	case "listener.security.protocol.map":
		_, err = parseProtocolMap(value)
	}
	return err
}

// IsDynamicBrokerConfig reports whether a broker key can be updated at run
// time (per broker or cluster-wide).
func IsDynamicBrokerConfig(name string) bool {
	return brokerUpdateMode(name) != UpdateReadOnly
}

// BrokerConfigUpdateMode returns a broker key's dynamic update mode;
// unknown keys are UpdateReadOnly.
func BrokerConfigUpdateMode(name string) UpdateMode { return brokerUpdateMode(name) }

// IsListConfig reports whether a topic or broker key is of Kafka's LIST
// type, the only type IncrementalAlterConfigs may APPEND to or SUBTRACT
// from (KIP-339).
func IsListConfig(name string) bool {
	if td := topicKey(name); td != nil {
		return td.typ == typeList
	}
	def, _ := brokerKey(name)
	return def != nil && def.typ == typeList
}

// IsTopicConfig reports whether name is a topic config key.
func IsTopicConfig(name string) bool { return topicKey(name) != nil }
