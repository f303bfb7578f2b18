// Package difftest compares siteward-exporter with Debian's prometheus-blackbox-exporter: the
// differential test (difftest_test.go) probes the same local targets through both with the
// same module file and asserts that every metric both export agrees. The helpers here (local
// targets, exporter processes, metric comparison) are shared with the benchmark harness
// (internal/benchprobe).
package difftest

import (
	"compress/gzip"
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
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made for one run, with its certificate written to CAFile for
// the modules' tls_config.ca_file.
type CA struct {
	CAFile string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
}

// NewCA creates a CA and writes its certificate into dir.
func NewCA(dir string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "siteward difftest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return &CA{CAFile: caFile, cert: cert, key: key}, nil
}

// ServerCertificate issues a certificate for 127.0.0.1 (targets are given by IP so that both
// exporters connect to the same address without resolving anything), valid from notBefore to
// notAfter.
func (ca *CA) ServerCertificate(notBefore, notAfter time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// TargetBody is what TargetHandler answers on "/".
const TargetBody = "hello from a siteward test site\n"

// TargetHandler is the site both exporters probe: "/" answers 200 with TargetBody, "/404" 404,
// "/redirect" redirects to "/", "/created" answers 201 to a POST, "/gzip" sends TargetBody
// gzip-encoded, "/private" wants basic auth as prober:secret.
func TargetHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Site", "acme-shop")
		fmt.Fprint(w, TargetBody)
	})
	mux.HandleFunc("/404", http.NotFound)
	mux.Handle("/redirect", http.RedirectHandler("/", http.StatusFound))
	mux.HandleFunc("POST /created", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, "created\n")
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		fmt.Fprint(gz, TargetBody)
		_ = gz.Close()
	})
	mux.HandleFunc("/private", func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "prober" || pass != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="difftest"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, TargetBody)
	})
	return mux
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
