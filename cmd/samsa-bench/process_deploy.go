package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// processDeployment is a single broker node run as a child process for the
// throughput workload. Closing it stops the process cleanly and keeps its
// data dir, which the start-up workload then reuses.
type processDeployment struct {
	node *brokerNode
	proc *brokerProcess
}

// startProcessBroker starts a node of the named broker from command with a
// fresh data dir under dir and waits until it answers Metadata.
func startProcessBroker(ctx context.Context, name string, command []string, dir string, extraConfig []string, probeEvery, timeout time.Duration, logger *slog.Logger) (*processDeployment, error) {
	node, err := newBrokerNode(name, command, dir, 1, extraConfig, logger)
	if err != nil {
		return nil, err
	}
	proc, _, err := startAndProbe(ctx, node, "", probeEvery, timeout)
	if err != nil {
		return nil, err
	}
	return &processDeployment{node: node, proc: proc}, nil
}

func (d *processDeployment) target() target {
	return target{name: d.node.name, seeds: []string{d.node.addr()}, replicationFactor: 1}
}

func (d *processDeployment) Close() error { return d.proc.terminate() }

func (d *processDeployment) watch(ctx context.Context) (context.Context, func()) {
	return d.proc.watch(ctx)
}

// startAndProbe starts node and waits, probing every probeEvery, until it
// answers Metadata (listing topic, when not empty). It returns the running
// process and the time from exec to that answer. On failure the process is
// stopped.
func startAndProbe(ctx context.Context, node *brokerNode, topic string, probeEvery, timeout time.Duration) (*brokerProcess, time.Duration, error) {
	proc, err := node.start()
	if err != nil {
		return nil, 0, err
	}
	watched, stopWatch := proc.watch(ctx)
	defer stopWatch()
	watched, cancel := context.WithTimeoutCause(watched, timeout,
		fmt.Errorf("%s did not answer Metadata within --phase-timeout %s", node.name, timeout))
	defer cancel()

	probe := newProber(node.addr(), probeEvery)
	defer probe.Close()
	_, err = probe.waitForMetadata(watched, topic)
	ready := time.Since(proc.startedAt)
	if err != nil {
		// An exit already carries the broker's log in its error; a
		// timeout does not.
		if !proc.hasExited() {
			err = fmt.Errorf("%w%s", err, proc.logTail())
		}
		stopWatch()
		_ = proc.kill()
		return nil, 0, fmt.Errorf("start %s at %s: %w", node.name, node.addr(), err)
	}
	return proc, ready, nil
}

// watchedDeployment is a deployment of child processes that can exit under
// a workload. watch works as brokerProcess.watch, for all its processes.
type watchedDeployment interface {
	watch(ctx context.Context) (context.Context, func())
}

// guard binds a workload's context to a deployment that can die under it:
// if a broker process exits, the workload ends with the exit as its cause
// instead of retrying until its timeout.
func guard(ctx context.Context, d deployment) (context.Context, func()) {
	if wd, ok := d.(watchedDeployment); ok {
		return wd.watch(ctx)
	}
	return ctx, func() {}
}
