// Command samsa-bench measures samsa against franz-go's in-memory reference
// broker kfake in one run, with identical client code for both: produce and
// consume throughput with per-record produce latency, and, for samsa alone,
// start-up time over an existing data dir, idle resident memory and recovery
// time after kill -9. It prints tables and, with --json, writes the results
// for quoting. Targets are reported, never asserted; the exit status is 1
// only when a workload could not run. See README.md.
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
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs passed in; it returns the exit
// status: 0 all workloads ran, 1 some failed, 2 bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == serveKfakeCommand {
		return serveKfake(args[1:], stderr)
	}
	opts, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "samsa-bench:", err)
		return 2
	}
	level := slog.LevelInfo
	if opts.Verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	// An interrupt cancels the workloads; samsa children are stopped on
	// the way out (and killed by the kernel should the harness die).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b, err := newBench(opts, logger)
	if err != nil {
		fmt.Fprintln(stderr, "samsa-bench:", err)
		return 1
	}
	r := b.run(ctx)
	status := 0
	if r.failed() {
		status = 1
	}
	if err := printReport(stdout, r); err != nil {
		logger.Error("print results", slog.Any("err", err))
		status = 1
	}
	if opts.JSONPath != "" {
		if err := r.writeJSON(opts.JSONPath); err != nil {
			logger.Error("write results", slog.Any("err", err))
			status = 1
		}
	}
	if err := b.Close(); err != nil {
		logger.Error("clean up", slog.Any("err", err))
	}
	return status
}
