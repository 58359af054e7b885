package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsServer serves the node's own Prometheus registry (never the
// global default one, so several nodes can share a process) over HTTP on
// samsa.metrics.listener.
type metricsServer struct {
	registry *prometheus.Registry
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
}

func newMetricsServer(addr string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metricsServer{registry: reg}
	if addr == "" {
		return m, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s (samsa.metrics.listener): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// Go's profiler beside the metrics: the listener is loopback unless
	// the operator says otherwise, and a profile is how a slow broker is
	// diagnosed in place.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.ln = ln
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return m, nil
}

// start serves until close.
func (m *metricsServer) start(logger *slog.Logger) {
	if m.srv == nil {
		return
	}
	m.done = make(chan struct{})
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", slog.Any("err", err))
		}
	}()
}

// addr is where metrics are served, "" if nowhere.
func (m *metricsServer) addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

func (m *metricsServer) close() {
	if m.srv == nil {
		return
	}
	m.srv.Close()
	if m.done != nil {
		<-m.done
	} else {
		m.ln.Close()
	}
}
