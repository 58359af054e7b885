package log

import (
	"errors"
	"fmt"
	"io"

	"github.com/samsa-broker/samsa/record"
)

// Buffer sizes for reading segments: recovery and producer-state replay read
// big chunks (one pread per MiB, not one per batch); offset searches read
// around one index interval.
const (
	scanChunkSize   = 1 << 20
	searchChunkSize = 16 << 10
)

// errTornBatch means the bytes at a position are not a whole batch: the file
// ends inside it, or its header does not parse.
var errTornBatch = errors.New("torn or invalid batch")

// batchScanner walks the batches of a segment file from a position, reading
// the file in chunks through ReadAt so that it runs concurrently with
// appends. With wantBody it returns each whole batch (for CRC checks),
// otherwise only headers, skipping bodies without reading them when they
// are larger than the buffer.
type batchScanner struct {
	r        io.ReaderAt
	pos, end int64 // next batch position; end of readable data
	wantBody bool

	buf    []byte
	bufPos int64 // file position of buf[0]
	bufLen int   // valid bytes in buf
}

func newBatchScanner(r io.ReaderAt, pos, end int64, chunk int, wantBody bool) *batchScanner {
	if avail := end - pos; avail < int64(chunk) {
		chunk = int(max(avail, record.HeaderSize))
	}
	return &batchScanner{r: r, pos: pos, end: end, wantBody: wantBody, buf: make([]byte, chunk)}
}

// next returns the header of the batch at s.pos, its position and, with
// wantBody, its bytes (valid until the next call). It returns io.EOF at the
// end, and an error wrapping errTornBatch when the data there is not a whole
// batch with a parseable header (the caller decides whether that is a torn
// tail or corruption).
func (s *batchScanner) next() (h record.Header, body []byte, pos int64, err error) {
	pos = s.pos
	if pos >= s.end {
		return h, nil, pos, io.EOF
	}
	if s.end-pos < record.HeaderSize {
		return h, nil, pos, fmt.Errorf("%w: %d bytes left at position %d, a header needs %d", errTornBatch, s.end-pos, pos, record.HeaderSize)
	}
	hdr, err := s.window(pos, record.HeaderSize)
	if err != nil {
		return h, nil, pos, err
	}
	h, err = record.ParseHeader(hdr)
	if err != nil {
		return h, nil, pos, fmt.Errorf("%w at position %d: %v", errTornBatch, pos, err)
	}
	size := int64(h.Size())
	if s.end-pos < size {
		return h, nil, pos, fmt.Errorf("%w: batch at position %d is %d bytes, %d left", errTornBatch, pos, size, s.end-pos)
	}
	if s.wantBody {
		if body, err = s.window(pos, int(size)); err != nil {
			return h, nil, pos, err
		}
	}
	s.pos = pos + size
	return h, body, pos, nil
}

// window returns the n bytes at file position pos, reading a new chunk when
// they are not all buffered and growing the buffer for a batch bigger than it.
func (s *batchScanner) window(pos int64, n int) ([]byte, error) {
	if pos >= s.bufPos && pos+int64(n) <= s.bufPos+int64(s.bufLen) {
		off := int(pos - s.bufPos)
		return s.buf[off : off+n], nil
	}
	if n > len(s.buf) {
		s.buf = make([]byte, n)
	}
	want := int(min(int64(len(s.buf)), s.end-pos))
	got, err := s.r.ReadAt(s.buf[:want], pos)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %d bytes at position %d: %w", n, pos, err)
	}
	s.bufPos, s.bufLen = pos, got
	return s.buf[:n], nil
}
