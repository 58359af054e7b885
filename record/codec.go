package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codecs compresses and decompresses record batch payloads with the four
// codecs Kafka defines. It pools the codecs' readers, writers and scratch
// buffers, so one Codecs should be shared (a node owns one); its methods are
// safe for concurrent use. The zero value is not usable: call NewCodecs.
//
// Nothing in a Codecs runs in the background: the zstd coders are built
// with concurrency 1 and only used through EncodeAll/DecodeAll, which start
// no goroutines, so pooled values may be dropped by the garbage collector
// without being closed.
type Codecs struct {
	gzipReaders  sync.Pool // *gzipDecoder
	gzipWriters  sync.Pool // *gzip.Writer
	lz4Readers   sync.Pool // *lz4Decoder
	lz4Writers   sync.Pool // *lz4.Writer
	zstdDecoders sync.Pool // *zstdDecoder
	zstdEncoders sync.Pool // *zstd.Encoder
	scratch      sync.Pool // *[]byte, decompression output that does not outlive a call
}

// Sizes the codecs are tuned to.
const (
	// xerialBlockSize is the block size snappy-java's SnappyOutputStream
	// writes, which is what Kafka's Java producer and broker emit.
	xerialBlockSize = 32 << 10
	// maxPooledScratch bounds the scratch buffers kept for reuse, so one
	// huge batch does not pin its buffer in the pool.
	maxPooledScratch = 8 << 20
	// zstdWindowFloor is the least output bound the zstd decoder is given
	// (see unzstd): the window of zstd's level 19, the largest below the
	// "ultra" levels.
	zstdWindowFloor = 8 << 20
)

// xerialMagic starts snappy-java's stream framing. It is followed by a
// 4-byte version and a 4-byte minimum compatible version. A raw snappy
// block cannot start this way: after the length varint (0x82 0x53) its
// first element must be a literal, and 'N' is a copy tag.
const (
	xerialMagic      = "\x82SNAPPY\x00"
	xerialHeaderSize = 16
)

// gzipDecoder pools a gzip reader together with the bytes.Reader it reads
// from, so a decompression allocates neither.
type gzipDecoder struct {
	src    bytes.Reader
	reader gzip.Reader
}

// lz4Decoder pools an lz4 frame reader with its source.
type lz4Decoder struct {
	src    bytes.Reader
	reader *lz4.Reader
}

// zstdDecoder remembers the output bound its decoder was last reset with,
// so the common case (the same bound every call) does not reset options.
type zstdDecoder struct {
	decoder *zstd.Decoder
	max     int
}

// NewCodecs returns an empty set of codec pools.
func NewCodecs() *Codecs {
	c := &Codecs{}
	c.gzipReaders.New = func() any { return new(gzipDecoder) }
	c.gzipWriters.New = func() any {
		// Kafka's default gzip level (compression.gzip.level, KIP-390) is
		// the deflate default; DefaultCompression never errors.
		w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
		return w
	}
	c.lz4Readers.New = func() any { return &lz4Decoder{reader: lz4.NewReader(nil)} }
	c.lz4Writers.New = func() any {
		w := lz4.NewWriter(nil)
		// Kafka's KafkaLZ4BlockOutputStream writes 64KB independent blocks
		// and no content checksum (the batch CRC covers the payload).
		// Apply fails only on a used writer; this one is new.
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
		return w
	}
	c.zstdDecoders.New = func() any {
		// Options are fixed values that NewReader accepts.
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		return &zstdDecoder{decoder: d}
	}
	c.zstdEncoders.New = func() any {
		// Zero frames: an empty payload still encodes to a valid frame.
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
		return e
	}
	c.scratch.New = func() any { return new([]byte) }
	return c
}

// Compress returns src compressed with codec in the framing Kafka clients
// read: a gzip stream, an lz4 frame, a zstd frame, or snappy in xerial
// framing (what Kafka's own producer and broker write; every client reads
// it). CodecNone returns a copy of src.
func (c *Codecs) Compress(codec Codec, src []byte) ([]byte, error) {
	return c.AppendCompressed(nil, codec, src)
}

