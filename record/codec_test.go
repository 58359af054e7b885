package record

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

func snappyBlock(raw []byte) []byte { return s2.EncodeSnappy(nil, raw) }

// codecInputs are payloads every codec must carry unchanged.
func codecInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"empty":                 {},
		"one byte":              {42},
		"records":               encodeRecords(testRecords(100, 1000)),
		"incompressible":        random,
		"several xerial blocks": bytes.Repeat([]byte("0123456789abcdef"), 5*xerialBlockSize/16+7),
	}
}

func TestCompressDecompressRoundTripsEveryCodec(t *testing.T) {
	c := NewCodecs()
	for name, in := range codecInputs() {
		for _, codec := range allCodecs {
			t.Run(name+"/"+codec.String(), func(t *testing.T) {
				compressed, err := c.Compress(codec, in)
				if err != nil {
					t.Fatalf("Compress: %v", err)
				}
				out, err := c.Decompress(codec, compressed, len(in))
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("round trip changed %d bytes into %d", len(in), len(out))
				}
			})
		}
	}
}

// Kafka clients must read what samsa writes when it recompresses, and samsa
// must read what they produce; franz-go's codecs stand in for them.
func TestCodecsInteroperateWithFranzGo(t *testing.T) {
	c := NewCodecs()
	in := encodeRecords(testRecords(300, 500))
	kgoCodecs := map[Codec]kgo.CompressionCodec{
		CodecGzip:   kgo.GzipCompression(),
		CodecSnappy: kgo.SnappyCompression(),
		CodecLz4:    kgo.Lz4Compression(),
		CodecZstd:   kgo.ZstdCompression(),
	}
	for codec, kc := range kgoCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			ours, err := c.Compress(codec, in)
			if err != nil {
				t.Fatalf("Compress: %v", err)
			}
			out, err := kgo.DefaultDecompressor().Decompress(ours, kgo.CompressionCodecType(codec))
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("franz-go reading ours: err %v, equal %v", err, bytes.Equal(out, in))
			}

			comp, err := kgo.DefaultCompressor(kc)
			if err != nil {
				t.Fatalf("kgo compressor: %v", err)
			}
			theirs, used := comp.Compress(new(bytes.Buffer), in)
			if used != kgo.CompressionCodecType(codec) {
				t.Fatalf("kgo used codec %d", used)
			}
			out, err = c.Decompress(codec, theirs, len(in))
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("reading franz-go's: err %v, equal %v", err, bytes.Equal(out, in))
			}
		})
	}
}

func TestDecompressSnappyAcceptsRawAndXerial(t *testing.T) {
	c := NewCodecs()
	in := bytes.Repeat([]byte("kafka snappy payload "), 10_000)
	tests := []struct {
		name string
		src  []byte
		want []byte
	}{
		{"raw block", snappyBlock(in), in},
		{"xerial 32KB blocks", xerialFrame(t, in, 32<<10), in},
		{"xerial 1KB blocks", xerialFrame(t, in, 1<<10), in},
		{"xerial header only", xerialFrame(t, nil, 1<<10), nil},
		{"raw empty block", snappyBlock(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.Decompress(CodecSnappy, tt.src, len(in))
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if !bytes.Equal(out, tt.want) {
				t.Fatalf("got %d bytes, want %d", len(out), len(tt.want))
			}
		})
	}
}

