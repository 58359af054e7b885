package config

import (
	"fmt"
	"strconv"
	"strings"
)

// property is one key/value pair of a properties file with the line it
// starts on, for error messages.
type property struct {
	key, value string
	line       int
}

// parseProperties reads the Java properties format (java.util.Properties.load)
// that Kafka's server.properties uses:
//   - a line whose first non-blank character is # or ! is a comment;
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading blanks are dropped;
//   - the key ends at the first unescaped '=', ':' or blank; blanks and one
//     '=' or ':' separate it from the value;
//   - escapes \t \n \r \f \uXXXX are decoded, a backslash before any other
//     character stands for that character.
//
// Keys and values are trimmed of surrounding blanks (Java keeps trailing
// blanks of a value, Kafka trims them when it parses the value). Later
// duplicates win, as in Java; all pairs are returned in file order.
func parseProperties(text string) ([]property, error) {
	var out []property
	lines := splitLines(text)
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// Join continuation lines.
		var logical strings.Builder
		for {
			if !endsWithContinuation(line) {
				logical.WriteString(line)
				break
			}
			logical.WriteString(line[:len(line)-1])
			i++
			if i >= len(lines) {
				break
			}
			line = strings.TrimLeft(lines[i], " \t\f")
		}
		key, value, err := splitProperty(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		out = append(out, property{key: key, value: value, line: start})
	}
	return out, nil
}

// splitLines splits on \n, \r\n and \r, the line terminators Java accepts.
func splitLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	return strings.Split(text, "\n")
}

// endsWithContinuation reports an odd number of trailing backslashes.
func endsWithContinuation(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty separates and unescapes the key and value of one logical line.
func splitProperty(line string) (key, value string, err error) {
	end := len(line)
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++ // skip the escaped character
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			end = i
			break
		}
	}
	rawKey := line[:end]
	rest := strings.TrimLeft(line[end:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	if key, err = unescape(rawKey); err != nil {
		return "", "", fmt.Errorf("key %q: %w", rawKey, err)
	}
	if value, err = unescape(rest); err != nil {
		return "", "", fmt.Errorf("value of %s: %w", key, err)
	}
	return strings.TrimSpace(key), strings.TrimSpace(value), nil
}

// unescape decodes the backslash escapes of the properties format.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break // a lone trailing backslash is dropped, as Java does
		}
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\uxxxx escape %q", s[i-1:])
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf("malformed \\uxxxx escape %q", s[i-1:i+5])
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
