// Command samsa starts one samsa node: a Kafka wire-protocol compatible
// broker (and KRaft-style controller) configured with Kafka's own keys.
//
//	samsa [--config server.properties] [-c key=value ...] [--version]
//
// It loads the config (zero-config profile, then the file, then the -c
// flags), starts the node, and on SIGINT or SIGTERM shuts it down cleanly
// and exits 0. A start-up error is printed as one line and exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/node"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs passed in; it returns the exit
// status: 0 after a clean shutdown, 1 on a start-up or shutdown error,
// 2 on bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	configPath, overrides, err := parseArgs(args)
	switch {
	case errors.Is(err, errVersionRequested):
		fmt.Fprintln(stdout, versionString())
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "samsa: %v\n%s", err, usage)
		return 2
	}

	cfg, unused, err := config.Load(configPath, overrides)
	if err != nil {
		fmt.Fprintf(stderr, "samsa: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	for _, key := range unused {
		logger.Info("config key accepted but not used yet", slog.String("key", key))
	}

	// Catch signals before starting: Start may still be waiting for the
	// controller when a client (or an operator) already sees the node.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, err := node.New(cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "samsa: %v\n", err)
		return 1
	}
	if err := n.Start(); err != nil {
		fmt.Fprintf(stderr, "samsa: %v\n", err)
		if cerr := n.Close(); cerr != nil {
			logger.Error("close after failed start", slog.Any("error", cerr))
		}
		return 1
	}

	// Ready once the controller has unfenced the broker; until then the
	// node keeps trying in the background, and a signal still stops it.
	if err := n.WaitReady(ctx); err == nil {
		logger.Info("broker ready: unfenced by the controller")
	}
	<-ctx.Done()
	// A second signal during shutdown gets the default behaviour: exit now.
	stop()
	logger.Info("shutting down", slog.String("signal", context.Cause(ctx).Error()))
	// A shutdown that hangs is a bug: after shutdownDumpAfter, print every
	// goroutine's stack so it can be found, and keep waiting.
	dump := time.AfterFunc(shutdownDumpAfter, func() {
		logger.Error("shutdown is taking too long; goroutine stacks follow", slog.Duration("after", shutdownDumpAfter))
		pprof.Lookup("goroutine").WriteTo(stderr, 2)
	})
	defer dump.Stop()
	if err := n.Close(); err != nil {
		fmt.Fprintf(stderr, "samsa: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// shutdownDumpAfter is how long a clean shutdown may take before samsa
// prints its goroutines' stacks.
const shutdownDumpAfter = 15 * time.Second
