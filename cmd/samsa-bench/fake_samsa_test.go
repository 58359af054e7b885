package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// fakeSamsaEnv, when set to 1, turns the test binary into a stand-in for
// samsa's binary: it takes samsa's command line and serves it with kfake
// persisting to log.dirs. The process workloads (start-up, idle memory,
// kill -9 recovery) are tested against it while samsa itself may not build.
const fakeSamsaEnv = "SAMSA_BENCH_FAKE_SAMSA"

// TestMain also lets the test binary stand in for samsa-bench itself when
// --kfake-process re-executes it as serve-kfake.
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(fakeSamsaEnv) == "1":
		os.Exit(runFakeSamsa(os.Args[1:]))
	case len(os.Args) > 1 && os.Args[1] == serveKfakeCommand:
		os.Exit(serveKfake(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// fakeSamsaBin returns the command that runs the fake samsa; its
// environment carries the switch into child processes.
func fakeSamsaBin(t *testing.T) string {
	t.Helper()
	t.Setenv(fakeSamsaEnv, "1")
	bin, err := os.Executable()
	if err != nil {
		t.Fatalf("find test binary: %v", err)
	}
	return bin
}

// runFakeSamsa serves samsa's command line until SIGTERM. Unlike
// serve-kfake it persists to log.dirs, so a restart finds the data.
func runFakeSamsa(args []string) int {
	config, err := parseBrokerArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake samsa:", err)
		return 2
	}
	port, err := plaintextPort(config["listeners"])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake samsa:", err)
		return 2
	}
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	voters, err := parseVoters(config["controller.quorum.voters"])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake samsa:", err)
		return 2
	}
	if len(voters) > 1 {
		return runFakeClusterNode(config["node.id"], port, voters, terms)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(config["log.dirs"]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake samsa: start kfake:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fake samsa: serving on port", port)
	<-terms
	cluster.Close()
	return 0
}

// runFakeClusterNode stands in for one node of a samsa cluster. kfake cannot
// span processes, so the first voter serves the whole cluster: a kfake with
// one broker per voter, the second of them listening on the first voter's
// controller port. Every other node forwards its PLAINTEXT port there.
// Through any node, a client thus sees one cluster listing a broker per
// node, which is what the harness waits for; each node is still a process
// of its own that can fail to start and must be stopped.
func runFakeClusterNode(nodeID string, port int, voters []voter, terms <-chan os.Signal) int {
	first := voters[0]
	if nodeID == first.id {
		ports := make([]int, len(voters)) // 0: any free port
		ports[0], ports[1] = port, first.port
		cluster, err := kfake.NewCluster(kfake.Ports(ports...))
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake samsa: start kfake:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "fake samsa: serving a", len(voters), "broker cluster on port", port)
		<-terms
		cluster.Close()
		return 0
	}
	fwd, err := newForwarder(fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", first.port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake samsa:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fake samsa: node", nodeID, "forwarding port", port, "to node", first.id)
	<-terms
	fwd.Close()
	return 0
}

type voter struct {
	id   string
	port int
}

// parseVoters reads controller.quorum.voters: id@host:port,...
func parseVoters(s string) ([]voter, error) {
	var voters []voter
	for _, v := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(v, "@")
		_, port, okPort := strings.Cut(addr, ":")
		n, err := strconv.Atoi(port)
		if !ok || !okPort || err != nil {
			return nil, fmt.Errorf("controller.quorum.voters entry %q: want id@host:port", v)
		}
		voters = append(voters, voter{id: id, port: n})
	}
	return voters, nil
}

// forwarder accepts TCP connections and pipes each to upstream. Close
// stops accepting, closes every connection and waits for its goroutines.
type forwarder struct {
	ln       net.Listener
	upstream string
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
}

func newForwarder(listen, upstream string) (*forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	f := &forwarder{ln: ln, upstream: upstream, conns: make(map[net.Conn]struct{})}
	f.wg.Go(f.accept)
	return f, nil
}

func (f *forwarder) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Go(func() { f.pipe(c) })
	}
}

// track registers c for Close; false once closing, when c was closed.
func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) pipe(down net.Conn) {
	if !f.track(down) {
		return
	}
	up, err := net.Dial("tcp", f.upstream)
	if err != nil || !f.track(up) {
		// Node 1 is not serving (yet): the client sees a closed
		// connection and retries, as with a starting broker.
		down.Close()
		f.mu.Lock()
		delete(f.conns, down)
		f.mu.Unlock()
		return
	}
	var copies sync.WaitGroup
	copies.Go(func() { io.Copy(up, down); up.Close() })
	copies.Go(func() { io.Copy(down, up); down.Close() })
	copies.Wait()
	f.mu.Lock()
	delete(f.conns, down)
	delete(f.conns, up)
	f.mu.Unlock()
}

func (f *forwarder) Close() {
	f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
