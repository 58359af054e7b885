package controller

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestRaftLogLevels(t *testing.T) {
	tests := []struct {
		level hclog.Level
		msg   string
		quiet bool
		want  slog.Level
	}{
		{hclog.Trace, "x", false, slog.LevelDebug},
		{hclog.Debug, "x", false, slog.LevelDebug},
		{hclog.Info, "entering follower state", false, slog.LevelDebug},
		{hclog.Warn, "failed to contact", false, slog.LevelWarn},
		{hclog.Warn, "heartbeat timeout reached, starting election", false, slog.LevelInfo},
		{hclog.Warn, "appendEntries rejected, sending older logs", false, slog.LevelInfo},
		{hclog.Error, "failed to appendEntries to", false, slog.LevelError},
		{hclog.Error, "failed to appendEntries to", true, slog.LevelDebug},
	}
	for _, tt := range tests {
		var quiet atomic.Bool
		quiet.Store(tt.quiet)
		l := newRaftLogger(slog.New(slog.DiscardHandler), &quiet, time.Now)
		if got := l.slogLevel(tt.level, tt.msg); got != tt.want {
			t.Errorf("%s %q (quiet %v): %s, want %s", tt.level, tt.msg, tt.quiet, got, tt.want)
		}
	}
}

func TestRaftLogWritesRepeatsOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	var quiet atomic.Bool
	l := newRaftLogger(slog.New(slog.NewTextHandler(&buf, nil)), &quiet, func() time.Time { return now })
	named := l.Named("net").With("k", "v") // derived loggers share the count
	for range 5 {
		l.Error("failed to heartbeat to", "peer", "a:1")
		named.Error("failed to heartbeat to", "peer", "b:1") // another peer
		l.Info("routine")                                    // DEBUG: not written
	}
	now = now.Add(raftLogRepeatInterval)
	l.Error("failed to heartbeat to", "peer", "a:1")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("wrote %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[1], "peer=b:1") || !strings.Contains(lines[1], "raft.logger=net") || !strings.Contains(lines[1], "k=v") {
		t.Fatalf("derived logger line %q", lines[1])
	}
	if !strings.Contains(lines[2], "repeats_not_logged=4") {
		t.Fatalf("repeat line %q does not count the 4 left out", lines[2])
	}
	wantEq(t, l.IsDebug(), false)
	wantEq(t, l.IsWarn(), true)
}
