package config

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Listener is one entry of listeners or advertised.listeners:
// NAME://host:port. An empty Host binds every interface.
type Listener struct {
	Name string
	Host string
	Port int
}

// Address is host:port, ready for net.Listen or net.Dial.
func (l Listener) Address() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// String renders the listener as Kafka writes it.
func (l Listener) String() string {
	host := l.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s://%s:%d", l.Name, host, l.Port)
}

// Voter is one entry of controller.quorum.voters: id@host:port.
type Voter struct {
	ID   int32
	Host string
	Port int
}

// Address is host:port, ready for net.Dial.
func (v Voter) Address() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

// listenerPattern is Kafka's EndPoint URI form (SocketServerConfigs'
// uriParseExp): NAME://host:port with an optional bracketed IPv6 host.
var listenerPattern = regexp.MustCompile(`^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$`)

// parseListeners parses a comma-separated listener list. Names are upper
// cased as Kafka's ListenerName.normalised does; each name may appear once.
func parseListeners(v string) ([]Listener, error) {
	var out []Listener
	seen := map[string]bool{}
	for _, item := range splitList(v) {
		m := listenerPattern.FindStringSubmatch(item)
		if m == nil || m[1] == "" {
			return nil, fmt.Errorf("listener %q is not NAME://host:port", item)
		}
		port, err := strconv.Atoi(m[3])
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("listener %q: port is not in 0..65535", item)
		}
		name := strings.ToUpper(m[1])
		if seen[name] {
			return nil, fmt.Errorf("listener name %s appears more than once", name)
		}
		seen[name] = true
		out = append(out, Listener{Name: name, Host: m[2], Port: port})
	}
	return out, nil
}

// parseVoters parses controller.quorum.voters: id@host:port, ... (Kafka's
// QuorumConfig.parseVoterConnections). The id must be a non-negative int32
// and each id may appear once.
func parseVoters(v string) ([]Voter, error) {
	var out []Voter
	seen := map[int32]bool{}
	for _, item := range splitList(v) {
		idStr, addr, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("voter %q is not id@host:port", item)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("voter %q: id is not a non-negative integer", item)
		}
		host, port, err := splitHostPort(addr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("voter %q is not id@host:port", item)
		}
		if seen[int32(id)] {
			return nil, fmt.Errorf("voter id %d appears more than once", id)
		}
		seen[int32(id)] = true
		out = append(out, Voter{ID: int32(id), Host: host, Port: port})
	}
	return out, nil
}

// parseProtocolMap parses listener.security.protocol.map: NAME:PROTOCOL, ...
// Names and protocols are upper cased (Kafka normalises both).
func parseProtocolMap(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range splitList(v) {
		name, proto, ok := strings.Cut(item, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" || proto == "" {
			return nil, fmt.Errorf("entry %q is not LISTENER_NAME:SECURITY_PROTOCOL", item)
		}
		switch proto {
		case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
		default:
			return nil, fmt.Errorf("entry %q: unknown security protocol %s", item, proto)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("listener name %s appears more than once", name)
		}
		out[name] = proto
	}
	return out, nil
}

// parseNames parses a comma-separated list of listener names, upper cased.
func parseNames(v string) []string {
	items := splitList(v)
	for i := range items {
		items[i] = strings.ToUpper(items[i])
	}
	return items
}
