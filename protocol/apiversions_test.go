package protocol

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func wantAPIKeys() []kmsg.ApiVersionsResponseApiKey {
	return []kmsg.ApiVersionsResponseApiKey{
		{ApiKey: 0, MinVersion: 3, MaxVersion: 13},
		{ApiKey: 3, MinVersion: 0, MaxVersion: 13},
		{ApiKey: 7, MinVersion: 0, MaxVersion: 3},
		{ApiKey: 16, MinVersion: 0, MaxVersion: 5},
		{ApiKey: 18, MinVersion: 0, MaxVersion: 4},
	}
}

func TestAPIVersionsEveryServedVersion(t *testing.T) {
	srv := startServer(t, Config{FinalizedFeaturesEpoch: 42})
	for v := int16(0); v <= 4; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			c := dial(t, srv.addr)
			req := apiVersionsRequest(v)
			c.send(req, 100+int32(v))
			resp := c.receive(req, 100+int32(v)).(*kmsg.ApiVersionsResponse)
			if resp.ErrorCode != 0 {
				t.Fatalf("error code %d", resp.ErrorCode)
			}
			if !reflect.DeepEqual(resp.ApiKeys, wantAPIKeys()) {
				t.Fatalf("ApiKeys = %+v, want %+v", resp.ApiKeys, wantAPIKeys())
			}
			if resp.ThrottleMillis != 0 {
				t.Fatalf("ThrottleMillis = %d", resp.ThrottleMillis)
			}
			if v < 3 {
				return
			}
			wantSupported := []kmsg.ApiVersionsResponseSupportedFeature{{Name: "metadata.version", MinVersion: 1, MaxVersion: DefaultMetadataVersion}}
			wantFinalized := []kmsg.ApiVersionsResponseFinalizedFeature{{Name: "metadata.version", MinVersionLevel: DefaultMetadataVersion, MaxVersionLevel: DefaultMetadataVersion}}
			if !reflect.DeepEqual(resp.SupportedFeatures, wantSupported) || !reflect.DeepEqual(resp.FinalizedFeatures, wantFinalized) {
				t.Fatalf("features: supported %+v finalized %+v", resp.SupportedFeatures, resp.FinalizedFeatures)
			}
			if resp.FinalizedFeaturesEpoch != 42 {
				t.Fatalf("FinalizedFeaturesEpoch = %d, want 42", resp.FinalizedFeaturesEpoch)
			}
			if name, version := c.connInfoSoftware(srv); name != "samsa-test" || version != "1.0.0" {
				t.Fatalf("ConnInfo.ClientSoftware = %q %q", name, version)
			}
		})
	}
}

// connInfoSoftware returns the client software the server recorded in the
// ConnInfo of this client's connection.
func (c *testClient) connInfoSoftware(srv *testServer) (name, version string) {
	c.t.Helper()
	srv.mu.Lock()
	var info *ConnInfo
	for conn := range srv.conns {
		if conn.info.Local.String() == c.nc.RemoteAddr().String() && conn.info.Remote.String() == c.nc.LocalAddr().String() {
			info = conn.info
		}
	}
	srv.mu.Unlock()
	if info == nil {
		c.t.Fatal("connection not found on the server")
	}
	return info.ClientSoftware()
}

// TestAPIVersionsUnsupportedVersionAnswersV0 crafts ApiVersions requests newer
// than the server serves, with bodies it cannot parse, and expects Kafka's
// KIP-511 answer: a v0 response, UNSUPPORTED_VERSION, and the ApiVersions
// range to retry within. The connection stays usable.
func TestAPIVersionsUnsupportedVersionAnswersV0(t *testing.T) {
	srv := startServer(t, Config{})
	for _, version := range []int16{5, 6, 127, 32767, -1} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			c := dial(t, srv.addr)
			payload := binary.BigEndian.AppendUint16(nil, 18)
			payload = binary.BigEndian.AppendUint16(payload, uint16(version))
			payload = binary.BigEndian.AppendUint32(payload, 555)
			payload = append(payload, 0, 4, 'n', 'e', 'x', 't')                       // client id
			payload = append(payload, 0)                                              // header tags
			payload = append(payload, 0xff, 0xfe, 0xfd, 0x80, 0x80, 0x80, 0x80, 0x80) // unparseable body
			c.write(rawFrame(payload))

			resp := c.receive(&kmsg.ApiVersionsRequest{Version: 0}, 555).(*kmsg.ApiVersionsResponse)
			want := []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MinVersion: 0, MaxVersion: 4}}
			if resp.ErrorCode != kerr.UnsupportedVersion.Code || !reflect.DeepEqual(resp.ApiKeys, want) {
				t.Fatalf("v%d: error %d keys %+v, want UNSUPPORTED_VERSION and %+v", version, resp.ErrorCode, resp.ApiKeys, want)
			}

			req := apiVersionsRequest(4)
			c.send(req, 556)
			if resp := c.receive(req, 556).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
				t.Fatalf("retry at v4: error %d", resp.ErrorCode)
			}
		})
	}
}

