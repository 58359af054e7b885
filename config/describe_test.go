package config

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// goldenScenario is one case of testdata/kafka-4.1.2-describe.json: the
// output of Kafka 4.1.2's own ConfigHelper.describeConfigs (run in a JVM
// over a KafkaConfig built from the zero-config profile plus static, with
// the dynamic layers applied through DynamicBrokerConfig) for broker "1",
// a topic with topicOverrides, and the cluster-default broker resource "".
type goldenScenario struct {
	Name           string            `json:"name"`
	Static         map[string]string `json:"static"`
	DynBroker      map[string]string `json:"dynBroker"`
	DynCluster     map[string]string `json:"dynCluster"`
	TopicOverrides map[string]string `json:"topicOverrides"`
	Broker         []goldenEntry     `json:"broker"`
	Topic          []goldenEntry     `json:"topic"`
	ClusterDefault []goldenEntry     `json:"clusterDefault"`
}

type goldenEntry struct {
	Name      string          `json:"name"`
	Value     *string         `json:"value"`
	Source    Source          `json:"source"`
	ReadOnly  bool            `json:"readOnly"`
	Sensitive bool            `json:"sensitive"`
	Type      int8            `json:"type"`
	Synonyms  []goldenSynonym `json:"synonyms"`
}

type goldenSynonym struct {
	Name   string  `json:"name"`
	Value  *string `json:"value"`
	Source Source  `json:"source"`
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

func (e goldenEntry) String() string {
	var syn []string
	for _, s := range e.Synonyms {
		syn = append(syn, fmt.Sprintf("%s=%s@%d", s.Name, str(s.Value), s.Source))
	}
	return fmt.Sprintf("%s=%s source=%d ro=%v sensitive=%v type=%d synonyms=[%s]",
		e.Name, str(e.Value), e.Source, e.ReadOnly, e.Sensitive, e.Type, strings.Join(syn, " "))
}

func toGolden(entries []Entry) []goldenEntry {
	var out []goldenEntry
	for _, e := range entries {
		if isSamsaKey(e.Name) {
			continue // Kafka does not know samsa's keys
		}
		g := goldenEntry{Name: e.Name, Value: e.Value, Source: e.Source, ReadOnly: e.ReadOnly, Sensitive: e.Sensitive, Type: e.Type}
		for _, s := range e.Synonyms {
			g.Synonyms = append(g.Synonyms, goldenSynonym{Name: s.Name, Value: s.Value, Source: s.Source})
		}
		out = append(out, g)
	}
	return out
}

func compareEntries(t *testing.T, what string, got, want []goldenEntry) {
	t.Helper()
	gm := map[string]string{}
	for _, e := range got {
		gm[e.Name] = e.String()
	}
	wm := map[string]string{}
	for _, e := range want {
		wm[e.Name] = e.String()
	}
	for name, w := range wm {
		if g, ok := gm[name]; !ok {
			t.Errorf("%s: missing %s (Kafka: %s)", what, name, w)
		} else if g != w {
			t.Errorf("%s:\n  got   %s\n  kafka %s", what, g, w)
		}
	}
	for name, g := range gm {
		if _, ok := wm[name]; !ok {
			t.Errorf("%s: extra %s", what, g)
		}
	}
}

func TestDescribeMatchesKafka(t *testing.T) {
	data, err := os.ReadFile("testdata/kafka-4.1.2-describe.json")
	if err != nil {
		t.Fatal(err)
	}
	var scenarios []goldenScenario
	if err := json.Unmarshal(data, &scenarios); err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			b, _, err := Parse(sc.Static)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(sc.Broker) < 300 || len(sc.Topic) < 30 {
				t.Fatalf("golden file holds only %d broker and %d topic entries", len(sc.Broker), len(sc.Topic))
			}
			compareEntries(t, "broker", toGolden(b.DescribeBroker(sc.DynBroker, sc.DynCluster)), sc.Broker)
			compareEntries(t, "topic", toGolden(b.DescribeTopic(sc.TopicOverrides, sc.DynBroker, sc.DynCluster)), sc.Topic)
			compareEntries(t, "cluster default", toGolden(b.DescribeClusterDefault(sc.DynCluster)), sc.ClusterDefault)
		})
	}
}
