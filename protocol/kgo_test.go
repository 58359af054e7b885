package protocol

import (
	"context"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKgoClientNegotiates connects a real franz-go client. kgo opens every
// connection with ApiVersions at its newest version (v5, which this server
// answers with the KIP-511 v0 fallback) and retries at v4; the request then
// issued goes out at the version both sides support.
func TestKgoClientNegotiates(t *testing.T) {
	srv := startServer(t, Config{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.addr), kgo.SoftwareNameAndVersion("samsa-test", "0.1.0"))
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions through kgo: %v", err)
	}
	if resp.ErrorCode != 0 || !reflect.DeepEqual(resp.ApiKeys, wantAPIKeys()) {
		t.Fatalf("error %d, ApiKeys %+v", resp.ErrorCode, resp.ApiKeys)
	}
	if resp.Version != 4 {
		t.Fatalf("kgo sent ApiVersions v%d, want v4", resp.Version)
	}

	// Metadata goes through the handler, at the highest version both sides
	// know.
	meta := kmsg.NewPtrMetadataRequest()
	topic := kmsg.NewMetadataRequestTopic()
	topic.Topic = kmsg.StringPtr("orders")
	meta.Topics = append(meta.Topics, topic)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("Metadata through kgo: %v", err)
	}
	if len(mresp.Topics) != 1 || deref(mresp.Topics[0].Topic) != "orders" || mresp.Version != 13 {
		t.Fatalf("Metadata v%d topics %+v", mresp.Version, mresp.Topics)
	}
	if lines := srv.logs.lines("level=DEBUG", "client software", "software=samsa-test", "software_version=0.1.0"); len(lines) == 0 {
		t.Fatalf("client software not logged:\n%s", srv.logs)
	}
	if lines := srv.logs.lines("level=DEBUG", "UNSUPPORTED_VERSION (KIP-511)", "version=5"); len(lines) != 1 {
		t.Fatalf("kgo's v5 ApiVersions did not take the KIP-511 fallback:\n%s", srv.logs)
	}
	if lines := srv.logs.lines("level=WARN"); len(lines) != 0 {
		t.Fatalf("warnings while serving kgo: %q", lines)
	}
}
