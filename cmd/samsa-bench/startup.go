package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// startupResult is the start-up workload's outcome: how long samsa takes
// from exec to its first complete Metadata answer with an existing data dir.
type startupResult struct {
	DataDirBytes     int64     `json:"data_dir_bytes"`
	SamplesMs        []float64 `json:"samples_ms"`
	MedianMs         float64   `json:"median_ms"`
	ShutdownMedianMs float64   `json:"shutdown_median_ms"`
	Error            string    `json:"error,omitempty"`
}

// idleMemoryResult is samsa's resident memory once started and idle.
type idleMemoryResult struct {
	DataDirBytes int64   `json:"data_dir_bytes"`
	IdleSeconds  float64 `json:"idle_seconds"`
	RSSBytes     int64   `json:"rss_bytes"`
	Error        string  `json:"error,omitempty"`
}

// processConfig is what every workload that runs samsa's process needs.
type processConfig struct {
	probeEvery   time.Duration
	phaseTimeout time.Duration
}

// measureStartup starts node starts times over its existing data dir,
// timing each from exec to a Metadata answer listing topic with all its
// partitions led, and stops it with SIGTERM in between. The median resists
// the odd slow start (a cold page cache, a busy CPU).
func measureStartup(ctx context.Context, node *brokerNode, topic string, starts int, cfg processConfig) (startupResult, error) {
	size, err := dirSize(node.dataDir)
	if err != nil {
		return startupResult{}, err
	}
	res := startupResult{DataDirBytes: size}
	var shutdowns []time.Duration
	var readies []time.Duration
	for i := range starts {
		proc, ready, err := startAndProbe(ctx, node, topic, cfg.probeEvery, cfg.phaseTimeout)
		if err != nil {
			return startupResult{}, fmt.Errorf("start %d of %d: %w", i+1, starts, err)
		}
		stopping := time.Now()
		if err := proc.terminate(); err != nil {
			return startupResult{}, fmt.Errorf("stop after start %d of %d: %w", i+1, starts, err)
		}
		shutdowns = append(shutdowns, time.Since(stopping))
		readies = append(readies, ready)
		res.SamplesMs = append(res.SamplesMs, millis(ready))
	}
	res.MedianMs = millis(medianDuration(readies))
	res.ShutdownMedianMs = millis(medianDuration(shutdowns))
	return res, nil
}

// measureIdleMemory starts node over its existing data dir, waits for one
// complete Metadata answer, closes that connection, lets samsa idle for
// idleWait and reads its resident set size (VmRSS): the memory a started,
// unused broker holds.
func measureIdleMemory(ctx context.Context, node *brokerNode, topic string, idleWait time.Duration, cfg processConfig) (res idleMemoryResult, err error) {
	size, err := dirSize(node.dataDir)
	if err != nil {
		return idleMemoryResult{}, err
	}
	proc, _, err := startAndProbe(ctx, node, topic, cfg.probeEvery, cfg.phaseTimeout)
	if err != nil {
		return idleMemoryResult{}, err
	}
	defer func() {
		if stopErr := proc.terminate(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop after idle memory reading: %w", stopErr))
		}
	}()

	watched, stopWatch := proc.watch(ctx)
	defer stopWatch()
	select {
	case <-watched.Done():
		return idleMemoryResult{}, fmt.Errorf("idle for %s: %w", idleWait, context.Cause(watched))
	case <-time.After(idleWait):
	}
	rss, err := residentBytes(proc.pid())
	if err != nil {
		return idleMemoryResult{}, err
	}
	return idleMemoryResult{DataDirBytes: size, IdleSeconds: idleWait.Seconds(), RSSBytes: rss}, nil
}
