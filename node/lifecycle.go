package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Broker lifecycle (KIP-631): register with the active controller, then
// heartbeat every broker.heartbeat.interval.ms. A registered broker starts
// fenced; its heartbeats report how far its metadata has applied and the
// controller unfences it once that covers its registration. On a stale
// epoch the broker registers again. The goroutine is started by Start and
// stopped by Close, which then runs the controlled shutdown.

// newLifecycleChannel opens the broker lifecycle's own channel to the
// active controller, as Kafka's BrokerLifecycleManager has its own
// NodeToControllerChannelManager. A controller channel carries one request
// at a time: sharing the node's channel, a heartbeat could queue behind an
// AlterPartition or a forwarded admin request stuck on a controller that
// stopped answering (paused, cut off, just replaced), and the new active
// controller would fence this live broker when its session lapsed (with
// every broker doing the same, partitions went offline with the paused
// node as their only ISR member).
func (n *Node) newLifecycleChannel() *controllerChannel {
	voters := make(map[int32]string, len(n.cfg.ControllerQuorumVoters))
	order := make([]int32, 0, len(n.cfg.ControllerQuorumVoters))
	for _, v := range n.cfg.ControllerQuorumVoters {
		voters[v.ID] = v.Address()
		order = append(order, v.ID)
	}
	return newControllerChannel(voters, order, n.ctrl.ActiveController, n.cfg.NodeID, n.logger)
}

// fencedHeartbeatInterval is how often a fenced broker heartbeats: it is
// waiting to be unfenced, which should take milliseconds, not a full
// heartbeat interval.
const fencedHeartbeatInterval = 10 * time.Millisecond

