package controller

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var (
	topicA = [16]byte{0xa}
	topicB = [16]byte{0xb}
)

// baseRecords builds a cluster of brokers 1..3 (epochs 10, 11, 12) and topic
// "a" with two partitions.
func baseRecords() []Record {
	return []Record{
		ClusterIDRecord{ClusterID: "cluster"},
		RegisterBrokerRecord{NodeID: 1, Epoch: 10, Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "h1", Port: 1}}},
		RegisterBrokerRecord{NodeID: 2, Epoch: 11},
		RegisterBrokerRecord{NodeID: 3, Epoch: 12},
		TopicRecord{Name: "a", ID: topicA},
		PartitionRecord{TopicID: topicA, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		PartitionRecord{TopicID: topicA, Partition: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2},
	}
}

func mustApply(t *testing.T, img *Image, recs ...Record) (*Image, *Delta) {
	t.Helper()
	next, d, err := Apply(img, recs)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return next, d
}

func baseImage(t *testing.T) *Image {
	img, _ := mustApply(t, EmptyImage(), baseRecords()...)
	return img
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		recs    []Record
		wantErr bool
		check   func(t *testing.T, img *Image)
	}{
		{name: "cluster ID repeated is a no-op", recs: []Record{ClusterIDRecord{ClusterID: "cluster"}},
			check: func(t *testing.T, img *Image) { wantEq(t, img.ClusterID, "cluster") }},
		{name: "cluster ID cannot change", recs: []Record{ClusterIDRecord{ClusterID: "other"}}, wantErr: true},
		{name: "empty cluster ID", recs: []Record{ClusterIDRecord{}}, wantErr: true},

		{name: "register new broker", recs: []Record{RegisterBrokerRecord{NodeID: 4, Epoch: 20, Rack: "r", Fenced: true}},
			check: func(t *testing.T, img *Image) {
				b, ok := img.Broker(4)
				wantEq(t, ok, true)
				wantEq(t, b, BrokerInfo{NodeID: 4, Epoch: 20, Rack: "r", Fenced: true})
			}},
		{name: "re-register with newer epoch replaces", recs: []Record{RegisterBrokerRecord{NodeID: 1, Epoch: 30}},
			check: func(t *testing.T, img *Image) {
				wantEq(t, img.Brokers[1].Epoch, int64(30))
				wantEq(t, len(img.Brokers[1].Listeners), 0)
			}},
		{name: "re-register with old epoch", recs: []Record{RegisterBrokerRecord{NodeID: 1, Epoch: 10}}, wantErr: true},
		{name: "negative node ID", recs: []Record{RegisterBrokerRecord{NodeID: -1, Epoch: 30}}, wantErr: true},
		{name: "listener twice", recs: []Record{RegisterBrokerRecord{NodeID: 5, Epoch: 30,
			Listeners: []Endpoint{{Name: "A"}, {Name: "A"}}}}, wantErr: true},

		{name: "fence then unfence", recs: []Record{FenceBrokerRecord{NodeID: 2, Epoch: 11}},
			check: func(t *testing.T, img *Image) {
				wantEq(t, img.Brokers[2].Fenced, true)
				wantEq(t, len(img.LiveBrokers()), 2)
				img, _ = mustApply(t, img, UnfenceBrokerRecord{NodeID: 2, Epoch: 11})
				wantEq(t, img.Brokers[2].Fenced, false)
			}},
		{name: "fence with stale epoch", recs: []Record{FenceBrokerRecord{NodeID: 2, Epoch: 10}}, wantErr: true},
		{name: "unfence unknown broker", recs: []Record{UnfenceBrokerRecord{NodeID: 9, Epoch: 1}}, wantErr: true},
		{name: "unregister", recs: []Record{UnregisterBrokerRecord{NodeID: 3, Epoch: 12}},
			check: func(t *testing.T, img *Image) {
				_, ok := img.Broker(3)
				wantEq(t, ok, false)
			}},
		{name: "unregister with stale epoch", recs: []Record{UnregisterBrokerRecord{NodeID: 3, Epoch: 1}}, wantErr: true},

		{name: "create topic", recs: []Record{
			TopicRecord{Name: "b", ID: topicB},
			PartitionRecord{TopicID: topicB, Partition: 0, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 5},
		}, check: func(t *testing.T, img *Image) {
			tp, ok := img.Topic("b")
			wantEq(t, ok, true)
			byID, _ := img.TopicByID(topicB)
			wantEq(t, tp == byID, true)
			p, ok := img.Partition("b", 0)
			wantEq(t, ok, true)
			wantEq(t, p, PartitionImage{Replicas: []int32{3}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 5})
		}},
		{name: "topic name taken", recs: []Record{TopicRecord{Name: "a", ID: topicB}}, wantErr: true},
		{name: "topic ID taken", recs: []Record{TopicRecord{Name: "b", ID: topicA}}, wantErr: true},
		{name: "zero topic ID", recs: []Record{TopicRecord{Name: "b"}}, wantErr: true},
		{name: "empty topic name", recs: []Record{TopicRecord{ID: topicB}}, wantErr: true},

		{name: "add partition", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 2, Replicas: []int32{3, 1}, ISR: []int32{3}, Leader: 3}},
			check: func(t *testing.T, img *Image) { wantEq(t, len(img.Topics["a"].Partitions), 3) }},
		{name: "replace partition", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 0, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3}},
			check: func(t *testing.T, img *Image) { wantEq(t, img.Topics["a"].Partitions[0].Leader, int32(3)) }},
		{name: "partition gap", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 5, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}, wantErr: true},
		{name: "partition of unknown topic", recs: []Record{PartitionRecord{TopicID: topicB, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}, wantErr: true},
		{name: "ISR outside replicas", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 2, Replicas: []int32{1}, ISR: []int32{1, 2}, Leader: 1}}, wantErr: true},
		{name: "leader outside ISR", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 2, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 2}}, wantErr: true},
		{name: "replica twice", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 2, Replicas: []int32{1, 1}, ISR: []int32{1}, Leader: 1}}, wantErr: true},
		{name: "empty ISR", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 2, Replicas: []int32{1}, ISR: []int32{}, Leader: -1}}, wantErr: true},
		{name: "no replicas", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 2, ISR: []int32{1}, Leader: 1}}, wantErr: true},
		{name: "negative epoch", recs: []Record{PartitionRecord{TopicID: topicA, Partition: 2, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: -1}}, wantErr: true},

		{name: "ISR change bumps only the partition epoch", recs: []Record{PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: []int32{1}, Leader: NoLeaderChange}},
			check: func(t *testing.T, img *Image) {
				wantEq(t, img.Topics["a"].Partitions[0], PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1})
			}},
		{name: "leader change bumps both epochs", recs: []Record{PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: []int32{2}, Leader: 2}},
			check: func(t *testing.T, img *Image) {
				wantEq(t, img.Topics["a"].Partitions[0], PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1})
			}},
		{name: "two changes in one batch bump twice", recs: []Record{
			PartitionChangeRecord{TopicID: topicA, Partition: 1, Leader: 3},
			PartitionChangeRecord{TopicID: topicA, Partition: 1, Leader: NoLeader},
		}, check: func(t *testing.T, img *Image) {
			wantEq(t, img.Topics["a"].Partitions[1], PartitionImage{Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: NoLeader, LeaderEpoch: 2, PartitionEpoch: 2})
		}},
		{name: "replica change", recs: []Record{PartitionChangeRecord{TopicID: topicA, Partition: 0, Replicas: []int32{1, 2, 3}, Leader: NoLeaderChange}},
			check: func(t *testing.T, img *Image) {
				wantEq(t, img.Topics["a"].Partitions[0].Replicas, []int32{1, 2, 3})
			}},
		{name: "change to leader outside ISR", recs: []Record{PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: []int32{1}, Leader: 2}}, wantErr: true},
		{name: "change removing the ISR's replicas", recs: []Record{PartitionChangeRecord{TopicID: topicA, Partition: 0, Replicas: []int32{1}, Leader: NoLeaderChange}}, wantErr: true},
		{name: "change of unknown partition", recs: []Record{PartitionChangeRecord{TopicID: topicA, Partition: 2, Leader: NoLeaderChange}}, wantErr: true},
		{name: "change of unknown topic", recs: []Record{PartitionChangeRecord{TopicID: topicB, Leader: NoLeaderChange}}, wantErr: true},

		{name: "remove topic drops its configs", recs: []Record{
			ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "retention.ms", Value: strPtr("5")},
			RemoveTopicRecord{ID: topicA},
		}, check: func(t *testing.T, img *Image) {
			_, byName := img.Topic("a")
			_, byID := img.TopicByID(topicA)
			wantEq(t, byName || byID, false)
			wantEq(t, len(img.Configs), 0)
		}},
		{name: "remove unknown topic", recs: []Record{RemoveTopicRecord{ID: topicB}}, wantErr: true},

		{name: "configs set and delete", recs: []Record{
			ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "retention.ms", Value: strPtr("5")},
			ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "segment.ms", Value: strPtr("6")},
			ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "segment.ms", Value: nil},
			ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Name: "log.retention.ms", Value: strPtr("7")},
			ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "2", Name: "log.retention.ms", Value: strPtr("8")},
			ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "2", Name: "log.retention.ms", Value: nil},
		}, check: func(t *testing.T, img *Image) {
			wantEq(t, img.TopicConfig("a"), map[string]string{"retention.ms": "5"})
			wantEq(t, img.ClusterBrokerConfig(), map[string]string{"log.retention.ms": "7"})
			wantEq(t, img.BrokerConfig(2), map[string]string{})
			_, ok := img.Configs[ConfigResource{Type: ConfigResourceBroker, Name: "2"}]
			wantEq(t, ok, false)
		}},
		{name: "config of unknown topic", recs: []Record{ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "b", Name: "k", Value: strPtr("v")}}, wantErr: true},
		{name: "config of non-canonical broker name", recs: []Record{ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "01", Name: "k", Value: strPtr("v")}}, wantErr: true},
		{name: "config of unsupported resource type", recs: []Record{ConfigRecord{ResourceType: 8, ResourceName: "1", Name: "k", Value: strPtr("v")}}, wantErr: true},
		{name: "config without a name", recs: []Record{ConfigRecord{ResourceType: ConfigResourceBroker, Value: strPtr("v")}}, wantErr: true},

		{name: "producer IDs advance", recs: []Record{ProducerIDsRecord{BrokerID: 1, BrokerEpoch: 10, NextProducerID: 1000}},
			check: func(t *testing.T, img *Image) { wantEq(t, img.NextProducerID, int64(1000)) }},
		{name: "producer IDs cannot go back", recs: []Record{
			ProducerIDsRecord{NextProducerID: 1000}, ProducerIDsRecord{NextProducerID: 1000},
		}, wantErr: true},

		{name: "one bad record fails the batch", recs: []Record{
			TopicRecord{Name: "b", ID: topicB},
			RemoveTopicRecord{ID: [16]byte{0xc}},
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := baseImage(t)
			before := EncodeRecords(base.Records())
			img, d, err := Apply(base, tt.recs)
			if !bytes.Equal(EncodeRecords(base.Records()), before) || base.Offset != int64(len(baseRecords())-1) {
				t.Fatal("Apply modified its input image")
			}
			if tt.wantErr {
				if !errors.Is(err, ErrRecordRejected) || img != nil || d != nil {
					t.Fatalf("Apply = %v, %v, %v; want ErrRecordRejected", img, d, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			wantEq(t, img.Offset, base.Offset+int64(len(tt.recs)))
			if d.Old != base || d.New != img {
				t.Fatal("delta does not link the images")
			}
			tt.check(t, img)
		})
	}
}

func wantEq[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

// TestPublishedImageNeverChanges applies a long series of changes and checks
// that every image published along the way still reads as it did.
func TestPublishedImageNeverChanges(t *testing.T) {
	img := baseImage(t)
	steps := [][]Record{
		{ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "k", Value: strPtr("1")}},
		{PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: []int32{1}, Leader: NoLeaderChange}},
		{PartitionRecord{TopicID: topicA, Partition: 2, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3}},
		{ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "k", Value: strPtr("2")}},
		{FenceBrokerRecord{NodeID: 1, Epoch: 10}, RegisterBrokerRecord{NodeID: 1, Epoch: 40}},
		{ProducerIDsRecord{NextProducerID: 1000}},
		{TopicRecord{Name: "b", ID: topicB}, PartitionRecord{TopicID: topicB, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}},
		{RemoveTopicRecord{ID: topicA}},
	}
	type published struct {
		img     *Image
		offset  int64
		encoded []byte
		a       *TopicImage
	}
	var history []published
	for _, recs := range steps {
		a, _ := img.Topic("a")
		history = append(history, published{img, img.Offset, EncodeRecords(img.Records()), a})
		img, _ = mustApply(t, img, recs...)
	}
	for i, h := range history {
		if h.img.Offset != h.offset || !bytes.Equal(EncodeRecords(h.img.Records()), h.encoded) {
			t.Fatalf("image %d changed after later applies", i)
		}
		if a, _ := h.img.Topic("a"); a != h.a {
			t.Fatalf("image %d: topic pointer changed", i)
		}
	}
}

