// Package difftest compares siteward-exporter with Debian's prometheus-blackbox-exporter: the
// differential test (difftest_test.go) probes the same local targets through both with the
// same module file and asserts that every metric both export agrees. The helpers here (local
// targets, exporter processes, metric comparison) are shared with the benchmark harness
// (internal/benchprobe).
package difftest

import (
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/siteward/siteward/internal/testcerts"
)

// TargetCertificate describes the certificate of an HTTPS or TLS target, for a
// testcerts.CA: 127.0.0.1 (targets are given by IP so that both exporters connect to the same
// address without resolving anything) and localhost, valid from notBefore to notAfter.
func TargetCertificate(notBefore, notAfter time.Time) testcerts.Options {
	return testcerts.Options{
		CommonName: "127.0.0.1",
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:   []string{"localhost"},
		NotBefore:  notBefore,
		NotAfter:   notAfter,
	}
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
