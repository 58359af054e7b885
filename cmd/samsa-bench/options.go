package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Names accepted by --brokers and --workloads.
const (
	brokerKfake = "kfake"
	brokerSamsa = "samsa"

	workloadThroughput = "throughput"
	workloadStartup    = "startup"
	workloadIdleMemory = "idle-memory"
	workloadRecovery   = "recovery"
	// The RF=3 workloads run on a 3-node samsa cluster (issue 5).
	workloadThroughputRF3 = "throughput-rf3"
	workloadLatencyRF3    = "latency-rf3"
)

// knownBrokers and knownWorkloads are functions, not variables, so the
// package holds no mutable state.
func knownBrokers() []string { return []string{brokerKfake, brokerSamsa} }

func knownWorkloads() []string {
	return []string{workloadThroughput, workloadThroughputRF3, workloadLatencyRF3,
		workloadStartup, workloadIdleMemory, workloadRecovery}
}

// processWorkloads cannot run against --samsa-addr: they start, signal and
// inspect the broker's processes.
func processWorkloads() []string {
	return []string{workloadThroughputRF3, workloadLatencyRF3, workloadStartup, workloadIdleMemory, workloadRecovery}
}

// options is everything the command line can set. Its zero value is not
// useful; parseOptions fills in the defaults, which are the workloads of the
// benchmark issue.
type options struct {
	Brokers   []string `json:"brokers"`
	Workloads []string `json:"workloads"`

	Runs        int   `json:"runs"`
	Records     int   `json:"records"`
	RecordBytes int   `json:"record_bytes"`
	Partitions  int32 `json:"partitions"`
	Producers   int   `json:"producers"`
	MaxInflight int   `json:"max_inflight_records"`

	Startups      int           `json:"startups"`
	IdleWait      time.Duration `json:"idle_wait_ns"`
	RecoveryBytes int64         `json:"recovery_bytes"`
	// LatencyRate is the steady produce rate of latency-rf3, in bytes of
	// record values per second.
	LatencyRate     int64         `json:"latency_rate_bytes_per_s"`
	LatencyWarmup   time.Duration `json:"latency_warmup_ns"`
	LatencyDuration time.Duration `json:"latency_duration_ns"`
	ProbeEvery      time.Duration `json:"probe_every_ns"`
	PhaseTimeout    time.Duration `json:"phase_timeout_ns"`

	KfakeProcess bool `json:"kfake_process"`

	SamsaAddr   string   `json:"samsa_addr,omitempty"`
	SamsaBin    string   `json:"samsa_bin,omitempty"`
	SamsaPkg    string   `json:"samsa_pkg"`
	SamsaConfig []string `json:"samsa_config,omitempty"`

	WorkDir  string `json:"-"`
	Keep     bool   `json:"-"`
	JSONPath string `json:"-"`
	Verbose  bool   `json:"-"`
}

func (o *options) wantBroker(name string) bool   { return slices.Contains(o.Brokers, name) }
func (o *options) wantWorkload(name string) bool { return slices.Contains(o.Workloads, name) }

// recoveryRecords is how many records make up --recovery-bytes.
func (o *options) recoveryRecords() int {
	return int((o.RecoveryBytes + int64(o.RecordBytes) - 1) / int64(o.RecordBytes))
}

