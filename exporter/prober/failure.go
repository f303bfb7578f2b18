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
