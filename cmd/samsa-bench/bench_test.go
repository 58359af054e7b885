package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runBench runs the command with args plus a private --workdir and --json
// and returns its exit status, stdout and decoded results.
func runBench(t *testing.T, workDir string, args ...string) (int, string, report) {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr strings.Builder
	status := run(append(args, "--workdir", workDir, "--json", jsonPath), &stdout, &stderr)
	var r report
	if data, err := os.ReadFile(jsonPath); err == nil {
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("results JSON: %v", err)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return status, stdout.String(), r
}

func TestRunKfakeOnlyRepeatsAndSummarizes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kfake")
	}
	workDir := t.TempDir()
	status, stdout, r := runBench(t, workDir, "--brokers", "kfake", "--records", "1000", "--partitions", "2", "--runs", "2")
	if status != 0 {
		t.Fatalf("exit status %d, want 0; stdout:\n%s", status, stdout)
	}
	kfake := r.Throughput.broker(brokerKfake)
	if kfake == nil || len(kfake.Samples) != 2 || kfake.Median == nil || kfake.Best == nil {
		t.Fatalf("kfake results %+v, want 2 samples with median and best", kfake)
	}
	if r.Startup != nil || r.Recovery != nil || r.LatencyRF3 != nil || r.Throughput.SamsaRF3 != nil {
		t.Fatal("process workloads ran without samsa among --brokers")
	}
	if !strings.Contains(stdout, "kfake (median)") {
		t.Fatalf("stdout lacks the median row:\n%s", stdout)
	}
	if entries, _ := os.ReadDir(workDir); len(entries) != 0 {
		t.Fatalf("work directory left behind: %v", entries)
	}
}

func TestRunEveryWorkloadAgainstStandIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts broker processes")
	}
	bin := fakeSamsaBin(t)
	workDir := t.TempDir()
	status, stdout, r := runBench(t, workDir, "--samsa-bin", bin, "--records", "500", "--partitions", "2", "--runs", "1",
		"--startups", "2", "--idle-wait", "10ms", "--recovery-bytes", "300KiB",
		"--latency-rate", "1MB", "--latency-warmup", "50ms", "--latency-duration", "200ms")
	if status != 0 {
		t.Fatalf("exit status %d, want 0; stdout:\n%s", status, stdout)
	}
	if r.Throughput.Ratios == nil {
		t.Fatal("no samsa/kfake ratios")
	}
	if rf3 := r.Throughput.SamsaRF3; rf3 == nil || len(rf3.Samples) != 1 || r.Throughput.RF3OverRF1 == nil {
		t.Fatalf("RF=3 throughput %+v, ratios %+v: want one run and RF=3/RF=1 ratios", rf3, r.Throughput.RF3OverRF1)
	}
	// 1e6 B/s of 1 KiB records for 200 ms.
	if l := r.LatencyRF3; l == nil || l.Records != 195 || l.Nodes != 3 || l.ReplicationFactor != 3 || l.P99Ms <= 0 {
		t.Fatalf("latency %+v: want 195 records on 3 nodes with RF 3", r.LatencyRF3)
	}
	if r.Startup == nil || len(r.Startup.SamplesMs) != 2 || r.Startup.DataDirBytes < 500*1024 {
		t.Fatalf("start-up %+v: want 2 starts over the throughput run's data dir", r.Startup)
	}
	if r.IdleMemory == nil || r.IdleMemory.RSSBytes == 0 {
		t.Fatalf("idle memory %+v", r.IdleMemory)
	}
	if rec := r.Recovery; rec == nil || rec.Records != 300 || rec.DataDirBytes < 300<<10 ||
		rec.ToMetadataSeconds <= 0 || rec.ToFetchSeconds < rec.ToMetadataSeconds {
		t.Fatalf("recovery %+v: want 300 records of 1 KiB on disk, served after Metadata answered", r.Recovery)
	}
	for _, c := range r.Targets {
		if c.Met == nil {
			t.Errorf("target %q not measured", c.Name)
		}
	}
	if entries, _ := os.ReadDir(workDir); len(entries) != 0 {
		t.Fatalf("work directory left behind: %v", entries)
	}
}

func TestRunReportsUnbuildableSamsaAndStillMeasuresKfake(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool and kfake")
	}
	workDir := t.TempDir()
	status, stdout, r := runBench(t, workDir, "--samsa-pkg", "./no-such-package", "--workloads", "throughput,recovery",
		"--records", "200", "--runs", "1", "--keep")
	if status != 1 {
		t.Fatalf("exit status %d, want 1 for a failed workload", status)
	}
	if !strings.Contains(stdout, "samsa error: build samsa") {
		t.Fatalf("stdout does not explain the build failure:\n%s", stdout)
	}
	if kfake := r.Throughput.broker(brokerKfake); kfake == nil || len(kfake.Samples) != 1 {
		t.Fatalf("kfake was not measured: %+v", kfake)
	}
	if r.Recovery == nil || !strings.Contains(r.Recovery.Error, "build samsa") {
		t.Fatalf("recovery %+v, want the build failure", r.Recovery)
	}
	if entries, _ := os.ReadDir(workDir); len(entries) != 1 {
		t.Fatalf("--keep kept %d work directories, want 1", len(entries))
	}
}

