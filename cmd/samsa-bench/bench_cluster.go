package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
)

// startSamsaCluster starts a fresh 3-node samsa cluster with node
// directories under dir and waits until every node lists all three
// brokers. --samsa-config goes after the cluster's own settings, so it can
// override them.
func (b *bench) startSamsaCluster(ctx context.Context, dir string) (*clusterDeployment, error) {
	if b.samsaBuildErr != nil {
		return nil, b.samsaBuildErr
	}
	if b.clusterErr != nil {
		return nil, fmt.Errorf("an earlier %d-node cluster did not start: %w", clusterNodeCount, b.clusterErr)
	}
	nodes, err := newClusterNodes(brokerSamsa, []string{b.samsaBin}, dir, clusterNodeCount,
		slices.Concat(clusterConfig(), b.opts.SamsaConfig), b.logger)
	if err != nil {
		return nil, err
	}
	d, err := startCluster(ctx, nodes, b.opts.ProbeEvery, b.opts.PhaseTimeout)
	if err != nil {
		// An interrupt says nothing about whether samsa can form a
		// cluster.
		if ctx.Err() == nil {
			b.clusterErr = err
		}
		return nil, err
	}
	b.logger.Info("cluster ready", slog.Int("nodes", len(nodes)), slog.Duration("after", d.ready))
	return d, nil
}

// latencyRF3 produces at --latency-rate for --latency-duration on a fresh
// 3-node cluster, whose node directories are removed afterwards unless
// --keep is set.
func (b *bench) latencyRF3(ctx context.Context) (res latencyResult, err error) {
	dir := filepath.Join(b.workDir, "samsa-rf3-latency")
	defer b.removeDir(dir)
	dep, err := b.startSamsaCluster(ctx, dir)
	if err != nil {
		return latencyResult{}, err
	}
	defer func() {
		if closeErr := dep.Close(); closeErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the %d-node cluster: %w", clusterNodeCount, closeErr))
		}
	}()
	guarded, stopGuard := guard(ctx, dep)
	defer stopGuard()
	return measureLatency(guarded, dep.target(), b.latencyConfig(fmt.Sprintf("samsa-bench-%s-latency", b.runID)))
}

func (b *bench) latencyConfig(topic string) latencyConfig {
	return latencyConfig{
		topic:          topic,
		partitions:     b.opts.Partitions,
		recordBytes:    b.opts.RecordBytes,
		bytesPerSecond: b.opts.LatencyRate,
		warmup:         b.opts.LatencyWarmup,
		duration:       b.opts.LatencyDuration,
		phaseTimeout:   b.opts.PhaseTimeout,
	}
}
