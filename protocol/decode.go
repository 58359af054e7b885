package protocol

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// decodedRequest is a frame payload turned into a request.
type decodedRequest struct {
	Header Header
	// Body is the decoded request with its version set. It is nil when
	// unsupportedAPIVersions is set.
	Body kmsg.Request
	// unsupportedAPIVersions marks an ApiVersions request of a version this
	// server does not serve. Kafka does not parse such a body (the client
	// may be newer than the broker) and answers with a v0 response
	// (RequestContext.parseRequest, KIP-511).
	unsupportedAPIVersions bool
}

// decodeRequest parses a frame payload: header, version check against the
// advertised table, body. It returns the header parsed so far with any error,
// so that the caller can log what it rejected.
//
// Kafka closes the connection on every error returned here: an unknown key
// or a version that is not enabled (SocketServer.parseRequestHeader throws
// InvalidRequestException) and a body that fails to parse
// (RequestContext.parseRequest).
func decodeRequest(payload []byte, t *versionTable) (decodedRequest, error) {
	p, err := parseRequestHeader(payload)
	d := decodedRequest{Header: p.Header}
	if err != nil {
		return d, err
	}
	if p.APIKey == apiVersionsKey && !t.supports(p.APIKey, p.APIVersion) {
		d.unsupportedAPIVersions = true
		return d, nil
	}
	if !t.advertises(p.APIKey) {
		return d, fmt.Errorf("%w %d (%s): not advertised on this listener", errUnknownAPIKey, p.APIKey, kmsg.NameForKey(p.APIKey))
	}
	if !t.supports(p.APIKey, p.APIVersion) {
		r := t.ranges[p.APIKey]
		return d, fmt.Errorf("%w: %s v%d, advertised v%d-v%d", errUnsupportedVersion, kmsg.NameForKey(p.APIKey), p.APIVersion, r.Min, r.Max)
	}
	if err := p.req.ReadFrom(p.body); err != nil {
		return d, fmt.Errorf("%w: %s v%d: %w", errMalformedBody, kmsg.NameForKey(p.APIKey), p.APIVersion, err)
	}
	if hasTrailingBytes(p.req, p.body) {
		return d, fmt.Errorf("%w: %s v%d", errTrailingBytes, kmsg.NameForKey(p.APIKey), p.APIVersion)
	}
	d.Body = p.req
	return d, nil
}

// hasTrailingBytes reports whether a body that decoded into req holds bytes
// past the end of the request. kmsg does not say how many bytes a decode
// consumed, so this decodes the body again without its last byte: kmsg reads
// are deterministic over a prefix, so that decode succeeds exactly when the
// last byte was never read. (kmsg also rejects an array length larger than
// the bytes left allow at the element's minimum size; a decode that consumed
// no more bytes than the prefix holds passes those checks on the prefix as
// well, since its elements fit in what it consumed.) The probe uses
// UnsafeReadFrom so its strings do not allocate, and is discarded at once.
func hasTrailingBytes(req kmsg.Request, body []byte) bool {
	if len(body) == 0 {
		return false
	}
	probe := kmsg.RequestForKey(req.Key())
	probe.SetVersion(req.GetVersion())
	prefix := body[:len(body)-1]
	if u, ok := probe.(kmsg.UnsafeReadFrom); ok {
		return u.UnsafeReadFrom(prefix) == nil
	}
	return probe.ReadFrom(prefix) == nil
}