// AppendCompressed appends src compressed with codec to dst and returns the
// extended slice. Recompress uses it to write the payload straight after a
// batch header.
func (c *Codecs) AppendCompressed(dst []byte, codec Codec, src []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		w := c.gzipWriters.Get().(*gzip.Writer)
		defer c.gzipWriters.Put(w)
		out := appendWriter{buf: dst}
		w.Reset(&out)
		defer w.Reset(nil) // drop the reference to out before pooling
		if _, err := w.Write(src); err != nil {
			return dst, fmt.Errorf("gzip compress: %w", err)
		}
		if err := w.Close(); err != nil {
			return dst, fmt.Errorf("gzip compress: %w", err)
		}
		return out.buf, nil
	case CodecSnappy:
		return appendXerial(dst, src), nil
	case CodecLz4:
		w := c.lz4Writers.Get().(*lz4.Writer)
		defer c.lz4Writers.Put(w)
		out := appendWriter{buf: dst}
		w.Reset(&out)
		defer w.Reset(nil)
		if _, err := w.Write(src); err != nil {
			return dst, fmt.Errorf("lz4 compress: %w", err)
		}
		if err := w.Close(); err != nil {
			return dst, fmt.Errorf("lz4 compress: %w", err)
		}
		return out.buf, nil
	case CodecZstd:
		e := c.zstdEncoders.Get().(*zstd.Encoder)
		defer c.zstdEncoders.Put(e)
		return e.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("compress with unknown codec %d", int8(codec))
}

// Decompress returns src decompressed with codec, in a new buffer the
// caller owns. Output larger than maxOut bytes is rejected with ErrCorrupt
// before more than about maxOut bytes are held (for zstd streams that do
// not declare their size, about twice max(maxOut, 8MB); see unzstd), so a
// decompression bomb costs bounded memory. Snappy is accepted both as a
// raw block (franz-go) and in xerial framing (Java, librdkafka). CodecNone
// returns a copy of src. An unknown codec or an undecodable payload is
// ErrCorrupt.
func (c *Codecs) Decompress(codec Codec, src []byte, maxOut int) ([]byte, error) {
	if codec == CodecNone {
		if len(src) > maxOut {
			return nil, fmt.Errorf("%w: %d bytes exceed the %d byte bound", ErrCorrupt, len(src), maxOut)
		}
		return slices.Clone(src), nil
	}
	return c.appendDecompressed(nil, codec, src, maxOut)
}

// appendDecompressed appends src decompressed with codec to dst, which must
// have length 0 (its capacity is reused). It is the one decompression path:
// Decompress gives it nil, Validate a pooled scratch buffer.
func (c *Codecs) appendDecompressed(dst []byte, codec Codec, src []byte, maxOut int) ([]byte, error) {
	maxOut = max(maxOut, 0)
	var (
		out []byte
		err error
	)
	switch codec {
	case CodecGzip:
		out, err = c.gunzip(dst, src, maxOut)
	case CodecSnappy:
		out, err = unsnappy(dst, src, maxOut)
	case CodecLz4:
		out, err = c.unlz4(dst, src, maxOut)
	case CodecZstd:
		out, err = c.unzstd(dst, src, maxOut)
	default:
		return dst, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, int8(codec))
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return dst, err
		}
		return dst, fmt.Errorf("%w: %s payload: %w", ErrCorrupt, codec, err)
	}
	if len(out) > maxOut {
		return dst, errTooLarge(codec, maxOut)
	}
	return out, nil
}

func errTooLarge(codec Codec, maxOut int) error {
	return fmt.Errorf("%w: %s payload decompresses past the %d byte bound", ErrCorrupt, codec, maxOut)
}

func (c *Codecs) gunzip(dst, src []byte, maxOut int) ([]byte, error) {
	d := c.gzipReaders.Get().(*gzipDecoder)
	defer c.gzipReaders.Put(d)
	defer d.src.Reset(nil) // do not pin the caller's buffer in the pool
	d.src.Reset(src)
	if err := d.reader.Reset(&d.src); err != nil {
		return dst, err
	}
	return readBounded(dst, &d.reader, CodecGzip, len(src), maxOut)
}

func (c *Codecs) unlz4(dst, src []byte, maxOut int) ([]byte, error) {
	d := c.lz4Readers.Get().(*lz4Decoder)
	defer c.lz4Readers.Put(d)
	defer d.reader.Reset(nil)
	defer d.src.Reset(nil)
	d.src.Reset(src)
	d.reader.Reset(&d.src)
	return readBounded(dst, d.reader, CodecLz4, len(src), maxOut)
}

// unzstd relies on the decoder's max-memory bound, which DecodeAll checks
// against a frame's declared content size before allocating and against
// the output after every block, so an undeclared bomb stops within one
// block (128KB) of the bound, though the output buffer, grown by doubling
// inside DecodeAll, may by then have twice that capacity. The decoder also refuses frames whose window
// exceeds that bound, although DecodeAll never allocates a window (its
// history is the output); the bound given to the decoder is therefore at
// least zstdWindowFloor, so a small maxOut does not turn away a streaming
// producer's frame (zstd-jni at level 3 declares a 2MB window, level 19
// 8MB) and the exact maxOut is enforced on the result.
func (c *Codecs) unzstd(dst, src []byte, maxOut int) ([]byte, error) {
	d := c.zstdDecoders.Get().(*zstdDecoder)
	defer c.zstdDecoders.Put(d)
	bound := max(maxOut, zstdWindowFloor)
	if d.max != bound {
		if err := d.decoder.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(bound))); err != nil {
			return dst, fmt.Errorf("reset zstd decoder: %w", err)
		}
		d.max = bound
	}
	out, err := d.decoder.DecodeAll(src, dst)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return dst, errTooLarge(CodecZstd, maxOut)
	}
	return out, err
}