func (n *Node) runLifecycle(ctx context.Context) {
	ch := n.newLifecycleChannel()
	defer ch.Close()
	interval := time.Duration(n.cfg.BrokerHeartbeatIntervalMs) * time.Millisecond
	epoch := int64(-1)
	for ctx.Err() == nil {
		if errp := n.clusterMismatch.Load(); errp != nil {
			n.logger.Error("refusing to register: log dirs belong to another cluster", slog.Any("err", *errp))
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
			continue
		}
		if epoch < 0 {
			var ok bool
			if epoch, ok = n.register(ctx, ch); !ok {
				return
			}
			n.pids.brokerEpoch.Store(epoch)
		}
		resp, err := n.heartbeat(ctx, ch, epoch, false)
		wait := interval
		switch {
		case err != nil:
			// Retry soon, on whichever controller is active now: the
			// session must not lapse because one controller stopped
			// answering.
			n.logger.Warn("broker heartbeat failed", slog.Any("err", err))
			wait = fencedHeartbeatInterval * 10
		case resp.ErrorCode == kerr.StaleBrokerEpoch.Code || resp.ErrorCode == kerr.BrokerIDNotRegistered.Code:
			n.logger.Warn("broker registration lost, registering again", slog.Int64("broker_epoch", epoch), slog.String("error", kerr.ErrorForCode(resp.ErrorCode).Error()))
			epoch, wait = -1, 0
		case resp.ErrorCode != 0:
			n.logger.Warn("broker heartbeat refused", slog.String("error", kerr.ErrorForCode(resp.ErrorCode).Error()))
		case resp.IsFenced:
			wait = fencedHeartbeatInterval
		default:
			n.unfencedOnce.Do(func() { close(n.unfenced) })
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// register sends BrokerRegistration until the controller accepts it.
func (n *Node) register(ctx context.Context, ch *controllerChannel) (int64, bool) {
	backoff := 20 * time.Millisecond
	for {
		reg := n.registration()
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.Version = req.MaxVersion()
		req.BrokerID = n.cfg.NodeID
		req.ClusterID = n.ctrl.Image().ClusterID
		req.IncarnationID = n.incarnation
		if reg.Rack != "" {
			rack := reg.Rack
			req.Rack = &rack
		}
		for _, l := range reg.Listeners {
			rl := kmsg.NewBrokerRegistrationRequestListener()
			rl.Name, rl.Host, rl.Port = l.Name, l.Host, uint16(l.Port)
			req.Listeners = append(req.Listeners, rl)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		kr, err := ch.Request(rctx, req, notControllerCode)
		cancel()
		if err == nil {
			resp := kr.(*kmsg.BrokerRegistrationResponse)
			if resp.ErrorCode == 0 {
				n.logger.Info("registered with the controller", slog.Int64("broker_epoch", resp.BrokerEpoch))
				return resp.BrokerEpoch, true
			}
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		n.logger.Warn("broker registration failed, retrying", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return -1, false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (n *Node) heartbeat(ctx context.Context, ch *controllerChannel, epoch int64, wantShutdown bool) (*kmsg.BrokerHeartbeatResponse, error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.Version = req.MaxVersion()
	req.BrokerID = n.cfg.NodeID
	req.BrokerEpoch = epoch
	req.CurrentMetadataOffset = n.ctrl.Image().Offset
	req.WantShutdown = wantShutdown
	// One attempt may take at most a heartbeat interval: a controller that
	// accepts connections but never answers (paused, partitioned) must not
	// hold the heartbeat until the session expires; the channel then asks
	// the newly active controller.
	hctx, cancel := context.WithTimeout(ctx, time.Duration(n.cfg.BrokerHeartbeatIntervalMs)*time.Millisecond)
	defer cancel()
	kr, err := ch.Request(hctx, req, notControllerCode)
	if err != nil {
		return nil, err
	}
	return kr.(*kmsg.BrokerHeartbeatResponse), nil
}

// controlledShutdown asks the controller to move leadership off this
// broker and waits, bounded, until it says the broker may stop, so clients
// see at most retriable errors during a rolling restart.
func (n *Node) controlledShutdown(bound time.Duration) {
	epoch := n.pids.brokerEpoch.Load()
	if epoch < 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	ch := n.newLifecycleChannel()
	defer ch.Close()
	lastSeen := time.Now()
	for ctx.Err() == nil {
		// With no active controller (the quorum is gone) nobody can move
		// leadership: waiting out the whole bound helps no one.
		if _, ok := n.ctrl.ActiveController(); ok {
			lastSeen = time.Now()
		} else if time.Since(lastSeen) > noControllerShutdownWait {
			n.logger.Warn("no active controller for controlled shutdown; stopping without it")
			return
		}
		hctx, hcancel := context.WithTimeout(ctx, noControllerShutdownWait)
		resp, err := n.heartbeat(hctx, ch, epoch, true)
		hcancel()
		if err == nil && resp.ErrorCode == 0 && resp.ShouldShutdown {
			n.logger.Info("controlled shutdown complete")
			return
		}
		if err == nil && (resp.ErrorCode == kerr.BrokerIDNotRegistered.Code || resp.ErrorCode == kerr.StaleBrokerEpoch.Code) {
			// This incarnation is no longer registered: it leads nothing.
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	n.logger.Warn("controlled shutdown did not complete in time, stopping anyway", slog.Duration("bound", bound))
}

// noControllerShutdownWait is how long controlled shutdown waits for an
// active controller to appear.
const noControllerShutdownWait = time.Second

// notControllerCode reports answers that mean "ask another controller".
func notControllerCode(r kmsg.Response) bool {
	switch resp := r.(type) {
	case *kmsg.BrokerRegistrationResponse:
		return resp.ErrorCode == kerr.NotController.Code
	case *kmsg.BrokerHeartbeatResponse:
		return resp.ErrorCode == kerr.NotController.Code
	case *kmsg.AllocateProducerIDsResponse:
		return resp.ErrorCode == kerr.NotController.Code
	case *kmsg.AlterPartitionResponse:
		return resp.ErrorCode == kerr.NotController.Code
	case *kmsg.DescribeQuorumResponse:
		return resp.ErrorCode == kerr.NotController.Code || (len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 && resp.Topics[0].Partitions[0].ErrorCode == kerr.NotController.Code)
	case *kmsg.CreateTopicsResponse:
		return len(resp.Topics) > 0 && resp.Topics[0].ErrorCode == kerr.NotController.Code
	case *kmsg.DeleteTopicsResponse:
		return len(resp.Topics) > 0 && resp.Topics[0].ErrorCode == kerr.NotController.Code
	case *kmsg.CreatePartitionsResponse:
		return len(resp.Topics) > 0 && resp.Topics[0].ErrorCode == kerr.NotController.Code
	case *kmsg.AlterConfigsResponse:
		return len(resp.Resources) > 0 && resp.Resources[0].ErrorCode == kerr.NotController.Code
	case *kmsg.IncrementalAlterConfigsResponse:
		return len(resp.Resources) > 0 && resp.Resources[0].ErrorCode == kerr.NotController.Code
	case *kmsg.ElectLeadersResponse:
		// v0 has no top-level error: every partition carries it.
		return resp.ErrorCode == kerr.NotController.Code ||
			len(resp.Topics) > 0 && len(resp.Topics[0].Partitions) > 0 && resp.Topics[0].Partitions[0].ErrorCode == kerr.NotController.Code
	case *kmsg.AlterPartitionAssignmentsResponse:
		return resp.ErrorCode == kerr.NotController.Code
	case *kmsg.ListPartitionReassignmentsResponse:
		return resp.ErrorCode == kerr.NotController.Code
	}
	return false
}
