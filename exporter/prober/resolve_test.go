package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/internal/dnstest"
)

func TestChooseProtocol(t *testing.T) {
	zone := dnstest.Start(t)
	zone.Add(t,
		"both.siteward.test. 60 IN A 127.0.0.1",
		"both.siteward.test. 60 IN AAAA ::1",
		"v4only.siteward.test. 60 IN A 127.0.0.2",
		"v6only.siteward.test. 60 IN AAAA ::2",
	)
	zone.SetRcode("broken.siteward.test.", dns.RcodeServerFailure)

	cases := []struct {
		name, target, protocol string
		fallback               bool
		wantIP                 string
		wantProtocol           float64
		wantType               FailureType
		wantReason             Reason
	}{
		{"ip6 preferred by default", "both.siteward.test", "", true, "::1", 6, "", ""},
		{"ip4 preferred", "both.siteward.test", "ip4", true, "127.0.0.1", 4, "", ""},
		{"falls back to ip4", "v4only.siteward.test", "ip6", true, "127.0.0.2", 4, "", ""},
		{"falls back to ip6", "v6only.siteward.test", "ip4", true, "::2", 6, "", ""},
		{"no fallback", "v4only.siteward.test", "ip6", false, "", 0, FailureDNS, ReasonDNSNoAddress},
		{"no fallback, right protocol", "v4only.siteward.test", "ip4", false, "127.0.0.2", 4, "", ""},
		{"nxdomain", "missing.siteward.test", "ip4", true, "", 0, FailureDNS, ReasonDNSNXDomain},
		{"servfail", "broken.siteward.test", "ip4", true, "", 0, FailureDNS, ReasonDNSServerFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(WithResolver(context.Background(), zone.Resolver()), 5*time.Second)
			defer cancel()
			registry := prometheus.NewRegistry()
			ip, _, err := chooseProtocol(ctx, tc.protocol, tc.fallback, tc.target, registry, testLogger(t))
			metrics := gathered(t, registry)
			if _, ok := metrics["probe_dns_lookup_time_seconds"][""]; !ok {
				t.Error("probe_dns_lookup_time_seconds missing")
			}
			if tc.wantType != "" {
				if err == nil {
					t.Fatalf("resolved to %v, want an error", ip)
				}
				if gotType, gotReason := Classify(err); gotType != tc.wantType || gotReason != tc.wantReason {
					t.Errorf("Classify(%v) = %s/%s, want %s/%s", err, gotType, gotReason, tc.wantType, tc.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ip.IP.String() != tc.wantIP {
				t.Errorf("ip = %s, want %s", ip, tc.wantIP)
			}
			if got := metrics["probe_ip_protocol"][""]; got != tc.wantProtocol {
				t.Errorf("probe_ip_protocol = %v, want %v", got, tc.wantProtocol)
			}
			if metrics["probe_ip_addr_hash"][""] != ipHash(net.ParseIP(tc.wantIP)) {
				t.Error("probe_ip_addr_hash does not hash the chosen address")
			}
		})
	}
}

func TestClassifyDNSTimeout(t *testing.T) {
	zone := dnstest.Start(t)
	zone.Add(t, "slow.siteward.test. 60 IN A 127.0.0.1")
	zone.SetDelay("slow.siteward.test.", 5*time.Second)
	ctx, cancel := context.WithTimeout(WithResolver(context.Background(), zone.Resolver()), 200*time.Millisecond)
	defer cancel()
	_, _, err := chooseProtocol(ctx, "ip4", true, "slow.siteward.test", prometheus.NewRegistry(), testLogger(t))
	if err == nil {
		t.Fatal("slow lookup succeeded")
	}
	if gotType, gotReason := Classify(err); gotType != FailureTimeout || gotReason != ReasonDNSTimeout {
		t.Errorf("Classify(%v) = %s/%s, want timeout/dns_timeout", err, gotType, gotReason)
	}
}

func TestClassifyWrapped(t *testing.T) {
	cases := []struct {
		err        error
		wantType   FailureType
		wantReason Reason
	}{
		{&net.OpError{Op: "dial", Err: &timeoutError{}}, FailureTimeout, ReasonConnectTimeout},
		{&net.OpError{Op: "read", Err: &timeoutError{}}, FailureTimeout, ReasonResponseTimeout},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), FailureTimeout, ReasonResponseTimeout},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, FailureConnect, ReasonConnectionRefused},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, FailureConnect, ReasonConnectionReset},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, FailureConnect, ReasonHostUnreachable},
		{fmt.Errorf("lookup: %w", ErrNoAddress), FailureDNS, ReasonDNSNoAddress},
		{errors.New("tls: first record does not look like a TLS handshake"), FailureSSL, ReasonTLSHandshakeError},
		{errors.New("something else"), FailureConnect, ReasonConnectError},
	}
	for _, tc := range cases {
		if gotType, gotReason := Classify(tc.err); gotType != tc.wantType || gotReason != tc.wantReason {
			t.Errorf("Classify(%v) = %s/%s, want %s/%s", tc.err, gotType, gotReason, tc.wantType, tc.wantReason)
		}
	}
}

type timeoutError struct{}

func (*timeoutError) Error() string   { return "i/o timeout" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return true }