// unsnappy decodes a raw snappy block or a xerial stream. Snappy states
// each block's decoded length up front, so the bound is checked before
// anything is allocated. s2's decoder reads snappy blocks (s2 is a
// superset of snappy).
func unsnappy(dst, src []byte, maxOut int) ([]byte, error) {
	if len(src) >= xerialHeaderSize && string(src[:len(xerialMagic)]) == xerialMagic {
		return unxerial(dst, src[xerialHeaderSize:], maxOut)
	}
	n, err := s2.DecodedLen(src)
	if err != nil {
		return dst, err
	}
	if n > maxOut {
		return dst, errTooLarge(CodecSnappy, maxOut)
	}
	dst = slices.Grow(dst, n)
	// Decode writes into dst's spare room when it is big enough.
	out, err := s2.Decode(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return dst, err
	}
	return dst[:len(dst)+len(out)], nil
}

// unxerial decodes the chunks after the xerial header: each is a big-endian
// int32 length and a raw snappy block. It walks the chunk headers first to
// check the total against the bound and grow dst once.
func unxerial(dst, chunks []byte, maxOut int) ([]byte, error) {
	total := 0
	for rest := chunks; len(rest) > 0; {
		block, next, err := nextXerialChunk(rest)
		if err != nil {
			return dst, err
		}
		n, err := s2.DecodedLen(block)
		if err != nil {
			return dst, err
		}
		total += n
		if total > maxOut {
			return dst, errTooLarge(CodecSnappy, maxOut)
		}
		rest = next
	}
	dst = slices.Grow(dst, total)
	for rest := chunks; len(rest) > 0; {
		block, next, _ := nextXerialChunk(rest) // checked above
		n, _ := s2.DecodedLen(block)
		if _, err := s2.Decode(dst[len(dst):len(dst)+n], block); err != nil {
			return dst, err
		}
		dst = dst[:len(dst)+n]
		rest = next
	}
	return dst, nil
}

func nextXerialChunk(b []byte) (block, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: snappy: xerial chunk header cut short", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: snappy: xerial chunk of %d bytes, %d left", ErrCorrupt, n, len(b))
	}
	return b[:n], b[n:], nil
}

// appendXerial appends src as a xerial stream: the header with version 1
// and minimum compatible version 1 (snappy-java rejects lower), then 32KB
// chunks, each a big-endian length and a raw snappy block.
func appendXerial(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1)
	dst = binary.BigEndian.AppendUint32(dst, 1)
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		dst = slices.Grow(dst, 4+s2.MaxEncodedLen(n))
		at := len(dst)
		// EncodeSnappy writes into the spare room past the length slot
		// when it fits, which the Grow above ensures.
		block := s2.EncodeSnappy(dst[at+4:cap(dst)], src[:n])
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(block)))
		dst = dst[:at+4+len(block)]
		src = src[n:]
	}
	return dst
}

// readBounded reads r to its end into dst's spare room, growing it, and
// fails once more than maxOut bytes have come out. The buffer never grows
// past maxOut+1 bytes, which is how a bomb is caught cheaply.
func readBounded(dst []byte, r io.Reader, codec Codec, srcLen, maxOut int) ([]byte, error) {
	limit := maxOut + 1
	if cap(dst) == 0 {
		// A first guess at the ratio; Kafka payloads commonly compress 2-5x.
		dst = make([]byte, 0, min(limit, max(4*srcLen, 512)))
	}
	for {
		if len(dst) == cap(dst) {
			if cap(dst) >= limit {
				return dst, errTooLarge(codec, maxOut)
			}
			dst = slices.Grow(dst, min(limit, 2*cap(dst))-len(dst))
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit)])
		dst = dst[:len(dst)+n]
		if len(dst) > maxOut {
			return dst, errTooLarge(codec, maxOut)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// appendWriter is an io.Writer appending to a slice, so compressors can
// write straight behind a batch header.
type appendWriter struct{ buf []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// getScratch and putScratch lend a buffer for decompressed data that does
// not outlive the call (Validate reads it and drops it).
func (c *Codecs) getScratch() *[]byte { return c.scratch.Get().(*[]byte) }

func (c *Codecs) putScratch(b *[]byte, used []byte) {
	if cap(used) > maxPooledScratch {
		return
	}
	*b = used[:0]
	c.scratch.Put(b)
}
