package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file runs kgo consumers in KIP-848 mode (kgo.ServerSideBalancer)
// against samsa: the coordinator assigns partitions through
// ConsumerGroupHeartbeat, members revoke before others take over, and every
// record is processed exactly once; committed offsets resume after a
// restart. Heartbeats follow the coordinator's interval
// (group.consumer.heartbeat.interval.ms, 5 s), so each reassignment can take
// a few seconds.

// memberOpts848 are memberOpts in KIP-848 mode with the given client-side
// balancer naming the server assignor (sticky: "uniform", range: "range").
func memberOpts848(group, topic string, balancer kgo.GroupBalancer) []kgo.Opt {
	return append(memberOpts(group, topic, balancer), kgo.ServerSideBalancer())
}

// waitConsumerGroup waits until ConsumerGroupDescribe shows the group
// Stable with n members that each own partitions.
func waitConsumerGroup(t testing.TB, cl *kgo.Client, group string, n int, within time.Duration) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	deadline := time.Now().Add(within)
	var last kmsg.ConsumerGroupDescribeResponseGroup
	for {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err == nil && len(resp.Groups) == 1 {
			last = resp.Groups[0]
			owning := 0
			for _, m := range last.Members {
				if len(m.Assignment.TopicPartitions) > 0 {
					owning++
				}
			}
			if last.ErrorCode == 0 && last.State == "Stable" && len(last.Members) == n && owning == n {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer group %s not Stable with %d members within %v: %+v (err %v)", group, n, within, last, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestKIP848MembersJoinAndLeaveEveryRecordOnce(t *testing.T) {
	tn := startNode(t, groupArgs...)
	adm := tn.admin()
	prod := tn.client()
	const perPhase = 120
	for _, bal := range []struct {
		name     string
		b        kgo.GroupBalancer
		assignor string
	}{
		{"range", kgo.RangeBalancer(), "range"},
		{"uniform", kgo.CooperativeStickyBalancer(), "uniform"},
	} {
		t.Run(bal.name, func(t *testing.T) {
			t.Parallel()
			topic, group := "kip848-"+bal.name, "kip848-group-"+bal.name
			createTopic(t, adm, topic, 6, nil)
			c := newCollector()
			seeds := []string{tn.addr()}
			opts := memberOpts848(group, topic, bal.b)

			produceSync(t, prod, topic, "join", perPhase)
			a := startMember(t, seeds, "a", c, 10, opts...)
			b := startMember(t, seeds, "b", c, 10, opts...)
			c.waitFor(t, perPhase, 30*time.Second, a, b)
			d := waitConsumerGroup(t, prod, group, 2, 30*time.Second)
			if d.AssignorName != bal.assignor || d.Epoch < 2 || d.AssignmentEpoch != d.Epoch {
				t.Fatalf("described group: %+v", d)
			}

			third := startMember(t, seeds, "c", c, 10, opts...)
			waitConsumerGroup(t, prod, group, 3, 30*time.Second)
			produceSync(t, prod, topic, "three", perPhase)
			c.waitFor(t, 2*perPhase, 30*time.Second, a, b, third)

			// ListGroups shows it as a consumer group.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			listed, err := adm.ListGroups(ctx)
			cancel()
			if err != nil || listed[group].ProtocolType != "consumer" {
				t.Fatalf("list groups: %v %+v", err, listed[group])
			}

			b.leave()
			waitConsumerGroup(t, prod, group, 2, 30*time.Second)
			produceSync(t, prod, topic, "left", perPhase)
			c.waitFor(t, 3*perPhase, 30*time.Second, a, third)

			var want []string
			for _, phase := range []string{"join", "three", "left"} {
				want = append(want, values(phase, perPhase)...)
			}
			c.exactlyOnce(t, want)
			for _, m := range []*groupMember{a, b, third} {
				if errs := m.errors(); len(errs) > 0 {
					t.Errorf("member %s: %v", m.name, errs)
				}
			}
			a.leave()
			third.leave()
		})
	}
}

func TestKIP848CommittedOffsetsSurviveRestart(t *testing.T) {
	checkCommitsSurviveRestart(t, "kip848-resume", memberOpts848, func(tn *testNode, group string) {
		// The group came back as an empty consumer group.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(ctx, tn.client())
		if err != nil || resp.Groups[0].ErrorCode != 0 || resp.Groups[0].State != "Empty" || resp.Groups[0].Epoch < 2 {
			t.Fatalf("describe after restart: %v %+v", err, resp)
		}
	})
}

func TestApiVersionsAdvertisesKIP848APIs(t *testing.T) {
	tn := startNode(t)
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-integration", "1.0"
	resp := send[*kmsg.ApiVersionsResponse](t, tn.client(), req)
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	// ConsumerGroupHeartbeat and ConsumerGroupDescribe v0-v1, as Kafka 4.
	for key, want := range map[int16][2]int16{68: {0, 1}, 69: {0, 1}} {
		if got[key] != want {
			t.Errorf("API key %d advertised as %v, want %v", key, got[key], want)
		}
	}
}