func TestRunMeasuresExternalBrokerWithoutProcessWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kfake twice")
	}
	external, err := startKfake(1)
	if err != nil {
		t.Fatal(err)
	}
	defer external.Close()
	status, stdout, r := runBench(t, t.TempDir(), "--samsa-addr", external.target().seeds[0], "--records", "300", "--runs", "1")
	if status != 0 {
		t.Fatalf("exit status %d, want 0; stdout:\n%s", status, stdout)
	}
	if r.Throughput.Ratios == nil {
		t.Fatal("no ratios against the external broker")
	}
	if r.Startup != nil || r.IdleMemory != nil || r.Recovery != nil || r.LatencyRF3 != nil || r.Throughput.SamsaRF3 != nil {
		t.Fatal("process workloads ran against --samsa-addr")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	var stdout, stderr strings.Builder
	if status := run([]string{"--records", "many"}, &stdout, &stderr); status != 2 {
		t.Fatalf("exit status %d, want 2", status)
	}
	if status := run([]string{"-h"}, &stdout, &stderr); status != 0 {
		t.Fatalf("-h exit status %d, want 0", status)
	}
	if !strings.Contains(stderr.String(), "--recovery-bytes") && !strings.Contains(stderr.String(), "-recovery-bytes") {
		t.Fatalf("usage does not list the flags:\n%s", stderr.String())
	}
}

func TestRunReportsSamsaThatExitsWithoutRetryingEveryWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := fakeSamsaBin(t)
	// The stand-in exits at once without a PLAINTEXT listener, like a
	// samsa that rejects its configuration.
	status, stdout, r := runBench(t, t.TempDir(), "--samsa-bin", bin, "--samsa-config", "listeners=none",
		"--records", "200", "--runs", "2", "--phase-timeout", "20s")
	if status != 1 {
		t.Fatalf("exit status %d, want 1", status)
	}
	samsa := r.Throughput.broker(brokerSamsa)
	if samsa == nil || !strings.Contains(samsa.Error, "exited") || !strings.Contains(samsa.Error, "no PLAINTEXT listener") {
		t.Fatalf("samsa throughput error %q, want the exit and samsa's own log line", samsa.Error)
	}
	if r.Startup == nil || !strings.Contains(r.Startup.Error, "throughput run failed") ||
		r.IdleMemory == nil || !strings.Contains(r.IdleMemory.Error, "throughput run failed") {
		t.Fatalf("start-up %+v, idle memory %+v: want both to fail on the missing data dir", r.Startup, r.IdleMemory)
	}
	if r.Recovery == nil || r.Recovery.Error == "" {
		t.Fatalf("recovery %+v, want an error", r.Recovery)
	}
	if kfake := r.Throughput.broker(brokerKfake); len(kfake.Samples) != 2 {
		t.Fatalf("kfake ran %d times, want 2 despite samsa failing", len(kfake.Samples))
	}
	if !strings.Contains(stdout, "samsa error:") {
		t.Fatalf("stdout does not show the samsa error:\n%s", stdout)
	}
	if rf3 := r.Throughput.SamsaRF3; rf3 == nil || !strings.Contains(rf3.Error, "exited") || len(rf3.Samples) != 0 {
		t.Fatalf("RF=3 throughput %+v, want the nodes' exit", rf3)
	}
	if r.LatencyRF3 == nil || !strings.Contains(r.LatencyRF3.Error, "an earlier 3-node cluster did not start") {
		t.Fatalf("latency %+v, want the earlier cluster failure without another start", r.LatencyRF3)
	}
	if !strings.Contains(stdout, "samsa RF=3 error:") {
		t.Fatalf("stdout does not show the cluster's error:\n%s", stdout)
	}
}

func TestRunKfakeAsChildProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kfake processes")
	}
	workDir := t.TempDir()
	status, stdout, r := runBench(t, workDir, "--brokers", "kfake", "--kfake-process", "--records", "300", "--runs", "1")
	if status != 0 {
		t.Fatalf("exit status %d, want 0; stdout:\n%s", status, stdout)
	}
	if kfake := r.Throughput.broker(brokerKfake); kfake == nil || len(kfake.Samples) != 1 {
		t.Fatalf("kfake results %+v, want one sample", kfake)
	}
	if !strings.Contains(stdout, "kfake runs as a child process") {
		t.Fatalf("stdout does not say how kfake ran:\n%s", stdout)
	}
	if entries, _ := os.ReadDir(workDir); len(entries) != 0 {
		t.Fatalf("work directory left behind: %v", entries)
	}
}

func TestServeKfakeRejectsSamsaLinesItCannotServe(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no PLAINTEXT listener", []string{"-c", "listeners=CONTROLLER://127.0.0.1:1"}},
		{"not a -c pair", []string{"--listeners", "x"}},
		{"dangling -c", []string{"-c"}},
		{"bad port", []string{"-c", "listeners=PLAINTEXT://127.0.0.1:http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			if status := run(append([]string{serveKfakeCommand}, tt.args...), io.Discard, &stderr); status != 2 {
				t.Fatalf("exit status %d, want 2 (stderr %q)", status, stderr.String())
			}
		})
	}
}
