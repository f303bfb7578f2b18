package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/siteward/siteward/internal/dnstest"
	"github.com/siteward/siteward/internal/testcerts"
)

// startTCPServer accepts connections on a loopback port and runs handle for each (over TLS
// when cert is given). It returns the port.
func startTCPServer(t testing.TB, cert *tls.Certificate, handle func(net.Conn)) string {
	t.Helper()
	var ln net.Listener
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		ln = tls.NewListener(ln, testcerts.ServerConfig(*cert))
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
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// smtpLike is a small line dialogue with STARTTLS: greet, answer EHLO with the name it was
// given, upgrade to TLS on STARTTLS (when cert is set), and greet again inside TLS. Anything
// else gets an error and the connection is closed.
func smtpLike(cert *tls.Certificate) func(net.Conn) {
	return func(conn net.Conn) {
		fmt.Fprint(conn, "220 mx.acme.test ESMTP ready\r\n")
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.TrimSpace(line); {
			case strings.HasPrefix(cmd, "EHLO "):
				fmt.Fprintf(conn, "250-hello %s\r\n250 STARTTLS\r\n", strings.TrimPrefix(cmd, "EHLO "))
			case cmd == "STARTTLS" && cert != nil:
				fmt.Fprint(conn, "220 go ahead\r\n")
				tlsConn := tls.Server(conn, testcerts.ServerConfig(*cert))
				if tlsConn.Handshake() != nil {
					return
				}
				fmt.Fprint(tlsConn, "250 secure now\r\n")
				_, _ = bufio.NewReader(tlsConn).ReadString('\n')
				return
			default:
				fmt.Fprint(conn, "500 what?\r\n")
				return
			}
		}
	}
}

