package main

import (
	"fmt"
	"os"
	"os/signal"
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
