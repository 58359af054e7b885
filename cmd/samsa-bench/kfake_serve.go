package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// serveKfakeCommand is the hidden first argument that makes samsa-bench
// serve kfake instead of benchmarking. With --kfake-process the harness runs
// itself this way, so kfake, like samsa, is a separate process and does not
// share the client's CPU scheduler and garbage collector.
const serveKfakeCommand = "serve-kfake"

// serveKfake takes samsa's command line (-c key=value ...), serves an
// in-memory kfake broker on the PLAINTEXT listener's port and returns the
// exit status once SIGTERM or SIGINT arrives. Every other key is ignored:
// kfake keeps nothing on disk.
func serveKfake(args []string, stderr io.Writer) int {
	config, err := parseBrokerArgs(args)
	if err != nil {
		fmt.Fprintln(stderr, "serve-kfake:", err)
		return 2
	}
	port, err := plaintextPort(config["listeners"])
	if err != nil {
		fmt.Fprintln(stderr, "serve-kfake:", err)
		return 2
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(stop)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		fmt.Fprintln(stderr, "serve-kfake: start kfake:", err)
		return 1
	}
	<-stop
	cluster.Close()
	return 0
}

// parseBrokerArgs reads samsa's command line: pairs of -c key=value.
func parseBrokerArgs(args []string) (map[string]string, error) {
	config := make(map[string]string)
	for i := 0; i < len(args); i += 2 {
		if args[i] != "-c" || i+1 == len(args) {
			return nil, fmt.Errorf("unexpected argument %q, want -c key=value", args[i])
		}
		k, v, ok := strings.Cut(args[i+1], "=")
		if !ok {
			return nil, fmt.Errorf("config %q: want key=value", args[i+1])
		}
		config[k] = v
	}
	return config, nil
}

// plaintextPort finds the port of the PLAINTEXT listener in a Kafka
// listeners value such as PLAINTEXT://127.0.0.1:9092,CONTROLLER://...
func plaintextPort(listeners string) (int, error) {
	for _, l := range strings.Split(listeners, ",") {
		if rest, ok := strings.CutPrefix(l, "PLAINTEXT://"); ok {
			_, port, _ := strings.Cut(rest, ":")
			n, err := strconv.Atoi(port)
			if err != nil || n < 0 || n > 65535 {
				return 0, fmt.Errorf("PLAINTEXT listener %q: bad port", l)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no PLAINTEXT listener in %q", listeners)
}
