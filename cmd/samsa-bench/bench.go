package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// bench runs the selected workloads in order and collects their results.
// It owns the work directory (binary, data dirs, samsa logs) and removes it
// in Close unless --keep is set.
type bench struct {
	opts    *options
	logger  *slog.Logger
	workDir string
	runID   string // makes topic names unique on a broker that outlives the run

	samsaBin      string
	samsaBuildErr error
	seeded        *seededNode
	// seedErr is why no seeded node can be had: a samsa that failed to
	// take the throughput workload's data fails again at once instead of
	// costing every later workload another phase timeout.
	seedErr error
	// clusterErr is why a 3-node cluster did not start; later cluster
	// workloads report it at once for the same reason.
	clusterErr error
}

// seededNode is a stopped samsa node whose data dir holds a throughput
// topic: the existing data the start-up and idle-memory workloads load.
type seededNode struct {
	node  *brokerNode
	dir   string
	topic string
}

func newBench(opts *options, logger *slog.Logger) (*bench, error) {
	workDir, err := os.MkdirTemp(opts.WorkDir, "samsa-bench-*")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	return &bench{
		opts:    opts,
		logger:  logger,
		workDir: workDir,
		runID:   time.Now().UTC().Format("20060102-150405"),
	}, nil
}

// Close removes the work directory unless --keep asked to keep it.
func (b *bench) Close() error {
	if b.opts.Keep {
		b.logger.Info("keeping work directory", slog.String("dir", b.workDir))
		return nil
	}
	if err := os.RemoveAll(b.workDir); err != nil {
		return fmt.Errorf("remove work directory: %w", err)
	}
	return nil
}

func (b *bench) processConfig() processConfig {
	return processConfig{probeEvery: b.opts.ProbeEvery, phaseTimeout: b.opts.PhaseTimeout}
}

func (b *bench) throughputConfig(topic string, records int, partitions int32) throughputConfig {
	return throughputConfig{
		topic:        topic,
		records:      records,
		recordBytes:  b.opts.RecordBytes,
		partitions:   partitions,
		producers:    b.opts.Producers,
		maxInflight:  b.opts.MaxInflight,
		phaseTimeout: b.opts.PhaseTimeout,
	}
}

// run executes every selected workload. Failures are recorded in the
// report, never fatal: the other workloads still run.
func (b *bench) run(ctx context.Context) *report {
	r := &report{StartedAt: time.Now(), Host: currentHost(), Settings: b.opts}
	samsaProcesses := b.opts.wantBroker(brokerSamsa) && b.opts.SamsaAddr == ""
	if samsaProcesses {
		b.prepareSamsa(ctx)
	}
	rf3 := samsaProcesses && b.opts.wantWorkload(workloadThroughputRF3)
	if b.opts.wantWorkload(workloadThroughput) || rf3 {
		r.Throughput = b.runThroughputs(ctx, rf3)
	}
	if samsaProcesses {
		b.runProcessWorkloads(ctx, r)
	} else if skipped := slices.DeleteFunc(processWorkloads(), func(w string) bool { return !b.opts.wantWorkload(w) }); len(skipped) > 0 {
		b.logger.Info("skipping workloads that start samsa's process: samsa is not among --brokers or --samsa-addr is set",
			slog.String("workloads", strings.Join(skipped, ",")))
	}
	r.Host.LoadEnd = loadAverage()
	r.checkTargets()
	return r
}

func (b *bench) runProcessWorkloads(ctx context.Context, r *report) {
	if b.opts.wantWorkload(workloadLatencyRF3) {
		b.logger.Info("measuring produce latency on a 3-node cluster",
			slog.Int64("bytes_per_s", b.opts.LatencyRate), slog.Duration("warmup", b.opts.LatencyWarmup),
			slog.Duration("duration", b.opts.LatencyDuration))
		runtime.GC()
		res, err := b.latencyRF3(ctx)
		if err != nil {
			res = latencyResult{Error: err.Error()}
			b.logger.Error("latency-rf3 workload failed", slog.Any("err", err))
		}
		r.LatencyRF3 = &res
	}
	if b.opts.wantWorkload(workloadStartup) {
		b.logger.Info("measuring start-up", slog.Int("starts", b.opts.Startups))
		res, err := b.startup(ctx)
		if err != nil {
			res = startupResult{Error: err.Error()}
			b.logger.Error("start-up workload failed", slog.Any("err", err))
		}
		r.Startup = &res
	}
	if b.opts.wantWorkload(workloadIdleMemory) {
		b.logger.Info("measuring idle memory", slog.Duration("idle", b.opts.IdleWait))
		res, err := b.idleMemory(ctx)
		if err != nil {
			res = idleMemoryResult{Error: err.Error()}
			b.logger.Error("idle-memory workload failed", slog.Any("err", err))
		}
		r.IdleMemory = &res
	}
	if b.opts.wantWorkload(workloadRecovery) {
		b.logger.Info("measuring recovery", slog.Int64("bytes", b.opts.RecoveryBytes))
		res, err := b.recovery(ctx)
		if err != nil {
			res = recoveryResult{Error: err.Error()}
			b.logger.Error("recovery workload failed", slog.Any("err", err))
		}
		r.Recovery = &res
	}
}

