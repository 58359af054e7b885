package protocol

import (
	"log/slog"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ApiVersions versions this package serves. v5 (KIP-1242: the client
// names the cluster and node it expects) is answered with the KIP-511
// fallback, after which clients retry at v4.
const (
	apiVersionsMinVersion int16 = 0
	apiVersionsMaxVersion int16 = 4
	// apiVersionsFlexibleVersion is the first flexible ApiVersions version,
	// which also carries ClientSoftwareName/Version and features.
	apiVersionsFlexibleVersion int16 = 3
)

// MetadataVersionFeature is the name of the KRaft feature that versions the
// metadata log and, with it, the broker's behaviour (KIP-778).
const MetadataVersionFeature = "metadata.version"

// DefaultMetadataVersion is the metadata.version level advertised when
// Config.Features is nil: 21, Kafka 3.9-IV0, the last 3.x level. It implies no
// group.version or transaction.version, so clients do not switch to the
// KIP-848 consumer protocol or KIP-890 transactions because of it.
const DefaultMetadataVersion int16 = 21

// Feature is one feature flag in ApiVersions v3+ (KIP-584): the range of
// levels this broker supports and the level finalized for the cluster.
type Feature struct {
	Name       string
	MinVersion int16 // lowest supported level
	MaxVersion int16 // highest supported level
	// FinalizedLevel is the cluster-wide level in force; 0 leaves the
	// feature out of FinalizedFeatures, as Kafka lists only features
	// finalized above level 0.
	FinalizedLevel int16
}

// DefaultFeatures returns the features advertised when Config.Features is
// nil: metadata.version supported from 1 to DefaultMetadataVersion and
// finalized at DefaultMetadataVersion.
func DefaultFeatures() []Feature {
	return []Feature{{
		Name:           MetadataVersionFeature,
		MinVersion:     1,
		MaxVersion:     DefaultMetadataVersion,
		FinalizedLevel: DefaultMetadataVersion,
	}}
}

// versionTable is what a server advertises: API version ranges and features.
// It is built once by NewServer and only read afterwards, so the slices are
// shared by every ApiVersions response without copying.
type versionTable struct {
	ranges         map[int16]VersionRange
	apiKeys        []kmsg.ApiVersionsResponseApiKey // sorted by key
	supported      []kmsg.ApiVersionsResponseSupportedFeature
	finalized      []kmsg.ApiVersionsResponseFinalizedFeature
	finalizedEpoch int64
}

// newVersionTable builds the advertised table from the configuration. A range
// this package could not serve is not advertised, with a WARN: an API key kmsg
// does not know, an empty or negative range, a range above kmsg's newest
// version (clamped to it, since a body of an unknown version cannot be
// decoded). ApiVersions itself is always advertised as v0-v4, the versions
// answered here.
func newVersionTable(versions map[int16]VersionRange, features []Feature, finalizedEpoch int64, log *slog.Logger) *versionTable {
	t := &versionTable{ranges: make(map[int16]VersionRange, len(versions)+1)}
	for key, r := range versions {
		attrs := []any{slog.Int("api_key", int(key)), slog.Int("min", int(r.Min)), slog.Int("max", int(r.Max))}
		if key == apiVersionsKey {
			if r.Min != apiVersionsMinVersion || r.Max != apiVersionsMaxVersion {
				log.Warn("ApiVersions is answered by the protocol layer at v0-v4; configured range ignored", attrs...)
			}
			continue
		}
		req := kmsg.RequestForKey(key)
		switch {
		case req == nil:
			log.Warn("not advertising api key unknown to kmsg", attrs...)
			continue
		case r.Min < 0 || r.Max < r.Min:
			log.Warn("not advertising invalid version range", attrs...)
			continue
		case r.Min > req.MaxVersion():
			log.Warn("not advertising versions newer than kmsg decodes", append(attrs, slog.Int("kmsg_max", int(req.MaxVersion())))...)
			continue
		case r.Max > req.MaxVersion():
			log.Warn("clamping advertised versions to what kmsg decodes", append(attrs, slog.Int("kmsg_max", int(req.MaxVersion())))...)
			r.Max = req.MaxVersion()
		}
		t.ranges[key] = r
	}
	t.ranges[apiVersionsKey] = VersionRange{Min: apiVersionsMinVersion, Max: apiVersionsMaxVersion}

	for key, r := range t.ranges {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, r.Min, r.Max
		t.apiKeys = append(t.apiKeys, k)
	}
	slices.SortFunc(t.apiKeys, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })

	if features == nil {
		features = DefaultFeatures()
	}
	for _, f := range features {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = f.Name, f.MinVersion, f.MaxVersion
		t.supported = append(t.supported, sf)
		if f.FinalizedLevel > 0 {
			// Since KIP-778 (metadata.version 4) a finalized feature's
			// min level equals its max level.
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.Name, f.FinalizedLevel, f.FinalizedLevel
			t.finalized = append(t.finalized, ff)
		}
	}
	t.finalizedEpoch = -1 // "unknown", what Kafka sends with nothing finalized
	if len(t.finalized) > 0 {
		t.finalizedEpoch = finalizedEpoch
	}
	return t
}

// advertises reports whether key is served at any version.
func (t *versionTable) advertises(key int16) bool {
	_, ok := t.ranges[key]
	return ok
}

// supports reports whether version of key is advertised.
func (t *versionTable) supports(key, version int16) bool {
	r, ok := t.ranges[key]
	return ok && version >= r.Min && version <= r.Max
}

// apiVersionsResponse answers an ApiVersions request the way Kafka's
// ApiVersionsManager and ApiVersionsRequest do. It returns the response and
// the version to encode it at.
//
//   - A version this server does not serve gets a v0 response with
//     UNSUPPORTED_VERSION whose ApiKeys hold only ApiVersions' own range, so
//     that the client retries at the highest version both sides know
//     (KIP-511; ApiVersionsRequest.getErrorResponse).
//   - v3+ with a client software name or version that does not match
//     [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? gets INVALID_REQUEST and no
//     ApiKeys (ApiVersionsRequest.isValid).
//   - Otherwise the advertised table, throttle 0, and for v3+ the supported
//     and finalized features (KIP-584).
func (t *versionTable) apiVersionsResponse(d decodedRequest) (*kmsg.ApiVersionsResponse, int16) {
	resp := kmsg.NewPtrApiVersionsResponse()
	if d.unsupportedAPIVersions {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = apiVersionsKey, apiVersionsMinVersion, apiVersionsMaxVersion
		resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{k}
		return resp, 0
	}
	req := d.Body.(*kmsg.ApiVersionsRequest)
	resp.Version = req.Version
	resp.ThrottleMillis = 0
	if req.Version >= apiVersionsFlexibleVersion &&
		(!validSoftwareNameOrVersion(req.ClientSoftwareName) || !validSoftwareNameOrVersion(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, req.Version
	}
	resp.ApiKeys = t.apiKeys
	if req.Version >= apiVersionsFlexibleVersion {
		resp.SupportedFeatures = t.supported
		resp.FinalizedFeatures = t.finalized
		resp.FinalizedFeaturesEpoch = t.finalizedEpoch
	}
	return resp, req.Version
}

// validSoftwareNameOrVersion matches KIP-511's pattern
// [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? against the whole string: not
// empty, alphanumeric at both ends, dashes and dots allowed inside.
func validSoftwareNameOrVersion(s string) bool {
	alnum := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
