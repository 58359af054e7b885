package config

import (
	"fmt"
	"slices"
	"strings"
)

// buildNetwork fills the listener, quorum and log directory fields.
func (b *Broker) buildNetwork() error {
	var err error
	raw := func(name string) string { v, _ := b.static(name); return v }
	if b.Listeners, err = parseListeners(raw("listeners")); err != nil {
		return fmt.Errorf("config listeners=%q: %w", raw("listeners"), err)
	}
	if _, set := b.Values["advertised.listeners"]; set {
		if b.AdvertisedListeners, err = parseListeners(raw("advertised.listeners")); err != nil {
			return fmt.Errorf("config advertised.listeners=%q: %w", raw("advertised.listeners"), err)
		}
	} else {
		// Kafka advertises the listeners themselves when advertised.listeners is unset.
		b.AdvertisedListeners = slices.Clone(b.Listeners)
	}
	if b.ListenerSecurityProtocolMap, err = parseProtocolMap(raw("listener.security.protocol.map")); err != nil {
		return fmt.Errorf("config listener.security.protocol.map=%q: %w", raw("listener.security.protocol.map"), err)
	}
	b.ControllerListenerNames = parseNames(raw("controller.listener.names"))
	// Kafka maps an unmapped controller listener to the protocol of the same
	// name, else PLAINTEXT (KafkaConfig.effectiveListenerSecurityProtocolMap).
	for _, name := range b.ControllerListenerNames {
		if _, ok := b.ListenerSecurityProtocolMap[name]; !ok {
			proto := "PLAINTEXT"
			if isSecurityProtocol(name) {
				proto = name
			}
			b.ListenerSecurityProtocolMap[name] = proto
		}
	}

	_, nameSet := b.Values["inter.broker.listener.name"]
	_, protoSet := b.Values["security.inter.broker.protocol"]
	switch {
	case nameSet && protoSet:
		return fmt.Errorf("config inter.broker.listener.name=%q and security.inter.broker.protocol=%q: only one of them may be set",
			raw("inter.broker.listener.name"), raw("security.inter.broker.protocol"))
	case nameSet:
		b.InterBrokerListenerName = strings.ToUpper(raw("inter.broker.listener.name"))
	default:
		b.InterBrokerListenerName = strings.ToUpper(raw("security.inter.broker.protocol"))
	}

	if b.ControllerQuorumVoters, err = parseVoters(raw("controller.quorum.voters")); err != nil {
		return fmt.Errorf("config controller.quorum.voters=%q: %w", raw("controller.quorum.voters"), err)
	}

	dirsKey := "log.dirs"
	if _, set := b.Values[dirsKey]; !set {
		dirsKey = "log.dir"
	}
	b.LogDirs = splitList(raw(dirsKey))
	if len(b.LogDirs) == 0 || slices.Contains(b.LogDirs, "") {
		return fmt.Errorf("config %s=%q: at least one log directory is required and none may be empty", dirsKey, raw(dirsKey))
	}
	return nil
}

func isSecurityProtocol(name string) bool {
	switch name {
	case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
		return true
	}
	return false
}

// check applies the cross-key rules Kafka's KafkaConfig.validateValues
// enforces for a KRaft node, and samsa's own limit of PLAINTEXT listeners.
func (b *Broker) check() error {
	raw := func(name string) string { v, _ := b.static(name); return v }
	if b.NodeID < 0 {
		return fmt.Errorf("config node.id=%d: must be at least 0", b.NodeID)
	}
	if len(b.ProcessRoles) == 0 {
		return fmt.Errorf("config process.roles=%q: at least one of broker, controller is required", raw("process.roles"))
	}
	seenRole := map[string]bool{}
	for _, r := range b.ProcessRoles {
		if r != "broker" && r != "controller" {
			return fmt.Errorf("config process.roles=%q: unknown role %q (want broker, controller)", raw("process.roles"), r)
		}
		if seenRole[r] {
			return fmt.Errorf("config process.roles=%q: role %s appears more than once", raw("process.roles"), r)
		}
		seenRole[r] = true
	}
	isBroker, isController := seenRole["broker"], seenRole["controller"]

	names := map[string]bool{}
	ports := map[int]string{}
	for _, l := range b.Listeners {
		names[l.Name] = true
		proto, ok := b.ListenerSecurityProtocolMap[l.Name]
		if !ok {
			return fmt.Errorf("config listeners=%q: listener %s has no security protocol in listener.security.protocol.map", raw("listeners"), l.Name)
		}
		if proto != "PLAINTEXT" {
			return fmt.Errorf("config listener.security.protocol.map=%q: listener %s uses %s, samsa supports only PLAINTEXT listeners so far",
				raw("listener.security.protocol.map"), l.Name, proto)
		}
		// Port 0 asks the OS for a free port, so several listeners may use it.
		if other, dup := ports[l.Port]; dup && l.Port != 0 {
			return fmt.Errorf("config listeners=%q: listeners %s and %s both use port %d", raw("listeners"), other, l.Name, l.Port)
		}
		ports[l.Port] = l.Name
	}
	for _, l := range b.AdvertisedListeners {
		if !names[l.Name] {
			return fmt.Errorf("config advertised.listeners=%q: listener %s is not in listeners", raw("advertised.listeners"), l.Name)
		}
		if l.Host == "0.0.0.0" {
			return fmt.Errorf("config advertised.listeners=%q: cannot advertise the meta-address 0.0.0.0", raw("advertised.listeners"))
		}
	}

	if len(b.ControllerListenerNames) == 0 {
		return fmt.Errorf("config controller.listener.names: required in KRaft mode")
	}
	for _, n := range b.ControllerListenerNames {
		switch {
		case isController && !names[n]:
			return fmt.Errorf("config controller.listener.names=%q: listener %s is not in listeners", raw("controller.listener.names"), n)
		case !isController && names[n]:
			// Kafka: a broker-only node must not listen on the controller listener.
			return fmt.Errorf("config controller.listener.names=%q: listener %s must not be in listeners when process.roles is broker only",
				raw("controller.listener.names"), n)
		}
	}
	if isBroker {
		if !names[b.InterBrokerListenerName] {
			return fmt.Errorf("config inter.broker.listener.name=%q: listener %s is not in listeners", raw("inter.broker.listener.name"), b.InterBrokerListenerName)
		}
		if slices.Contains(b.ControllerListenerNames, b.InterBrokerListenerName) {
			return fmt.Errorf("config inter.broker.listener.name=%q: must not be a controller listener", raw("inter.broker.listener.name"))
		}
	}

	bootstrap := raw("controller.quorum.bootstrap.servers")
	if len(b.ControllerQuorumVoters) == 0 && strings.TrimSpace(bootstrap) == "" {
		return fmt.Errorf("config controller.quorum.voters: either it or controller.quorum.bootstrap.servers must be set")
	}
	if isController && len(b.ControllerQuorumVoters) > 0 &&
		!slices.ContainsFunc(b.ControllerQuorumVoters, func(v Voter) bool { return v.ID == b.NodeID }) {
		return fmt.Errorf("config controller.quorum.voters=%q: node.id %d must be a voter when process.roles includes controller",
			raw("controller.quorum.voters"), b.NodeID)
	}
	return nil
}
