// Package testcerts makes certificate authorities and server certificates at run time for
// tests and benchmarks: valid, expired, not yet valid, for other names, self-signed. Keys are
// ECDSA P-256 (fast to generate). The functions return errors for non-test callers (the
// benchmark harness); the Must variants end the test instead.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// DefaultCAName is the common name of a CA made without Options.CommonName.
const DefaultCAName = "siteward test CA"

// Options describes a certificate. A zero NotBefore means an hour ago, a zero NotAfter a day
// from now; for a CA two days ago and ten years from now, so that by default it outlives the
// certificates it issues. CommonName defaults to the first DNS name, then the first IP
// (DefaultCAName for a CA). Organization goes into the subject as it is.
type Options struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	NotBefore    time.Time
	NotAfter     time.Time
}

// CA is a certificate authority that issues server certificates.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA.
func NewCA(opts Options) (*CA, error) {
	if opts.CommonName == "" {
		opts.CommonName = DefaultCAName
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = time.Now().Add(-48 * time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = time.Now().AddDate(10, 0, 0)
	}
	tmpl, err := template(opts)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	cert, err := create(tmpl, nil, nil)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert.Leaf, key: cert.PrivateKey.(*ecdsa.PrivateKey)}, nil
}

// Issue makes a server certificate signed by the CA; its Leaf is set.
func (ca *CA) Issue(opts Options) (tls.Certificate, error) {
	tmpl, err := template(opts)
	if err != nil {
		return tls.Certificate{}, err
	}
	return create(tmpl, ca.Cert, ca.key)
}

// SelfSigned makes a server certificate that signs itself, so that a pool holding it (Pool)
// trusts it as its own root; its Leaf is set.
func SelfSigned(opts Options) (tls.Certificate, error) {
	tmpl, err := template(opts)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage |= x509.KeyUsageCertSign
	return create(tmpl, nil, nil)
}

// template is the server certificate template for opts, with a random serial number.
func template(opts Options) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("making a serial number: %w", err)
	}
	now := time.Now()
	if opts.NotBefore.IsZero() {
		opts.NotBefore = now.Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = now.Add(24 * time.Hour)
	}
	name := opts.CommonName
	if name == "" && len(opts.DNSNames) > 0 {
		name = opts.DNSNames[0]
	}
	if name == "" && len(opts.IPs) > 0 {
		name = opts.IPs[0].String()
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: opts.Organization},
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPs,
		NotBefore:    opts.NotBefore,
		NotAfter:     opts.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil
}

// create signs tmpl with a new key, by parent and parentKey, or by itself when parent is nil.
func create(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating a key: %w", err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parsing certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// PEM encodes cert as a PEM "CERTIFICATE" block (for tls_config.ca).
func PEM(cert *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

// WritePEM writes cert as PEM to dir/name (for tls_config.ca_file) and returns the path.
func WritePEM(dir, name string, cert *x509.Certificate) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(PEM(cert)), 0o600); err != nil {
		return "", fmt.Errorf("writing certificate: %w", err)
	}
	return path, nil
}

// Pool is a certificate pool trusting certs.
func Pool(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	return pool
}

// ServerConfig is a TLS server configuration presenting cert.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// MustCA is NewCA for tests.
func MustCA(t testing.TB, opts Options) *CA {
	t.Helper()
	ca, err := NewCA(opts)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// MustIssue is Issue for tests.
func (ca *CA) MustIssue(t testing.TB, opts Options) tls.Certificate {
	t.Helper()
	cert, err := ca.Issue(opts)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// MustSelfSigned is SelfSigned for tests.
func MustSelfSigned(t testing.TB, opts Options) tls.Certificate {
	t.Helper()
	cert, err := SelfSigned(opts)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// MustWritePEM writes cert as PEM to a file in the test's temporary directory and returns
// the path.
func MustWritePEM(t testing.TB, cert *x509.Certificate) string {
	t.Helper()
	path, err := WritePEM(t.TempDir(), "cert.pem", cert)
	if err != nil {
		t.Fatal(err)
	}
	return path
}
