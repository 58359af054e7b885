package protocol

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func testVersionTable() *versionTable {
	return newVersionTable(testVersions(), nil, 1, slog.New(slog.DiscardHandler))
}

func TestDecodeRequest(t *testing.T) {
	withTrailing := append(payloadOf(metadataRequest(12, "orders"), 1, "c"), 0)
	garbageMetadata := append(payloadOf(metadataRequest(12, "orders"), 1, "c")[:13], 0xff, 0xff, 0xff, 0xff, 0x0f)
	unsupportedAPIVersions := func(version int16) []byte {
		// A header only: a newer client's body is not something we can
		// or should parse.
		p := payloadOf(apiVersionsRequest(4), 9, "c")[:8]
		p[2], p[3] = byte(uint16(version)>>8), byte(version)
		return append(p, 0, 1, 'c', 0, 0xde, 0xad, 0xbe, 0xef)
	}

	tests := []struct {
		name            string
		payload         []byte
		wantErr         error
		wantBody        kmsg.Request
		wantUnsupported bool
	}{
		{name: "Metadata v12", payload: payloadOf(metadataRequest(12, "orders"), 1, "c"), wantBody: metadataRequest(12, "orders")},
		{name: "Metadata v0", payload: payloadOf(metadataRequest(0, "orders"), 1, "c"), wantBody: metadataRequest(0, "orders")},
		{name: "ApiVersions v4", payload: payloadOf(apiVersionsRequest(4), 1, "c"), wantBody: apiVersionsRequest(4)},
		{name: "ApiVersions v0", payload: payloadOf(apiVersionsRequest(0), 1, "c"), wantBody: &kmsg.ApiVersionsRequest{Version: 0, NodeID: -1}},
		{name: "ApiVersions v5 is not served", payload: unsupportedAPIVersions(5), wantUnsupported: true},
		{name: "ApiVersions v32767", payload: unsupportedAPIVersions(32767), wantUnsupported: true},
		{name: "ApiVersions negative version", payload: unsupportedAPIVersions(-1), wantUnsupported: true},
		{name: "Metadata above the advertised range", payload: payloadOf(metadataRequest(14, "x"), 1, "c"), wantErr: errUnsupportedVersion},
		{name: "Produce below the advertised range", payload: payloadOf(&kmsg.ProduceRequest{Version: 2}, 1, "c"), wantErr: errUnsupportedVersion},
		{name: "known key not advertised (Fetch)", payload: payloadOf(kmsg.NewPtrFetchRequest(), 1, "c"), wantErr: errUnknownAPIKey},
		{name: "body with trailing bytes", payload: withTrailing, wantErr: errTrailingBytes},
		{name: "garbage body", payload: garbageMetadata, wantErr: errMalformedBody},
		{name: "ApiVersions v3 with a cut body", payload: payloadOf(apiVersionsRequest(3), 1, "c")[:12], wantErr: errMalformedBody},
	}
	table := testVersionTable()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decodeRequest(tt.payload, table)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeRequest: %v", err)
			}
			if d.unsupportedAPIVersions != tt.wantUnsupported {
				t.Fatalf("unsupportedAPIVersions = %v, want %v", d.unsupportedAPIVersions, tt.wantUnsupported)
			}
			if tt.wantUnsupported {
				if d.Body != nil {
					t.Fatalf("body of an unsupported ApiVersions request was decoded: %+v", d.Body)
				}
				return
			}
			if !reflect.DeepEqual(d.Body, tt.wantBody) {
				t.Fatalf("body = %+v, want %+v", d.Body, tt.wantBody)
			}
		})
	}
}

// TestHasTrailingBytesOverEveryKmsgRequest checks the trailing-byte probe
// against every request kmsg knows at every version: the encoding of a
// default request has no trailing bytes, and one extra byte is detected.
func TestHasTrailingBytesOverEveryKmsgRequest(t *testing.T) {
	checked := 0
	for key := int16(0); key < 200; key++ {
		proto := kmsg.RequestForKey(key)
		if proto == nil {
			continue
		}
		for v := int16(0); v <= proto.MaxVersion(); v++ {
			req := kmsg.RequestForKey(key)
			req.SetVersion(v)
			body := req.AppendTo(nil)
			dec := kmsg.RequestForKey(key)
			dec.SetVersion(v)
			if err := dec.ReadFrom(body); err != nil {
				t.Fatalf("%s v%d: decode own encoding: %v", kmsg.NameForKey(key), v, err)
			}
			if hasTrailingBytes(dec, body) {
				t.Errorf("%s v%d: exact body reported as having trailing bytes", kmsg.NameForKey(key), v)
			}
			long := append(body, 0)
			if err := dec.ReadFrom(long); err != nil {
				t.Fatalf("%s v%d: decode with an extra byte: %v", kmsg.NameForKey(key), v, err)
			}
			if !hasTrailingBytes(dec, long) {
				t.Errorf("%s v%d: trailing byte not detected", kmsg.NameForKey(key), v)
			}
			checked++
		}
	}
	if checked < 300 {
		t.Fatalf("checked only %d request versions", checked)
	}
}

