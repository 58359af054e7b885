package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// prober asks a starting broker, over raw connections, whether it serves yet:
// it retries connecting and requesting every `every` until an answer is
// complete, so what it measures is when the broker became ready, not a client
// library's backoff. Not safe for concurrent use; Close releases its
// connections.
type prober struct {
	seed  string
	every time.Duration
	conns map[string]*kafkaConn // by address
}

func newProber(seed string, every time.Duration) *prober {
	return &prober{seed: seed, every: every, conns: make(map[string]*kafkaConn)}
}

func (p *prober) Close() {
	for addr, c := range p.conns {
		c.Close()
		delete(p.conns, addr)
	}
}

// topicView is what a Metadata answer said about one topic, and how many
// brokers it listed.
type topicView struct {
	name    string
	id      [16]byte
	leaders map[int32]string // partition -> leader address
	brokers int
}

// waitForMetadata returns once a Metadata request to the seed is answered
// with at least one broker and, when topic is not empty, with topic present
// and every one of its partitions led. A broker that answers Metadata before
// it has loaded its topics has not finished starting.
func (p *prober) waitForMetadata(ctx context.Context, topic string) (topicView, error) {
	var view topicView
	err := p.retry(ctx, func() error {
		var err error
		view, err = p.metadata(ctx, topic)
		return err
	})
	return view, err
}

// waitForBrokers returns once a Metadata request to the seed is answered
// with at least n brokers. A node of a cluster lists only the brokers it has
// learnt of from the metadata quorum as registered and unfenced (KIP-631),
// so a node listing all n has caught up with every registration.
func (p *prober) waitForBrokers(ctx context.Context, n int) error {
	return p.retry(ctx, func() error {
		view, err := p.metadata(ctx, "")
		if err != nil {
			return err
		}
		if view.brokers < n {
			return fmt.Errorf("metadata lists %d brokers, want %d", view.brokers, n)
		}
		return nil
	})
}

// waitForFetch returns once a Fetch of offset from topic's partition is
// answered with a record batch holding that offset: the partition serves
// the data, which for a recovering log means recovery is complete.
func (p *prober) waitForFetch(ctx context.Context, topic string, partition int32, offset int64) error {
	var view topicView
	return p.retry(ctx, func() error {
		if view.leaders == nil {
			v, err := p.metadata(ctx, topic)
			if err != nil {
				return err
			}
			view = v
		}
		err := p.fetch(ctx, view, partition, offset)
		var kafkaErr *kerr.Error
		if errors.As(err, &kafkaErr) && kafkaErr.Retriable {
			view = topicView{} // leadership may have moved: ask again
		}
		return err
	})
}

// retry calls attempt until it succeeds or ctx ends, pausing p.every after
// each failure. The last failure that ctx did not cause explains a timeout:
// the attempt cut short by the deadline says only that time ran out.
func (p *prober) retry(ctx context.Context, attempt func() error) error {
	var lastErr error
	for {
		err := attempt()
		if err == nil {
			return nil
		}
		if lastErr == nil || !ending(ctx) {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("last attempt: %v; stopped: %w", lastErr, context.Cause(ctx))
		case <-time.After(p.every):
		}
	}
}