// TestImageRecordsRebuildTheImage checks the snapshot content: the image's
// records rebuild an equal image.
func TestImageRecordsRebuildTheImage(t *testing.T) {
	img, _ := mustApply(t, baseImage(t),
		ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "retention.ms", Value: strPtr("5")},
		ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Name: "log.retention.ms", Value: strPtr("7")},
		PartitionChangeRecord{TopicID: topicA, Partition: 1, ISR: []int32{3}, Leader: 3},
		FenceBrokerRecord{NodeID: 2, Epoch: 11},
		ProducerIDsRecord{NextProducerID: 3000},
	)
	rebuilt, _ := mustApply(t, EmptyImage(), img.Records()...)
	rebuilt.Offset = img.Offset
	wantEq(t, rebuilt, img)
}

func TestDelta(t *testing.T) {
	base := baseImage(t)
	p0 := base.Topics["a"].Partitions[0]
	tests := []struct {
		name          string
		recs          []Record
		wantParts     []PartitionChange
		wantDeleted   []DeletedTopic
		wantConfigs   []ConfigResource
		wantBrokers   []int32
		wantLocal     LocalChanges
		wantCreated   []string
		wantProducers bool
	}{
		{
			name: "created topic",
			recs: []Record{
				TopicRecord{Name: "b", ID: topicB},
				PartitionRecord{TopicID: topicB, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2},
				PartitionRecord{TopicID: topicB, Partition: 1, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3},
			},
			wantParts: []PartitionChange{
				{Topic: "b", TopicID: topicB, Partition: 0, New: PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2}},
				{Topic: "b", TopicID: topicB, Partition: 1, New: PartitionImage{Replicas: []int32{3}, ISR: []int32{3}, Leader: 3}},
			},
			wantLocal: LocalChanges{Followers: []PartitionChange{
				{Topic: "b", TopicID: topicB, Partition: 0, New: PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2}},
			}},
			wantCreated: []string{"b"},
		},
		{
			name: "leader moves away and a replica is dropped",
			recs: []Record{PartitionChangeRecord{TopicID: topicA, Partition: 0, Replicas: []int32{2}, ISR: []int32{2}, Leader: 2}},
			wantParts: []PartitionChange{
				{Topic: "a", TopicID: topicA, Partition: 0, Old: &p0, New: PartitionImage{Replicas: []int32{2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1}},
			},
			wantLocal: LocalChanges{Deleted: []TopicPartition{{Topic: "a", TopicID: topicA, Partition: 0}}},
		},
		{
			name: "ISR change on a led partition",
			recs: []Record{PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: []int32{1}, Leader: NoLeaderChange}},
			wantParts: []PartitionChange{
				{Topic: "a", TopicID: topicA, Partition: 0, Old: &p0, New: PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 1}},
			},
			wantLocal: LocalChanges{Leaders: []PartitionChange{
				{Topic: "a", TopicID: topicA, Partition: 0, Old: &p0, New: PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 1}},
			}},
		},
		{
			name:        "deleted topic",
			recs:        []Record{RemoveTopicRecord{ID: topicA}},
			wantDeleted: []DeletedTopic{{Name: "a", ID: topicA, Partitions: 2}},
			wantLocal:   LocalChanges{Deleted: []TopicPartition{{Topic: "a", TopicID: topicA, Partition: 0}}},
		},
		{
			name: "config set and reset in one batch is no change",
			recs: []Record{
				ConfigRecord{ResourceType: ConfigResourceBroker, Name: "k", Value: strPtr("v")},
				ConfigRecord{ResourceType: ConfigResourceBroker, Name: "k"},
				ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "k", Value: strPtr("v")},
			},
			wantConfigs: []ConfigResource{{Type: ConfigResourceTopic, Name: "a"}},
		},
		{
			name:        "brokers",
			recs:        []Record{UnregisterBrokerRecord{NodeID: 3, Epoch: 12}, RegisterBrokerRecord{NodeID: 7, Epoch: 50}, FenceBrokerRecord{NodeID: 1, Epoch: 10}},
			wantBrokers: []int32{1, 3, 7},
		},
		{
			name:          "producer IDs",
			recs:          []Record{ProducerIDsRecord{NextProducerID: 1000}},
			wantProducers: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d := mustApply(t, base, tt.recs...)
			wantEq(t, d.ChangedPartitions(), tt.wantParts)
			wantEq(t, d.DeletedTopics(), tt.wantDeleted)
			wantEq(t, d.ChangedConfigs(), tt.wantConfigs)
			wantEq(t, d.ConfigsChanged(), len(tt.wantConfigs) > 0)
			var brokers []int32
			for _, b := range d.ChangedBrokers() {
				brokers = append(brokers, b.NodeID)
			}
			wantEq(t, brokers, tt.wantBrokers)
			wantEq(t, d.LocalChanges(1), tt.wantLocal)
			wantEq(t, d.CreatedTopics(), tt.wantCreated)
			wantEq(t, d.ProducerIDsChanged(), tt.wantProducers)
			wantEq(t, d.Empty(), false)
		})
	}
}

