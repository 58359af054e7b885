package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestKcatBalancedConsumerReadsEverything runs librdkafka's group consumer
// (kcat -G) against samsa: it reads every record once, commits on close,
// and a second run of the same group reads nothing.
func TestKcatBalancedConsumerReadsEverything(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("SKIP kcat balanced consumer check: kcat is not installed (apt-get install -y kcat)")
	}
	tn := startNode(t, groupArgs...)
	const topic, group, total = "kcat-group", "kcat-group-g", 300
	createTopic(t, tn.admin(), topic, 3, nil)
	produceSync(t, tn.client(), topic, "k", total)
	run := func() []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, "-b", tn.addr(), "-G", group, "-X", "auto.offset.reset=earliest",
			"-e", "-q", "-f", "%s\n", topic)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat -G: %v: %s", err, stderr.String())
		}
		return strings.Fields(string(out))
	}
	got := run()
	seen := map[string]bool{}
	for _, v := range got {
		if seen[v] {
			t.Fatalf("kcat read %q twice", v)
		}
		seen[v] = true
	}
	for _, v := range values("k", total) {
		if !seen[v] {
			t.Fatalf("kcat did not read %q (read %d of %d)", v, len(got), total)
		}
	}
	if again := run(); len(again) != 0 {
		t.Fatalf("a second run of the group read %d records; its offsets were committed", len(again))
	}
}