// ending reports whether ctx is done or its deadline has passed. The net
// package enforces a dial's deadline with its own timer, which can fire a
// moment before ctx reports itself done.
func ending(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// conn returns a connection to addr, dialing it if there is none. A failed
// request must call drop so the next attempt starts on a fresh connection.
func (p *prober) conn(ctx context.Context, addr string) (*kafkaConn, error) {
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := dialKafka(ctx, addr)
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

func (p *prober) drop(addr string) {
	if c, ok := p.conns[addr]; ok {
		c.Close()
		delete(p.conns, addr)
	}
}

// request sends req to addr at a version no higher than versionCap,
// dropping the connection on any I/O error.
func (p *prober) request(ctx context.Context, addr string, req kmsg.Request, versionCap int16) (kmsg.Response, error) {
	c, err := p.conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	resp, err := c.request(ctx, req, versionCap)
	if err != nil {
		p.drop(addr)
		return nil, err
	}
	return resp, nil
}

func (p *prober) metadata(ctx context.Context, topic string) (topicView, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topic != "" {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, t)
	}
	resp, err := p.request(ctx, p.seed, req, req.MaxVersion())
	if err != nil {
		return topicView{}, err
	}
	return readMetadata(resp.(*kmsg.MetadataResponse), topic)
}

// readMetadata checks a Metadata answer for completeness (see
// waitForMetadata) and returns what it says about topic.
func readMetadata(resp *kmsg.MetadataResponse, topic string) (topicView, error) {
	if len(resp.Brokers) == 0 {
		return topicView{}, errors.New("metadata lists no brokers")
	}
	view := topicView{name: topic, brokers: len(resp.Brokers)}
	if topic == "" {
		return view, nil
	}
	addrs := make(map[int32]string, len(resp.Brokers))
	for _, b := range resp.Brokers {
		addrs[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return topicView{}, fmt.Errorf("metadata for topic %s: %w", topic, err)
		}
		if len(t.Partitions) == 0 {
			return topicView{}, fmt.Errorf("metadata for topic %s lists no partitions", topic)
		}
		view.id = t.TopicID
		view.leaders = make(map[int32]string, len(t.Partitions))
		for _, part := range t.Partitions {
			if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
				return topicView{}, fmt.Errorf("metadata for %s-%d: %w", topic, part.Partition, err)
			}
			addr, ok := addrs[part.Leader]
			if !ok {
				return topicView{}, fmt.Errorf("metadata for %s-%d: leader %d is not a listed broker", topic, part.Partition, part.Leader)
			}
			view.leaders[part.Partition] = addr
		}
		return view, nil
	}
	return topicView{}, fmt.Errorf("metadata does not list topic %s", topic)
}

func (p *prober) fetch(ctx context.Context, view topicView, partition int32, offset int64) error {
	leader, ok := view.leaders[partition]
	if !ok {
		return fmt.Errorf("topic %s has no partition %d", view.name, partition)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 0 // answer at once; the prober does the waiting
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	t := kmsg.NewFetchRequestTopic()
	t.Topic, t.TopicID = view.name, view.id
	part := kmsg.NewFetchRequestTopicPartition()
	part.Partition = partition
	part.FetchOffset = offset
	part.PartitionMaxBytes = 1 << 20
	t.Partitions = append(t.Partitions, part)
	req.Topics = append(req.Topics, t)

	// Fetch v13 (KIP-516) names topics only by ID; without one from
	// Metadata, stay on the last version that carries names.
	versionCap := req.MaxVersion()
	if view.id == ([16]byte{}) {
		versionCap = 12
	}
	resp, err := p.request(ctx, leader, req, versionCap)
	if err != nil {
		return err
	}
	return readFetch(resp.(*kmsg.FetchResponse), partition, offset)
}

// readFetch returns nil when resp holds a record batch that contains offset.
func readFetch(resp *kmsg.FetchResponse, partition int32, offset int64) error {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	for _, t := range resp.Topics {
		for _, part := range t.Partitions {
			if part.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
				return fmt.Errorf("fetch partition %d offset %d: %w", partition, offset, err)
			}
			if batchesContain(part.RecordBatches, offset) {
				return nil
			}
			return fmt.Errorf("fetch partition %d offset %d: no batch holds it (high watermark %d, %d bytes returned)",
				partition, offset, part.HighWatermark, len(part.RecordBatches))
		}
	}
	return fmt.Errorf("fetch response has no partition %d", partition)
}

// batchesContain reports whether the record batches in b (Kafka's v2 format,
// back to back; the last one may be cut short by the size limit) include
// offset. It reads only the batch headers: base offset at byte 0, batch
// length at 8, last offset delta at 23.
func batchesContain(b []byte, offset int64) bool {
	const headerBytes = 27
	for len(b) >= headerBytes {
		base := int64(binary.BigEndian.Uint64(b[0:]))
		length := int64(int32(binary.BigEndian.Uint32(b[8:])))
		last := base + int64(int32(binary.BigEndian.Uint32(b[23:])))
		total := 12 + length
		if length <= 0 || int64(len(b)) < total {
			return false // partial trailing batch: not served whole
		}
		if base <= offset && offset <= last {
			return true
		}
		b = b[total:]
	}
	return false
}
