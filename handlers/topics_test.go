package handlers

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
)

func TestCreateTopicRequestConvertsAssignmentsAndConfigs(t *testing.T) {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "t", -1, -1
	for p, replicas := range [][]int32{{1, 2}, {2, 1}} {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "retention.ms", strp("10")
	rt.Configs = append(rt.Configs, c)

	ct, err := createTopicRequest(rt)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Name != "t" || ct.NumPartitions != -1 || ct.ReplicationFactor != -1 || len(ct.Assignments) != 2 || ct.Assignments[1][0] != 2 {
		t.Fatalf("converted: %+v", ct)
	}
	if v := ct.Configs["retention.ms"]; v == nil || *v != "10" {
		t.Fatalf("configs: %v", ct.Configs)
	}

	rt.ReplicaAssignment = append(rt.ReplicaAssignment, rt.ReplicaAssignment[0])
	if _, err := createTopicRequest(rt); !isErr(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("a partition assigned twice: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
}

func TestDeleteTopicRefsByVersion(t *testing.T) {
	v5 := kmsg.NewPtrDeleteTopicsRequest()
	v5.Version = 5
	v5.TopicNames = []string{"a", "b"}
	if refs := deleteTopicRefs(v5); len(refs) != 2 || refs[0] != (controller.TopicRef{Name: "a"}) {
		t.Fatalf("v5 refs: %+v", refs)
	}

	v6 := kmsg.NewPtrDeleteTopicsRequest()
	v6.Version = 6
	byName := kmsg.NewDeleteTopicsRequestTopic()
	byName.Topic = strp("a")
	byID := kmsg.NewDeleteTopicsRequestTopic()
	byID.TopicID = [16]byte{1}
	v6.Topics = []kmsg.DeleteTopicsRequestTopic{byName, byID}
	v6.TopicNames = []string{"ignored at v6"}
	refs := deleteTopicRefs(v6)
	if len(refs) != 2 || refs[0] != (controller.TopicRef{Name: "a"}) || refs[1] != (controller.TopicRef{ID: [16]byte{1}}) {
		t.Fatalf("v6 refs: %+v", refs)
	}
}

func TestDeletedTopicNamesWhatItCan(t *testing.T) {
	h := &Handlers{}
	id := [16]byte{7}
	unknownID := controller.DeleteTopicResult{ID: id, Err: fmt.Errorf("%w: topic ID", kerr.UnknownTopicID)}
	st := h.deletedTopic(6, controller.TopicRef{ID: id}, unknownID)
	if st.Topic != nil || st.TopicID != id || st.ErrorCode != kerr.UnknownTopicID.Code || st.ErrorMessage == nil {
		t.Fatalf("unknown ID at v6: %+v", st)
	}
	found := controller.DeleteTopicResult{Name: "t", ID: id}
	if st := h.deletedTopic(6, controller.TopicRef{ID: id}, found); st.Topic == nil || *st.Topic != "t" || st.ErrorCode != 0 {
		t.Fatalf("deleted by ID at v6: %+v", st)
	}
	if st := h.deletedTopic(5, controller.TopicRef{Name: "gone"}, controller.DeleteTopicResult{Name: "gone", Err: kerr.UnknownTopicOrPartition}); st.Topic == nil || *st.Topic != "gone" {
		t.Fatalf("unknown name at v5: %+v", st)
	}
}
