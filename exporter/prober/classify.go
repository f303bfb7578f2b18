package prober

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Classify maps a network, DNS or TLS error to a failure type and reason from the fixed set.
// A timeout is reported as response_timeout unless the error itself says which phase timed
// out (DNS, dial, TLS handshake); probers that know the phase from a trace refine it with
// TimeoutReason. Errors it does not recognise are connect/connect_error.
func Classify(err error) (FailureType, Reason) {
	if err == nil {
		return "", ""
	}
	if errors.Is(err, ErrNoAddress) {
		return FailureDNS, ReasonDNSNoAddress
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsTimeout:
			return FailureTimeout, ReasonDNSTimeout
		case strings.Contains(dnsErr.Err, "no suitable address"):
			return FailureDNS, ReasonDNSNoAddress
		case dnsErr.IsNotFound:
			return FailureDNS, ReasonDNSNXDomain
		case strings.Contains(dnsErr.Err, "server misbehaving"):
			return FailureDNS, ReasonDNSServerFailure
		}
		return FailureDNS, ReasonDNSError
	}
	if t, r, ok := classifyCertificate(err); ok {
		return t, r
	}
	if isTimeout(err) {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return FailureTimeout, ReasonConnectTimeout
		}
		if strings.Contains(err.Error(), "TLS handshake timeout") {
			return FailureTimeout, ReasonTLSHandshakeTimeout
		}
		return FailureTimeout, ReasonResponseTimeout
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailureConnect, ReasonConnectionRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		// The peer closed the connection before answering.
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return FailureConnect, ReasonConnectionReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return FailureConnect, ReasonHostUnreachable
	}
	if isTLSError(err) {
		return FailureSSL, ReasonTLSHandshakeError
	}
	return FailureConnect, ReasonConnectError
}

// TimeoutReason returns the timeout reason for the phase a probe was in when its deadline
// passed: "resolve", "connect", "tls", or anything else for waiting on the response.
func TimeoutReason(phase string) Reason {
	switch phase {
	case "resolve":
		return ReasonDNSTimeout
	case "connect":
		return ReasonConnectTimeout
	case "tls":
		return ReasonTLSHandshakeTimeout
	}
	return ReasonResponseTimeout
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// classifyCertificate recognises certificate verification failures.
func classifyCertificate(err error) (FailureType, Reason, bool) {
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return FailureSSL, ReasonTLSHostnameMismatch, true
	}
	var invalidErr x509.CertificateInvalidError
	if errors.As(err, &invalidErr) {
		if invalidErr.Reason == x509.Expired {
			// crypto/x509 uses one reason for both ends of the validity period; the
			// detail says which one ("current time X is before/after Y").
			if strings.Contains(invalidErr.Detail, "is before") {
				return FailureSSL, ReasonTLSNotYetValid, true
			}
			return FailureSSL, ReasonTLSExpired, true
		}
		return FailureSSL, ReasonTLSUntrusted, true
	}
	var authErr x509.UnknownAuthorityError
	if errors.As(err, &authErr) {
		return FailureSSL, ReasonTLSUntrusted, true
	}
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) {
		return FailureSSL, ReasonTLSUntrusted, true
	}
	return "", "", false
}

// isTLSError recognises TLS protocol failures (alerts, version or cipher mismatches, a
// plain-text answer to a ClientHello). crypto/tls does not export most of its error types,
// so its "tls: " message prefix is the signal.
func isTLSError(err error) bool {
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return true
	}
	var alertErr tls.AlertError
	if errors.As(err, &alertErr) {
		return true
	}
	msg := err.Error()
	// net/http replaces the RecordHeaderError of a plain-HTTP answer with its own message.
	return strings.Contains(msg, "tls: ") || strings.Contains(msg, "server gave HTTP response to HTTPS client")
}
