package prober

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/siteward/siteward/internal/dnstest"
	"github.com/siteward/siteward/internal/testcerts"
)

// gathered maps each metric of a registry to its samples: label string ("" when none) -> value.
func gathered(t testing.TB, registry *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	mfs, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		samples := map[string]float64{}
		for _, m := range mf.GetMetric() {
			samples[labelString(m)] = m.GetGauge().GetValue()
		}
		out[mf.GetName()] = samples
	}
	return out
}

func labelString(m *dto.Metric) string {
	parts := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return strings.Join(parts, ",")
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startTLS starts an HTTPS test server presenting cert.
func startTLS(t testing.TB, handler http.Handler, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.TLS = testcerts.ServerConfig(cert)
	// Failed handshakes are what these servers are for; keep them out of the test output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func startHTTP(t testing.TB, handler http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// urlFor returns scheme://name:port/path for a test server reached through the test DNS zone.
func urlFor(srv *httptest.Server, name, path string) string {
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	scheme := "http"
	if srv.TLS != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:%s%s", scheme, name, port, path)
}

func status(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
}

func text(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })
}

// TestHTTPFailureClassification probes real local targets (HTTP and HTTPS servers with
// certificates made here, a local DNS server) and checks probe_success and the failure type
// and reason for every case the issue lists.
func TestHTTPFailureClassification(t *testing.T) {
	zone := dnstest.Start(t)
	for _, name := range []string{"ok", "tls", "wrongname", "expired", "future", "selfsigned"} {
		zone.Add(t, name+".siteward.test. 60 IN A 127.0.0.1")
	}
	zone.SetRcode("missing.siteward.test.", dns.RcodeNameError)

	ca := testcerts.MustCA(t, testcerts.Options{})
	now := time.Now()
	validCert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"tls.siteward.test"}, NotAfter: now.Add(90 * 24 * time.Hour)})
	wrongNameCert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"other.siteward.test"}, NotAfter: now.Add(90 * 24 * time.Hour)})
	expiredCert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"expired.siteward.test"}, NotBefore: now.Add(-60 * 24 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	futureCert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"future.siteward.test"}, NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)})
	selfSignedCert := testcerts.MustSelfSigned(t, testcerts.Options{DNSNames: []string{"selfsigned.siteward.test"}, NotAfter: now.Add(30 * 24 * time.Hour)})

	okHTTP := startHTTP(t, text("all systems operational"))
	okV6 := httptest.NewUnstartedServer(text("all systems operational"))
	v6Listener, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	okV6.Listener = v6Listener
	okV6.Start()
	t.Cleanup(okV6.Close)
	unavailable := startHTTP(t, status(http.StatusServiceUnavailable))
	notFound := startHTTP(t, status(http.StatusNotFound))
	slow := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answers only after the probe gave up
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	trickle := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "status: ")
		w.(http.Flusher).Flush()
		select { // the rest of the body never comes before the probe gives up
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	// Accepts connections and closes them, answering nothing; with SO_LINGER 0 the close is a
	// reset (RST) instead of a FIN.
	hangUp := func(reset bool) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				if reset {
					conn.(*net.TCPConn).SetLinger(0)
				} else {
					// Read the request first, so the close is not mistaken for a reset.
					conn.Read(make([]byte, 4096))
				}
				conn.Close()
			}
		}()
		return fmt.Sprintf("http://ok.siteward.test:%d/", ln.Addr().(*net.TCPAddr).Port)
	}
	// Accepts TCP connections and never answers: an HTTPS probe waits in the TLS handshake.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	loop := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	userAgentCheck := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.UserAgent(), "Siteward-Exporter/") {
			http.Error(w, "unexpected User-Agent "+r.UserAgent(), http.StatusBadRequest)
		}
	}))
	withHeader := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Maintenance", "on")
		fmt.Fprint(w, "ok")
	}))
	gzipped := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			http.Error(w, "want Accept-Encoding: gzip", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprint(zw, "status: healthy")
		zw.Close()
	}))
	brotlied := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		bw := brotli.NewWriter(w)
		fmt.Fprint(bw, "status: healthy")
		bw.Close()
	}))
	tlsOK := startTLS(t, text("secure"), validCert)
	tlsWrongName := startTLS(t, text("x"), wrongNameCert)
	tlsExpired := startTLS(t, text("x"), expiredCert)
	tlsFuture := startTLS(t, text("x"), futureCert)
	tlsSelfSigned := startTLS(t, text("x"), selfSignedCert)

	// A port with nothing listening: listen, note the port, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	trustCA := fmt.Sprintf("http:\n  tls_config:\n    ca: %q", testcerts.PEM(ca.Cert))
	cases := []struct {
		name        string
		target      string
		module      string
		timeout     time.Duration
		wantType    FailureType
		wantReason  Reason
		wantExpiry  time.Time // probe_ssl_earliest_cert_expiry, when set
		wantMetrics map[string]float64
	}{
		{name: "ok", target: urlFor(okHTTP, "ok.siteward.test", "/"), module: "prober: http",
			wantMetrics: map[string]float64{"probe_http_status_code": 200, "probe_ip_protocol": 4, "probe_http_ssl": 0}},
		{name: "https ok", target: urlFor(tlsOK, "tls.siteward.test", "/"), module: "prober: http\n" + trustCA,
			wantMetrics: map[string]float64{"probe_http_status_code": 200, "probe_http_ssl": 1}},
		{name: "https by IP with the Host header's name", target: strings.Replace(urlFor(tlsOK, "tls.siteward.test", "/"), "tls.siteward.test", "127.0.0.1", 1),
			module:      "prober: http\nhttp:\n  headers: {Host: tls.siteward.test}\n  tls_config:\n    ca: " + fmt.Sprintf("%q", testcerts.PEM(ca.Cert)),
			wantMetrics: map[string]float64{"probe_http_status_code": 200, "probe_http_ssl": 1}},
		{name: "IPv6 literal", target: strings.Replace(urlFor(okV6, "ok.siteward.test", "/"), "ok.siteward.test", "[::1]", 1), module: "prober: http",
			wantMetrics: map[string]float64{"probe_http_status_code": 200, "probe_ip_protocol": 6}},
		{name: "sends its User-Agent", target: urlFor(userAgentCheck, "ok.siteward.test", "/"), module: "prober: http"},
		{name: "a User-Agent header overrides it", target: urlFor(userAgentCheck, "ok.siteward.test", "/"), module: "prober: http\nhttp:\n  headers: {User-Agent: curl}",
			wantType: FailureHTTP, wantReason: ReasonHTTPStatus, wantMetrics: map[string]float64{"probe_http_status_code": 400}},
		{name: "http 503", target: urlFor(unavailable, "ok.siteward.test", "/"), module: "prober: http",
			wantType: FailureHTTP, wantReason: ReasonHTTPStatus, wantMetrics: map[string]float64{"probe_http_status_code": 503}},
		{name: "http 404", target: urlFor(notFound, "ok.siteward.test", "/"), module: "prober: http",
			wantType: FailureHTTP, wantReason: ReasonHTTPStatus, wantMetrics: map[string]float64{"probe_http_status_code": 404}},
		{name: "slower than the timeout", target: urlFor(slow, "ok.siteward.test", "/"), module: "prober: http",
			timeout: 300 * time.Millisecond, wantType: FailureTimeout, wantReason: ReasonResponseTimeout},
		{name: "expired certificate", target: urlFor(tlsExpired, "expired.siteward.test", "/"), module: "prober: http\n" + trustCA,
			wantType: FailureSSL, wantReason: ReasonTLSExpired, wantExpiry: expiredCert.Leaf.NotAfter},
		{name: "certificate not yet valid", target: urlFor(tlsFuture, "future.siteward.test", "/"), module: "prober: http\n" + trustCA,
			wantType: FailureSSL, wantReason: ReasonTLSNotYetValid, wantExpiry: futureCert.Leaf.NotAfter},
		{name: "hostname mismatch", target: urlFor(tlsWrongName, "wrongname.siteward.test", "/"), module: "prober: http\n" + trustCA,
			wantType: FailureSSL, wantReason: ReasonTLSHostnameMismatch},
		{name: "self-signed certificate", target: urlFor(tlsSelfSigned, "selfsigned.siteward.test", "/"), module: "prober: http\n" + trustCA,
			wantType: FailureSSL, wantReason: ReasonTLSUntrusted, wantExpiry: selfSignedCert.Leaf.NotAfter},
		{name: "name does not resolve", target: "http://missing.siteward.test/", module: "prober: http",
			wantType: FailureDNS, wantReason: ReasonDNSNXDomain},
		{name: "connection refused", target: fmt.Sprintf("http://ok.siteward.test:%d/", closedPort), module: "prober: http",
			wantType: FailureConnect, wantReason: ReasonConnectionRefused},
		{name: "body slower than the timeout, with a body regexp", target: urlFor(trickle, "ok.siteward.test", "/"),
			module:  "prober: http\nhttp:\n  fail_if_body_not_matches_regexp: [\"healthy\"]",
			timeout: 300 * time.Millisecond, wantType: FailureTimeout, wantReason: ReasonResponseTimeout},
		{name: "body over body_size_limit, with a body regexp", target: urlFor(okHTTP, "ok.siteward.test", "/"),
			module:   "prober: http\nhttp:\n  body_size_limit: 4B\n  fail_if_body_not_matches_regexp: [\"operational\"]",
			wantType: FailureHTTP, wantReason: ReasonHTTPProtocolError},
		{name: "TLS handshake slower than the timeout", target: fmt.Sprintf("https://ok.siteward.test:%d/", silent.Addr().(*net.TCPAddr).Port),
			module: "prober: http", timeout: 300 * time.Millisecond, wantType: FailureTimeout, wantReason: ReasonTLSHandshakeTimeout},
		{name: "connection closed without an answer", target: hangUp(false), module: "prober: http",
			wantType: FailureConnect, wantReason: ReasonConnectionReset},
		{name: "connection reset", target: hangUp(true), module: "prober: http",
			wantType: FailureConnect, wantReason: ReasonConnectionReset},
		{name: "https to a plain HTTP server", target: strings.Replace(urlFor(okHTTP, "ok.siteward.test", "/"), "http://", "https://", 1), module: "prober: http",
			wantType: FailureSSL, wantReason: ReasonTLSHandshakeError},
		{name: "body does not match", target: urlFor(okHTTP, "ok.siteward.test", "/"),
			module:   "prober: http\nhttp:\n  fail_if_body_not_matches_regexp: [\"healthy\"]",
			wantType: FailureContent, wantReason: ReasonBodyNotMatchedRegexp, wantMetrics: map[string]float64{"probe_failed_due_to_regex": 1}},
		{name: "body matches", target: urlFor(okHTTP, "ok.siteward.test", "/"),
			module:   "prober: http\nhttp:\n  fail_if_body_matches_regexp: [\"operational\"]",
			wantType: FailureContent, wantReason: ReasonBodyMatchedRegexp, wantMetrics: map[string]float64{"probe_failed_due_to_regex": 1}},
		{name: "header matches", target: urlFor(withHeader, "ok.siteward.test", "/"),
			module:   "prober: http\nhttp:\n  fail_if_header_matches: [{header: X-Maintenance, regexp: \"on\"}]",
			wantType: FailureContent, wantReason: ReasonHeaderMatchedRegexp},
		{name: "too many redirects", target: urlFor(loop, "ok.siteward.test", "/"), module: "prober: http",
			wantType: FailureHTTP, wantReason: ReasonTooManyRedirects, wantMetrics: map[string]float64{"probe_http_status_code": 302, "probe_http_redirects": 11}},
		{name: "redirect not followed", target: urlFor(loop, "ok.siteward.test", "/"), module: "prober: http\nhttp:\n  no_follow_redirects: true",
			wantType: FailureHTTP, wantReason: ReasonHTTPStatus, wantMetrics: map[string]float64{"probe_http_status_code": 302}},
		{name: "gzip body decoded for regexps", target: urlFor(gzipped, "ok.siteward.test", "/"),
			module:      "prober: http\nhttp:\n  compression: gzip\n  headers: {Accept-Encoding: gzip}\n  fail_if_body_not_matches_regexp: [\"healthy\"]",
			wantMetrics: map[string]float64{"probe_http_uncompressed_body_length": float64(len("status: healthy")), "probe_failed_due_to_regex": 0}},
		{name: "brotli body decoded for regexps", target: urlFor(brotlied, "ok.siteward.test", "/"),
			module:      "prober: http\nhttp:\n  compression: br\n  fail_if_body_not_matches_regexp: [\"healthy\"]",
			wantMetrics: map[string]float64{"probe_http_uncompressed_body_length": float64(len("status: healthy"))}},
		{name: "body over body_size_limit", target: urlFor(okHTTP, "ok.siteward.test", "/"), module: "prober: http\nhttp:\n  body_size_limit: 4B",
			wantType: FailureHTTP, wantReason: ReasonHTTPProtocolError},
		{name: "ssl required", target: urlFor(okHTTP, "ok.siteward.test", "/"), module: "prober: http\nhttp:\n  fail_if_not_ssl: true",
			wantType: FailureSSL, wantReason: ReasonSSLRequired},
		{name: "http version", target: urlFor(okHTTP, "ok.siteward.test", "/"), module: "prober: http\nhttp:\n  valid_http_versions: [\"HTTP/2.0\"]",
			wantType: FailureHTTP, wantReason: ReasonHTTPVersion, wantMetrics: map[string]float64{"probe_http_version": 1.1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(WithResolver(context.Background(), zone.Resolver()), timeout)
			defer cancel()
			registry := prometheus.NewRegistry()
			var result Result
			success := ProbeHTTP(ctx, tc.target, moduleFromYAML(t, tc.module), registry, &result, testLogger(t))

			gotType, gotReason, failed := result.Failure()
			if success != (tc.wantType == "") {
				t.Errorf("success = %v, want %v (failure %s/%s)", success, tc.wantType == "", gotType, gotReason)
			}
			if gotType != tc.wantType || gotReason != tc.wantReason {
				t.Errorf("failure = %s/%s (recorded %v), want %s/%s", gotType, gotReason, failed, tc.wantType, tc.wantReason)
			}
			if failed && !slices.Contains(Reasons[gotType], gotReason) {
				t.Errorf("%s/%s is not in the documented set", gotType, gotReason)
			}
			metrics := gathered(t, registry)
			for name, want := range tc.wantMetrics {
				if got, ok := metrics[name][""]; !ok || got != want {
					t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
				}
			}
			if !tc.wantExpiry.IsZero() {
				got, ok := metrics["probe_ssl_earliest_cert_expiry"][""]
				if !ok || int64(got) != tc.wantExpiry.Unix() {
					t.Errorf("probe_ssl_earliest_cert_expiry = %v (present %v), want %d", got, ok, tc.wantExpiry.Unix())
				}
			}
		})
	}
}

