package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceRequest returns a Produce v9 request with one partition carrying
// recordBytes of (fake) records.
func produceRequest(recordBytes int) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 30000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "orders"
	part := kmsg.NewProduceRequestTopicPartition()
	part.Records = bytes.Repeat([]byte{7}, recordBytes)
	topic.Partitions = append(topic.Partitions, part)
	req.Topics = append(req.Topics, topic)
	return req
}

// repeatingReader serves the same bytes forever.
type repeatingReader struct {
	data []byte
	off  int
}

func (r *repeatingReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// readFrameReusing is readFrame with a buffer reused across frames: what the
// connection would do if handlers could not keep request bytes.
func readFrameReusing(r io.Reader, buf []byte) ([]byte, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint32(sizeBuf[:]))
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// BenchmarkReadFrame compares a fresh buffer per frame (what readFrame does,
// because kmsg aliases it and handlers keep record bytes) with a reused one,
// next to decoding the same frame, for produce requests of several sizes.
// The decode of a produce is cheap at any size because its records alias the
// frame; the fresh buffer's allocation and zeroing is the cost that grows with
// the frame (see readFrame for the numbers and the conclusion).
func BenchmarkReadFrame(b *testing.B) {
	table := testVersionTable()
	for _, size := range []int{100, 16 << 10, 1 << 20} {
		frame := encodeRequest(produceRequest(size), 1, "producer")
		payload := frame[4:]
		b.Run(fmt.Sprintf("records=%d/fresh", size), func(b *testing.B) {
			r := &repeatingReader{data: frame}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readFrame(r, DefaultMaxRequestBytes); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("records=%d/exact", size), func(b *testing.B) {
			r := &repeatingReader{data: frame}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readFrameReusing(r, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("records=%d/reused", size), func(b *testing.B) {
			r := &repeatingReader{data: frame}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = readFrameReusing(r, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("records=%d/decode", size), func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeRequest(payload, table); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeRequest measures header parse plus body decode, and the
// share of it the trailing-byte probe takes, for a small produce and a
// 100-topic metadata request.
func BenchmarkDecodeRequest(b *testing.B) {
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 12
	for i := range 100 {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(fmt.Sprintf("topic-%d", i))
		meta.Topics = append(meta.Topics, t)
	}
	table := testVersionTable()
	for _, tc := range []struct {
		name string
		req  kmsg.Request
	}{{"produce-1KiB", produceRequest(1 << 10)}, {"metadata-100-topics", meta}} {
		payload := payloadOf(tc.req, 1, "client")
		b.Run(tc.name+"/decodeRequest", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeRequest(payload, table); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/trailing-probe-only", func(b *testing.B) {
			p, err := parseRequestHeader(payload)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if hasTrailingBytes(p.req, p.body) {
					b.Fatal("trailing bytes")
				}
			}
		})
	}
}