func TestDeltaBrokerChangeCarriesOldAndNew(t *testing.T) {
	_, d := mustApply(t, baseImage(t), UnregisterBrokerRecord{NodeID: 3, Epoch: 12}, RegisterBrokerRecord{NodeID: 7, Epoch: 50})
	changes := d.ChangedBrokers()
	wantEq(t, len(changes), 2)
	if changes[0].Old == nil || changes[0].New != nil {
		t.Fatalf("unregistered broker change: %+v", changes[0])
	}
	if changes[1].Old != nil || changes[1].New == nil || changes[1].New.Epoch != 50 {
		t.Fatalf("registered broker change: %+v", changes[1])
	}
}

func TestImageHelpers(t *testing.T) {
	img, _ := mustApply(t, baseImage(t), FenceBrokerRecord{NodeID: 2, Epoch: 11})
	var live []int32
	for _, b := range img.LiveBrokers() {
		live = append(live, b.NodeID)
	}
	wantEq(t, live, []int32{1, 3})
	wantEq(t, img.TopicNames(), []string{"a"})
	_, ok := img.Partition("a", 2)
	wantEq(t, ok, false)
	_, ok = img.Partition("nope", 0)
	wantEq(t, ok, false)
	ep, ok := img.Brokers[1].Listener("PLAINTEXT")
	wantEq(t, ok, true)
	wantEq(t, ep.Host, "h1")
	// The config helpers hand out copies: changing one does not reach the image.
	img, _ = mustApply(t, img, ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "k", Value: strPtr("v")})
	img.TopicConfig("a")["k"] = "changed"
	wantEq(t, img.TopicConfig("a"), map[string]string{"k": "v"})
}