// TestHTTPSMetrics checks blackbox_exporter's TLS metrics after a verified handshake.
func TestHTTPSMetrics(t *testing.T) {
	zone := dnstest.Start(t)
	zone.Add(t, "tls.siteward.test. 60 IN A 127.0.0.1")
	ca := testcerts.MustCA(t, testcerts.Options{})
	cert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"tls.siteward.test", "www.siteward.test"}, NotAfter: time.Now().Add(30 * 24 * time.Hour)})
	leaf := cert.Leaf
	srv := startTLS(t, text("secure"), cert)

	ctx, cancel := context.WithTimeout(WithResolver(context.Background(), zone.Resolver()), 5*time.Second)
	defer cancel()
	registry := prometheus.NewRegistry()
	var result Result
	module := moduleFromYAML(t, fmt.Sprintf("prober: http\nhttp:\n  fail_if_not_ssl: true\n  tls_config:\n    ca: %q", testcerts.PEM(ca.Cert)))
	if !ProbeHTTP(ctx, urlFor(srv, "tls.siteward.test", "/"), module, registry, &result, testLogger(t)) {
		t.Fatalf("probe failed: %v", result)
	}
	metrics := gathered(t, registry)
	fingerprint := sha256.Sum256(leaf.Raw)
	wantInfo := fmt.Sprintf("fingerprint_sha256=%q,issuer=%q,subject=%q,subjectalternative=%q",
		hex.EncodeToString(fingerprint[:]), "CN=siteward test CA", "CN=tls.siteward.test", "tls.siteward.test,www.siteward.test")
	if got := metrics["probe_ssl_last_chain_info"][wantInfo]; got != 1 {
		t.Errorf("probe_ssl_last_chain_info = %v, want {%s} 1", metrics["probe_ssl_last_chain_info"], wantInfo)
	}
	if got := metrics["probe_tls_version_info"][`version="TLS 1.3"`]; got != 1 {
		t.Errorf("probe_tls_version_info = %v", metrics["probe_tls_version_info"])
	}
	// The leaf expires before the CA, so both expiry metrics are the leaf's.
	for _, name := range []string{"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds"} {
		if got := metrics[name][""]; int64(got) != leaf.NotAfter.Unix() {
			t.Errorf("%s = %v, want %d", name, got, leaf.NotAfter.Unix())
		}
	}
	if got := metrics["probe_http_duration_seconds"][`phase="tls"`]; got <= 0 {
		t.Errorf(`probe_http_duration_seconds{phase="tls"} = %v, want > 0`, got)
	}
	if got := metrics["probe_http_ssl"][""]; got != 1 {
		t.Errorf("probe_http_ssl = %v, want 1", got)
	}
}

