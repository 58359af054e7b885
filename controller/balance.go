package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Automatic preferred leader balancing (auto.leader.rebalance.enable): every
// leader.imbalance.check.interval.seconds the active controller looks, per
// broker, at the partitions whose preferred replica (first assigned
// replica) it is, and if more than leader.imbalance.per.broker.percentage
// of them are led by another broker, runs preferred elections for those
// whose preferred replica is usable and in the ISR. That is the per-broker
// rule of Kafka's ZooKeeper-era KafkaController.checkAndTriggerAutoLeaderRebalance;
// KRaft's QuorumController.maybeBalancePartitionLeaders drops the
// percentage and balances every imbalanced partition, which is what a
// percentage of 0 does here.

// Defaults of the balancing settings (Kafka's).
const (
	defaultLeaderImbalanceCheckInterval = 300 * time.Second
	defaultLeaderImbalancePercentage    = 10
	// maxElectionsPerImbalance bounds one balancing entry (Kafka's
	// QuorumController maxElectionsPerImbalance); the next entry follows at
	// once.
	maxElectionsPerImbalance = 1000
)

// balanceSettings are the auto leader balancing settings in force.
type balanceSettings struct {
	enabled    bool
	interval   time.Duration
	percentage int
}

// balanceSettingsFrom reads the settings from the static broker config
// (all three keys are read-only in Kafka), with cfg's interval override.
// leader.imbalance.per.broker.percentage was removed from Kafka 4's
// configuration; when the config does not know the key, the old default,
// 10, applies.
func balanceSettingsFrom(cfg Config) balanceSettings {
	s := balanceSettings{enabled: true, interval: defaultLeaderImbalanceCheckInterval, percentage: defaultLeaderImbalancePercentage}
	if v, _, ok := cfg.Broker.Get("auto.leader.rebalance.enable"); ok {
		s.enabled = strings.EqualFold(strings.TrimSpace(v), "true")
	}
	if v, _, ok := cfg.Broker.Get("leader.imbalance.check.interval.seconds"); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 && n < int64(time.Duration(1<<62)/time.Second) {
			s.interval = time.Duration(n) * time.Second
		}
	}
	if v, _, ok := cfg.Broker.Get("leader.imbalance.per.broker.percentage"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			s.percentage = n
		}
	}
	if cfg.LeaderImbalanceCheckInterval > 0 {
		s.interval = cfg.LeaderImbalanceCheckInterval
	}
	return s
}

// brokerImbalance is one broker's share of preferred partitions it does not
// lead.
type brokerImbalance struct {
	Broker     int32
	Preferred  int // partitions whose preferred replica it is
	NotLed     int // of those, the ones another broker (or none) leads
	Candidates int // of those, the ones a preferred election would move now
}

// imbalancedPreferredElections returns the preferred elections the
// balancer runs on img: for each broker whose share of preferred
// partitions led by others exceeds percentage, the elections of those
// partitions whose preferred replica is usable and in the ISR. Partitions
// being reassigned are left alone (their preferred replica may not have
// caught up; Kafka's ZooKeeper controller skipped them too). At most limit
// records; the imbalance report lists every broker above the threshold.
func imbalancedPreferredElections(img *Image, usable usableBrokers, percentage, limit int) ([]Record, []brokerImbalance) {
	type candidate struct {
		topic     *TopicImage
		partition int32
	}
	stats := map[int32]*brokerImbalance{}
	candidates := map[int32][]candidate{}
	for _, name := range img.TopicNames() {
		t := img.Topics[name]
		for i, p := range t.Partitions {
			preferred := p.Replicas[0]
			s := stats[preferred]
			if s == nil {
				s = &brokerImbalance{Broker: preferred}
				stats[preferred] = s
			}
			s.Preferred++
			if p.Leader == preferred {
				continue
			}
			s.NotLed++
			if !p.IsReassigning() && usable[preferred] && p.InISR(preferred) {
				candidates[preferred] = append(candidates[preferred], candidate{t, int32(i)})
			}
		}
	}
	var report []brokerImbalance
	var recs []Record
	brokers := make([]int32, 0, len(stats))
	for id := range stats {
		brokers = append(brokers, id)
	}
	slices.Sort(brokers)
	for _, id := range brokers {
		s := stats[id]
		// Kafka: imbalanceRatio > leader.imbalance.per.broker.percentage / 100.
		if s.NotLed*100 <= percentage*s.Preferred {
			continue
		}
		s.Candidates = len(candidates[id])
		report = append(report, *s)
		for _, cand := range candidates[id] {
			if len(recs) >= limit {
				break
			}
			p := cand.topic.Partitions[cand.partition]
			d := decide(p, p.ISR, nil, acceptableLeader(usable, NoLeader), electPreferred)
			if d.Leader != p.Replicas[0] {
				continue
			}
			if rec, ok := d.changeRecord(cand.topic.ID, cand.partition, p); ok {
				recs = append(recs, rec)
			}
		}
	}
	return recs, report
}

// balancePartitionLeaders runs one balancing pass: entries of at most
// maxElectionsPerImbalance preferred elections until no broker is above
// the threshold with a partition that can move.
func (c *Controller) balancePartitionLeaders(ctx context.Context, percentage int) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	for {
		if err := c.checkActiveLocked(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("balance partition leaders: %w", err)
		}
		img := c.Image()
		usable, _ := c.lifecycle.view(img, c.cfg.Now())
		recs, report := imbalancedPreferredElections(img, usable, percentage, maxElectionsPerImbalance)
		if len(recs) == 0 {
			return nil
		}
		for _, r := range report {
			c.logger.Info("partition leaders imbalanced; electing preferred leaders",
				slog.Int("node.id", int(r.Broker)), slog.Int("preferred_partitions", r.Preferred),
				slog.Int("led_by_others", r.NotLed), slog.Int("movable", r.Candidates),
				slog.Int("leader.imbalance.per.broker.percentage", percentage))
		}
		if err := c.proposeLocked(ctx, recs); err != nil {
			return fmt.Errorf("balance partition leaders: %w", err)
		}
		logPartitionChanges(c.logger, "auto leader rebalance", img, c.Image(), recs)
	}
}

// leaderBalancer balances leaders while this node is the active
// controller (and auto.leader.rebalance.enable is on): Open registers
// activate and deactivate as the controller's activation hooks.
type leaderBalancer struct {
	c        *Controller
	settings balanceSettings
	task     *periodicTask
}

func newLeaderBalancer(c *Controller) *leaderBalancer {
	b := &leaderBalancer{c: c, settings: balanceSettingsFrom(c.cfg)}
	b.task = newPeriodicTask(c.logger, b.settings.interval, b.balanceOnce,
		"auto leader rebalance failed; retrying next interval")
	return b
}

func (b *leaderBalancer) activate() {
	if b.settings.enabled {
		b.task.start()
	}
}

func (b *leaderBalancer) deactivate() { b.task.stop() }

// close stops the balancer for good and waits for its goroutine. It must
// not be called with opMu held.
func (b *leaderBalancer) close() { b.task.close() }

// balanceOnce runs one balancing pass. A pass is bounded so a quorum that
// cannot commit does not hold opMu for long.
func (b *leaderBalancer) balanceOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(b.settings.interval, 30*time.Second))
	defer cancel()
	return b.c.balancePartitionLeaders(ctx, b.settings.percentage)
}
