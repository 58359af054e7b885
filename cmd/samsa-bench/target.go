package main

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// target is a running broker set as the workloads see it: where to connect
// and what replication factor its topics get. Workloads take nothing else,
// so a three-node cluster (RF=3, acks=all) is a new deployment, not a new
// workload.
type target struct {
	name              string
	seeds             []string
	replicationFactor int16
}

// deployment is a started broker set, owned by whoever started it.
type deployment interface {
	target() target
	// Close stops the brokers and returns once they are gone.
	Close() error
}

// kfakeDeployment is franz-go's in-memory reference broker, run inside this
// process: the baseline samsa is measured against.
type kfakeDeployment struct {
	cluster *kfake.Cluster
	nodes   int
}

// startKfake starts a kfake cluster of nodes brokers on ephemeral ports.
func startKfake(nodes int) (*kfakeDeployment, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(nodes))
	if err != nil {
		return nil, fmt.Errorf("start kfake with %d brokers: %w", nodes, err)
	}
	return &kfakeDeployment{cluster: cluster, nodes: nodes}, nil
}

func (d *kfakeDeployment) target() target {
	return target{name: brokerKfake, seeds: d.cluster.ListenAddrs(), replicationFactor: int16(min(d.nodes, 3))}
}

func (d *kfakeDeployment) Close() error {
	d.cluster.Close()
	return nil
}

// externalDeployment is a broker someone else runs (--samsa-addr): the
// harness only connects to it and never stops it.
type externalDeployment struct{ t target }

func (d externalDeployment) target() target { return d.t }
func (d externalDeployment) Close() error   { return nil }
