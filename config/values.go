package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// canonical parses a raw value as Kafka's ConfigDef.parseType does, applies
// the key's validator, and renders the value back the way DescribeConfigs
// shows it (ConfigDef.convertToString): numbers in decimal, booleans in
// lower case, lists joined with ",", doubles as Java prints them.
func canonical(d *keyDef, raw string) (string, error) {
	v := strings.TrimSpace(raw)
	switch d.typ {
	case typeBoolean:
		switch strings.ToLower(v) {
		case "true":
			return "true", nil
		case "false":
			return "false", nil
		}
		return "", errors.New("expected true or false")
	case typeShort, typeInt, typeLong:
		bits := 64
		switch d.typ {
		case typeShort:
			bits = 16
		case typeInt:
			bits = 32
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			return "", fmt.Errorf("expected a %d-bit integer", bits)
		}
		if err := checkRange(d, float64(n), n); err != nil {
			return "", err
		}
		s := strconv.FormatInt(n, 10)
		return s, checkValue(d, s)
	case typeDouble:
		f, err := parseJavaDouble(v)
		if err != nil {
			return "", errors.New("expected a number")
		}
		if err := checkRange(d, f, 0); err != nil {
			return "", err
		}
		return formatJavaDouble(f), nil
	case typeList:
		items := splitList(v)
		for _, it := range items {
			if err := checkEnum(d, it); err != nil {
				return "", err
			}
		}
		s := strings.Join(items, ",")
		return s, checkValue(d, s)
	case typeClass:
		if !javaClassName.MatchString(v) {
			return "", errors.New("expected a Java class name")
		}
		return v, nil
	case typePassword:
		return raw, nil
	default: // typeString
		if d.nonEmpty && v == "" {
			return "", errors.New("must not be empty")
		}
		if err := checkEnum(d, v); err != nil {
			return "", err
		}
		return v, checkValue(d, v)
	}
}

// javaClassName accepts what Class.forName could load: dotted Java
// identifiers, nested classes with $. samsa loads no Java classes, so
// only the syntax is checked.
var javaClassName = regexp.MustCompile(`^[\p{L}_$][\p{L}\p{N}_$]*(\.[\p{L}_$][\p{L}\p{N}_$]*)*$`)

// splitList splits as Kafka's LIST type does: on commas with surrounding
// blanks, keeping empty elements (so "a,,b" fails an enum check); a blank
// string is the empty list.
func splitList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// checkRange applies ConfigDef.Range: min and max are inclusive. Integers
// are compared exactly (n), doubles as float64 (f).
func checkRange(d *keyDef, f float64, n int64) error {
	if d.min == "" && d.max == "" {
		return nil
	}
	below := func(bound string) bool {
		if d.typ == typeDouble {
			b, _ := strconv.ParseFloat(bound, 64)
			return f < b
		}
		b, _ := strconv.ParseInt(bound, 10, 64)
		return n < b
	}
	above := func(bound string) bool {
		if d.typ == typeDouble {
			b, _ := strconv.ParseFloat(bound, 64)
			return f > b
		}
		b, _ := strconv.ParseInt(bound, 10, 64)
		return n > b
	}
	switch {
	case d.min != "" && d.max != "" && (below(d.min) || above(d.max)):
		return fmt.Errorf("must be between %s and %s", d.min, d.max)
	case d.min != "" && below(d.min):
		return fmt.Errorf("must be at least %s", d.min)
	case d.max != "" && above(d.max):
		return fmt.Errorf("must be at most %s", d.max)
	}
	return nil
}

// checkEnum applies ValidString, CaseInsensitiveValidString and ValidList.
func checkEnum(d *keyDef, v string) error {
	if len(d.enum) == 0 {
		return nil
	}
	for _, e := range d.enum {
		if v == e || (d.enumFold && strings.EqualFold(v, e)) {
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(d.enum, ", "))
}

// checkValue applies Kafka's custom validators to a canonical value.
func checkValue(d *keyDef, v string) error {
	switch d.check {
	case checkQuorumVoters:
		_, err := parseVoters(v)
		return err
	case checkBootstrapServers:
		for _, s := range splitList(v) {
			if _, _, err := splitHostPort(s); err != nil {
				return fmt.Errorf("bootstrap server %q: %w", s, err)
			}
		}
	case checkThrottledReplicas:
		// ThrottledReplicaListValidator: "*" or partitionId:brokerId pairs.
		items := splitList(v)
		if len(items) == 1 && items[0] == "*" {
			return nil
		}
		for _, it := range items {
			p, b, ok := strings.Cut(it, ":")
			if _, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32); !ok || err != nil {
				return fmt.Errorf("%q is not partitionId:brokerId", it)
			}
			if _, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32); err != nil {
				return fmt.Errorf("%q is not partitionId:brokerId", it)
			}
		}
	case checkGzipLevel:
		// GzipCompression's validator: [1,...,9] or -1 (the codec default).
		n, _ := strconv.Atoi(v)
		if n != -1 && (n < 1 || n > 9) {
			return errors.New("must be -1 or between 1 and 9")
		}
	case checkHostPort:
		if _, _, err := splitHostPort(v); err != nil {
			return err
		}
	}
	return nil
}

// splitHostPort parses host:port with a port in 0..65535; the host may be
// empty (all interfaces) or a bracketed IPv6 address.
func splitHostPort(s string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil {
		return "", 0, errors.New("expected host:port")
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not in 0..65535", portStr)
	}
	return host, port, nil
}

// parseJavaDouble accepts what Double.parseDouble does for ordinary input,
// including a trailing d/D/f/F type suffix.
func parseJavaDouble(v string) (float64, error) {
	if n := len(v); n > 1 && strings.ContainsRune("dDfF", rune(v[n-1])) && v != "Infinity" {
		v = v[:n-1]
	}
	switch v {
	case "NaN":
		return math.NaN(), nil
	case "Infinity", "+Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	if strings.ContainsAny(v, "xXpP_") || strings.EqualFold(v, "inf") || strings.EqualFold(v, "+inf") ||
		strings.EqualFold(v, "-inf") || strings.EqualFold(v, "infinity") || strings.EqualFold(v, "nan") {
		return 0, errors.New("not a Java double")
	}
	return strconv.ParseFloat(v, 64)
}

// formatJavaDouble renders a float64 as Java's Double.toString: plain
// decimal with at least one fractional digit for 1e-3 <= |f| < 1e7,
// otherwise d.dddE<exp>.
func formatJavaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // e.g. 1.5e+07
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// convertSynonym turns a broker synonym's canonical value into the topic
// key's unit (hours and minutes to milliseconds).
func convertSynonym(c synonymConversion, v string) string {
	var factor int64
	switch c {
	case convertHoursToMs:
		factor = 60 * 60 * 1000
	case convertMinutesToMs:
		factor = 60 * 1000
	default:
		return v
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return v
	}
	return strconv.FormatInt(n*factor, 10)
}
