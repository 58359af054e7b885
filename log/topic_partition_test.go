package log

import (
	"strings"
	"testing"
)

func TestTopicPartitionStringIsDirectoryName(t *testing.T) {
	tests := []struct {
		tp   TopicPartition
		want string
	}{
		{TopicPartition{"orders", 3}, "orders-3"},
		{TopicPartition{"my-topic", 0}, "my-topic-0"},
		{TopicPartition{"a.b_c-1", 2147483647}, "a.b_c-1-2147483647"},
	}
	for _, tt := range tests {
		if got := tt.tp.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.tp, got, tt.want)
		}
		back, err := ParseTopicPartitionDir(tt.want)
		if err != nil || back != tt.tp {
			t.Errorf("ParseTopicPartitionDir(%q) = %v, %v; want %v", tt.want, back, err, tt.tp)
		}
	}
}

func TestParseTopicPartitionDir(t *testing.T) {
	tests := []struct {
		name    string
		want    TopicPartition
		wantErr bool
	}{
		{name: "orders-0", want: TopicPartition{"orders", 0}},
		{name: "my-topic-12", want: TopicPartition{"my-topic", 12}},
		{name: "__consumer_offsets-49", want: TopicPartition{"__consumer_offsets", 49}},
		{name: "t--1", want: TopicPartition{"t-", 1}}, // split at the last '-'
		{name: "noseparator", wantErr: true},
		{name: "-3", wantErr: true},                            // empty topic
		{name: "topic-", wantErr: true},                        // empty partition
		{name: "topic-x", wantErr: true},                       // not a number
		{name: "topic-03", wantErr: true},                      // not canonical
		{name: "topic-+3", wantErr: true},                      // not canonical
		{name: "topic-2147483648", wantErr: true},              // beyond int32
		{name: "topic-0.a1b2c3-delete", wantErr: true},         // Kafka's async-delete directory
		{name: "topic-0.a1b2c3-future", wantErr: true},         // Kafka's future replica directory
		{name: "bad topic-0", wantErr: true},                   // illegal character
		{name: "..-0", wantErr: true},                          // reserved name
		{name: "lost+found", wantErr: true},                    // not a partition at all
		{name: strings.Repeat("x", 250) + "-0", wantErr: true}, // topic too long
		{name: strings.Repeat("x", 249) + "-0", want: TopicPartition{strings.Repeat("x", 249), 0}},
	}
	for _, tt := range tests {
		got, err := ParseTopicPartitionDir(tt.name)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseTopicPartitionDir(%q) = %v, want an error", tt.name, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTopicPartitionDir(%q) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}
