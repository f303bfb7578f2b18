package prober

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/siteward/siteward/internal/dnstest"
	"github.com/siteward/siteward/internal/testcerts"
)

func TestProbeDNS(t *testing.T) {
	s := dnstest.Start(t)
	s.Add(t,
		"acme.test. 60 IN SOA ns.acme.test. hostmaster.acme.test. 2026112701 7200 3600 1209600 60",
		"acme.test. 60 IN NS ns.acme.test.",
		"ns.acme.test. 60 IN A 127.0.0.1",
		"shop.acme.test. 60 IN A 127.0.0.1",
		"shop.acme.test. 60 IN A 127.0.0.2",
		"www.acme.test. 60 IN CNAME shop.acme.test.",
	)
	s.SetRcode("broken.acme.test.", dns.RcodeServerFailure)
	s.SetRcode("refused.acme.test.", dns.RcodeRefused)
	s.Add(t, "slow.acme.test. 60 IN A 127.0.0.1")
	s.SetDelay("slow.acme.test.", time.Minute)
	closedUDPPort := func() string {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
		pc.Close()
		return port
	}()

	tests := []struct {
		name        string
		target      string // default: the test server's address
		module      string
		timeout     time.Duration
		wantSuccess bool
		wantFailure [2]string
		want        map[string]float64
		wantAbsent  []string
	}{
		{
			name:        "A record",
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A",
			wantSuccess: true,
			want: map[string]float64{
				"probe_dns_answer_rrs": 2, "probe_dns_authority_rrs": 0, "probe_dns_additional_rrs": 0,
				"probe_dns_query_succeeded": 1, "probe_ip_protocol": 4,
			},
			wantAbsent: []string{"probe_dns_serial"},
		},
		{
			name:        "over tcp, server by name",
			target:      "ns.acme.test:" + s.Port(),
			module:      "prober: dns\ndns:\n  query_name: www.acme.test\n  query_type: A\n  transport_protocol: tcp\n  preferred_ip_protocol: ip4",
			wantSuccess: true,
			want:        map[string]float64{"probe_dns_answer_rrs": 3, "probe_dns_query_succeeded": 1},
		},
		{
			name:        "SOA serial",
			module:      "prober: dns\ndns:\n  query_name: acme.test\n  query_type: SOA",
			wantSuccess: true,
			want:        map[string]float64{"probe_dns_serial": 2026112701, "probe_dns_answer_rrs": 1},
		},
		{
			name:        "NXDOMAIN",
			module:      "prober: dns\ndns:\n  query_name: nope.acme.test\n  query_type: A",
			wantFailure: [2]string{"dns", "dns_nxdomain"},
			want:        map[string]float64{"probe_dns_query_succeeded": 1, "probe_dns_authority_rrs": 1},
		},
		{
			name:        "NXDOMAIN expected",
			module:      "prober: dns\ndns:\n  query_name: nope.acme.test\n  query_type: A\n  valid_rcodes: [NXDOMAIN]",
			wantSuccess: true,
		},
		{
			name:        "SERVFAIL",
			module:      "prober: dns\ndns:\n  query_name: broken.acme.test\n  query_type: A",
			wantFailure: [2]string{"dns", "dns_server_failure"},
		},
		{
			name:        "REFUSED",
			module:      "prober: dns\ndns:\n  query_name: refused.acme.test\n  query_type: A",
			wantFailure: [2]string{"dns", "dns_invalid_rcode"},
		},
		{
			name:        "answer does not match",
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A\n  validate_answer_rrs:\n    fail_if_not_matches_regexp: ['IN\\s+A\\s+127\\.0\\.0\\.1$']",
			wantFailure: [2]string{"dns", "dns_answer_mismatch"},
		},
		{
			name:        "answer matches a forbidden regexp",
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A\n  validate_answer_rrs:\n    fail_if_matches_regexp: ['127\\.0\\.0\\.2']",
			wantFailure: [2]string{"dns", "dns_answer_mismatch"},
		},
		{
			name:        "some answer matches",
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A\n  validate_answer_rrs:\n    fail_if_none_matches_regexp: ['127\\.0\\.0\\.2$']",
			wantSuccess: true,
		},
		{
			name:        "empty authority with a required match",
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A\n  validate_authority_rrs:\n    fail_if_none_matches_regexp: ['NS']",
			wantFailure: [2]string{"dns", "dns_answer_mismatch"},
		},
		{
			// blackbox_exporter's fail_if_all_match_regexp fails when NOT all records match.
			name:        "fail_if_all_match_regexp as blackbox: not all match",
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A\n  validate_answer_rrs:\n    fail_if_all_match_regexp: ['127\\.0\\.0\\.1$']",
			wantFailure: [2]string{"dns", "dns_answer_mismatch"},
		},
		{
			name:        "fail_if_all_match_regexp as blackbox: all match",
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A\n  validate_answer_rrs:\n    fail_if_all_match_regexp: ['127\\.0\\.0\\.']",
			wantSuccess: true,
		},
		{
			name:        "server does not answer in time",
			module:      "prober: dns\ndns:\n  query_name: slow.acme.test\n  query_type: A",
			timeout:     time.Second,
			wantFailure: [2]string{"timeout", "dns_timeout"},
			want:        map[string]float64{"probe_dns_query_succeeded": 0},
		},
		{
			name:        "no server on the port",
			target:      "127.0.0.1:" + closedUDPPort,
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A",
			wantFailure: [2]string{"connect", "connection_refused"},
		},
		{
			name:        "server name does not resolve",
			target:      "nope.acme.test:" + s.Port(),
			module:      "prober: dns\ndns:\n  query_name: shop.acme.test",
			wantFailure: [2]string{"dns", "dns_nxdomain"},
			want:        map[string]float64{"probe_dns_query_succeeded": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := moduleFromYAML(t, tc.module)
			target := tc.target
			if target == "" {
				target = s.Addr
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(WithResolver(context.Background(), s.Resolver()), timeout)
			defer cancel()
			registry := prometheus.NewPedanticRegistry()
			var result Result
			ok := ProbeDNS(ctx, target, module, registry, &result, promslog.NewNopLogger())
			checkOutcome(t, ok, &result, tc.wantSuccess, tc.wantFailure)
			series := gatheredSeries(t, registry)
			for _, phase := range []string{"resolve", "connect", "request"} {
				if _, ok := series[`probe_dns_duration_seconds{phase="`+phase+`"}`]; !ok {
					t.Errorf("probe_dns_duration_seconds{phase=%q} is missing", phase)
				}
			}
			checkSeries(t, series, tc.want, tc.wantAbsent)
		})
	}
}

func TestProbeDNSRecursionDesired(t *testing.T) {
	s := dnstest.Start(t)
	s.Add(t, "shop.acme.test. 60 IN A 127.0.0.1")
	for _, tc := range []struct {
		module string
		want   bool
	}{
		{"prober: dns\ndns:\n  query_name: shop.acme.test", true},
		{"prober: dns\ndns:\n  query_name: shop.acme.test\n  recursion_desired: false", false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var result Result
		if !ProbeDNS(ctx, s.Addr, moduleFromYAML(t, tc.module), prometheus.NewRegistry(), &result, promslog.NewNopLogger()) {
			t.Fatalf("probe failed: %+v", result)
		}
		cancel()
		if got := s.LastQuery().RecursionDesired; got != tc.want {
			t.Errorf("%q: recursion desired = %v, want %v", tc.module, got, tc.want)
		}
	}
}

func TestProbeDNSOverTLS(t *testing.T) {
	s := dnstest.Start(t)
	s.Add(t, "dns.acme.test. 60 IN A 127.0.0.1", "shop.acme.test. 60 IN A 127.0.0.1")
	ca := testcerts.MustCA(t, testcerts.Options{})
	caFile := testcerts.MustWritePEM(t, ca.Cert)
	dotAddr, err := s.ServeTLS(ca.MustIssue(t, testcerts.Options{DNSNames: []string{"dns.acme.test"}}))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(dotAddr)
	const module = "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A\n  transport_protocol: tcp\n  dns_over_tls: true\n  preferred_ip_protocol: ip4"

	tests := []struct {
		name        string
		module      string
		wantSuccess bool
		wantFailure [2]string
	}{
		{"trusted", module + "\n  tls_config:\n    ca_file: " + caFile, true, [2]string{}},
		{"untrusted", module, false, [2]string{"ssl", "tls_untrusted"}},
		{"wrong name", module + "\n  tls_config:\n    ca_file: " + caFile + "\n    server_name: other.acme.test", false, [2]string{"ssl", "tls_hostname_mismatch"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(WithResolver(context.Background(), s.Resolver()), 5*time.Second)
			defer cancel()
			registry := prometheus.NewPedanticRegistry()
			var result Result
			ok := ProbeDNS(ctx, "dns.acme.test:"+port, moduleFromYAML(t, tc.module), registry, &result, promslog.NewNopLogger())
			checkOutcome(t, ok, &result, tc.wantSuccess, tc.wantFailure)
			if ok {
				if got := gatheredSeries(t, registry)["probe_dns_answer_rrs"]; got != 1 {
					t.Errorf("probe_dns_answer_rrs = %v, want 1", got)
				}
			}
		})
	}
}

func BenchmarkProbeDNS(b *testing.B) {
	s := dnstest.Start(b)
	s.Add(b, "shop.acme.test. 60 IN A 127.0.0.1")
	module := moduleFromYAML(b, "prober: dns\ndns:\n  query_name: shop.acme.test\n  query_type: A\n  validate_answer_rrs:\n    fail_if_not_matches_regexp: ['127\\.0\\.0\\.1$']")
	logger := promslog.NewNopLogger()
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var result Result
		if !ProbeDNS(ctx, s.Addr, module, prometheus.NewRegistry(), &result, logger) {
			b.Fatalf("probe failed: %+v", result)
		}
		cancel()
	}
}
