package main

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		configPath string
		overrides  []string
		wantErr    error  // sentinel, checked with errors.Is
		errText    string // substring of any other error
	}{
		{name: "no arguments", args: nil},
		{name: "double-dash config", args: []string{"--config", "server.properties"}, configPath: "server.properties"},
		{name: "single-dash config with equals", args: []string{"-config=/etc/samsa.properties"}, configPath: "/etc/samsa.properties"},
		{name: "overrides keep their order", args: []string{"-c", "num.partitions=3", "-c", "log.dirs=/d", "-c", "num.partitions=4"},
			overrides: []string{"num.partitions=3", "log.dirs=/d", "num.partitions=4"}},
		{name: "override value may contain =", args: []string{"-c", "listener.security.protocol.map=A:B", "-c=x=y=z"},
			overrides: []string{"listener.security.protocol.map=A:B", "x=y=z"}},
		{name: "config and overrides", args: []string{"--config", "a.properties", "-c", "node.id=2"},
			configPath: "a.properties", overrides: []string{"node.id=2"}},
		{name: "version", args: []string{"--version"}, wantErr: errVersionRequested},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp},
		{name: "override without =", args: []string{"-c", "num.partitions"}, errText: "not key=value"},
		{name: "override without key", args: []string{"-c", "=3"}, errText: "not key=value"},
		{name: "missing config path", args: []string{"--config"}, errText: "config"},
		{name: "unknown flag", args: []string{"--port", "9092"}, errText: "port"},
		{name: "positional argument", args: []string{"server.properties"}, errText: `unexpected argument "server.properties"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, overrides, err := parseArgs(tt.args)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error %v, want one containing %q", err, tt.errText)
				}
				return
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			}
			if path != tt.configPath || !slices.Equal(overrides, tt.overrides) {
				t.Errorf("got %q %q, want %q %q", path, overrides, tt.configPath, tt.overrides)
			}
		})
	}
}

func TestRunExitCodesBeforeStartingANode(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"version", []string{"--version"}, 0, "samsa ", ""},
		{"help", []string{"--help"}, 0, "Usage: samsa", ""},
		{"bad flag", []string{"--nope"}, 2, "", "samsa: flag provided but not defined: -nope"},
		{"unknown config key", []string{"-c", "no.such.key=1"}, 1, "", "samsa: unknown config key no.such.key\n"},
		{"bad config value", []string{"-c", "num.partitions=zero"}, 1, "", `num.partitions="zero"`},
		{"missing config file", []string{"--config", "/nonexistent/server.properties"}, 1, "", "/nonexistent/server.properties"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d stdout %q stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
			if tt.code == 1 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("start-up error is not one line: %q", stderr.String())
			}
		})
	}
}