func TestNewVersionTableKeepsOnlyServableRanges(t *testing.T) {
	table := newVersionTable(map[int16]VersionRange{
		3:     {Min: 0, Max: 100}, // clamped to kmsg's max
		1:     {Min: 4, Max: 2},   // empty: dropped
		2:     {Min: -1, Max: 3},  // negative: dropped
		9999:  {Min: 0, Max: 1},   // unknown to kmsg: dropped
		18:    {Min: 0, Max: 1},   // ApiVersions: ours
		16:    {Min: 1, Max: 4},
		32000: {Min: 0, Max: 0},
	}, []Feature{}, 5, slog.New(slog.DiscardHandler))
	want := []kmsg.ApiVersionsResponseApiKey{
		{ApiKey: 3, MinVersion: 0, MaxVersion: kmsg.NewPtrMetadataRequest().MaxVersion()},
		{ApiKey: 16, MinVersion: 1, MaxVersion: 4},
		{ApiKey: 18, MinVersion: 0, MaxVersion: 4},
	}
	if !reflect.DeepEqual(table.apiKeys, want) {
		t.Fatalf("apiKeys = %+v, want %+v", table.apiKeys, want)
	}
	if len(table.supported) != 0 || len(table.finalized) != 0 || table.finalizedEpoch != -1 {
		t.Fatalf("empty features: supported %v finalized %v epoch %d", table.supported, table.finalized, table.finalizedEpoch)
	}
}

func TestValidSoftwareNameOrVersion(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"franz-go", true},
		{"apache-kafka-java", true},
		{"3.9.0", true},
		{"a", true},
		{"1.0.0-SNAPSHOT", true},
		{"", false},
		{"-franz", false},
		{"franz-", false},
		{".1", false},
		{"1.", false},
		{"franz go", false},
		{"franz_go", false},
		{"ünicode", false},
	}
	for _, tt := range tests {
		if got := validSoftwareNameOrVersion(tt.s); got != tt.want {
			t.Errorf("validSoftwareNameOrVersion(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// TestDecodeAllocationIsProportional decodes, for every kmsg request at every
// version, a request whose top-level arrays hold 2000 default (minimal)
// elements, the shape that makes kmsg allocate most per byte, and checks the
// allocation stays within decodeAllocFactor bytes per payload byte (the bound
// FuzzDecodeRequest also enforces). The trailing-byte probe is included.
func TestDecodeAllocationIsProportional(t *testing.T) {
	all := map[int16]VersionRange{}
	for key := int16(0); key < 200; key++ {
		if req := kmsg.RequestForKey(key); req != nil {
			all[key] = VersionRange{Min: 0, Max: req.MaxVersion()}
		}
	}
	wide := newVersionTable(all, nil, 1, slog.New(slog.DiscardHandler))
	worst, worstName := 0.0, ""
	for key := range all {
		for v := int16(0); v <= all[key].Max; v++ {
			req := kmsg.RequestForKey(key)
			req.SetVersion(v)
			fillTopLevelArrays(reflect.ValueOf(req).Elem(), 2000)
			payload := payloadOf(req, 1, "c")
			if len(payload) < 2000 {
				continue // no top-level array at this version
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := decodeRequest(payload, wide)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(key), v, err)
			}
			if ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(payload)); ratio > worst {
				worst, worstName = ratio, fmt.Sprintf("%s v%d", kmsg.NameForKey(key), v)
			}
		}
	}
	t.Logf("worst allocation: %.1f bytes per payload byte (%s)", worst, worstName)
	if worst > allocScale*decodeAllocFactor {
		t.Fatalf("%s allocates %.1f bytes per payload byte, over %d", worstName, worst, allocScale*decodeAllocFactor)
	}
}

// fillTopLevelArrays sets every slice field of the struct v (other than byte
// slices) to n default elements.
func fillTopLevelArrays(v reflect.Value, n int) {
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Slice || f.Type().Elem().Kind() == reflect.Uint8 || !f.CanSet() {
			continue
		}
		s := reflect.MakeSlice(f.Type(), n, n)
		for j := range n {
			if d, ok := s.Index(j).Addr().Interface().(interface{ Default() }); ok {
				d.Default()
			}
		}
		f.Set(s)
	}
}
