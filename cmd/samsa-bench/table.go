package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printReport writes r as readable tables.
func printReport(w io.Writer, r *report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "samsa-bench, %s %s/%s, %d CPUs", r.Host.GoVersion, r.Host.OS, r.Host.Arch, r.Host.CPUs)
	if len(r.Host.LoadStart) > 0 && len(r.Host.LoadEnd) > 0 {
		fmt.Fprintf(&b, ", load %.1f at start, %.1f at end", r.Host.LoadStart[0], r.Host.LoadEnd[0])
	}
	b.WriteString("\n")
	if r.Host.busy() {
		b.WriteString("WARNING: the machine was busier than its CPU count; numbers are noisy, rerun when idle.\n")
	}
	if r.Throughput != nil {
		writeThroughput(&b, r.Settings, r.Throughput)
	}
	if r.LatencyRF3 != nil {
		writeLatency(&b, r.LatencyRF3)
	}
	if r.Startup != nil {
		writeStartup(&b, r.Startup, r.Settings.Startups)
	}
	if r.IdleMemory != nil {
		writeIdleMemory(&b, r.IdleMemory)
	}
	if r.Recovery != nil {
		writeRecovery(&b, r.Recovery)
	}
	writeTargets(&b, r.Targets)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("print results: %w", err)
	}
	return nil
}

func writeThroughput(b *strings.Builder, o *options, t *throughputReport) {
	fmt.Fprintf(b, "\nThroughput: %d records x %d B, %d partitions, acks=all, idempotent, %d producers, <= %d records in flight\n",
		o.Records, o.RecordBytes, o.Partitions, o.Producers, o.MaxInflight)
	if len(t.Brokers) > 0 {
		where := "inside the harness process"
		if o.KfakeProcess {
			where = "as a child process"
		}
		fmt.Fprintf(b, "(kfake runs %s; ", where)
	} else {
		b.WriteString("(")
	}
	b.WriteString("MB/s = 10^6 bytes of record values per second; p50/p99 = Produce call to acknowledgement)\n")
	if t.SamsaRF3 != nil {
		fmt.Fprintf(b, "(samsa RF=3: a fresh %d-node cluster per run, every node broker and controller, min.insync.replicas=2)\n", clusterNodeCount)
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "broker\truns\tproduce MB/s\tp50\tp99\tconsume MB/s\t")
	row := func(label string, runs int, s *throughputSample) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f ms\t%.2f ms\t%.1f\t\n", label, runs, s.ProduceMBps, s.ProduceP50Ms, s.ProduceP99Ms, s.ConsumeMBps)
	}
	rows := func(label string, br *brokerThroughput) {
		switch {
		case br.Median == nil:
			fmt.Fprintf(tw, "%s\t%d\tfailed\t\t\t\t\n", label, len(br.Samples))
		case o.Runs > 1:
			row(label+" (median)", len(br.Samples), br.Median)
			row(label+" (best)", len(br.Samples), br.Best)
		default:
			row(label, len(br.Samples), br.Median)
		}
	}
	ratioRow := func(label string, r *throughputRatios) {
		fmt.Fprintf(tw, "%s\t\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t\n", label, r.ProduceMBps, r.ProduceP50Ms, r.ProduceP99Ms, r.ConsumeMBps)
	}
	for _, br := range t.Brokers {
		rows(br.Broker, br)
	}
	if r := t.Ratios; r != nil {
		ratioRow("samsa/kfake", r)
	}
	if t.SamsaRF3 != nil {
		rows(rf3Label, t.SamsaRF3)
	}
	if r := t.RF3OverRF1; r != nil {
		ratioRow("samsa RF=3/RF=1", r)
	}
	tw.Flush()
	for _, br := range t.Brokers {
		if br.Error != "" {
			fmt.Fprintf(b, "%s error: %s\n", br.Broker, br.Error)
		}
	}
	if t.SamsaRF3 != nil && t.SamsaRF3.Error != "" {
		fmt.Fprintf(b, "%s error: %s\n", rf3Label, t.SamsaRF3.Error)
	}
}

// rf3Label names samsa's 3-node series in tables.
const rf3Label = "samsa RF=3"

func writeLatency(b *strings.Builder, l *latencyResult) {
	fmt.Fprintf(b, "\nProduce latency at a steady rate, %s on a %d-node cluster, acks=all (Produce call to acknowledgement):\n",
		rf3Label, clusterNodeCount)
	if l.Error != "" {
		fmt.Fprintf(b, "  failed: %s\n", l.Error)
		return
	}
	fmt.Fprintf(b, "  %.1f MB/s of %d B records into %d partitions for %g s after a %g s warm-up: %d records\n",
		l.TargetMBps, l.RecordBytes, l.Partitions, l.Seconds, l.WarmupSeconds, l.Records)
	fmt.Fprintf(b, "  p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; sent at %.1f MB/s, at most %.2f ms behind schedule\n",
		l.P50Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.SentMBps, l.MaxBehindMs)
}

func writeStartup(b *strings.Builder, s *startupResult, starts int) {
	fmt.Fprintf(b, "\nStart-up, exec to first complete Metadata answer, existing data dir:\n")
	if s.Error != "" {
		fmt.Fprintf(b, "  failed: %s\n", s.Error)
		return
	}
	samples := make([]string, len(s.SamplesMs))
	for i, ms := range s.SamplesMs {
		samples[i] = fmt.Sprintf("%.1f", ms)
	}
	fmt.Fprintf(b, "  median %.1f ms of %d starts (%s ms) with a %.0f MB data dir; SIGTERM to exit median %.1f ms\n",
		s.MedianMs, starts, strings.Join(samples, ", "), float64(s.DataDirBytes)/1e6, s.ShutdownMedianMs)
}

func writeIdleMemory(b *strings.Builder, m *idleMemoryResult) {
	fmt.Fprintf(b, "\nIdle resident memory (VmRSS) after start-up and one Metadata request:\n")
	if m.Error != "" {
		fmt.Fprintf(b, "  failed: %s\n", m.Error)
		return
	}
	fmt.Fprintf(b, "  %.1f MB after %.1f s idle with a %.0f MB data dir\n",
		float64(m.RSSBytes)/1e6, m.IdleSeconds, float64(m.DataDirBytes)/1e6)
}

func writeRecovery(b *strings.Builder, r *recoveryResult) {
	fmt.Fprintf(b, "\nRecovery after kill -9, one partition, times from exec of the restart:\n")
	if r.Error != "" {
		fmt.Fprintf(b, "  failed: %s\n", r.Error)
		return
	}
	fmt.Fprintf(b, "  %.0f MB data dir (%d records, filled at %.1f MB/s): Metadata after %.3f s, last offset served after %.3f s\n",
		float64(r.DataDirBytes)/1e6, r.Records, r.FillMBps, r.ToMetadataSeconds, r.ToFetchSeconds)
}

func writeTargets(b *strings.Builder, targets []targetCheck) {
	if len(targets) == 0 {
		return
	}
	fmt.Fprintf(b, "\nTargets (measured, not asserted):\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tgoal\tmeasured\tmet\t")
	for _, t := range targets {
		met := "-"
		if t.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*t.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", t.Name, t.Goal, t.Measured, met)
	}
	tw.Flush()
}
