package controller

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// raftLogger adapts hashicorp/raft's hclog.Logger to the node's slog logger.
//
// Levels: raft's INFO is routine ("entering follower state", "added peer,
// starting replication") and goes to DEBUG; WARN and ERROR stay (a peer that
// cannot be reached, a leader stepping down). RaftQuorum logs leadership
// changes itself, so the raft WARNs that every healthy start, election or
// catch-up prints go to INFO (isRoutineRaftWarning). While the quorum
// closes, everything goes to DEBUG: the transport is torn down first and
// raft complains about it.
//
// Repeats: raft retries an unreachable peer several times a second and logs
// every failure. A WARN or ERROR is written at most once per
// raftLogRepeatInterval for the same message and peer, with the number of
// repeats left out, so a dead node gives a clear repeated line, not a flood.
type raftLogger struct {
	logger  *slog.Logger
	name    string
	implied []any
	quiet   *atomic.Bool
	repeats *raftLogRepeats
}

// raftLogRepeatInterval is how often one raft WARN or ERROR about one peer
// is written while it keeps happening.
const raftLogRepeatInterval = 10 * time.Second

// raftLogRepeats remembers when each (message, peer) was last written and
// how many times it was left out since. Shared by a logger and the loggers
// derived from it.
type raftLogRepeats struct {
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]*raftLogRepeat
}

type raftLogRepeat struct {
	written time.Time
	skipped int
}

// admit reports whether the message with key may be written now, and how
// many repeats were left out before it.
func (r *raftLogRepeats) admit(key string) (bool, int) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[key]
	if e == nil {
		r.entries[key] = &raftLogRepeat{written: now}
		return true, 0
	}
	if now.Sub(e.written) < raftLogRepeatInterval {
		e.skipped++
		return false, 0
	}
	skipped := e.skipped
	e.written, e.skipped = now, 0
	return true, skipped
}

// isRoutineRaftWarning reports whether a raft WARN message is expected in
// normal operation; it is logged at INFO instead.
func isRoutineRaftWarning(msg string) bool {
	switch msg {
	case "heartbeat timeout reached, starting election",
		"rejecting pre-vote request since we have a leader":
		// Every voter's first election at start, and any election after a
		// leader loss (RaftQuorum logs the outcome).
		return true
	case "no known peers, aborting election",
		"not part of stable configuration, aborting election",
		"heartbeat timeout reached, not part of a stable configuration or a non-voter, not triggering a leader election":
		// A broker-only node (non-voter) before the leader adds it, and
		// after it loses the leader.
		return true
	case "failed to get previous log", "appendEntries rejected, sending older logs":
		// A follower or a new observer behind the leader's log: the leader
		// walks back and catches it up.
		return true
	}
	return false
}

func newRaftLogger(logger *slog.Logger, quiet *atomic.Bool, now func() time.Time) *raftLogger {
	return &raftLogger{logger: logger, quiet: quiet,
		repeats: &raftLogRepeats{now: now, entries: map[string]*raftLogRepeat{}}}
}

// slogLevel maps a raft log level and message to the level samsa logs at.
func (l *raftLogger) slogLevel(level hclog.Level, msg string) slog.Level {
	if l.quiet.Load() {
		return slog.LevelDebug
	}
	switch level {
	case hclog.Trace, hclog.Debug, hclog.Info, hclog.NoLevel:
		return slog.LevelDebug
	case hclog.Warn:
		if isRoutineRaftWarning(msg) {
			return slog.LevelInfo
		}
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (l *raftLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	sl := l.slogLevel(level, msg)
	ctx := context.Background()
	if !l.logger.Enabled(ctx, sl) {
		return
	}
	attrs := append(l.implied[:len(l.implied):len(l.implied)], args...)
	if sl >= slog.LevelWarn {
		ok, skipped := l.repeats.admit(msg + "\x00" + raftLogPeer(attrs))
		if !ok {
			return
		}
		if skipped > 0 {
			attrs = append(attrs, slog.Int("repeats_not_logged", skipped))
		}
	}
	if l.name != "" {
		attrs = append(attrs, slog.String("raft.logger", l.name))
	}
	l.logger.Log(ctx, sl, msg, attrs...)
}

// raftLogPeer returns the value of the argument naming the other node in a
// raft log line (raft calls it peer, target, server-id or from).
func raftLogPeer(args []any) string {
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "peer", "target", "server-id", "from":
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
}

func (l *raftLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *raftLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *raftLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *raftLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *raftLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *raftLogger) enabled(level hclog.Level) bool {
	return l.logger.Enabled(context.Background(), l.slogLevel(level, ""))
}

func (l *raftLogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *raftLogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *raftLogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *raftLogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *raftLogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *raftLogger) ImpliedArgs() []any { return l.implied }

func (l *raftLogger) With(args ...any) hclog.Logger {
	cp := *l
	cp.implied = append(l.implied[:len(l.implied):len(l.implied)], args...)
	return &cp
}

func (l *raftLogger) Name() string { return l.name }

func (l *raftLogger) Named(name string) hclog.Logger {
	cp := *l
	if cp.name != "" {
		name = cp.name + "." + name
	}
	cp.name = name
	return &cp
}

func (l *raftLogger) ResetNamed(name string) hclog.Logger {
	cp := *l
	cp.name = name
	return &cp
}

// SetLevel is ignored: the slog handler decides what is written.
func (l *raftLogger) SetLevel(hclog.Level) {}

// GetLevel reports the most detailed raft level that would be written.
func (l *raftLogger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Warn, hclog.Error} {
		if l.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

func (l *raftLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return slog.NewLogLogger(l.logger.Handler(), l.slogLevel(level, ""))
}

func (l *raftLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return l.StandardLogger(opts).Writer()
}
