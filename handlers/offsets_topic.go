package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/group"
)

// offsetsTopicWait bounds how long a FindCoordinator waits for
// __consumer_offsets to be created and to show up in this node's image.
// Clients give such requests about 10 s (kgo's RequestTimeoutOverhead) and
// retry COORDINATOR_NOT_AVAILABLE anyway.
const offsetsTopicWait = 5 * time.Second

// offsetsTopicWarnEvery spaces out the warning about a topic that cannot be
// created: every consumer retries FindCoordinator several times a second.
const offsetsTopicWarnEvery = time.Minute

// offsetsTopicCreator lets concurrent FindCoordinator requests share one
// creation attempt, as Kafka's AutoTopicCreationManager keeps a set of
// topics in flight.
type offsetsTopicCreator struct {
	mu sync.Mutex
	// inflight is closed when the current attempt ends; nil when none runs.
	inflight chan struct{}
	warned   time.Time
}

// ensureOffsetsTopic creates __consumer_offsets unless it exists, or waits
// for an attempt already running, and returns once this node's image has
// the topic or the attempt failed or ctx ended.
func (h *Handlers) ensureOffsetsTopic(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, offsetsTopicWait)
	defer cancel()
	c := &h.offsetsTopic
	c.mu.Lock()
	if ch := c.inflight; ch != nil {
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	ch := make(chan struct{})
	c.inflight = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inflight = nil
		c.mu.Unlock()
		close(ch)
	}()
	if err := h.createOffsetsTopic(ctx); err != nil {
		c.mu.Lock()
		warn := h.d.Now().Sub(c.warned) >= offsetsTopicWarnEvery
		if warn {
			c.warned = h.d.Now()
		}
		c.mu.Unlock()
		if warn {
			h.d.Logger.Warn("cannot create the offsets topic; consumer groups are unavailable", slog.String("topic", group.OffsetsTopic), slog.Any("err", err))
		}
	}
}

// createOffsetsTopic asks the active controller for __consumer_offsets
// with the settings Kafka's GroupCoordinator gives it: offsets.topic.*
// partitions, replication factor and segment size, compacted, and
// compression as the producer (the coordinator) chose. Like Kafka, it never
// settles for a smaller replication factor than configured: with fewer
// live brokers the topic is not created and groups wait.
func (h *Handlers) createOffsetsTopic(ctx context.Context) error {
	img := h.d.Controller.Image()
	if _, ok := img.Topic(group.OffsetsTopic); ok {
		return nil
	}
	cfg := h.d.Config
	if live := len(img.LiveBrokers()); live < int(cfg.OffsetsTopicReplicationFactor) {
		return fmt.Errorf("%w: offsets.topic.replication.factor=%d but only %d brokers are alive", kerr.InvalidReplicationFactor, cfg.OffsetsTopicReplicationFactor, live)
	}
	created, err := h.createInternalTopic(ctx, offsetsTopicRequest(cfg.OffsetsTopicNumPartitions, cfg.OffsetsTopicReplicationFactor, cfg.OffsetsTopicSegmentBytes))
	if err != nil {
		return err
	}
	if created {
		h.d.Logger.Info("created the offsets topic", slog.String("topic", group.OffsetsTopic),
			slog.Int("partitions", int(cfg.OffsetsTopicNumPartitions)), slog.Int("replication_factor", int(cfg.OffsetsTopicReplicationFactor)))
	}
	if !h.d.WaitMetadata(ctx, func(img *controller.Image) bool {
		_, ok := img.Topic(group.OffsetsTopic)
		return ok
	}) {
		return fmt.Errorf("create %s: not in this node's metadata yet: %w", group.OffsetsTopic, ctx.Err())
	}
	return nil
}

// createInternalTopic creates the one topic of req through the active
// controller (in this process when this handler set has nobody to forward
// to, as autoCreateTopics does). created is false when the topic existed.
func (h *Handlers) createInternalTopic(ctx context.Context, req *kmsg.CreateTopicsRequest) (created bool, err error) {
	name := req.Topics[0].Topic
	if !h.forwarding() {
		ct, err := createTopicRequest(req.Topics[0])
		if err != nil {
			return false, fmt.Errorf("create %s: %w", name, err)
		}
		res := h.d.Controller.CreateTopics(ctx, []controller.CreateTopic{ct}, false)[0]
		if res.Err != nil && !isErr(res.Err, kerr.TopicAlreadyExists) {
			return false, fmt.Errorf("create %s: %w", name, res.Err)
		}
		return res.Err == nil, nil
	}
	resp, err := h.d.Forward.Forward(ctx, req)
	if err != nil {
		return false, fmt.Errorf("create %s: %w", name, err)
	}
	topics := resp.(*kmsg.CreateTopicsResponse).Topics
	if len(topics) != 1 {
		return false, fmt.Errorf("create %s: the controller answered %d topics for one", name, len(topics))
	}
	if code := topics[0].ErrorCode; code != 0 && code != kerr.TopicAlreadyExists.Code {
		msg := ""
		if m := topics[0].ErrorMessage; m != nil {
			msg = *m
		}
		return false, fmt.Errorf("create %s: %w: %s", name, kerr.ErrorForCode(code), msg)
	}
	return topics[0].ErrorCode == 0, nil
}

// offsetsTopicRequest is the CreateTopics request for __consumer_offsets
// (Kafka's GroupCoordinatorService.groupMetadataTopicConfigs).
func offsetsTopicRequest(partitions int32, rf int16, segmentBytes int32) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = createTopicsAPI.max
	req.TimeoutMillis = int32(offsetsTopicWait / time.Millisecond)
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = group.OffsetsTopic, partitions, rf
	for _, kv := range [][2]string{
		{"cleanup.policy", "compact"},
		{"compression.type", "producer"},
		{"segment.bytes", strconv.Itoa(int(segmentBytes))},
	} {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		v := kv[1]
		c.Name, c.Value = kv[0], &v
		t.Configs = append(t.Configs, c)
	}
	req.Topics = append(req.Topics, t)
	return req
}
