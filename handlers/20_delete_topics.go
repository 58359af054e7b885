package handlers

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// DeleteTopics: v1-v6 (Kafka 4.0's floor is v1, KIP-896). v0-v5 name topics
// in TopicNames; v6 in Topics, each by name or by topic ID (unknown ID:
// UNKNOWN_TOPIC_ID). The controller removes the topics in one metadata
// entry; each node's replica manager deletes the partitions' files when
// that delta reaches it. Checks follow Kafka's ControllerApis.deleteTopics:
// a name or ID given twice, both or neither of name and ID are
// INVALID_REQUEST (a duplicate answered once). With delete.topic.enable=false
// every topic is answered TOPIC_DELETION_DISABLED (INVALID_REQUEST before
// v3, which predates that code) and nothing is deleted.
var deleteTopicsAPI = api{key: 20, min: 1, max: 6, handle: (*Handlers).deleteTopics}

func (h *Handlers) deleteTopics(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			code, msg := h.errorCode(err)
			resp := kr.(*kmsg.DeleteTopicsResponse)
			for _, ref := range deleteTopicRefs(r) {
				st := kmsg.NewDeleteTopicsResponseTopic()
				name := ref.Name
				st.Topic, st.TopicID, st.ErrorCode, st.ErrorMessage = &name, ref.ID, code, msg
				resp.Topics = append(resp.Topics, st)
			}
		}, func(kr kmsg.Response, img *controller.Image) bool {
			for _, t := range kr.(*kmsg.DeleteTopicsResponse).Topics {
				if t.ErrorCode != 0 {
					continue
				}
				if _, ok := img.TopicByID(t.TopicID); ok && t.TopicID != ([16]byte{}) {
					return false
				}
				if t.Topic != nil {
					if _, ok := img.Topic(*t.Topic); ok {
						return false
					}
				}
			}
			return true
		})
	}

	refs := deleteTopicRefs(r)
	if !h.d.Config.DeleteTopicEnable {
		err := fmt.Errorf("%w: Topic deletion is disabled.", kerr.TopicDeletionDisabled)
		if r.Version < 3 {
			err = fmt.Errorf("%w: Topic deletion is disabled.", kerr.InvalidRequest)
		}
		for _, ref := range refs {
			resp.Topics = append(resp.Topics, h.deletedTopic(r.Version, ref, controller.DeleteTopicResult{Name: ref.Name, ID: ref.ID, Err: err}))
		}
		return respond(resp)
	}

	results := h.d.Controller.DeleteTopics(ctx, refs)
	emitted := make(map[controller.TopicRef]bool)
	for i, ref := range refs {
		// The controller answers every copy of a duplicate; Kafka answers
		// it once.
		if emitted[ref] {
			continue
		}
		emitted[ref] = true
		resp.Topics = append(resp.Topics, h.deletedTopic(r.Version, ref, results[i]))
	}
	return respond(resp)
}

// deleteTopicRefs lists the request's topics for the controller.
func deleteTopicRefs(r *kmsg.DeleteTopicsRequest) []controller.TopicRef {
	var refs []controller.TopicRef
	if r.Version < 6 {
		for _, name := range r.TopicNames {
			refs = append(refs, controller.TopicRef{Name: name})
		}
		return refs
	}
	for _, t := range r.Topics {
		ref := controller.TopicRef{ID: t.TopicID}
		if t.Topic != nil {
			ref.Name = *t.Topic
		}
		refs = append(refs, ref)
	}
	return refs
}

// deletedTopic answers one topic. A topic asked for by an unknown ID has no
// name to answer (null, as in Kafka); before v6 every topic was asked for by
// name.
func (h *Handlers) deletedTopic(version int16, ref controller.TopicRef, res controller.DeleteTopicResult) kmsg.DeleteTopicsResponseTopic {
	st := kmsg.NewDeleteTopicsResponseTopic()
	name := res.Name
	if name == "" {
		name = ref.Name
	}
	if name != "" || version < 6 {
		st.Topic = &name
	}
	st.TopicID = res.ID
	if st.TopicID == ([16]byte{}) {
		st.TopicID = ref.ID
	}
	if res.Err != nil {
		st.ErrorCode, st.ErrorMessage = h.errorCode(res.Err)
	}
	return st
}