func TestDecompressRejectsBadInput(t *testing.T) {
	c := NewCodecs()
	in := encodeRecords(testRecords(20, 100))
	compressed := map[Codec][]byte{}
	for _, codec := range allCodecs[1:] {
		b, err := c.Compress(codec, in)
		if err != nil {
			t.Fatal(err)
		}
		compressed[codec] = b
	}
	garbage := []byte("this is not compressed data, whatever the codec says....")
	xerialOverrun := append(xerialFrame(t, []byte("abc"), 8), 0, 0, 0x10, 0, 1, 2)
	tests := []struct {
		name  string
		codec Codec
		src   []byte
	}{
		{"unknown codec 5", Codec(5), compressed[CodecGzip]},
		{"unknown codec 7", Codec(7), compressed[CodecGzip]},
		{"negative codec", Codec(-1), compressed[CodecGzip]},
		{"gzip garbage", CodecGzip, garbage},
		{"snappy garbage", CodecSnappy, garbage},
		{"lz4 garbage", CodecLz4, garbage},
		{"zstd garbage", CodecZstd, garbage},
		{"gzip truncated", CodecGzip, compressed[CodecGzip][:len(compressed[CodecGzip])/2]},
		{"snappy truncated", CodecSnappy, compressed[CodecSnappy][:len(compressed[CodecSnappy])-3]},
		{"lz4 truncated", CodecLz4, compressed[CodecLz4][:len(compressed[CodecLz4])/2]},
		{"zstd truncated", CodecZstd, compressed[CodecZstd][:len(compressed[CodecZstd])/2]},
		{"gzip empty", CodecGzip, nil},
		{"xerial chunk overruns", CodecSnappy, xerialOverrun},
		{"xerial chunk header cut", CodecSnappy, append(xerialFrame(t, []byte("abc"), 8), 0, 0)},
		{"gzip with wrong codec", CodecZstd, compressed[CodecGzip]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Decompress(tt.codec, tt.src, 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decompress = %v, want ErrCorrupt", err)
			}
		})
	}
}

// A small payload that expands hugely must fail once the bound is passed,
// allocating about the bound rather than the expansion.
func TestDecompressBoundsOutput(t *testing.T) {
	c := NewCodecs()
	const bound = 1 << 20
	type bomb struct {
		codec    Codec
		src      []byte
		maxAlloc uint64
	}
	bombs := map[string]bomb{}
	zeros := make([]byte, 24<<20)
	for _, codec := range allCodecs[1:] {
		src, err := c.Compress(codec, zeros)
		if err != nil {
			t.Fatal(err)
		}
		// zstd's frames from EncodeAll declare their size and are turned
		// away before decoding; the others stop at the bound.
		bombs[codec.String()] = bomb{codec, src, 8 << 20}
	}
	zeros = nil

	// A zstd stream from the streaming encoder (as zstd-jni writes) does
	// not declare its size, so only the decoder's per-block check stops
	// it, at the 8MB floor (see unzstd), with the output buffer grown by
	// doubling: about 45MB allocated in all, whatever the expansion.
	var stream bytes.Buffer
	enc, err := zstd.NewWriter(&stream, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range 128 {
		if _, err := enc.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	bombs["zstd 128MB stream without content size"] = bomb{CodecZstd, stream.Bytes(), 64 << 20}

	for name, bm := range bombs {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := c.Decompress(bm.codec, bm.src, bound)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decompress = %v, want ErrCorrupt", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > bm.maxAlloc {
				t.Fatalf("allocated %d MB decompressing a %d byte bomb bounded at 1MB, want at most %d MB",
					grew>>20, len(bm.src), bm.maxAlloc>>20)
			}
		})
	}
}

func TestDecompressBoundIsInclusive(t *testing.T) {
	c := NewCodecs()
	in := bytes.Repeat([]byte("x"), 10_000)
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			src, err := c.Compress(codec, in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Decompress(codec, src, len(in)); err != nil {
				t.Fatalf("at the bound: %v", err)
			}
			if _, err := c.Decompress(codec, src, len(in)-1); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("one past the bound: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestCodecsAreSafeForConcurrentUse(t *testing.T) {
	c := NewCodecs()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				codec := allCodecs[(g+i)%len(allCodecs)]
				in := encodeRecords(testRecords(10+g, 100*i))
				src, err := c.Compress(codec, in)
				if err != nil {
					errs <- err
					return
				}
				out, err := c.Decompress(codec, src, len(in))
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(out, in) {
					errs <- errors.New(codec.String() + ": round trip differs")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCodecString(t *testing.T) {
	tests := map[Codec]string{CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLz4: "lz4", CodecZstd: "zstd", 6: "codec(6)"}
	for codec, want := range tests {
		if got := codec.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", int8(codec), got, want)
		}
	}
}