func TestProbeTCP(t *testing.T) {
	dnsServer := dnstest.Start(t)
	dnsServer.Add(t, "mx.acme.test. 60 IN A 127.0.0.1", "other.acme.test. 60 IN A 127.0.0.1")
	now := time.Now()
	ca := testcerts.MustCA(t, testcerts.Options{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	caFile := testcerts.MustWritePEM(t, ca.Cert)
	goodCert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"mx.acme.test"}, NotAfter: now.Add(48 * time.Hour)})
	expiredCert := ca.MustIssue(t, testcerts.Options{DNSNames: []string{"mx.acme.test"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})

	plainPort := startTCPServer(t, nil, smtpLike(nil))
	startTLSPort := startTCPServer(t, nil, smtpLike(&goodCert))
	tlsPort := startTCPServer(t, &goodCert, func(conn net.Conn) { fmt.Fprint(conn, "SSH-2.0-OpenSSH_9.6 Debian\r\n") })
	// The read makes the server side run its (lazy) handshake.
	expiredPort := startTCPServer(t, &expiredCert, func(conn net.Conn) { _, _ = conn.Read(make([]byte, 1)) })
	wrongBannerPort := startTCPServer(t, nil, func(conn net.Conn) { fmt.Fprint(conn, "SSH-1.99-old\r\n") })
	silentPort := startTCPServer(t, nil, func(conn net.Conn) { _, _ = conn.Read(make([]byte, 1)) })
	closedPort := func() string {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		return port
	}()
	tlsModule := fmt.Sprintf("prober: tcp\ntcp:\n  tls: true\n  tls_config:\n    ca_file: %s", caFile)

	tests := []struct {
		name        string
		target      string
		module      string
		timeout     time.Duration
		wantSuccess bool
		wantFailure [2]string          // failure type and reason
		want        map[string]float64 // series that must have these values
		wantAbsent  []string           // series that must not be there
	}{
		{
			name:        "connect",
			target:      "127.0.0.1:" + plainPort,
			module:      "prober: tcp",
			wantSuccess: true,
			want:        map[string]float64{"probe_failed_due_to_regex": 0, "probe_ip_protocol": 4},
			wantAbsent:  []string{"probe_ssl_earliest_cert_expiry", "probe_expect_info"},
		},
		{
			name:        "connection refused",
			target:      "127.0.0.1:" + closedPort,
			module:      "prober: tcp",
			wantFailure: [2]string{"connect", "connection_refused"},
		},
		{
			name:        "name does not resolve",
			target:      "nope.acme.test:" + plainPort,
			module:      "prober: tcp",
			wantFailure: [2]string{"dns", "dns_nxdomain"},
		},
		{
			name:   "dialogue with expansion and labels",
			target: "mx.acme.test:" + plainPort,
			module: `
prober: tcp
tcp:
  preferred_ip_protocol: ip4
  query_response:
    - expect: "^220 ([^ ]+) ESMTP"
      labels:
        - name: mta
          value: "${1}"
      send: "EHLO ${1}"
    - expect: "^250-hello mx.acme.test"
    - send: "QUIT"`,
			wantSuccess: true,
			want:        map[string]float64{`probe_expect_info{mta="mx.acme.test"}`: 1, "probe_failed_due_to_regex": 0},
		},
		{
			name:        "banner mismatch",
			target:      "127.0.0.1:" + wrongBannerPort,
			module:      "prober: tcp\ntcp:\n  query_response:\n    - expect: \"^SSH-2.0-\"",
			wantFailure: [2]string{"content", "query_response_mismatch"},
			want:        map[string]float64{"probe_failed_due_to_regex": 1},
		},
		{
			name:        "silent server",
			target:      "127.0.0.1:" + silentPort,
			module:      "prober: tcp\ntcp:\n  query_response:\n    - expect: \"^SSH-2.0-\"",
			timeout:     time.Second, // long enough for the connect on a busy machine; the read times out
			wantFailure: [2]string{"timeout", "response_timeout"},
		},
		{
			name:        "tls",
			target:      "mx.acme.test:" + tlsPort,
			module:      tlsModule + "\n  query_response:\n    - expect: \"^SSH-2.0-([^ ]+)\"",
			wantSuccess: true,
			want: map[string]float64{
				"probe_ssl_earliest_cert_expiry":                float64(goodCert.Leaf.NotAfter.Unix()),
				"probe_ssl_last_chain_expiry_timestamp_seconds": float64(ca.Cert.NotAfter.Unix()), // the CA expires first
				`probe_tls_version_info{version="TLS 1.3"}`:     1,
			},
		},
		{
			name:        "tls with the wrong name",
			target:      "other.acme.test:" + tlsPort,
			module:      tlsModule,
			wantFailure: [2]string{"ssl", "tls_hostname_mismatch"},
			want:        map[string]float64{"probe_ssl_earliest_cert_expiry": float64(goodCert.Leaf.NotAfter.Unix())},
		},
		{
			name:        "tls with an untrusted certificate",
			target:      "mx.acme.test:" + tlsPort,
			module:      "prober: tcp\ntcp:\n  tls: true",
			wantFailure: [2]string{"ssl", "tls_untrusted"},
		},
		{
			name:        "expired certificate still reports its expiry",
			target:      "mx.acme.test:" + expiredPort,
			module:      tlsModule,
			wantFailure: [2]string{"ssl", "tls_expired"},
			want:        map[string]float64{"probe_ssl_earliest_cert_expiry": float64(expiredCert.Leaf.NotAfter.Unix())},
			wantAbsent:  []string{`probe_tls_version_info{version="TLS 1.3"}`},
		},
		{
			name:   "starttls",
			target: "mx.acme.test:" + startTLSPort,
			module: fmt.Sprintf(`
prober: tcp
tcp:
  query_response:
    - expect: "^220 "
      send: "EHLO prober"
    - expect: "^250 STARTTLS"
      send: "STARTTLS"
    - expect: "^220 go ahead"
      starttls: true
    - expect: "^250 secure now"
      send: "QUIT"
  tls_config:
    ca_file: %s`, caFile),
			wantSuccess: true,
			want: map[string]float64{
				"probe_ssl_earliest_cert_expiry":            float64(goodCert.Leaf.NotAfter.Unix()),
				`probe_tls_version_info{version="TLS 1.3"}`: 1,
			},
		},
		{
			name:        "starttls refused by a server without tls",
			target:      "mx.acme.test:" + plainPort,
			module:      "prober: tcp\ntcp:\n  query_response:\n    - expect: \"^220 \"\n      send: \"STARTTLS\"\n    - expect: \"^220 go ahead\"",
			wantFailure: [2]string{"content", "query_response_mismatch"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := moduleFromYAML(t, tc.module)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(WithResolver(context.Background(), dnsServer.Resolver()), timeout)
			defer cancel()
			registry := prometheus.NewPedanticRegistry()
			var result Result
			ok := ProbeTCP(ctx, tc.target, module, registry, &result, promslog.NewNopLogger())
			checkOutcome(t, ok, &result, tc.wantSuccess, tc.wantFailure)
			series := gatheredSeries(t, registry)
			checkSeries(t, series, tc.want, tc.wantAbsent)
		})
	}
}

func BenchmarkProbeTCP(b *testing.B) {
	port := startTCPServer(b, nil, smtpLike(nil))
	module := moduleFromYAML(b, "prober: tcp\ntcp:\n  query_response:\n    - expect: \"^220 ([^ ]+) ESMTP\"\n      send: \"EHLO ${1}\"\n    - expect: \"^250 STARTTLS\"")
	logger := promslog.NewNopLogger()
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var result Result
		if !ProbeTCP(ctx, "127.0.0.1:"+port, module, prometheus.NewRegistry(), &result, logger) {
			b.Fatalf("probe failed: %+v", result)
		}
		cancel()
	}
}