func TestAPIVersionsInvalidClientSoftwareGetsInvalidRequest(t *testing.T) {
	srv := startServer(t, Config{})
	tests := []struct {
		name, software, version string
		want                    int16
	}{
		{"valid", "franz-go", "1.22.3", 0},
		{"empty name", "", "1.0", kerr.InvalidRequest.Code},
		{"empty version", "franz-go", "", kerr.InvalidRequest.Code},
		{"name ends in a dash", "franz-", "1.0", kerr.InvalidRequest.Code},
		{"version with a space", "franz-go", "1.0 beta", kerr.InvalidRequest.Code},
		{"name with an underscore", "franz_go", "1.0", kerr.InvalidRequest.Code},
	}
	for _, tt := range tests {
		for _, v := range []int16{3, 4} {
			t.Run(fmt.Sprintf("%s/v%d", tt.name, v), func(t *testing.T) {
				c := dial(t, srv.addr)
				req := apiVersionsRequest(v)
				req.ClientSoftwareName, req.ClientSoftwareVersion = tt.software, tt.version
				c.send(req, 1)
				resp := c.receive(req, 1).(*kmsg.ApiVersionsResponse)
				if resp.ErrorCode != tt.want {
					t.Fatalf("v%d: error code %d, want %d", v, resp.ErrorCode, tt.want)
				}
				if tt.want != 0 && len(resp.ApiKeys) != 0 {
					t.Fatalf("error response lists ApiKeys %+v; Kafka lists none", resp.ApiKeys)
				}
			})
		}
	}
}

func TestAPIVersionsConfiguredFeatures(t *testing.T) {
	tests := []struct {
		name          string
		features      []Feature
		epoch         int64
		wantSupported []kmsg.ApiVersionsResponseSupportedFeature
		wantFinalized []kmsg.ApiVersionsResponseFinalizedFeature
		wantEpoch     int64
	}{
		{
			name: "metadata.version finalized, another feature supported only",
			features: []Feature{
				{Name: "metadata.version", MinVersion: 1, MaxVersion: 25, FinalizedLevel: 25},
				{Name: "transaction.version", MinVersion: 0, MaxVersion: 2},
			},
			epoch: 7,
			wantSupported: []kmsg.ApiVersionsResponseSupportedFeature{
				{Name: "metadata.version", MinVersion: 1, MaxVersion: 25},
				{Name: "transaction.version", MinVersion: 0, MaxVersion: 2},
			},
			wantFinalized: []kmsg.ApiVersionsResponseFinalizedFeature{{Name: "metadata.version", MinVersionLevel: 25, MaxVersionLevel: 25}},
			wantEpoch:     7,
		},
		{name: "no features", features: []Feature{}, epoch: 7, wantEpoch: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, Config{Features: tt.features, FinalizedFeaturesEpoch: tt.epoch})
			c := dial(t, srv.addr)
			req := apiVersionsRequest(4)
			c.send(req, 1)
			resp := c.receive(req, 1).(*kmsg.ApiVersionsResponse)
			if !reflect.DeepEqual(resp.SupportedFeatures, tt.wantSupported) || !reflect.DeepEqual(resp.FinalizedFeatures, tt.wantFinalized) || resp.FinalizedFeaturesEpoch != tt.wantEpoch {
				t.Fatalf("supported %+v finalized %+v epoch %d", resp.SupportedFeatures, resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
			}
		})
	}
}
