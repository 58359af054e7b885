// Package integration starts real samsa nodes, in-process or as separate
// processes on 127.0.0.1, and drives them with real clients (franz-go's kgo
// and kadm, kcat).
package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/node"
)

// claimedPorts holds every port this test process has handed out. A port
// freePort returns is free only until someone binds it, and the kernel may
// hand the same number to the next caller meanwhile: a cluster's nodes and
// proxies bind theirs only later, so two of them could be given one port
// (a client then reached a CONTROLLER listener as if it were a broker).
var claimedPorts = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// claimPort records port as handed out; false if it already was.
func claimPort(port int) bool {
	claimedPorts.Lock()
	defer claimedPorts.Unlock()
	if claimedPorts.ports[port] {
		return false
	}
	claimedPorts.ports[port] = true
	return true
}

// listenClaimed listens on a loopback port no other caller in this test
// process has been given.
func listenClaimed(t testing.TB) net.Listener {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen on a free port: %v", err)
		}
		if claimPort(ln.Addr().(*net.TCPAddr).Port) {
			return ln
		}
		ln.Close()
	}
}

// freePort asks the kernel for a port nobody listens on and nobody else in
// this test process was given.
func freePort(t testing.TB) int {
	t.Helper()
	ln := listenClaimed(t)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// nodeArgs are the -c settings of a single broker+controller node on the
// given ports and data dir, plus extra key=value settings.
func nodeArgs(port, cport int, dir string, extra ...string) []string {
	args := []string{
		"node.id=1",
		"process.roles=broker,controller",
		fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port, cport),
		fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", port),
		"controller.listener.names=CONTROLLER",
		fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", cport),
		"log.dirs=" + dir,
		"samsa.metrics.listener=127.0.0.1:0",
	}
	return append(args, extra...)
}

// testNode is an in-process samsa node.
type testNode struct {
	t    testing.TB
	n    *node.Node
	dir  string
	port int
	// cport is the CONTROLLER listener's port.
	cport int
	args  []string
}

// startNode starts an in-process node in a fresh temp dir.
func startNode(t testing.TB, extra ...string) *testNode {
	t.Helper()
	tn := &testNode{t: t, dir: t.TempDir(), port: freePort(t)}
	tn.cport = freePort(t)
	tn.args = nodeArgs(tn.port, tn.cport, tn.dir, extra...)
	tn.start()
	t.Cleanup(func() { tn.stop() })
	return tn
}

func (tn *testNode) start() {
	tn.t.Helper()
	cfg, _, err := config.Load("", tn.args)
	if err != nil {
		tn.t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := node.New(cfg, logger)
	if err != nil {
		tn.t.Fatalf("new node: %v", err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		tn.t.Fatalf("start node: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		n.Close()
		tn.t.Fatalf("node not ready: %v", err)
	}
	tn.n = n
}

// restart closes the node cleanly and starts it again on the same data.
func (tn *testNode) restart() {
	tn.t.Helper()
	tn.stop()
	tn.start()
}

func (tn *testNode) stop() {
	if tn.n != nil {
		if err := tn.n.Close(); err != nil {
			tn.t.Errorf("close node: %v", err)
		}
		tn.n = nil
	}
}

func (tn *testNode) addr() string { return fmt.Sprintf("127.0.0.1:%d", tn.port) }

// client returns a kgo client for the node, closed at test end.
func (tn *testNode) client(opts ...kgo.Opt) *kgo.Client {
	tn.t.Helper()
	return newClient(tn.t, tn.addr(), opts...)
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClientSeeds(t, []string{addr}, opts...)
}

func newClientSeeds(t testing.TB, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (tn *testNode) admin() *kadm.Client { return kadm.NewClient(tn.client()) }

// createTopic creates a topic and fails the test on any error.
func createTopic(t testing.TB, adm *kadm.Client, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

// binary builds cmd/samsa once per test run, for tests that need a real
// process (kill -9).
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func samsaBinary(t testing.TB) string {
	t.Helper()
	// SAMSA_BIN runs a binary built elsewhere (e.g. by make).
	if p := os.Getenv("SAMSA_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "samsa-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "samsa")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "github.com/samsa-broker/samsa/cmd/samsa").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatalf("build samsa: %v", buildOnce.err)
	}
	return buildOnce.path
}

// restartMarker separates the incarnations in a procNode's log.
const restartMarker = "--- samsa restarted ---\n"

// procNode is a samsa node running as a child process.
type procNode struct {
	t      testing.TB
	cmd    *exec.Cmd
	args   []string
	port   int
	logBuf *strings.Builder
	logMu  sync.Mutex
}

func startProc(t testing.TB, dir string, port, cport int, extra ...string) *procNode {
	t.Helper()
	p := startProcAsync(t, dir, port, cport, extra...)
	p.waitListening()
	return p
}

// startProcAsync starts the process without waiting for it to listen, so a
// cluster's nodes can start together.
func startProcAsync(t testing.TB, dir string, port, cport int, extra ...string) *procNode {
	t.Helper()
	p := &procNode{t: t, port: port, args: nodeArgs(port, cport, dir, extra...)}
	p.spawn()
	t.Cleanup(func() { p.kill() })
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (p *procNode) start() {
	p.t.Helper()
	p.spawn()
	p.waitListening()
}

func (p *procNode) spawn() {
	p.t.Helper()
	var args []string
	for _, a := range p.args {
		args = append(args, "-c", a)
	}
	if p.logBuf == nil {
		p.logBuf = &strings.Builder{}
	} else {
		// A restart keeps the earlier incarnations' logs: what happened
		// before it often explains a failure after it.
		lockedWriter{&p.logMu, p.logBuf}.Write([]byte(restartMarker))
	}
	p.cmd = exec.Command(samsaBinary(p.t), args...)
	p.cmd.Stdout = lockedWriter{&p.logMu, p.logBuf}
	p.cmd.Stderr = lockedWriter{&p.logMu, p.logBuf}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start samsa: %v", err)
	}
}

func (p *procNode) waitListening() {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", p.addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("samsa did not listen on %s: %s", p.addr(), p.logs())
}

func (p *procNode) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func (p *procNode) logs() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.logBuf.String()
}

// kill9 kills the process without letting it shut down.
func (p *procNode) kill9() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

// kill stops the process with SIGTERM (clean shutdown), then SIGKILL.
func (p *procNode) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine's stack.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		p.t.Errorf("samsa did not exit within 10 s of SIGTERM; its log and stacks:\n%s", p.logs())
	}
	p.cmd = nil
}

func newAdmin(t testing.TB, addr string) *kadm.Client { return kadm.NewClient(newClient(t, addr)) }

// endOffsets sums the end offsets of every partition of topic.
func endOffsets(t testing.TB, addr, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := newAdmin(t, addr).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	var total int64
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset %s-%d: %v", o.Topic, o.Partition, o.Err)
		}
		total += o.Offset
	})
	return total
}
