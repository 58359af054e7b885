package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// terminateTimeout is how long a SIGTERMed broker may take to exit before
// it is killed and the stop reported as failed.
const terminateTimeout = 30 * time.Second

// buildSamsa compiles pkg into dir/samsa with the go tool that runs this
// harness, so samsa is measured as built from the current checkout.
func buildSamsa(ctx context.Context, pkg, dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build samsa: find the go tool: %w", err)
	}
	bin := filepath.Join(dir, "samsa")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build samsa (go build -o %s %s): %w\n%s", bin, pkg, err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// brokerNode is one broker run as a child process, taking samsa's command
// line: its identity on disk and on the network. The same node restarted
// keeps its data dir and ports. Besides samsa, the harness runs kfake this
// way (--kfake-process) through its own serve-kfake mode.
type brokerNode struct {
	name           string   // samsa or kfake, for messages
	command        []string // executable and leading arguments
	id             int32
	dataDir        string
	port           int
	controllerPort int
	// voters is controller.quorum.voters; empty for a single node, which
	// is then the only voter.
	voters      string
	extraConfig []string // key=value, passed as -c after the defaults
	logPath     string
	logger      *slog.Logger
}

// newBrokerNode prepares a single node with data under dir and two free
// ports. command is the executable and any arguments that go before the
// config.
func newBrokerNode(name string, command []string, dir string, id int32, extraConfig []string, logger *slog.Logger) (*brokerNode, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	return makeBrokerNode(name, command, dir, id, ports[0], ports[1], extraConfig, logger)
}

// newClusterNodes prepares count nodes, with ids 1 to count, data under
// dir/node-<id> and a controller.quorum.voters naming all of them, so every
// node is broker and voting controller, as in scripts/cluster.sh. All ports
// are taken in one call so no two nodes can be handed the same one.
func newClusterNodes(name string, command []string, dir string, count int, extraConfig []string, logger *slog.Logger) ([]*brokerNode, error) {
	ports, err := freePorts(2 * count)
	if err != nil {
		return nil, err
	}
	nodes := make([]*brokerNode, count)
	voters := make([]string, count)
	for i := range count {
		id := int32(i + 1)
		nodeDir := filepath.Join(dir, fmt.Sprintf("node-%d", id))
		n, err := makeBrokerNode(name, command, nodeDir, id, ports[2*i], ports[2*i+1], extraConfig, logger)
		if err != nil {
			return nil, err
		}
		nodes[i] = n
		voters[i] = fmt.Sprintf("%d@%s", id, n.controllerAddr())
	}
	for _, n := range nodes {
		n.voters = strings.Join(voters, ",")
	}
	return nodes, nil
}

func makeBrokerNode(name string, command []string, dir string, id int32, port, controllerPort int, extraConfig []string, logger *slog.Logger) (*brokerNode, error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s data dir: %w", name, err)
	}
	return &brokerNode{
		name:           name,
		command:        command,
		id:             id,
		dataDir:        dataDir,
		port:           port,
		controllerPort: controllerPort,
		extraConfig:    extraConfig,
		logPath:        filepath.Join(dir, name+".log"),
		logger:         logger.With(slog.String("broker", name), slog.String("node_dir", dir)),
	}, nil
}

func (n *brokerNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

func (n *brokerNode) controllerAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.controllerPort))
}

// args is the command line of a combined broker+controller node in Kafka's
// own config keys.
func (n *brokerNode) args() []string {
	voters := n.voters
	if voters == "" {
		voters = strconv.Itoa(int(n.id)) + "@" + n.controllerAddr()
	}
	config := []string{
		"node.id=" + strconv.Itoa(int(n.id)),
		"process.roles=broker,controller",
		"listeners=PLAINTEXT://" + n.addr() + ",CONTROLLER://" + n.controllerAddr(),
		"advertised.listeners=PLAINTEXT://" + n.addr(),
		"controller.listener.names=CONTROLLER",
		"controller.quorum.voters=" + voters,
		"log.dirs=" + n.dataDir,
		"samsa.metrics.listener=127.0.0.1:0",
	}
	config = append(config, n.extraConfig...)
	args := make([]string, 0, 2*len(config))
	for _, kv := range config {
		args = append(args, "-c", kv)
	}
	return args
}

