package demosite

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/siteward/siteward/internal/testcerts"
)

// authority is the demo CA. The exporter's module trusts it through tls_config.ca_file, so a
// healthy HTTPS demo site probes green and an expired certificate is classified as expired
// rather than as untrusted.
type authority struct {
	ca  *testcerts.CA
	pem []byte
}

func newAuthority(now time.Time) (*authority, error) {
	ca, err := testcerts.NewCA(testcerts.Options{
		CommonName:   "siteward demo CA",
		Organization: []string{"siteward demo"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
	})
	if err != nil {
		return nil, fmt.Errorf("demo CA: %w", err)
	}
	return &authority{ca: ca, pem: []byte(testcerts.PEM(ca.Cert))}, nil
}

// issue signs a server certificate for host (and the loopback addresses, so a probe by IP
// with a server name still works) valid from notBefore to notAfter.
func (a *authority) issue(host string, notBefore, notAfter time.Time) (*tls.Certificate, error) {
	cert, err := a.ca.Issue(testcerts.Options{
		DNSNames:  []string{host, "localhost"},
		IPs:       []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: notBefore,
		NotAfter:  notAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("certificate for %s: %w", host, err)
	}
	// The sites send the CA after the leaf, as servers send their chain.
	cert.Certificate = append(cert.Certificate, a.ca.Cert.Raw)
	return &cert, nil
}
