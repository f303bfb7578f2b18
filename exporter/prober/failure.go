package prober

// FailureType is the coarse class of a failed probe: the `failure_type` label of
// probe_failure_info and of every site alert.
type FailureType string

const (
	FailureDNS     FailureType = "dns"
	FailureConnect FailureType = "connect"
	FailureTimeout FailureType = "timeout"
	FailureSSL     FailureType = "ssl"
	FailureHTTP    FailureType = "http"
	FailureContent FailureType = "content"
)

// Reason is the fine-grained cause: the `reason` label of probe_failure_info. The set is small
// and fixed (documented in docs/exporter.md) so that cardinality stays bounded: never a value
// per status code or per error string.
type Reason string

// Result collects what a prober found out about a failure.
type Result struct {
	failureType FailureType
	reason      Reason
}

// Fail records why the probe failed. The first call wins: later failures are usually
// consequences of the first (a timeout after a failed retry, say).
func (r *Result) Fail(t FailureType, reason Reason) {
	if r.failureType != "" {
		return
	}
	r.failureType, r.reason = t, reason
}

// Failure returns the recorded failure type and reason, and whether one was recorded.
func (r *Result) Failure() (FailureType, Reason, bool) {
	return r.failureType, r.reason, r.failureType != ""
}

// The fixed set of reasons, grouped by failure type (see docs/exporter.md).
const (
	ReasonDNSNXDomain       Reason = "dns_nxdomain"
	ReasonDNSNoAddress      Reason = "dns_no_address"
	ReasonDNSServerFailure  Reason = "dns_server_failure"
	ReasonDNSError          Reason = "dns_error"
	ReasonDNSInvalidRcode   Reason = "dns_invalid_rcode"
	ReasonDNSAnswerMismatch Reason = "dns_answer_mismatch"

	ReasonConnectionRefused Reason = "connection_refused"
	ReasonConnectionReset   Reason = "connection_reset"
	ReasonHostUnreachable   Reason = "host_unreachable"
	ReasonConnectError      Reason = "connect_error"

	ReasonDNSTimeout          Reason = "dns_timeout"
	ReasonConnectTimeout      Reason = "connect_timeout"
	ReasonTLSHandshakeTimeout Reason = "tls_handshake_timeout"
	ReasonResponseTimeout     Reason = "response_timeout"

	ReasonTLSExpired          Reason = "tls_expired"
	ReasonTLSNotYetValid      Reason = "tls_not_yet_valid"
	ReasonTLSHostnameMismatch Reason = "tls_hostname_mismatch"
	ReasonTLSUntrusted        Reason = "tls_untrusted"
	ReasonTLSHandshakeError   Reason = "tls_handshake_error"
	ReasonSSLRequired         Reason = "ssl_required"
	ReasonSSLForbidden        Reason = "ssl_forbidden"

	ReasonHTTPStatus        Reason = "http_status"
	ReasonHTTPVersion       Reason = "http_version"
	ReasonTooManyRedirects  Reason = "too_many_redirects"
	ReasonHTTPProtocolError Reason = "http_protocol_error"

	ReasonBodyMatchedRegexp      Reason = "body_matched_regexp"
	ReasonBodyNotMatchedRegexp   Reason = "body_not_matched_regexp"
	ReasonHeaderMatchedRegexp    Reason = "header_matched_regexp"
	ReasonHeaderNotMatchedRegexp Reason = "header_not_matched_regexp"
	ReasonQueryResponseMismatch  Reason = "query_response_mismatch"
)

// Reasons lists every reason by failure type: the complete, documented label set of
// probe_failure_info (docs/exporter.md has the same table; a test keeps them equal).
var Reasons = map[FailureType][]Reason{
	FailureDNS:     {ReasonDNSNXDomain, ReasonDNSNoAddress, ReasonDNSServerFailure, ReasonDNSError, ReasonDNSInvalidRcode, ReasonDNSAnswerMismatch},
	FailureConnect: {ReasonConnectionRefused, ReasonConnectionReset, ReasonHostUnreachable, ReasonConnectError},
	FailureTimeout: {ReasonDNSTimeout, ReasonConnectTimeout, ReasonTLSHandshakeTimeout, ReasonResponseTimeout},
	FailureSSL: {ReasonTLSExpired, ReasonTLSNotYetValid, ReasonTLSHostnameMismatch, ReasonTLSUntrusted,
		ReasonTLSHandshakeError, ReasonSSLRequired, ReasonSSLForbidden},
	FailureHTTP: {ReasonHTTPStatus, ReasonHTTPVersion, ReasonTooManyRedirects, ReasonHTTPProtocolError},
	FailureContent: {ReasonBodyMatchedRegexp, ReasonBodyNotMatchedRegexp, ReasonHeaderMatchedRegexp,
		ReasonHeaderNotMatchedRegexp, ReasonQueryResponseMismatch},
}