// prepareSamsa builds samsa unless --samsa-bin names a binary. A failed
// build is kept and reported by every samsa workload; kfake still runs.
func (b *bench) prepareSamsa(ctx context.Context) {
	if b.opts.SamsaBin != "" {
		b.samsaBin = b.opts.SamsaBin
		return
	}
	b.logger.Info("building samsa", slog.String("pkg", b.opts.SamsaPkg))
	b.samsaBin, b.samsaBuildErr = buildSamsa(ctx, b.opts.SamsaPkg, b.workDir)
	if b.samsaBuildErr != nil {
		b.logger.Error("samsa unavailable", slog.Any("err", b.samsaBuildErr))
	}
}

// throughputSeries is one line of the throughput table: what to deploy
// for each run and the runs it has had.
type throughputSeries struct {
	key    string // kfake, samsa or samsa-rf3; names node directories and topics
	result *brokerThroughput
}

// seriesSamsaRF3 is the throughput series run on a 3-node samsa cluster.
const seriesSamsaRF3 = "samsa-rf3"

// runThroughputs alternates the series run by run (kfake, samsa, then the
// samsa cluster when rf3 is set), so drift in the machine's speed (thermal,
// noisy neighbours) hits them alike; the RF=3/RF=1 ratio compares runs
// taken side by side. A series whose run fails is not run again.
func (b *bench) runThroughputs(ctx context.Context, rf3 bool) *throughputReport {
	rep := &throughputReport{}
	var series []throughputSeries
	if b.opts.wantWorkload(workloadThroughput) {
		for _, name := range b.opts.Brokers {
			bt := &brokerThroughput{Broker: name}
			rep.Brokers = append(rep.Brokers, bt)
			series = append(series, throughputSeries{key: name, result: bt})
		}
	}
	if rf3 {
		rep.SamsaRF3 = &brokerThroughput{Broker: brokerSamsa}
		series = append(series, throughputSeries{key: seriesSamsaRF3, result: rep.SamsaRF3})
	}
	for run := 1; run <= b.opts.Runs; run++ {
		for _, s := range series {
			bt := s.result
			if bt.Error != "" {
				continue
			}
			b.logger.Info("throughput run", slog.String("broker", s.key), slog.Int("run", run), slog.Int("records", b.opts.Records))
			// kfake keeps its records on this process's heap; collecting
			// between runs starts every run, of either broker, from the
			// same clean client heap.
			runtime.GC()
			sample, err := b.throughputRun(ctx, s.key, run)
			if err != nil {
				bt.Error = err.Error()
				b.logger.Error("throughput run failed", slog.String("broker", s.key), slog.Any("err", err))
				continue
			}
			b.logger.Info("throughput run done", slog.String("broker", s.key),
				slog.Float64("produce_mb_per_s", sample.ProduceMBps), slog.Float64("consume_mb_per_s", sample.ConsumeMBps))
			bt.Samples = append(bt.Samples, sample)
		}
	}
	if samsa := rep.broker(brokerSamsa); samsa != nil && samsa.Error != "" && b.seeded == nil {
		b.seedErr = fmt.Errorf("no data dir to start samsa over: its throughput run failed: %s", samsa.Error)
	}
	rep.summarize()
	return rep
}

// throughputRun deploys a series' brokers, runs one throughput measurement
// and stops them again.
func (b *bench) throughputRun(ctx context.Context, key string, run int) (sample throughputSample, err error) {
	topic := fmt.Sprintf("samsa-bench-%s-throughput-%d", b.runID, run)
	nodeDir := filepath.Join(b.workDir, fmt.Sprintf("%s-throughput-%d", key, run))
	dep, err := b.deploy(ctx, key, nodeDir)
	if err != nil {
		b.removeDir(nodeDir)
		return throughputSample{}, err
	}
	guarded, stopGuard := guard(ctx, dep)
	sample, err = runThroughput(guarded, dep.target(), b.throughputConfig(topic, b.opts.Records, b.opts.Partitions))
	stopGuard()
	if closeErr := dep.Close(); closeErr != nil {
		err = errors.Join(err, fmt.Errorf("stop %s: %w", key, closeErr))
	}
	switch d := dep.(type) {
	case *processDeployment:
		if key == brokerSamsa {
			b.keepSeeded(err == nil, &seededNode{node: d.node, dir: nodeDir, topic: topic})
		} else {
			b.removeDir(nodeDir)
		}
	case *clusterDeployment:
		b.removeDir(nodeDir)
	}
	return sample, err
}