// brokerProcess is one running broker. Its wait goroutine is owned by the
// process value: terminate or kill stops the process and waits for it.
type brokerProcess struct {
	node      *brokerNode
	cmd       *exec.Cmd
	startedAt time.Time     // just before exec
	exited    chan struct{} // closed once the process is reaped
	waitErr   error         // valid after exited is closed
}

// start execs the node's command. The process's startedAt is taken just
// before the exec, so start-up timings include the whole process start.
func (n *brokerNode) start() (*brokerProcess, error) {
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", n.name, err)
	}
	// The child keeps its own descriptor; ours is closed once it started.
	defer logFile.Close()
	fmt.Fprintf(logFile, "--- samsa-bench: starting %s at %s\n", n.command[0], time.Now().Format(time.RFC3339Nano))

	cmd := exec.Command(n.command[0], slices.Concat(n.command[1:], n.args())...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childProcAttr()
	p := &brokerProcess{node: n, cmd: cmd, exited: make(chan struct{})}
	p.startedAt = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", n.name, n.command[0], err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	n.logger.Debug("broker process started", slog.Int("pid", cmd.Process.Pid), slog.String("addr", n.addr()))
	return p, nil
}

func (p *brokerProcess) pid() int { return p.cmd.Process.Pid }

// terminate sends SIGTERM and waits for a clean exit; a process still
// running after terminateTimeout is killed and reported.
func (p *brokerProcess) terminate() error {
	if p.hasExited() {
		return p.exitError("before SIGTERM")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM %s pid %d: %w", p.node.name, p.pid(), err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("%s pid %d exited uncleanly after SIGTERM: %w%s", p.node.name, p.pid(), p.waitErr, p.logTail())
		}
		return nil
	case <-time.After(terminateTimeout):
		_ = p.kill()
		return fmt.Errorf("%s pid %d still running %s after SIGTERM; killed%s", p.node.name, p.pid(), terminateTimeout, p.logTail())
	}
}

// kill sends SIGKILL, the kill -9 of the recovery workload: no clean
// shutdown, no flush, no checkpoints. It returns once the process is gone.
func (p *brokerProcess) kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL %s pid %d: %w", p.node.name, p.pid(), err)
	}
	<-p.exited
	return nil
}

// exitError describes an exit nobody asked for.
func (p *brokerProcess) exitError(when string) error {
	return fmt.Errorf("%s pid %d exited %s: %v%s", p.node.name, p.pid(), when, p.waitErr, p.logTail())
}

// hasExited reports whether the process has been reaped.
func (p *brokerProcess) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// watch returns a context that ends, with the exit as its cause, if the
// process exits while a workload uses it. stop releases the watcher and
// waits for it; call it before stopping the process on purpose. Calling stop
// more than once is fine.
func (p *brokerProcess) watch(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	watcherExited := make(chan struct{})
	go func() {
		defer close(watcherExited)
		select {
		case <-p.exited:
			cancel(p.exitError("during the workload"))
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			<-watcherExited
			cancel(nil)
		})
	}
}

// logTail returns the last lines the broker wrote, to explain a failure.
func (p *brokerProcess) logTail() string {
	const maxLines = 20
	data, err := os.ReadFile(p.node.logPath)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return "\n  " + p.node.name + " log (" + p.node.logPath + "), last lines:\n    " + strings.Join(lines, "\n    ")
}

// freePorts asks the kernel for n distinct free TCP ports on 127.0.0.1. They
// are released before the broker binds them; on a busy machine another process
// could take one in between, which then shows as a start-up failure.
func freePorts(n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return total, nil
}
