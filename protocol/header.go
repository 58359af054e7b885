package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// API keys this package treats specially.
const (
	controlledShutdownKey = 7  // v0 has a request header without client ID
	apiVersionsKey        = 18 // answered here, response header always v0
)

// Header is a parsed request header (Kafka's RequestHeader v0, v1 or v2).
// Tagged fields of a v2 header are skipped: Kafka defines none that a broker
// acts on.
type Header struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	// ClientID is nil when the client sent a null client ID, and always for
	// header v0 (ControlledShutdown v0).
	ClientID *string
}

// Errors that classify a rejected request; each closes the connection.
var (
	errMalformedHeader    = errors.New("malformed request header")
	errUnknownAPIKey      = errors.New("unknown api key")
	errUnsupportedVersion = errors.New("unsupported api version")
	errMalformedBody      = errors.New("malformed request body")
	errTrailingBytes      = errors.New("trailing bytes after request body")
)

// parsedHeader is a request header, the body bytes after it, and an empty
// kmsg request of the header's key with its version set, ready to decode the
// body into.
type parsedHeader struct {
	Header
	body []byte
	req  kmsg.Request
}

// parseRequestHeader parses the request header at the start of a frame
// payload. The header version follows Kafka's generated
// ApiMessageType.requestHeaderVersion: v0 for ControlledShutdown v0 (no
// client ID), v2 (tagged fields after the client ID, KIP-482) when the
// request version is flexible, v1 otherwise. Whether a version is flexible
// comes from kmsg, which is why an API key kmsg does not know is rejected
// here. The version is not checked against any advertised range.
//
// The client ID is copied; body aliases payload.
func parseRequestHeader(payload []byte) (parsedHeader, error) {
	var p parsedHeader
	if len(payload) < 8 {
		return p, fmt.Errorf("%w: %d bytes, need 8", errMalformedHeader, len(payload))
	}
	p.APIKey = int16(binary.BigEndian.Uint16(payload[0:]))
	p.APIVersion = int16(binary.BigEndian.Uint16(payload[2:]))
	p.CorrelationID = int32(binary.BigEndian.Uint32(payload[4:]))
	rest := payload[8:]

	p.req = kmsg.RequestForKey(p.APIKey)
	if p.req == nil {
		return p, fmt.Errorf("%w %d", errUnknownAPIKey, p.APIKey)
	}
	p.req.SetVersion(p.APIVersion)

	if p.APIKey == controlledShutdownKey && p.APIVersion == 0 {
		p.body = rest
		return p, nil
	}

	// The client ID is a nullable string with an int16 length even in
	// header v2: clients send it before they know whether the broker
	// speaks compact strings.
	if len(rest) < 2 {
		return p, fmt.Errorf("%w: client id length cut short", errMalformedHeader)
	}
	idLen := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	switch {
	case idLen == -1:
	case idLen < 0:
		return p, fmt.Errorf("%w: client id length %d", errMalformedHeader, idLen)
	case int(idLen) > len(rest):
		return p, fmt.Errorf("%w: client id length %d, %d bytes left", errMalformedHeader, idLen, len(rest))
	default:
		id := string(rest[:idLen])
		p.ClientID = &id
		rest = rest[idLen:]
	}

	if p.req.IsFlexible() {
		var err error
		if rest, err = skipTaggedFields(rest); err != nil {
			return p, fmt.Errorf("%w: tagged fields: %w", errMalformedHeader, err)
		}
	}
	p.body = rest
	return p, nil
}

// skipTaggedFields skips a KIP-482 tagged-field section: an unsigned varint
// count, then per field an unsigned varint tag, an unsigned varint size and
// that many bytes. Each field takes at least two bytes, so the loop is bounded
// by the input.
func skipTaggedFields(b []byte) ([]byte, error) {
	count, b, err := readUvarint32(b)
	if err != nil {
		return nil, fmt.Errorf("field count: %w", err)
	}
	for i := uint32(0); i < count; i++ {
		if _, b, err = readUvarint32(b); err != nil {
			return nil, fmt.Errorf("tag of field %d: %w", i, err)
		}
		var size uint32
		if size, b, err = readUvarint32(b); err != nil {
			return nil, fmt.Errorf("size of field %d: %w", i, err)
		}
		if uint64(size) > uint64(len(b)) {
			return nil, fmt.Errorf("field %d of %d bytes, %d left", i, size, len(b))
		}
		b = b[size:]
	}
	return b, nil
}

// readUvarint32 reads a Kafka unsigned varint, which holds at most 32 bits
// (ByteUtils.readUnsignedVarint rejects longer encodings).
func readUvarint32(b []byte) (uint32, []byte, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, nil, errors.New("varint cut short")
	case n < 0 || n > 5 || v > math.MaxUint32:
		return 0, nil, errors.New("varint longer than 32 bits")
	}
	return uint32(v), b[n:], nil
}
