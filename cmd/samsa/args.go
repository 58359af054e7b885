package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/samsa-broker/samsa/config"
)

const usage = `Usage: samsa [--config server.properties] [-c key=value ...] [--version]

Starts one samsa node. Settings use Apache Kafka's broker config keys and
defaults; with no file and no flags, samsa runs as a single-node
broker+controller on 127.0.0.1:9092 (controller 127.0.0.1:9093) with its data
in /tmp/samsa-logs. Later settings win: built-in profile < --config file < -c.

  --config path     read a Kafka server.properties file
  -c key=value      set one config key (repeatable)
  --version         print the version and exit
`

// errVersionRequested is returned by parseArgs for --version, as flag
// returns flag.ErrHelp for -h.
var errVersionRequested = errors.New("version requested")

// overrideFlags collects repeated -c key=value flags in order.
type overrideFlags []string

func (o *overrideFlags) String() string { return strings.Join(*o, " ") }

func (o *overrideFlags) Set(v string) error {
	key, _, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(key) == "" {
		return fmt.Errorf("%q is not key=value", v)
	}
	*o = append(*o, v)
	return nil
}

// parseArgs parses the command line. Both -config and --config forms are
// accepted, as the flag package does; positional arguments are an error.
func parseArgs(args []string) (configPath string, overrides []string, err error) {
	fs := flag.NewFlagSet("samsa", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints errors and usage itself
	var o overrideFlags
	var version bool
	fs.StringVar(&configPath, "config", "", "read a Kafka server.properties file")
	fs.Var(&o, "c", "set one config key as key=value (repeatable)")
	fs.BoolVar(&version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return "", nil, err
	}
	if version {
		return "", nil, errVersionRequested
	}
	if fs.NArg() > 0 {
		return "", nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return configPath, o, nil
}

// versionString names samsa's build and the Kafka release whose config it
// follows.
func versionString() string {
	version := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				version += " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("samsa %s (Kafka %s config)", version, config.KafkaVersion)
}
