package log

import (
	"fmt"
	"strconv"
	"strings"
)

// maxTopicNameLength is Kafka's limit on topic names (Topic.MAX_NAME_LENGTH),
// chosen so that "<topic>-<partition>" fits a file name.
const maxTopicNameLength = 249

// TopicPartition names one partition of a topic. Its String form,
// "<topic>-<partition>", is also the name of the partition's directory in a
// log dir, as in Kafka.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "<topic>-<partition>", e.g. "orders-3".
func (tp TopicPartition) String() string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

// ParseTopicPartitionDir parses a partition directory name such as
// "my-topic-3". Topics may contain '-', so the name is split at the last '-'
// (Kafka's UnifiedLog.parseTopicPartitionName does the same). Only names that
// String would produce are accepted: a legal Kafka topic name and a canonical
// non-negative decimal partition, so that directory names and partitions map
// one to one. Kafka's "-delete", "-future" and "-stray" directories are
// rejected; the caller recognises those by their suffix first.
func ParseTopicPartitionDir(name string) (TopicPartition, error) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return TopicPartition{}, fmt.Errorf("parse partition directory %q: no '-' before the partition number", name)
	}
	topic, partStr := name[:i], name[i+1:]
	if err := validateTopicName(topic); err != nil {
		return TopicPartition{}, fmt.Errorf("parse partition directory %q: %w", name, err)
	}
	p, err := strconv.ParseInt(partStr, 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != partStr {
		return TopicPartition{}, fmt.Errorf("parse partition directory %q: partition %q is not a non-negative decimal int32", name, partStr)
	}
	return TopicPartition{Topic: topic, Partition: int32(p)}, nil
}

// validateTopicName applies Kafka's topic name rules (Topic.validate): 1 to
// 249 characters from [a-zA-Z0-9._-], and neither "." nor "..".
func validateTopicName(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("empty topic name")
	case topic == "." || topic == "..":
		return fmt.Errorf("topic name %q is not allowed", topic)
	case len(topic) > maxTopicNameLength:
		return fmt.Errorf("topic name is %d characters, the limit is %d", len(topic), maxTopicNameLength)
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		legal := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !legal {
			return fmt.Errorf("topic name %q has illegal character %q", topic, c)
		}
	}
	return nil
}
