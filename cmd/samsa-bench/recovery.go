package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// recoveryResult is the recovery workload's outcome: after kill -9 of a
// broker holding a large log, how long until it answers Metadata and until
// its partition serves the last record again.
type recoveryResult struct {
	Records           int     `json:"records"`
	DataDirBytes      int64   `json:"data_dir_bytes"`
	FillMBps          float64 `json:"fill_mb_per_s"`
	ToMetadataSeconds float64 `json:"to_metadata_seconds"`
	ToFetchSeconds    float64 `json:"to_fetch_seconds"`
	Error             string  `json:"error,omitempty"`
}

// measureRecovery fills a single-partition topic on a fresh node with
// fill.records records, kills the process with SIGKILL (no clean shutdown,
// so samsa must recover the log as Kafka does after a crash: rescan what
// is past the recovery point, truncate a torn tail, rebuild indexes), starts
// it again and times, from exec, the first complete Metadata answer and the
// first Fetch that returns the last offset acknowledged before the kill.
func measureRecovery(ctx context.Context, node *brokerNode, fill throughputConfig, cfg processConfig) (res recoveryResult, err error) {
	proc, _, err := startAndProbe(ctx, node, "", cfg.probeEvery, cfg.phaseTimeout)
	if err != nil {
		return recoveryResult{}, err
	}
	lastOffset, fillElapsed, err := fillPartition(ctx, proc, fill)
	if killErr := proc.kill(); killErr != nil {
		err = errors.Join(err, killErr)
	}
	if err != nil {
		return recoveryResult{}, err
	}
	size, err := dirSize(node.dataDir)
	if err != nil {
		return recoveryResult{}, err
	}

	proc, toMetadata, err := startAndProbe(ctx, node, fill.topic, cfg.probeEvery, cfg.phaseTimeout)
	if err != nil {
		return recoveryResult{}, fmt.Errorf("restart after kill -9: %w", err)
	}
	defer func() {
		if stopErr := proc.terminate(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop after recovery: %w", stopErr))
		}
	}()
	toFetch, err := timeFetch(ctx, proc, fill.topic, lastOffset, cfg)
	if err != nil {
		return recoveryResult{}, err
	}
	return recoveryResult{
		Records:           fill.records,
		DataDirBytes:      size,
		FillMBps:          megabytesPerSecond(int64(fill.records)*int64(fill.recordBytes), fillElapsed),
		ToMetadataSeconds: toMetadata.Seconds(),
		ToFetchSeconds:    toFetch.Seconds(),
	}, nil
}

// fillPartition creates fill.topic with one partition on the running node
// and produces fill.records into it, returning the last acknowledged offset.
func fillPartition(ctx context.Context, proc *brokerProcess, fill throughputConfig) (int64, time.Duration, error) {
	watched, stopWatch := proc.watch(ctx)
	defer stopWatch()
	t := target{name: brokerSamsa, seeds: []string{proc.node.addr()}, replicationFactor: 1}
	if err := createTopic(watched, t, fill.topic, 1, fill.phaseTimeout); err != nil {
		return 0, 0, err
	}
	out, err := produceRecords(watched, t, fill)
	if err != nil {
		return 0, 0, fmt.Errorf("fill %s before kill -9: %w", fill.topic, err)
	}
	end, ok := out.endOffsets[0]
	if !ok {
		return 0, 0, fmt.Errorf("fill %s: no record acknowledged in partition 0", fill.topic)
	}
	return end - 1, out.elapsed, nil
}

// timeFetch waits until the restarted process serves offset of topic's
// partition 0 and returns the time since its exec.
func timeFetch(ctx context.Context, proc *brokerProcess, topic string, offset int64, cfg processConfig) (time.Duration, error) {
	watched, stopWatch := proc.watch(ctx)
	defer stopWatch()
	watched, cancel := context.WithTimeoutCause(watched, cfg.phaseTimeout,
		fmt.Errorf("offset %d not served within --phase-timeout %s", offset, cfg.phaseTimeout))
	defer cancel()
	probe := newProber(proc.node.addr(), cfg.probeEvery)
	defer probe.Close()
	if err := probe.waitForFetch(watched, topic, 0, offset); err != nil {
		return 0, fmt.Errorf("fetch %s-0 offset %d after kill -9: %w", topic, offset, err)
	}
	return time.Since(proc.startedAt), nil
}
