package handlers

import (
	"context"
	"log/slog"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// testController is node 1's local controller over a broker config, for
// the handler tests that need real metadata.
type testController struct {
	ctrl   *controller.Controller
	broker *config.Broker
	logger *slog.Logger
	// epochs holds each joined broker's epoch.
	epochs map[int32]int64
}

// openTestController parses props (log.dirs set to a fresh directory),
// opens node 1's local controller over them (closed when t ends) and
// registers brokers, each unfenced by a heartbeat at the current metadata
// offset and listening on PLAINTEXT at localhost:9000+id.
func openTestController(t *testing.T, props map[string]string, brokers ...int32) testController {
	t.Helper()
	ctx := context.Background()
	props = maps.Clone(props)
	if props == nil {
		props = map[string]string{}
	}
	props["log.dirs"] = t.TempDir()
	b, _, err := config.Parse(props)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	ctrl, err := controller.Open(controller.Config{NodeID: 1, Dir: t.TempDir(), Broker: b, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close() })
	tc := testController{ctrl: ctrl, broker: b, logger: logger, epochs: map[int32]int64{}}
	for _, id := range brokers {
		epoch, err := ctrl.RegisterBroker(ctx, controller.BrokerRegistration{NodeID: id,
			Listeners: []controller.Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9000 + id}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctrl.BrokerHeartbeat(ctx, controller.BrokerHeartbeat{NodeID: id, BrokerEpoch: epoch, CurrentMetadataOffset: ctrl.Image().Offset}); err != nil {
			t.Fatal(err)
		}
		tc.epochs[id] = epoch
	}
	return tc
}

// createTopic creates topic name with the explicit assignment
// (partition to replicas).
func (tc testController) createTopic(t *testing.T, name string, assignment map[int32][]int32) {
	t.Helper()
	res := tc.ctrl.CreateTopics(context.Background(), []controller.CreateTopic{{Name: name, NumPartitions: -1, ReplicationFactor: -1,
		Assignments: assignment}}, false)
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
}

// waitMetadata is Deps.WaitMetadata over the controller's own image,
// polled every millisecond: the tests' brokers have no metadata listener.
func (tc testController) waitMetadata(ctx context.Context, pred func(*controller.Image) bool) bool {
	for !pred(tc.ctrl.Image()) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Millisecond):
		}
	}
	return true
}

// directForwarder forwards to the controller-role handlers in process, as
// the active controller would answer, and counts the requests; err, when
// set, fails every forward.
type directForwarder struct {
	to    *Handlers
	err   error
	calls atomic.Int32
}

func (f *directForwarder) Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return answer(ctx, f.to, req)
}

// answer runs req through h and waits for its reply.
func answer(ctx context.Context, h *Handlers, req kmsg.Request) (kmsg.Response, error) {
	reply, err := h.Handle(ctx, &protocol.Request{Header: protocol.Header{APIKey: req.Key(), APIVersion: req.GetVersion()}, Body: req})
	if err != nil {
		return nil, err
	}
	if reply.Wait != nil {
		return reply.Wait(), nil
	}
	return reply.Response, nil
}
