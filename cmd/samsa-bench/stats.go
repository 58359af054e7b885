package main

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted, which
// must be in ascending order, by the nearest-rank method: the smallest sample
// with at least p% of all samples at or below it. Nearest rank never
// interpolates, so every reported latency is one a record really had.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps binary rounding (99.9% of 1000 is 999.0000000000001)
	// from pushing the rank one sample too far.
	rank := int(math.Ceil(float64(len(sorted))*p/100 - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// median returns the middle value of xs (the mean of the two middle values
// when the count is even), or 0 for no values. xs is not modified.
func median[T cmp.Ordered](xs []T, mean func(a, b T) T) T {
	var zero T
	if len(xs) == 0 {
		return zero
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[mid]
	}
	return mean(sorted[mid-1], sorted[mid])
}

func medianFloat(xs []float64) float64 {
	return median(xs, func(a, b float64) float64 { return (a + b) / 2 })
}

func medianDuration(xs []time.Duration) time.Duration {
	return median(xs, func(a, b time.Duration) time.Duration { return a + (b-a)/2 })
}

// megabytesPerSecond is the decimal MB/s (10^6 bytes) that moving n bytes in
// elapsed amounts to.
func megabytesPerSecond(n int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / 1e6 / elapsed.Seconds()
}

// millis converts a duration to fractional milliseconds for reports.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