// TestHTTPRedirectToOtherHost follows a redirect from a plain-HTTP name to an HTTPS server of
// another name: the second host is resolved through the probe's resolver and verified under
// its own name, and the TLS metrics describe the final response.
func TestHTTPRedirectToOtherHost(t *testing.T) {
	zone := dnstest.Start(t)
	zone.Add(t, "a.siteward.test. 60 IN A 127.0.0.1", "b.siteward.test. 60 IN A 127.0.0.1")
	ca := testcerts.MustCA(t, testcerts.Options{})
	cert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"b.siteward.test"}})
	final := startTLS(t, text("landed"), cert)
	first := startHTTP(t, http.RedirectHandler(urlFor(final, "b.siteward.test", "/"), http.StatusMovedPermanently))

	ctx, cancel := context.WithTimeout(WithResolver(context.Background(), zone.Resolver()), 5*time.Second)
	defer cancel()
	registry := prometheus.NewRegistry()
	var result Result
	module := moduleFromYAML(t, fmt.Sprintf("prober: http\nhttp:\n  preferred_ip_protocol: ip4\n  tls_config:\n    ca: %q", testcerts.PEM(ca.Cert)))
	if !ProbeHTTP(ctx, urlFor(first, "a.siteward.test", "/"), module, registry, &result, testLogger(t)) {
		t.Fatalf("probe failed: %v", result)
	}
	metrics := gathered(t, registry)
	for name, want := range map[string]float64{"probe_http_redirects": 1, "probe_http_ssl": 1, "probe_http_status_code": 200} {
		if got := metrics[name][""]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestProbeOffersClassicalCurves: the ClientHello of a probe offers X25519 and the NIST curves,
// not the hybrid post-quantum key share (see probeCurves).
func TestProbeOffersClassicalCurves(t *testing.T) {
	ca := testcerts.MustCA(t, testcerts.Options{})
	cert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"localhost"}})
	offered := make(chan []tls.CurveID, 1)
	srv := httptest.NewUnstartedServer(text("ok"))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			select {
			case offered <- hello.SupportedCurves:
			default:
			}
			return nil, nil
		},
	}
	srv.StartTLS()
	defer srv.Close()

	module := moduleFromYAML(t, fmt.Sprintf("prober: http\nhttp:\n  preferred_ip_protocol: ip4\n  tls_config:\n    ca: %q", testcerts.PEM(ca.Cert)))
	var result Result
	target := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if !ProbeHTTP(context.Background(), target, module, prometheus.NewRegistry(), &result, testLogger(t)) {
		t.Fatalf("probe failed: %v", result)
	}
	got := <-offered
	if !slices.Equal(got, probeCurves) {
		t.Errorf("ClientHello offered %v, want %v", got, probeCurves)
	}
}

