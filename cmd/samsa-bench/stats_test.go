package main

import (
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	thousand := make([]time.Duration, 1000)
	for i := range thousand {
		thousand[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no samples", nil, 50, 0},
		{"one sample is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"p50 of an even count is the lower middle", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of an odd count is the middle", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p99 of 100 is the 99th", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the minimum", hundred, 0.001, time.Millisecond},
		{"binary rounding does not skip a rank", thousand, 99.9, 999 * time.Millisecond},
		{"p99 of few samples is the maximum", ms(1, 2, 3), 99, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"odd count takes the middle of the sorted values", []float64{9, 1, 5}, 5},
		{"even count averages the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"one outlier does not move it", []float64{10, 11, 7000, 12, 9}, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.xs...)
			if got := medianFloat(in); got != tt.want {
				t.Fatalf("medianFloat(%v) = %v, want %v", tt.xs, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatalf("medianFloat reordered its input: %v", in)
				}
			}
		})
	}
	if got := medianDuration([]time.Duration{3, 1, 2, 4}); got != 2 {
		t.Fatalf("medianDuration of 1..4 ns = %v, want 2ns (integer mean of 2 and 3)", got)
	}
}

func TestMegabytesPerSecond(t *testing.T) {
	if got := megabytesPerSecond(200e6, 2*time.Second); got != 100 {
		t.Fatalf("200 MB in 2 s = %v MB/s, want 100", got)
	}
	if got := megabytesPerSecond(1, 0); got != 0 {
		t.Fatalf("rate over no time = %v, want 0", got)
	}
}
