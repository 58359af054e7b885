package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// payloadOf returns the frame payload (without size) kgo sends for req.
func payloadOf(req kmsg.Request, correlationID int32, clientID string) []byte {
	return encodeRequest(req, correlationID, clientID)[4:]
}

func controlledShutdown(version int16) *kmsg.ControlledShutdownRequest {
	req := kmsg.NewPtrControlledShutdownRequest()
	req.Version = version
	req.BrokerID = 3
	return req
}

func TestParseRequestHeaderFollowsKafkaHeaderVersions(t *testing.T) {
	nullClientID := append(binary.BigEndian.AppendUint16(nil, 3), 0, 9, 0, 0, 0, 42, 0xff, 0xff) // Metadata v9, null client id
	nullClientID = append(nullClientID, 0)                                                       // empty header tags
	nullClientID = append(nullClientID, metadataRequest(9, "t").AppendTo(nil)...)

	withHeaderTags := append(binary.BigEndian.AppendUint16(nil, 3), 0, 9, 0, 0, 0, 42, 0, 1, 'c')
	withHeaderTags = append(withHeaderTags, 2, 0, 3, 'x', 'y', 'z', 7, 0) // two unknown header tags
	withHeaderTags = append(withHeaderTags, metadataRequest(9, "t").AppendTo(nil)...)

	// Crafted: kmsg's RequestFormatter does not frame ControlledShutdown
	// v0 (it returns before the body).
	controlledShutdownV0 := append([]byte{0, 7, 0, 0, 0, 0, 0, 3}, controlledShutdown(0).AppendTo(nil)...)

	tests := []struct {
		name     string
		payload  []byte
		want     Header
		wantBody []byte
	}{
		{
			name:     "v1 header: non-flexible Metadata v1",
			payload:  payloadOf(metadataRequest(1, "t"), 7, "producer-1"),
			want:     Header{APIKey: 3, APIVersion: 1, CorrelationID: 7, ClientID: kmsg.StringPtr("producer-1")},
			wantBody: metadataRequest(1, "t").AppendTo(nil),
		},
		{
			name:     "v2 header: flexible Metadata v12 with empty tags",
			payload:  payloadOf(metadataRequest(12, "t"), 8, "c"),
			want:     Header{APIKey: 3, APIVersion: 12, CorrelationID: 8, ClientID: kmsg.StringPtr("c")},
			wantBody: metadataRequest(12, "t").AppendTo(nil),
		},
		{
			name:     "v2 header: unknown tagged fields skipped",
			payload:  withHeaderTags,
			want:     Header{APIKey: 3, APIVersion: 9, CorrelationID: 42, ClientID: kmsg.StringPtr("c")},
			wantBody: metadataRequest(9, "t").AppendTo(nil),
		},
		{
			name:     "null client id",
			payload:  nullClientID,
			want:     Header{APIKey: 3, APIVersion: 9, CorrelationID: 42},
			wantBody: metadataRequest(9, "t").AppendTo(nil),
		},
		{
			name:     "ApiVersions v2 uses header v1",
			payload:  payloadOf(apiVersionsRequest(2), 1, "c"),
			want:     Header{APIKey: 18, APIVersion: 2, CorrelationID: 1, ClientID: kmsg.StringPtr("c")},
			wantBody: []byte{},
		},
		{
			name:     "ApiVersions v3 uses header v2",
			payload:  payloadOf(apiVersionsRequest(3), 2, "c"),
			want:     Header{APIKey: 18, APIVersion: 3, CorrelationID: 2, ClientID: kmsg.StringPtr("c")},
			wantBody: apiVersionsRequest(3).AppendTo(nil),
		},
		{
			name:     "ControlledShutdown v0 uses header v0 without client id",
			payload:  controlledShutdownV0,
			want:     Header{APIKey: 7, APIVersion: 0, CorrelationID: 3},
			wantBody: controlledShutdown(0).AppendTo(nil),
		},
		{
			name:     "ControlledShutdown v1 uses header v1",
			payload:  payloadOf(controlledShutdown(1), 4, "broker"),
			want:     Header{APIKey: 7, APIVersion: 1, CorrelationID: 4, ClientID: kmsg.StringPtr("broker")},
			wantBody: controlledShutdown(1).AppendTo(nil),
		},
		{
			name:     "ControlledShutdown v3 uses header v2",
			payload:  payloadOf(controlledShutdown(3), 5, "broker"),
			want:     Header{APIKey: 7, APIVersion: 3, CorrelationID: 5, ClientID: kmsg.StringPtr("broker")},
			wantBody: controlledShutdown(3).AppendTo(nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseRequestHeader(tt.payload)
			if err != nil {
				t.Fatalf("parseRequestHeader: %v", err)
			}
			if !sameHeader(p.Header, tt.want) {
				t.Errorf("header = %+v (client id %v), want %+v (client id %v)", p.Header, deref(p.ClientID), tt.want, deref(tt.want.ClientID))
			}
			if !bytes.Equal(p.body, tt.wantBody) {
				t.Errorf("body = %x, want %x", p.body, tt.wantBody)
			}
			if p.req.Key() != tt.want.APIKey || p.req.GetVersion() != tt.want.APIVersion {
				t.Errorf("request kind %d v%d, want %d v%d", p.req.Key(), p.req.GetVersion(), tt.want.APIKey, tt.want.APIVersion)
			}
		})
	}
}