// TestHTTP2: against a server that speaks HTTP/2 over TLS the probe negotiates it
// (enable_http2 defaults to true) and valid_http_versions can require it.
func TestHTTP2(t *testing.T) {
	ca := testcerts.MustCA(t, testcerts.Options{})
	cert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"localhost"}})
	srv := httptest.NewUnstartedServer(text("ok"))
	srv.EnableHTTP2 = true
	srv.TLS = testcerts.ServerConfig(cert)
	srv.StartTLS()
	defer srv.Close()
	target := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	for _, tc := range []struct {
		module  string
		success bool
		version float64
	}{
		{"", true, 2},
		{"\n  valid_http_versions: [\"HTTP/2.0\"]", true, 2},
		{"\n  valid_http_versions: [\"HTTP/1.1\"]", false, 2},
		{"\n  enable_http2: false", true, 1.1},
	} {
		module := moduleFromYAML(t, fmt.Sprintf("prober: http\nhttp:\n  preferred_ip_protocol: ip4\n  tls_config:\n    ca: %q%s", testcerts.PEM(ca.Cert), tc.module))
		registry := prometheus.NewRegistry()
		var result Result
		if got := ProbeHTTP(context.Background(), target, module, registry, &result, testLogger(t)); got != tc.success {
			t.Errorf("module%s: success = %v, want %v (%v)", tc.module, got, tc.success, result)
		}
		if got := gathered(t, registry)["probe_http_version"][""]; got != tc.version {
			t.Errorf("module%s: probe_http_version = %v, want %v", tc.module, got, tc.version)
		}
	}
}

