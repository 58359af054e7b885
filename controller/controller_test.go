package controller

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/config"
)

// testBroker parses a static config with num.partitions=3 (and Kafka's
// default.replication.factor=1) plus props.
func testBroker(t *testing.T, props map[string]string) *config.Broker {
	t.Helper()
	all := map[string]string{"num.partitions": "3", "log.dirs": t.TempDir()}
	for k, v := range props {
		all[k] = v
	}
	b, _, err := config.Parse(all)
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	return b
}

func testConfig(t *testing.T, props map[string]string) Config {
	return Config{
		NodeID: 1, Broker: testBroker(t, props), Logger: discardLogger(),
		Rand: rand.NewChaCha8([32]byte{1}), SnapshotEvery: 5,
	}
}

// testController opens a controller on a LocalQuorum in dir, node ID 1.
func testController(t *testing.T, dir string, props map[string]string) *Controller {
	t.Helper()
	cfg := testConfig(t, props)
	cfg.Dir = dir
	c, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// memoryController opens a controller on a memoryQuorum: the operations'
// logic without a disk, so its tests do not wait for fsyncs.
func memoryController(t *testing.T, props map[string]string) (*Controller, *memoryQuorum) {
	t.Helper()
	cfg := testConfig(t, props)
	var q *memoryQuorum
	cfg.NewQuorum = func(sm StateMachine) (Quorum, error) {
		q = &memoryQuorum{sm: sm}
		return q, nil
	}
	c, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, q
}

// clusterOf opens an in-memory controller and registers brokers 1..n.
func clusterOf(t *testing.T, n int) *Controller {
	t.Helper()
	c, _ := memoryController(t, nil)
	for id := range n {
		register(t, c, int32(id+1))
	}
	return c
}

func register(t *testing.T, c *Controller, id int32) int64 {
	t.Helper()
	epoch, err := c.RegisterBroker(context.Background(), BrokerRegistration{
		NodeID: id, Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9000 + id}},
	})
	if err != nil {
		t.Fatalf("RegisterBroker %d: %v", id, err)
	}
	// A broker registers fenced (KRaft) and is unfenced by a heartbeat
	// showing it applied its registration.
	hb := BrokerHeartbeat{NodeID: id, BrokerEpoch: epoch, CurrentMetadataOffset: c.Image().Offset}
	if _, err := c.BrokerHeartbeat(context.Background(), hb); err != nil {
		t.Fatalf("BrokerHeartbeat %d: %v", id, err)
	}
	return epoch
}

// wantKerr fails unless err carries the Kafka error want (nil: no error).
func wantKerr(t *testing.T, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) || ke != want {
		t.Fatalf("error %v, want %s", err, want.Message)
	}
}

func TestOpenCreatesClusterIDOnce(t *testing.T) {
	dir := t.TempDir()
	c := testController(t, dir, nil)
	id := c.Image().ClusterID
	if len(id) != 22 || strings.HasPrefix(id, "-") {
		t.Fatalf("cluster ID %q is not a 22-character base64url UUID", id)
	}
	c.Close()
	c = testController(t, dir, nil)
	wantEq(t, c.Image().ClusterID, id)
}

func TestRegisterBroker(t *testing.T) {
	c := testController(t, t.TempDir(), nil)
	ctx := context.Background()
	first := register(t, c, 1)
	second := register(t, c, 1)
	wantEq(t, second, first) // the same incarnation again changes nothing
	b, ok := c.Image().Broker(1)
	wantEq(t, ok, true)
	wantEq(t, b.Epoch, second)
	wantEq(t, b.Fenced, false)
	wantEq(t, b.Listeners, []Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9001}})

	_, err := c.RegisterBroker(ctx, BrokerRegistration{NodeID: 2, ClusterID: "someone-else"})
	wantKerr(t, err, kerr.InconsistentClusterID)
	_, err = c.RegisterBroker(ctx, BrokerRegistration{NodeID: 2, Listeners: []Endpoint{{Name: "A"}, {Name: "A"}}})
	wantKerr(t, err, kerr.InvalidRequest)
	_, err = c.RegisterBroker(ctx, BrokerRegistration{NodeID: -3})
	wantKerr(t, err, kerr.InvalidRequest)
	_, err = c.RegisterBroker(ctx, BrokerRegistration{NodeID: 2, ClusterID: c.Image().ClusterID})
	wantKerr(t, err, nil)
}

func TestProducerIDBlocksNeverOverlapAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	type block struct{ first, end int64 }
	var blocks []block
	for range 3 { // reopen twice; snapshots (every 5 entries) are taken on the way
		c := testController(t, dir, nil)
		epoch := register(t, c, 1)
		for range 3 {
			first, count, err := c.AllocateProducerIDs(ctx, 1, epoch)
			if err != nil {
				t.Fatalf("AllocateProducerIDs: %v", err)
			}
			wantEq(t, count, int32(ProducerIDBlockSize))
			blocks = append(blocks, block{first, first + int64(count)})
		}
		_, _, err := c.AllocateProducerIDs(ctx, 1, epoch-1)
		wantKerr(t, err, kerr.StaleBrokerEpoch)
		_, _, err = c.AllocateProducerIDs(ctx, 9, epoch)
		wantKerr(t, err, kerr.StaleBrokerEpoch)
		c.Close()
	}
	for i := 1; i < len(blocks); i++ {
		if blocks[i].first < blocks[i-1].end {
			t.Fatalf("block %d %v overlaps block %d %v", i, blocks[i], i-1, blocks[i-1])
		}
	}
	wantEq(t, blocks[0].first, int64(0))
}

func TestSubscribeSeesDeltasInOrder(t *testing.T) {
	c := clusterOf(t, 1)
	createTopic(t, c, CreateTopic{Name: "before", NumPartitions: 1, ReplicationFactor: 1})
	var deltas []*Delta
	c.Subscribe(func(d *Delta) {
		if c.Image() != d.New {
			t.Error("Image() does not reflect the delta being delivered")
		}
		deltas = append(deltas, d)
	})
	// The first delta is the whole image.
	wantEq(t, len(deltas), 1)
	wantEq(t, deltas[0].Old.Offset, int64(-1))
	wantEq(t, deltas[0].CreatedTopics(), []string{"before"})
	wantEq(t, len(deltas[0].ChangedBrokers()), 1)

	ctx := context.Background()
	createTopic(t, c, CreateTopic{Name: "after", NumPartitions: 2, ReplicationFactor: 1})
	c.AlterConfigs(ctx, []ConfigChange{{Resource: topicRes("after"), Ops: []ConfigOp{set("retention.ms", "1")}}}, true, false)
	c.DeleteTopics(ctx, []TopicRef{{Name: "before"}})
	c.CreateTopics(ctx, []CreateTopic{{Name: "after", NumPartitions: 1, ReplicationFactor: 1}}, false) // refused: no delta

	wantEq(t, len(deltas), 4)
	for i := 2; i < len(deltas); i++ {
		if deltas[i].Old != deltas[i-1].New || deltas[i].New.Offset <= deltas[i].Old.Offset {
			t.Fatalf("delta %d does not follow delta %d", i, i-1)
		}
	}
	wantEq(t, deltas[1].CreatedTopics(), []string{"after"})
	wantEq(t, len(deltas[1].ChangedPartitions()), 2)
	wantEq(t, deltas[2].ChangedConfigs(), []ConfigResource{topicRes("after")})
	wantEq(t, deltas[3].DeletedTopics()[0].Name, "before")
	wantEq(t, c.Image(), deltas[3].New)
}

func TestOperationsAfterCloseFail(t *testing.T) {
	c := clusterOf(t, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wantKerr(t, c.CreateTopics(context.Background(), []CreateTopic{{Name: "t", NumPartitions: 1, ReplicationFactor: 1}}, false)[0].Err, kerr.NotController)
	_, err := c.RegisterBroker(context.Background(), BrokerRegistration{NodeID: 1})
	wantKerr(t, err, kerr.NotController)
	if c.Image() == nil {
		t.Fatal("Image() is nil after Close")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// memoryQuorum is a Quorum that keeps nothing: it shows the seam a
// replicated quorum plugs into, and can fail on demand.
type memoryQuorum struct {
	sm   StateMachine
	fail error
}

func (q *memoryQuorum) Propose(ctx context.Context, recs []Record) error {
	if q.fail != nil {
		return q.fail
	}
	return q.sm.ApplyEntry(recs)
}

func (q *memoryQuorum) Close() error { return nil }

func TestQuorumSeam(t *testing.T) {
	c, q := memoryController(t, nil)
	if c.Image().ClusterID == "" {
		t.Fatal("no cluster ID committed through the quorum")
	}
	register(t, c, 1)
	q.fail = errors.New("disk on fire")
	res := c.CreateTopics(context.Background(), []CreateTopic{
		{Name: "a", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "b", NumPartitions: 1, ReplicationFactor: 1},
	}, false)
	wantKerr(t, res[0].Err, kerr.UnknownServerError)
	wantKerr(t, res[1].Err, kerr.UnknownServerError)
	q.fail = kerr.NotController
	_, err := c.RegisterBroker(context.Background(), BrokerRegistration{NodeID: 2})
	wantKerr(t, err, kerr.NotController)
	q.fail = context.DeadlineExceeded
	_, _, err = c.AllocateProducerIDs(context.Background(), 1, c.Image().Brokers[1].Epoch)
	wantKerr(t, err, kerr.RequestTimedOut)
	wantEq(t, len(c.Image().Topics), 0)
}