func TestParseRequestHeaderRejectsMalformedHeaders(t *testing.T) {
	base := func(key, version int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		return binary.BigEndian.AppendUint32(b, 99)
	}
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty", nil, errMalformedHeader},
		{"shorter than the fixed fields", []byte{0, 3, 0, 1, 0, 0, 0}, errMalformedHeader},
		{"unknown api key", append(base(9999, 0), 0xff, 0xff), errUnknownAPIKey},
		{"negative api key", append(base(-1, 0), 0xff, 0xff), errUnknownAPIKey},
		{"client id length missing", base(3, 1), errMalformedHeader},
		{"client id length below -1", append(base(3, 1), 0xff, 0xfe), errMalformedHeader},
		{"client id longer than payload", append(base(3, 1), 0, 10, 'a'), errMalformedHeader},
		{"flexible header without tag section", append(base(3, 9), 0xff, 0xff), errMalformedHeader},
		{"tag count larger than the bytes", append(base(3, 9), 0xff, 0xff, 5, 0, 0), errMalformedHeader},
		{"tag size larger than the bytes", append(base(3, 9), 0xff, 0xff, 1, 0, 9, 1), errMalformedHeader},
		{"varint over 32 bits", append(base(3, 9), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), errMalformedHeader},
		{"varint cut short", append(base(3, 9), 0xff, 0xff, 0x80), errMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRequestHeader(tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func sameHeader(a, b Header) bool {
	return a.APIKey == b.APIKey && a.APIVersion == b.APIVersion && a.CorrelationID == b.CorrelationID &&
		(a.ClientID == nil) == (b.ClientID == nil) && deref(a.ClientID) == deref(b.ClientID)
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestReadFrame(t *testing.T) {
	sized := func(size int32, rest ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(size)), rest...)
	}
	tests := []struct {
		name      string
		in        []byte
		max       int32
		want      []byte
		wantErr   error
		wantSize  bool
		wantShort bool
	}{
		{name: "one frame", in: sized(3, 1, 2, 3), max: 10, want: []byte{1, 2, 3}},
		{name: "empty frame", in: sized(0), max: 10, want: []byte{}},
		{name: "frame at the maximum", in: sized(4, 1, 2, 3, 4), max: 4, want: []byte{1, 2, 3, 4}},
		{name: "clean EOF", in: nil, max: 10, wantErr: io.EOF},
		{name: "EOF inside the size", in: []byte{0, 0}, max: 10, wantShort: true},
		{name: "EOF inside the payload", in: sized(5, 1, 2), max: 10, wantShort: true},
		{name: "size over the maximum", in: sized(5, 1, 2, 3, 4, 5), max: 4, wantSize: true},
		{name: "negative size", in: sized(-1), max: 4, wantSize: true},
		{name: "min int32 size", in: sized(math.MinInt32), max: 4, wantSize: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readFrame(bytes.NewReader(tt.in), tt.max)
			var sizeErr *FrameSizeError
			switch {
			case tt.wantSize:
				if !errors.As(err, &sizeErr) {
					t.Fatalf("err = %v, want *FrameSizeError", err)
				}
			case tt.wantShort:
				if !errors.Is(err, errShortFrame) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err = %v, want errShortFrame wrapping io.ErrUnexpectedEOF", err)
				}
			case tt.wantErr != nil:
				if err != tt.wantErr {
					t.Fatalf("err = %v, want exactly %v", err, tt.wantErr)
				}
			default:
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("readFrame = %x, %v; want %x", got, err, tt.want)
				}
			}
		})
	}
}

// TestReadFrameLargeFrameGrowsWithData proves a frame larger than
// frameGrowChunk is read correctly and that a size prefix alone does not buy
// an allocation of that size.
func TestReadFrameLargeFrameGrowsWithData(t *testing.T) {
	const size = 2*frameGrowChunk + 123
	payload := bytes.Repeat([]byte("samsa"), size/5+1)[:size]
	in := append(binary.BigEndian.AppendUint32(nil, size), payload...)
	got, err := readFrame(bytes.NewReader(in), DefaultMaxRequestBytes)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("readFrame of %d bytes: err %v, equal %v", size, err, bytes.Equal(got, payload))
	}

	claim := binary.BigEndian.AppendUint32(nil, uint32(DefaultMaxRequestBytes))
	claim = append(claim, "only a few bytes"...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = readFrame(bytes.NewReader(claim), DefaultMaxRequestBytes)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errShortFrame) {
		t.Fatalf("err = %v, want errShortFrame", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*frameGrowChunk {
		t.Fatalf("a %d-byte claim with %d bytes sent allocated %d bytes", DefaultMaxRequestBytes, len(claim)-4, alloc)
	}
}

func TestAppendResponseFrameHeaderVersions(t *testing.T) {
	tests := []struct {
		name    string
		resp    kmsg.Response
		wantTag bool
	}{
		{"non-flexible Metadata v8: header v0", &kmsg.MetadataResponse{Version: 8}, false},
		{"flexible Metadata v9: header v1", &kmsg.MetadataResponse{Version: 9}, true},
		{"ApiVersions v0: header v0", &kmsg.ApiVersionsResponse{Version: 0}, false},
		{"flexible ApiVersions v3: still header v0 (KIP-511)", &kmsg.ApiVersionsResponse{Version: 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := appendResponseFrame([]byte("prefix"), 77, tt.resp)
			if !strings.HasPrefix(string(frame), "prefix") {
				t.Fatal("appendResponseFrame overwrote dst")
			}
			frame = frame[len("prefix"):]
			want := binary.BigEndian.AppendUint32(nil, 77)
			if tt.wantTag {
				want = append(want, 0)
			}
			want = tt.resp.AppendTo(want)
			want = append(binary.BigEndian.AppendUint32(nil, uint32(len(want))), want...)
			if !bytes.Equal(frame, want) {
				t.Fatalf("frame = %x, want %x", frame, want)
			}
		})
	}
}
