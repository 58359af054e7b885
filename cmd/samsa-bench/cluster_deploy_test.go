package main

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClusterNodesFormOneQuorum(t *testing.T) {
	nodes, err := newClusterNodes(brokerSamsa, []string{"samsa"}, t.TempDir(), 3, clusterConfig(), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ports := make(map[int]bool)
	var voters []string
	for i, n := range nodes {
		if n.id != int32(i+1) {
			t.Fatalf("node %d has id %d, want ids 1 to 3", i, n.id)
		}
		ports[n.port], ports[n.controllerPort] = true, true
		config := configOf(t, n.args())
		voters = append(voters, config["controller.quorum.voters"])
		if config["listeners"] != "PLAINTEXT://"+n.addr()+",CONTROLLER://"+n.controllerAddr() ||
			config["default.replication.factor"] != "3" || config["min.insync.replicas"] != "2" {
			t.Fatalf("node %d config %v", n.id, config)
		}
	}
	if len(ports) != 6 {
		t.Fatalf("%d distinct ports among 3 nodes, want 6", len(ports))
	}
	want := "1@" + nodes[0].controllerAddr() + ",2@" + nodes[1].controllerAddr() + ",3@" + nodes[2].controllerAddr()
	if slices.IndexFunc(voters, func(v string) bool { return v != want }) >= 0 {
		t.Fatalf("voters %q, want every node to list %q", voters, want)
	}

	single, err := newBrokerNode(brokerSamsa, []string{"samsa"}, t.TempDir(), 1, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got := configOf(t, single.args())["controller.quorum.voters"]; got != "1@"+single.controllerAddr() {
		t.Fatalf("single node voters %q, want only itself", got)
	}
}

// configOf reads back a node's -c key=value pairs; later pairs win, as in
// samsa.
func configOf(t *testing.T, args []string) map[string]string {
	t.Helper()
	config, err := parseBrokerArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	return config
}

// refusesConnections reports whether nothing listens at addr any more.
func refusesConnections(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func TestClusterAgainstStandIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts broker processes")
	}
	bin := fakeSamsaBin(t)
	nodes, err := newClusterNodes(brokerSamsa, []string{bin}, t.TempDir(), 3, clusterConfig(), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	d, err := startCluster(t.Context(), nodes, time.Millisecond, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tgt := d.target()
	if len(tgt.seeds) != 3 || tgt.replicationFactor != 3 {
		t.Fatalf("target %+v, want 3 seeds and RF 3", tgt)
	}
	guarded, stopGuard := guard(t.Context(), d)
	_, runErr := runThroughput(guarded, tgt, smallThroughput("replicated", 300, 3))
	stopGuard()
	if err := d.Close(); err != nil {
		t.Fatalf("stop cluster: %v", err)
	}
	if runErr != nil {
		t.Fatalf("throughput on the cluster: %v", runErr)
	}
	for _, n := range nodes {
		if !refusesConnections(n.addr()) {
			t.Fatalf("node %d still serves %s after Close", n.id, n.addr())
		}
	}
}

func TestClusterStartFailureStopsEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts broker processes")
	}
	tests := []struct {
		name    string
		breakIt func(nodes []*brokerNode)
		timeout time.Duration
		wantErr []string
	}{
		{
			name: "a node exits at once",
			// A port it cannot listen on makes the stand-in exit,
			// like a samsa rejecting its config.
			breakIt: func(nodes []*brokerNode) { nodes[2].port = -1 },
			timeout: 10 * time.Second,
			wantErr: []string{"node 3 of 3", "exited while the cluster started", "fake samsa"},
		},
		{
			name: "the cluster never forms",
			// A node that believes it is the only voter never sees
			// the others. It is the first probed, so the wait ends on
			// it however fast the others start.
			breakIt: func(nodes []*brokerNode) { nodes[0].voters = "" },
			timeout: time.Second,
			wantErr: []string{"node 1 of 3", "metadata lists 1 brokers, want 3", "did not form within --phase-timeout", "fake samsa"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := fakeSamsaBin(t)
			nodes, err := newClusterNodes(brokerSamsa, []string{bin}, t.TempDir(), 3, nil, discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			tt.breakIt(nodes)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			d, err := startCluster(ctx, nodes, time.Millisecond, tt.timeout)
			if err == nil {
				d.Close()
				t.Fatal("cluster started, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if ctx.Err() != nil {
				t.Fatal("failure took until the test's deadline")
			}
			for _, n := range nodes {
				if n.port > 0 && !refusesConnections(n.addr()) {
					t.Fatalf("node %d still serves %s after the failed start", n.id, n.addr())
				}
			}
		})
	}
}
