package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// clusterNodeCount is the size of the cluster the RF=3 workloads start:
// three combined broker+controller nodes with a three-voter metadata
// quorum, as scripts/cluster.sh runs them.
const clusterNodeCount = 3

// clusterConfig is what every node of the RF=3 cluster gets on top of a
// single node's command line: topics replicated to all three nodes, and
// acks=all writes that need two in-sync copies before they are
// acknowledged, the durable setup Kafka's documentation of
// min.insync.replicas recommends (RF 3, min.insync.replicas 2).
func clusterConfig() []string {
	return []string{"default.replication.factor=3", "min.insync.replicas=2"}
}

// clusterDeployment is a samsa cluster run as child processes, one per
// node. Close stops every node; their data dirs stay for the caller to
// remove.
type clusterDeployment struct {
	nodes []*brokerNode
	procs []*brokerProcess
	// ready is the time from the first node's exec until every node
	// listed all the cluster's brokers.
	ready time.Duration
}

// startCluster starts every node and waits until each one answers Metadata
// listing all of them. Nodes are started together because none can finish
// starting alone: a broker registers with the active controller, which
// needs a quorum of voters to be elected. On failure every node started is
// stopped (SIGTERM, then SIGKILL after terminateTimeout) before it returns.
func startCluster(ctx context.Context, nodes []*brokerNode, probeEvery, timeout time.Duration) (*clusterDeployment, error) {
	d := &clusterDeployment{nodes: nodes}
	for _, n := range nodes {
		proc, err := n.start()
		if err != nil {
			_ = stopAll(d.procs) // the start error says what went wrong
			return nil, err
		}
		d.procs = append(d.procs, proc)
	}
	if err := d.waitReady(ctx, probeEvery, timeout); err != nil {
		_ = stopAll(d.procs)
		return nil, err
	}
	d.ready = time.Since(d.procs[0].startedAt)
	return d, nil
}

// waitReady probes the nodes one after the other until each lists every
// broker of the cluster; any node exiting meanwhile ends the wait at once.
func (d *clusterDeployment) waitReady(ctx context.Context, probeEvery, timeout time.Duration) error {
	watched, stopWatch := d.watch(ctx)
	defer stopWatch()
	watched, cancel := context.WithTimeoutCause(watched, timeout,
		fmt.Errorf("the %d-node cluster did not form within --phase-timeout %s", len(d.nodes), timeout))
	defer cancel()
	for i, n := range d.nodes {
		probe := newProber(n.addr(), probeEvery)
		err := probe.waitForBrokers(watched, len(d.nodes))
		probe.Close()
		if err != nil {
			// A node that exited explains the failure, whichever node
			// was being probed; its exit error quotes its log.
			for j, p := range d.procs {
				if p.hasExited() {
					return fmt.Errorf("start %s node %d of %d: %w", d.nodes[j].name, d.nodes[j].id, len(d.nodes),
						p.exitError("while the cluster started"))
				}
			}
			return fmt.Errorf("start %s node %d of %d at %s: %w%s", n.name, n.id, len(d.nodes), n.addr(), err, d.procs[i].logTail())
		}
	}
	return nil
}

func (d *clusterDeployment) target() target {
	seeds := make([]string, len(d.nodes))
	for i, n := range d.nodes {
		seeds[i] = n.addr()
	}
	return target{
		name:              fmt.Sprintf("%s (%d nodes)", d.nodes[0].name, len(d.nodes)),
		seeds:             seeds,
		replicationFactor: int16(len(d.nodes)),
	}
}

// Close stops every node and reports any that exited early or had to be
// killed.
func (d *clusterDeployment) Close() error { return stopAll(d.procs) }

// watch returns a context that ends, with the exit as its cause, as soon as
// any node exits; stop releases every watcher and waits for them.
func (d *clusterDeployment) watch(ctx context.Context) (context.Context, func()) {
	stops := make([]func(), 0, len(d.procs))
	for _, p := range d.procs {
		var stop func()
		ctx, stop = p.watch(ctx)
		stops = append(stops, stop)
	}
	return ctx, func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
}

// stopAll sends every process SIGTERM at once and waits for all of them,
// killing any still running after terminateTimeout. Stopping the nodes
// together bounds the wait by the slowest node's shutdown instead of the
// sum of all of them.
func stopAll(procs []*brokerProcess) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { errs[i] = p.terminate() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