// parseOptions reads args (without the program name). Usage and errors go to
// usageOut.
func parseOptions(args []string, usageOut io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("samsa-bench", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.Usage = func() {
		fmt.Fprintf(usageOut, "usage: samsa-bench [flags]\n\n"+
			"Measures samsa against franz-go's in-memory broker kfake; see cmd/samsa-bench/README.md.\n\n")
		fs.PrintDefaults()
	}

	brokers := listFlag{values: knownBrokers(), allowed: knownBrokers()}
	workloads := listFlag{values: knownWorkloads(), allowed: knownWorkloads()}
	recoveryBytes := byteSizeFlag(1 << 30)
	latencyRate := byteSizeFlag(20e6)
	var samsaConfig repeatedFlag

	fs.Var(&brokers, "brokers", "comma-separated brokers to measure: "+strings.Join(knownBrokers(), ","))
	fs.Var(&workloads, "workloads", "comma-separated workloads to run: "+strings.Join(knownWorkloads(), ","))
	fs.IntVar(&o.Runs, "runs", 3, "throughput runs per broker, and of throughput-rf3 (median and best are reported)")
	fs.IntVar(&o.Records, "records", 200_000, "records produced and consumed per throughput run")
	fs.IntVar(&o.RecordBytes, "record-bytes", 1024, "value size of every record, in bytes")
	partitions := fs.Int("partitions", 6, "partitions of the throughput topic")
	fs.IntVar(&o.Producers, "producers", 4, "goroutines calling Produce concurrently")
	fs.IntVar(&o.MaxInflight, "max-inflight", 10000, "records produced but not yet acknowledged, at most (kgo's default MaxBufferedRecords; bounds per-record latency)")
	fs.IntVar(&o.Startups, "startups", 5, "samsa starts timed by the startup workload (median reported)")
	fs.DurationVar(&o.IdleWait, "idle-wait", 2*time.Second, "how long samsa idles before its resident memory is read")
	fs.Var(&recoveryBytes, "recovery-bytes", "log size written before kill -9 in the recovery workload (e.g. 1GiB, 200MB)")
	fs.Var(&latencyRate, "latency-rate", "steady produce rate of latency-rf3 per second, in bytes of record values (e.g. 20MB)")
	fs.DurationVar(&o.LatencyWarmup, "latency-warmup", time.Second, "how long latency-rf3 produces at --latency-rate before it starts measuring")
	fs.DurationVar(&o.LatencyDuration, "latency-duration", 20*time.Second, "how long latency-rf3 measures, after --latency-warmup")
	fs.DurationVar(&o.ProbeEvery, "probe-every", time.Millisecond, "retry interval of connect/Metadata/Fetch probes while samsa starts")
	fs.DurationVar(&o.PhaseTimeout, "phase-timeout", 2*time.Minute, "longest any single phase (produce, consume, start, recover) may take")
	fs.BoolVar(&o.KfakeProcess, "kfake-process", false, "run kfake as a child process, like samsa, instead of inside the harness")
	fs.StringVar(&o.SamsaAddr, "samsa-addr", "", "measure an already running samsa at host:port (throughput only; no build, no process workloads)")
	fs.StringVar(&o.SamsaBin, "samsa-bin", "", "use this samsa binary instead of building one")
	fs.StringVar(&o.SamsaPkg, "samsa-pkg", "./cmd/samsa", "package built into the samsa binary (relative to the working directory)")
	fs.Var(&samsaConfig, "samsa-config", "extra key=value passed to samsa as -c (repeatable)")
	fs.StringVar(&o.WorkDir, "workdir", "", "parent of the work directory that holds the binary, data dirs and samsa logs (default: the system temp dir)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work directory (data dirs and samsa logs) at exit")
	fs.StringVar(&o.JSONPath, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&o.Verbose, "v", false, "log debug detail to stderr")

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	o.Brokers = brokers.values
	o.Workloads = workloads.values
	o.Partitions = int32(*partitions)
	o.RecoveryBytes = int64(recoveryBytes)
	o.LatencyRate = int64(latencyRate)
	o.SamsaConfig = samsaConfig
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *options) validate() error {
	var errs []error
	positive := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive, got %d", name, v))
		}
	}
	positive("runs", int64(o.Runs))
	positive("records", int64(o.Records))
	positive("record-bytes", int64(o.RecordBytes))
	positive("partitions", int64(o.Partitions))
	positive("producers", int64(o.Producers))
	positive("max-inflight", int64(o.MaxInflight))
	positive("startups", int64(o.Startups))
	positive("recovery-bytes", o.RecoveryBytes)
	positive("latency-rate", o.LatencyRate)
	positive("latency-duration", int64(o.LatencyDuration))
	positive("probe-every", int64(o.ProbeEvery))
	positive("phase-timeout", int64(o.PhaseTimeout))
	if o.IdleWait < 0 {
		errs = append(errs, fmt.Errorf("--idle-wait must not be negative, got %s", o.IdleWait))
	}
	if o.LatencyWarmup < 0 {
		errs = append(errs, fmt.Errorf("--latency-warmup must not be negative, got %s", o.LatencyWarmup))
	}
	if o.SamsaAddr != "" && o.SamsaBin != "" {
		errs = append(errs, errors.New("--samsa-addr and --samsa-bin exclude each other"))
	}
	for _, kv := range o.SamsaConfig {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("--samsa-config %q: want key=value", kv))
		}
	}
	return errors.Join(errs...)
}

// listFlag is a comma-separated subset of allowed names.
type listFlag struct {
	values  []string
	allowed []string
}

func (f *listFlag) String() string { return strings.Join(f.values, ",") }

func (f *listFlag) Set(s string) error {
	var values []string
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !slices.Contains(f.allowed, v) {
			return fmt.Errorf("unknown name %q, want some of %s", v, strings.Join(f.allowed, ","))
		}
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		return errors.New("empty list")
	}
	f.values = values
	return nil
}

// repeatedFlag collects every occurrence of a flag.
type repeatedFlag []string

func (f *repeatedFlag) String() string     { return strings.Join(*f, " ") }
func (f *repeatedFlag) Set(s string) error { *f = append(*f, s); return nil }

// byteSizeFlag is a size in bytes written as a number with an optional unit:
// B, KB/MB/GB (powers of 1000) or KiB/MiB/GiB (powers of 1024).
type byteSizeFlag int64

func (f *byteSizeFlag) String() string { return strconv.FormatInt(int64(*f), 10) }

func (f *byteSizeFlag) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*f = byteSizeFlag(n)
	return nil
}

func parseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		scale  int64
	}{
		// Longest suffixes first so "MiB" is not read as "B".
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
		{"B", 1},
	}
	trimmed := strings.TrimSpace(s)
	scale := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(trimmed, u.suffix); ok {
			trimmed, scale = strings.TrimSpace(rest), u.scale
			break
		}
	}
	n, err := strconv.ParseFloat(trimmed, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a non-negative number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)", s)
	}
	return int64(n * float64(scale)), nil
}
