package prober

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pconfig "github.com/prometheus/common/config"
)

// probeCurves are the key exchanges a probe offers: the classical ones, without Go's default
// hybrid post-quantum X25519MLKEM768. A probe protects no data worth harvesting for later,
// the hybrid key share costs about as much CPU as the rest of the handshake, and
// blackbox_exporter 0.23 does not offer it either, so tls phase timings stay comparable.
var probeCurves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}

// newProbeTLSConfig builds the tls.Config of a probe from the module's tls_config
// (prometheus/common's rules) and applies probeCurves. It is a pconfig.NewTLSConfigFunc.
func newProbeTLSConfig(ctx context.Context, cfg *pconfig.TLSConfig, opts ...pconfig.TLSConfigOption) (*tls.Config, error) {
	tlsConfig, err := pconfig.NewTLSConfigWithContext(ctx, cfg, opts...)
	if err != nil {
		return nil, err
	}
	tlsConfig.CurvePreferences = probeCurves
	return tlsConfig, nil
}

// newConnTLSConfig is newProbeTLSConfig for a connection the prober dialled to a resolved IP
// (tcp, dns over TLS): unless tls_config names a server_name, the certificate is verified
// for host, the name the target gave.
func newConnTLSConfig(ctx context.Context, cfg *pconfig.TLSConfig, host string) (*tls.Config, error) {
	tlsConfig, err := newProbeTLSConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	return tlsConfig, nil
}

// registerTLSMetrics registers blackbox_exporter's certificate and TLS metrics for a completed
// handshake: probe_ssl_earliest_cert_expiry, probe_tls_version_info,
// probe_ssl_last_chain_expiry_timestamp_seconds and probe_ssl_last_chain_info, with the label
// sets and values of blackbox_exporter 0.23.
func registerTLSMetrics(registry *prometheus.Registry, state *tls.ConnectionState) {
	tlsVersion := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_tls_version_info",
		Help: "Contains the TLS version used",
	}, []string{"version"})
	lastChainExpiry := newGauge("probe_ssl_last_chain_expiry_timestamp_seconds", "Returns last SSL chain expiry in timestamp seconds")
	lastChainInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_ssl_last_chain_info",
		Help: "Contains SSL leaf certificate information",
	}, []string{"fingerprint_sha256", "subject", "issuer", "subjectalternative"})
	registerEarliestCertExpiry(registry, state.PeerCertificates)
	registry.MustRegister(tlsVersion, lastChainExpiry, lastChainInfo)

	tlsVersion.WithLabelValues(tlsVersionName(state.Version)).Set(1)
	// Without verified chains (insecure_skip_verify) this is the zero time, as in blackbox.
	lastChainExpiry.Set(float64(lastVerifiedChainExpiry(state.VerifiedChains).Unix()))
	if len(state.PeerCertificates) > 0 {
		leaf := state.PeerCertificates[0]
		fingerprint := sha256.Sum256(leaf.Raw)
		lastChainInfo.WithLabelValues(hex.EncodeToString(fingerprint[:]), leaf.Subject.String(),
			leaf.Issuer.String(), strings.Join(leaf.DNSNames, ",")).Set(1)
	}
}

// registerEarliestCertExpiry registers probe_ssl_earliest_cert_expiry: the earliest NotAfter of
// the certificates the peer presented.
func registerEarliestCertExpiry(registry *prometheus.Registry, certs []*x509.Certificate) {
	earliest := newGauge("probe_ssl_earliest_cert_expiry", "Returns earliest SSL cert expiry in unixtime")
	registry.MustRegister(earliest)
	earliest.Set(float64(earliestCertExpiry(certs).Unix()))
}

// RegisterFailedHandshakeMetrics reports the certificate facts that survive a handshake that
// failed certificate verification (expired, not yet valid, untrusted, wrong name):
// probe_ssl_earliest_cert_expiry from the certificates the peer presented. crypto/tls keeps
// them in the verification error, so no second handshake is needed. It reports whether err
// carried certificates.
func RegisterFailedHandshakeMetrics(registry *prometheus.Registry, err error) bool {
	certs := unverifiedCertificates(err)
	if len(certs) == 0 {
		return false
	}
	registerEarliestCertExpiry(registry, certs)
	return true
}

// unverifiedCertificates returns the certificates a peer presented in a handshake that failed
// verification, or nil when err is not a certificate verification failure.
func unverifiedCertificates(err error) []*x509.Certificate {
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) {
		return verifyErr.UnverifiedCertificates
	}
	return nil
}

func earliestCertExpiry(certs []*x509.Certificate) time.Time {
	var earliest time.Time
	for _, cert := range certs {
		if (earliest.IsZero() || cert.NotAfter.Before(earliest)) && !cert.NotAfter.IsZero() {
			earliest = cert.NotAfter
		}
	}
	return earliest
}

// lastVerifiedChainExpiry returns, over the verified chains, the latest of each chain's
// earliest expiry: when the last usable chain stops being valid.
func lastVerifiedChainExpiry(chains [][]*x509.Certificate) time.Time {
	var last time.Time
	for _, chain := range chains {
		chainExpiry := earliestCertExpiry(chain)
		if last.IsZero() || last.Before(chainExpiry) {
			last = chainExpiry
		}
	}
	return last
}

func tlsVersionName(version uint16) string {
	switch version {
	case tls.VersionTLS10:
		return "TLS 1.0"
	case tls.VersionTLS11:
		return "TLS 1.1"
	case tls.VersionTLS12:
		return "TLS 1.2"
	case tls.VersionTLS13:
		return "TLS 1.3"
	}
	return "unknown"
}
