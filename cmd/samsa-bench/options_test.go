package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "1024", want: 1024},
		{in: "1GiB", want: 1 << 30},
		{in: "1.5 MiB", want: 3 << 19},
		{in: "200MB", want: 200e6},
		{in: "4KB", want: 4000},
		{in: "8KiB", want: 8192},
		{in: "10B", want: 10},
		{in: "", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "-1MB", wantErr: true},
		{in: "1TB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseByteSize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDefaultsAreTheIssueWorkloads(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Brokers, []string{"kfake", "samsa"}) ||
		!slices.Equal(o.Workloads, []string{"throughput", "throughput-rf3", "latency-rf3", "startup", "idle-memory", "recovery"}) {
		t.Fatalf("brokers %v, workloads %v: want all of them", o.Brokers, o.Workloads)
	}
	if o.Records != 200_000 || o.RecordBytes != 1024 || o.Partitions != 6 || o.Startups != 5 ||
		o.IdleWait != 2*time.Second || o.RecoveryBytes != 1<<30 || o.ProbeEvery != time.Millisecond ||
		o.LatencyRate != 20e6 || o.LatencyWarmup != time.Second || o.LatencyDuration != 20*time.Second {
		t.Fatalf("defaults %+v differ from the issue's workloads", o)
	}
	if got := o.recoveryRecords(); got != 1<<20 {
		t.Fatalf("1 GiB of 1 KiB records = %d records, want %d", got, 1<<20)
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*options) bool
	}{
		{name: "broker list is parsed and deduplicated", args: []string{"--brokers", "samsa, kfake,samsa"},
			check: func(o *options) bool { return slices.Equal(o.Brokers, []string{"samsa", "kfake"}) }},
		{name: "unknown broker", args: []string{"--brokers", "redpanda"}, wantErr: `unknown name "redpanda"`},
		{name: "unknown workload", args: []string{"--workloads", "latency"}, wantErr: `unknown name "latency"`},
		{name: "empty list", args: []string{"--workloads", ","}, wantErr: "empty list"},
		{name: "samsa config repeats", args: []string{"--samsa-config", "a=1", "--samsa-config", "b=2"},
			check: func(o *options) bool { return slices.Equal(o.SamsaConfig, []string{"a=1", "b=2"}) }},
		{name: "samsa config needs key=value", args: []string{"--samsa-config", "novalue"}, wantErr: "want key=value"},
		{name: "recovery size with unit", args: []string{"--recovery-bytes", "100MiB"},
			check: func(o *options) bool { return o.RecoveryBytes == 100<<20 }},
		{name: "latency rate with unit", args: []string{"--latency-rate", "5MB", "--latency-duration", "3s"},
			check: func(o *options) bool { return o.LatencyRate == 5e6 && o.LatencyDuration == 3*time.Second }},
		{name: "negative warm-up", args: []string{"--latency-warmup", "-1s"}, wantErr: "--latency-warmup must not be negative"},
		{name: "zero latency rate", args: []string{"--latency-rate", "0"}, wantErr: "--latency-rate must be positive"},
		{name: "RF=3 workloads alone", args: []string{"--workloads", "throughput-rf3,latency-rf3"},
			check: func(o *options) bool { return slices.Equal(o.Workloads, []string{"throughput-rf3", "latency-rf3"}) }},
		{name: "zero records", args: []string{"--records", "0"}, wantErr: "--records must be positive"},
		{name: "address and binary exclude each other", args: []string{"--samsa-addr", "h:1", "--samsa-bin", "x"}, wantErr: "exclude each other"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Fatalf("options %+v", o)
			}
		})
	}
}