// deploy starts a series' brokers for one throughput run, with any node
// state in dir.
func (b *bench) deploy(ctx context.Context, key, dir string) (deployment, error) {
	switch {
	case key == seriesSamsaRF3:
		return b.startSamsaCluster(ctx, dir)
	case key == brokerKfake && b.opts.KfakeProcess:
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find samsa-bench's executable to serve kfake: %w", err)
		}
		return startProcessBroker(ctx, brokerKfake, []string{self, serveKfakeCommand}, dir, nil,
			b.opts.ProbeEvery, b.opts.PhaseTimeout, b.logger)
	case key == brokerKfake:
		return startKfake(1)
	case b.opts.SamsaAddr != "":
		return externalDeployment{t: target{name: brokerSamsa, seeds: []string{b.opts.SamsaAddr}, replicationFactor: -1}}, nil
	default:
		return b.startSamsa(ctx, dir)
	}
}

func (b *bench) startSamsa(ctx context.Context, dir string) (*processDeployment, error) {
	if b.samsaBuildErr != nil {
		return nil, b.samsaBuildErr
	}
	return startProcessBroker(ctx, brokerSamsa, []string{b.samsaBin}, dir, b.opts.SamsaConfig,
		b.opts.ProbeEvery, b.opts.PhaseTimeout, b.logger)
}

// keepSeeded makes a successful run's node the seeded one and removes the
// data dir it replaces (or the failed run's own), so only one 200 MB data
// dir stays on disk unless --keep is set.
func (b *bench) keepSeeded(ok bool, n *seededNode) {
	drop := n
	if ok {
		drop, b.seeded = b.seeded, n
	}
	if drop != nil {
		b.removeDir(drop.dir)
	}
}

// removeDir deletes a node directory the run no longer needs, unless --keep
// is set; what cannot be removed goes with the work directory at the end.
func (b *bench) removeDir(dir string) {
	if b.opts.Keep {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		b.logger.Warn("could not remove node directory", slog.String("dir", dir), slog.Any("err", err))
	}
}

// seededNodeFor returns the node whose data dir the throughput workload
// filled; when that workload did not run for samsa, it fills one now.
func (b *bench) seededNodeFor(ctx context.Context) (*seededNode, error) {
	if b.seeded != nil || b.seedErr != nil {
		return b.seeded, b.seedErr
	}
	seeded, err := b.seed(ctx)
	b.seeded, b.seedErr = seeded, err
	return seeded, err
}

// seed fills a fresh node's data dir with one throughput run's records.
func (b *bench) seed(ctx context.Context) (*seededNode, error) {
	b.logger.Info("filling a data dir for the start-up workloads", slog.Int("records", b.opts.Records))
	dir := filepath.Join(b.workDir, "samsa-seed")
	dep, err := b.startSamsa(ctx, dir)
	if err != nil {
		return nil, err
	}
	topic := fmt.Sprintf("samsa-bench-%s-seed", b.runID)
	guarded, stopGuard := guard(ctx, dep)
	_, err = runThroughput(guarded, dep.target(), b.throughputConfig(topic, b.opts.Records, b.opts.Partitions))
	stopGuard()
	if closeErr := dep.Close(); closeErr != nil {
		err = errors.Join(err, fmt.Errorf("stop samsa: %w", closeErr))
	}
	if err != nil {
		return nil, fmt.Errorf("fill data dir for start-up: %w", err)
	}
	return &seededNode{node: dep.node, dir: dir, topic: topic}, nil
}

func (b *bench) startup(ctx context.Context) (startupResult, error) {
	seeded, err := b.seededNodeFor(ctx)
	if err != nil {
		return startupResult{}, err
	}
	return measureStartup(ctx, seeded.node, seeded.topic, b.opts.Startups, b.processConfig())
}

func (b *bench) idleMemory(ctx context.Context) (idleMemoryResult, error) {
	seeded, err := b.seededNodeFor(ctx)
	if err != nil {
		return idleMemoryResult{}, err
	}
	return measureIdleMemory(ctx, seeded.node, seeded.topic, b.opts.IdleWait, b.processConfig())
}

// recovery runs on its own fresh node, whose gigabyte data dir is removed
// afterwards unless --keep is set.
func (b *bench) recovery(ctx context.Context) (recoveryResult, error) {
	if b.samsaBuildErr != nil {
		return recoveryResult{}, b.samsaBuildErr
	}
	dir := filepath.Join(b.workDir, "samsa-recovery")
	defer b.removeDir(dir)
	node, err := newBrokerNode(brokerSamsa, []string{b.samsaBin}, dir, 1, b.opts.SamsaConfig, b.logger)
	if err != nil {
		return recoveryResult{}, err
	}
	fill := b.throughputConfig(fmt.Sprintf("samsa-bench-%s-recovery", b.runID), b.opts.recoveryRecords(), 1)
	return measureRecovery(ctx, node, fill, b.processConfig())
}
