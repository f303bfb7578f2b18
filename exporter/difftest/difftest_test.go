package difftest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/dnstest"
	"github.com/siteward/siteward/internal/testcerts"
	"github.com/siteward/siteward/internal/testutil"
)

// durationTolerance is how far apart two exporters' timings of the same loopback probe may
// be. Loopback probes take milliseconds; the margin absorbs scheduling on a busy machine.
const durationTolerance = 1.0

// sitewardOnly are the metrics siteward adds to blackbox_exporter's (DESIGN.md).
var sitewardOnly = map[string]bool{
	"probe_failure_info": true,
	"probe_attempts":     true,
}

// TestDifferential runs Debian's blackbox_exporter 0.23 and siteward-exporter with the same
// module file, probes the same local targets through both, and asserts that every metric both
// export agrees and that siteward exports every metric blackbox_exporter does.
func TestDifferential(t *testing.T) {
	blackboxBin := testutil.LookPath(t, "prometheus-blackbox-exporter", "blackbox_exporter")
	sitewardBin := testutil.BuildBinary(t, "siteward-exporter")

	dir := t.TempDir()
	ca := testcerts.MustCA(t, testcerts.Options{})
	caFile, err := testcerts.WritePEM(dir, "ca.pem", ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	httpSite := httptest.NewServer(TargetHandler())
	t.Cleanup(httpSite.Close)
	httpsSite := startHTTPS(t, ca, now.Add(-time.Hour), now.Add(7*24*time.Hour))
	expiredSite := startHTTPS(t, ca, now.Add(-7*24*time.Hour), now.Add(-time.Hour))
	starttls := startSTARTTLSServer(t, ca, now.Add(-time.Hour), now.Add(7*24*time.Hour))
	banner := startBannerServer(t, false)
	bannerThenHangUp := startBannerServer(t, true)
	closedPort := testutil.FreeAddr(t) // nothing listens there
	dnsServer := dnstest.Start(t)
	dnsServer.Add(t,
		"acme.test. 60 IN SOA ns.acme.test. hostmaster.acme.test. 2026112701 7200 3600 1209600 60",
		"acme.test. 60 IN NS ns.acme.test.",
		"acme.test. 60 IN MX 10 mail.acme.test.",
		"mail.acme.test. 60 IN A 127.0.0.2",
		"ns.acme.test. 60 IN A 127.0.0.1",
		"shop.acme.test. 60 IN A 127.0.0.1",
	)

	modules, err := os.ReadFile("testdata/modules.yml")
	if err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "modules.yml")
	if err := os.WriteFile(configFile, []byte(strings.ReplaceAll(string(modules), "CA_FILE", caFile)), 0o600); err != nil {
		t.Fatal(err)
	}

	blackbox, err := StartExporter("blackbox_exporter", blackboxBin, "--config.file="+configFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(blackbox.Stop)
	siteward, err := StartExporter("siteward-exporter", sitewardBin, "--config.file="+configFile, "--probe.allow-any-target")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(siteward.Stop)

	httpsHost := strings.TrimPrefix(httpsSite.URL, "https://")
	expiredHost := strings.TrimPrefix(expiredSite.URL, "https://")
	// A failed handshake still reports the certificate's expiry in siteward only.
	certFactsOnFailure := []string{"probe_ssl_earliest_cert_expiry"}
	tests := []struct {
		module, target string
		wantSuccess    float64
		alsoSiteward   []string // siteward additions for this case, beyond sitewardOnly
	}{
		{"http_2xx", httpSite.URL + "/", 1, nil},
		{"http_2xx", httpSite.URL + "/404", 0, nil},
		{"http_2xx", httpSite.URL + "/redirect", 1, nil},
		{"http_2xx", "http://" + closedPort + "/", 0, nil},
		{"http_tls", httpsSite.URL + "/", 1, nil},
		{"http_tls", httpSite.URL + "/", 0, nil},
		{"http_tls", expiredSite.URL + "/", 0, certFactsOnFailure},
		{"http_body", httpSite.URL + "/", 1, nil},
		{"http_body_fail", httpSite.URL + "/", 0, nil},
		{"http_no_redirects", httpSite.URL + "/redirect", 1, nil},
		{"http_post", httpSite.URL + "/created", 1, nil},
		{"http_gzip", httpSite.URL + "/gzip", 1, nil},
		{"http_basic_auth", httpSite.URL + "/private", 1, nil},
		{"http_2xx", httpSite.URL + "/private", 0, nil},
		{"http_header_fail", httpSite.URL + "/", 0, nil},
		{"tcp_connect", banner, 1, nil},
		{"tcp_connect", closedPort, 0, nil},
		{"tcp_banner", banner, 1, nil},
		{"tcp_banner_wrong", bannerThenHangUp, 0, nil},
		{"tcp_tls", httpsHost, 1, nil},
		{"tcp_tls", expiredHost, 0, certFactsOnFailure},
		{"tcp_starttls", starttls, 1, nil},
		{"dns_mx", dnsServer.Addr, 1, nil},
		{"dns_a", dnsServer.Addr, 1, nil},
		{"dns_soa_tcp", dnsServer.Addr, 1, nil},
		{"dns_any_norecurse", dnsServer.Addr, 1, nil},
		{"dns_nxdomain", dnsServer.Addr, 0, nil},
		{"dns_nxdomain_valid", dnsServer.Addr, 1, nil},
		{"dns_mismatch", dnsServer.Addr, 0, nil},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range tests {
		t.Run(tc.module+" "+tc.target, func(t *testing.T) {
			want, err := blackbox.Probe(client, tc.module, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			got, err := siteward.Probe(client, tc.module, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			// Guard the test itself: the targets must do what the case says.
			if v := seriesValues(want["probe_success"])["{}"]; v != tc.wantSuccess {
				t.Fatalf("blackbox_exporter probe_success = %v, want %v: the target does not behave as the case expects", v, tc.wantSuccess)
			}
			c := Compare(want, got, durationTolerance)
			for _, m := range c.Mismatches {
				t.Errorf("disagree (blackbox_exporter vs siteward): %s", m)
			}
			for _, name := range c.OnlyA {
				t.Errorf("only blackbox_exporter exports %s", name)
			}
			for _, name := range c.OnlyB {
				if !sitewardOnly[name] && !slices.Contains(tc.alsoSiteward, name) {
					t.Errorf("only siteward exports %s, which is not one of its documented additions", name)
				}
			}
			t.Logf("agree on %d metrics; siteward adds %v", len(want)-len(c.OnlyA), c.OnlyB)
		})
	}
}

// startHTTPS starts an HTTPS target whose certificate, issued by ca, is valid from notBefore
// to notAfter.
func startHTTPS(t *testing.T, ca *testcerts.CA, notBefore, notAfter time.Time) *httptest.Server {
	t.Helper()
	cert := ca.MustIssue(t, TargetCertificate(notBefore, notAfter))
	srv := httptest.NewUnstartedServer(TargetHandler())
	srv.TLS = testcerts.ServerConfig(cert)
	// httptest logs every failed handshake; the expired-certificate cases cause them on purpose.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// startSTARTTLSServer is a line-protocol server that upgrades to TLS: "220 ready", then on
// "STARTTLS" "220 go ahead", a TLS handshake with a certificate valid from notBefore to
// notAfter, and "250 secure" inside TLS.
func startSTARTTLSServer(t *testing.T, ca *testcerts.CA, notBefore, notAfter time.Time) string {
	t.Helper()
	cert := ca.MustIssue(t, TargetCertificate(notBefore, notAfter))
	return startLineServer(t, func(conn net.Conn) {
		fmt.Fprint(conn, "220 ready\r\n")
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "STARTTLS" {
			return
		}
		fmt.Fprint(conn, "220 go ahead\r\n")
		tlsConn := tls.Server(conn, testcerts.ServerConfig(cert))
		if tlsConn.Handshake() != nil {
			return
		}
		fmt.Fprint(tlsConn, "250 secure\r\n")
	})
}

// startBannerServer is a line-protocol server: it greets with an SSH-like banner, waits for
// "SSH-2.0-prober <its version>" and answers "ok". With hangUp it closes the connection right
// after the banner, so a probe expecting something else fails at once instead of timing out.
func startBannerServer(t *testing.T, hangUp bool) string {
	t.Helper()
	return startLineServer(t, func(conn net.Conn) {
		fmt.Fprint(conn, "SSH-2.0-difftest_1.0 siteward\r\n")
		if hangUp {
			return
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err == nil && strings.TrimSpace(line) == "SSH-2.0-prober difftest_1.0" {
			fmt.Fprint(conn, "ok\r\n")
		}
	})
}

// startLineServer accepts TCP connections on a loopback port and runs handle on each; the
// connection is closed when handle returns. It returns "127.0.0.1:port".
func startLineServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				handle(conn)
			}()
		}
	}()
	return ln.Addr().String()
}
