// Package handlers turns Kafka requests into calls on samsa's domain
// packages and their results back into responses: one file per API key
// (00_produce.go, 01_fetch.go, ...), each stating the versions it serves.
// Handlers are thin: decode, call replica/controller, encode. Domain errors
// become Kafka error codes here and only here (errors.go).
package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/group"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// ProducerIDSource hands out producer IDs that are never reused.
type ProducerIDSource interface {
	NextProducerID(ctx context.Context) (int64, error)
}

// Deps are the domain objects the handlers call.
type Deps struct {
	NodeID      int32
	Config      *config.Broker
	Replicas    *replica.Manager
	Logs        *plog.Manager // the node's logs by log dir, for DescribeLogDirs
	Controller  *controller.Controller
	ProducerIDs ProducerIDSource
	Codecs      *record.Codecs
	Logger      *slog.Logger
	Now         func() time.Time
	// Forward sends controller-bound requests (topic and config changes)
	// to the active controller; set on broker listeners, nil on the
	// controller listener, which executes them.
	Forward Forwarder
	// WaitMetadata blocks until this node's metadata image satisfies pred
	// or ctx ends.
	WaitMetadata func(ctx context.Context, pred func(*controller.Image) bool) bool
	// Groups is the node's group coordinator (broker listeners only).
	Groups *group.Coordinator
}

// api is one served API key: its advertised versions and its handler.
type api struct {
	key      int16
	min, max int16
	handle   func(h *Handlers, ctx context.Context, req *protocol.Request) (protocol.Reply, error)
}

// apis lists every API samsa serves (ApiVersions itself is answered by the
// protocol package from the table this produces). Versions follow Kafka
// 4.0's floors (KIP-896), capped at what kmsg and the handler support.
func apis() []api {
	return []api{
		produceAPI,
		fetchAPI,
		listOffsetsAPI,
		metadataAPI,
		createTopicsAPI,
		deleteTopicsAPI,
		deleteRecordsAPI,
		initProducerIDAPI,
		offsetForLeaderEpochAPI,
		describeConfigsAPI,
		alterConfigsAPI,
		describeLogDirsAPI,
		createPartitionsAPI,
		electLeadersAPI,
		alterPartitionReassignmentsAPI,
		listPartitionReassignmentsAPI,
		incrementalAlterConfigsAPI,
		describeClusterAPI,
		describeQuorumAPI,
		offsetCommitAPI,
		offsetFetchAPI,
		findCoordinatorAPI,
		joinGroupAPI,
		heartbeatAPI,
		leaveGroupAPI,
		syncGroupAPI,
		describeGroupsAPI,
		listGroupsAPI,
		deleteGroupsAPI,
		offsetDeleteAPI,
		consumerGroupHeartbeatAPI,
		consumerGroupDescribeAPI,
	}
}

// Handlers dispatches requests by API key. It implements protocol.Handler.
type Handlers struct {
	d     Deps
	table map[int16]api
	// controllerRole marks the handler set of the CONTROLLER listener.
	controllerRole bool
	// offsetsTopic shares one creation of __consumer_offsets between
	// concurrent FindCoordinator requests.
	offsetsTopic offsetsTopicCreator
}

// New returns the handlers of a node's broker listeners.
func New(d Deps) *Handlers { return newHandlers(d, apis(), false) }

// NewController returns the handlers of a node's CONTROLLER listener: the
// requests brokers send to the active controller.
func NewController(d Deps) *Handlers {
	d.Forward = nil
	return newHandlers(d, controllerAPIs(), true)
}

func newHandlers(d Deps, served []api, controllerRole bool) *Handlers {
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &Handlers{d: d, table: make(map[int16]api), controllerRole: controllerRole}
	for _, a := range served {
		h.table[a.key] = a
	}
	return h
}

// controllerAPIs are served on the CONTROLLER listener (Kafka's
// ControllerApis): broker lifecycle, ISR changes, producer ID blocks, the
// quorum's description, and the topic and config changes brokers forward.
func controllerAPIs() []api {
	return []api{
		createTopicsAPI,
		deleteTopicsAPI,
		alterConfigsAPI,
		createPartitionsAPI,
		electLeadersAPI,
		alterPartitionReassignmentsAPI,
		listPartitionReassignmentsAPI,
		incrementalAlterConfigsAPI,
		describeQuorumAPI,
		brokerRegistrationAPI,
		brokerHeartbeatAPI,
		unregisterBrokerAPI,
		alterPartitionAPI,
		allocateProducerIDsAPI,
		describeClusterAPI,
	}
}

// Versions is the ApiVersions table: every served key and its range,
// ApiVersions (18) included.
func (h *Handlers) Versions() map[int16]protocol.VersionRange {
	v := map[int16]protocol.VersionRange{18: {Min: 0, Max: 4}}
	for k, a := range h.table {
		v[k] = protocol.VersionRange{Min: a.min, Max: a.max}
	}
	return v
}

// Handle serves one request. The protocol package only passes keys and
// versions from the advertised table.
func (h *Handlers) Handle(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	a, ok := h.table[req.Header.APIKey]
	if !ok {
		return protocol.Reply{}, fmt.Errorf("no handler for API key %d", req.Header.APIKey)
	}
	return a.handle(h, ctx, req)
}

// respond wraps a ready response.
func respond(r kmsg.Response) (protocol.Reply, error) { return protocol.Reply{Response: r}, nil }
