package protocol

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Seed corpora live in testdata/fuzz/<target>/: real requests as kgo encodes
// them (every ApiVersions version, Metadata, Produce with a record batch,
// ListGroups with an empty body, ControlledShutdown v0's header v0, header
// tags, the v5 ApiVersions fallback) and a few malformed ones.

// FuzzParseRequestHeader: any frame payload parses or fails cleanly, and a
// parsed header agrees with the bytes it came from.
func FuzzParseRequestHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := parseRequestHeader(payload)
		if err != nil {
			return
		}
		if p.APIKey != int16(binary.BigEndian.Uint16(payload)) ||
			p.APIVersion != int16(binary.BigEndian.Uint16(payload[2:])) ||
			p.CorrelationID != int32(binary.BigEndian.Uint32(payload[4:])) {
			t.Fatalf("header %+v does not match the payload %x", p.Header, payload[:8])
		}
		if !bytes.HasSuffix(payload, p.body) || len(p.body) > len(payload)-8 {
			t.Fatalf("body is not a suffix of the payload after the fixed fields")
		}
		if p.req == nil || p.req.Key() != p.APIKey || p.req.GetVersion() != p.APIVersion {
			t.Fatalf("request kind does not match the header")
		}
	})
}

// decodeAllocFactor bounds what decoding a payload may allocate, per payload
// byte, on top of decodeAllocSlack. kmsg sizes each array from its length
// field, checked against the bytes left at the element's minimum encoded size,
// so allocation grows with the payload, not with what the payload claims.
const (
	decodeAllocFactor = 64
	decodeAllocSlack  = 256 << 10
)

// FuzzDecodeRequest: any frame payload decodes or fails cleanly against the
// test table, never panics, and allocates in proportion to its size.
func FuzzDecodeRequest(f *testing.F) {
	table := testVersionTable()
	// Advertise every kmsg request at every version, so the fuzzer reaches
	// all of kmsg's decoders, not only the few the test table serves.
	all := map[int16]VersionRange{}
	for key := int16(0); key < 200; key++ {
		if req := kmsg.RequestForKey(key); req != nil {
			all[key] = VersionRange{Min: 0, Max: req.MaxVersion()}
		}
	}
	wide := newVersionTable(all, nil, 1, slog.New(slog.DiscardHandler))

	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, tbl := range []*versionTable{table, wide} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			d, err := decodeRequest(payload, tbl)
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(allocScale*(decodeAllocFactor*len(payload)+decodeAllocSlack)) {
				t.Fatalf("decoding %d bytes (%s v%d) allocated %d bytes", len(payload), kmsg.NameForKey(d.Header.APIKey), d.Header.APIVersion, alloc)
			}
			if err != nil {
				continue
			}
			switch {
			case d.unsupportedAPIVersions:
				if d.Header.APIKey != apiVersionsKey || d.Body != nil {
					t.Fatalf("fallback for %+v", d.Header)
				}
			case d.Body == nil || d.Body.Key() != d.Header.APIKey || d.Body.GetVersion() != d.Header.APIVersion:
				t.Fatalf("decoded body does not match header %+v", d.Header)
			case !tbl.supports(d.Header.APIKey, d.Header.APIVersion):
				t.Fatalf("decoded %+v outside the advertised table", d.Header)
			}
			if d.Header.APIKey == apiVersionsKey {
				resp, version := tbl.apiVersionsResponse(d)
				resp.SetVersion(version)
				appendResponseFrame(nil, d.Header.CorrelationID, resp)
			}
		}
	})
}

// FuzzConnection pushes arbitrary bytes through a live connection (both
// goroutines, over net.Pipe) whose handler answers immediately, through Wait
// or not at all depending on the correlation ID. Whatever arrives, the
// connection must not panic, must end when the client closes, and Close must
// leave no goroutine behind.
func FuzzConnection(f *testing.F) {
	handler := HandlerFunc(func(ctx context.Context, req *Request) (Reply, error) {
		resp := req.Body.ResponseKind()
		switch req.Header.CorrelationID % 3 {
		case 1:
			return Reply{Wait: func() kmsg.Response { return resp }}, nil
		case 2:
			return Reply{NoResponse: true}, nil
		}
		return Reply{Response: resp}, nil
	})
	all := map[int16]VersionRange{}
	for key := int16(0); key < 200; key++ {
		if req := kmsg.RequestForKey(key); req != nil {
			all[key] = VersionRange{Min: 0, Max: req.MaxVersion()}
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewServer(Config{
			Handler:         handler,
			Versions:        all,
			MaxRequestBytes: 1 << 16,
			MaxInFlight:     4,
			IdleTimeout:     -1,
		})
		client, server := net.Pipe()
		s.startConn(server)

		drained := make(chan struct{})
		go func() {
			defer close(drained)
			_, _ = io.Copy(io.Discard, client)
		}()
		_, _ = client.Write(data) // fails once the server has closed its end
		_ = client.Close()
		<-drained
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkNoServerGoroutines(t)
	})
}
