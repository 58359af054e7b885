package config

import (
	"reflect"
	"testing"
)

// The expected pairs are what java.util.Properties.load returns for the same
// text (checked on JDK 17), except that samsa also trims trailing blanks of
// values, which Kafka does when it parses them.
func TestParsePropertiesFollowsJavaSyntax(t *testing.T) {
	tests := []struct {
		name string
		text string
		want [][2]string
	}{
		{"equals", "a=b", [][2]string{{"a", "b"}}},
		{"blanks around equals and trailing blank", "a = b ", [][2]string{{"a", "b"}}},
		{"colon", "a:b", [][2]string{{"a", "b"}}},
		{"colon with blanks", "a : b", [][2]string{{"a", "b"}}},
		{"blank separates", "a b", [][2]string{{"a", "b"}}},
		{"leading blanks and tabs", "  a\t=\tb", [][2]string{{"a", "b"}}},
		{"escaped blank in key", `a\ b=c`, [][2]string{{"a b", "c"}}},
		{"escaped equals in key", `a\=b=c`, [][2]string{{"a=b", "c"}}},
		{"second equals is part of value", "a==b", [][2]string{{"a", "=b"}}},
		{"continuation drops leading blanks", "a=b\\\n   c", [][2]string{{"a", "bc"}}},
		{"continuation over several lines", "a=1,\\\n  2,\\\n  3", [][2]string{{"a", "1,2,3"}}},
		{"even backslashes do not continue", "a=b\\\\\nc=d", [][2]string{{"a", `b\`}, {"c", "d"}}},
		{"unicode escape", `a=\u0041x`, [][2]string{{"a", "Ax"}}},
		{"escaped backslash", `a=x\\`, [][2]string{{"a", `x\`}}},
		{"unknown escape is the character", `a=q\z`, [][2]string{{"a", "qz"}}},
		{"key without value", "a", [][2]string{{"a", ""}}},
		{"hash and bang comments", "# c\n! d\n  # e\na=1", [][2]string{{"a", "1"}}},
		{"hash inside a value is kept", "a=b#c", [][2]string{{"a", "b#c"}}},
		{"blank lines", "\n\n a=1 \n\n", [][2]string{{"a", "1"}}},
		{"CRLF and CR line ends", "a=1\r\nb=2\rc=3", [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}}},
		{"duplicates kept in order", "a=1\na=2", [][2]string{{"a", "1"}, {"a", "2"}}},
		{"continuation at end of file", "a=b\\", [][2]string{{"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props, err := parseProperties(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			var got [][2]string
			for _, p := range props {
				got = append(got, [2]string{p.key, p.value})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParsePropertiesRejectsMalformedUnicodeEscape(t *testing.T) {
	for _, text := range []string{`a=\u00`, `a=\uZZZZ`} {
		if _, err := parseProperties(text); err == nil {
			t.Errorf("%q: no error", text)
		}
	}
}

func TestParsePropertiesReportsLine(t *testing.T) {
	props, err := parseProperties("# x\n\na=1\nb=2\\\n 3\nc=4")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	for _, p := range props {
		lines[p.key] = p.line
	}
	if want := map[string]int{"a": 3, "b": 4, "c": 6}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %v, want %v", lines, want)
	}
}
