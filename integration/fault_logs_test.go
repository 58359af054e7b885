package integration

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/samsa-broker/samsa/record"
)

// batchRef identifies one stored batch: followers append their leader's
// batches unchanged, so replicas that agree hold equal batchRefs in the
// same order.
type batchRef struct {
	Base, Last int64
	Epoch      int32
	CRC        uint32
}

func (b batchRef) String() string {
	return fmt.Sprintf("[%d-%d epoch %d crc %08x]", b.Base, b.Last, b.Epoch, b.CRC)
}

var segmentName = regexp.MustCompile(`^[0-9]{20}\.log$`)

// replicaBatches reads the batch headers of one partition's segment files
// in a node's log dir, in offset order. A batch cut short at the end (being
// written right now) ends the list.
func replicaBatches(dir, topic string, partition int32) ([]batchRef, error) {
	pdir := filepath.Join(dir, fmt.Sprintf("%s-%d", topic, partition))
	entries, err := os.ReadDir(pdir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", pdir, err)
	}
	var names []string
	for _, e := range entries {
		if segmentName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var out []batchRef
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(pdir, name))
		if err != nil {
			return nil, fmt.Errorf("read segment: %w", err)
		}
		for pos := 0; pos+record.LogOverhead <= len(b); {
			size := int(int32(binary.BigEndian.Uint32(b[pos+8:]))) + record.LogOverhead
			if size < record.HeaderSize || pos+size > len(b) {
				break
			}
			h, err := record.ParseHeader(b[pos : pos+size])
			if err != nil {
				return nil, fmt.Errorf("segment %s at byte %d: %w", name, pos, err)
			}
			out = append(out, batchRef{Base: h.BaseOffset, Last: h.LastOffset(), Epoch: h.PartitionLeaderEpoch, CRC: h.CRC})
			pos += size
		}
	}
	return out, nil
}

// logsDiffer compares the logs of one partition on every node; "" when
// they hold the same batches.
func (c *faultCluster) logsDiffer(topic string, partition int32) string {
	var ref []batchRef
	for i := range c.nodes {
		got, err := replicaBatches(c.dirs[i], topic, partition)
		if err != nil {
			return err.Error()
		}
		if i == 0 {
			ref = got
			continue
		}
		if d := firstDifference(ref, got); d != "" {
			return fmt.Sprintf("partition %d: node 1 and node %d differ: %s", partition, i+1, d)
		}
	}
	return ""
}

func firstDifference(a, b []batchRef) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("batch %d is %v vs %v", i, a[i], b[i])
		}
	}
	switch {
	case len(a) > len(b):
		return fmt.Sprintf("%d batches vs %d; next %v", len(a), len(b), a[len(b)])
	case len(b) > len(a):
		return fmt.Sprintf("%d batches vs %d; next %v", len(a), len(b), b[len(a)])
	}
	return ""
}

// waitLogsConverge waits until, for every partition of topic, every
// replica holds exactly the same batches: a replica that took writes it
// could not commit (an isolated or paused old leader) truncated them, and
// the followers caught up.
func (c *faultCluster) waitLogsConverge(topic string, parts int32, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for p := range parts {
		for {
			d := c.logsDiffer(topic, p)
			if d == "" {
				break
			}
			if time.Now().After(deadline) {
				c.t.Errorf("%s: replica logs did not converge within %v: %s", topic, within, d)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