// TestHTTPProxySkipResolve: with proxy_url and skip_resolve_phase_with_proxy the probe leaves
// name resolution to the proxy, so a name only the proxy knows is probed, with no resolve phase.
func TestHTTPProxySkipResolve(t *testing.T) {
	var proxied atomic.Value
	proxy := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Store(r.URL.String()) // a forward proxy sees the absolute URL
		fmt.Fprint(w, "via proxy")
	}))
	module := moduleFromYAML(t, fmt.Sprintf("prober: http\nhttp:\n  proxy_url: %q\n  skip_resolve_phase_with_proxy: true", proxy.URL))
	registry := prometheus.NewRegistry()
	var result Result
	if !ProbeHTTP(context.Background(), "http://intranet.siteward.invalid/health", module, registry, &result, testLogger(t)) {
		t.Fatalf("probe failed: %v", result)
	}
	if got, _ := proxied.Load().(string); got != "http://intranet.siteward.invalid/health" {
		t.Errorf("proxy saw %q", got)
	}
	metrics := gathered(t, registry)
	if _, ok := metrics["probe_http_duration_seconds"][`phase="resolve"`]; ok {
		t.Error("resolve phase reported although the proxy resolved the name")
	}
	if _, ok := metrics["probe_dns_lookup_time_seconds"]; ok {
		t.Error("probe_dns_lookup_time_seconds reported although nothing was resolved")
	}
}
