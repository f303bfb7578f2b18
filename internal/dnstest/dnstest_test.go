package dnstest

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/siteward/siteward/internal/testcerts"
)

func TestServerAnswers(t *testing.T) {
	s := Start(t)
	s.Add(t,
		"acme.test. 60 IN SOA ns.acme.test. hostmaster.acme.test. 2026112701 7200 3600 1209600 60",
		"shop.acme.test. 60 IN A 127.0.0.1",
		"shop.acme.test. 60 IN AAAA ::1",
		"www.acme.test. 60 IN CNAME shop.acme.test.",
		"acme.test. 60 IN MX 10 mail.acme.test.",
		"mail.acme.test. 60 IN A 127.0.0.2",
		`acme.test. 60 IN TXT "v=spf1 -all"`,
		"dangling.acme.test. 60 IN CNAME gone.acme.test.",
	)
	s.SetRcode("broken.acme.test", dns.RcodeServerFailure)

	tests := []struct {
		name                     string
		qname                    string
		qtype                    uint16
		net                      string
		wantRcode                int
		wantAnswer, wantNs, want int // counts of answer, authority and additional records
	}{
		{"A over UDP", "shop.acme.test.", dns.TypeA, "udp", dns.RcodeSuccess, 1, 0, 0},
		{"A over TCP", "shop.acme.test.", dns.TypeA, "tcp", dns.RcodeSuccess, 1, 0, 0},
		{"AAAA", "shop.acme.test.", dns.TypeAAAA, "udp", dns.RcodeSuccess, 1, 0, 0},
		{"ANY", "shop.acme.test.", dns.TypeANY, "udp", dns.RcodeSuccess, 2, 0, 0},
		{"case-insensitive", "SHOP.Acme.Test.", dns.TypeA, "udp", dns.RcodeSuccess, 1, 0, 0},
		{"CNAME followed", "www.acme.test.", dns.TypeA, "udp", dns.RcodeSuccess, 2, 0, 0},
		{"CNAME asked", "www.acme.test.", dns.TypeCNAME, "udp", dns.RcodeSuccess, 1, 0, 0},
		{"CNAME to nowhere", "dangling.acme.test.", dns.TypeA, "udp", dns.RcodeNameError, 1, 1, 0},
		{"MX with glue", "acme.test.", dns.TypeMX, "udp", dns.RcodeSuccess, 1, 0, 1},
		{"TXT", "acme.test.", dns.TypeTXT, "udp", dns.RcodeSuccess, 1, 0, 0},
		{"SOA", "acme.test.", dns.TypeSOA, "udp", dns.RcodeSuccess, 1, 0, 0},
		{"NODATA has SOA", "mail.acme.test.", dns.TypeAAAA, "udp", dns.RcodeSuccess, 0, 1, 0},
		{"NXDOMAIN has SOA", "nope.acme.test.", dns.TypeA, "udp", dns.RcodeNameError, 0, 1, 0},
		{"NXDOMAIN outside zone", "nope.other.test.", dns.TypeA, "udp", dns.RcodeNameError, 0, 0, 0},
		{"SERVFAIL", "broken.acme.test.", dns.TypeA, "udp", dns.RcodeServerFailure, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &dns.Client{Net: tc.net, Timeout: 5 * time.Second}
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, tc.qtype)
			resp, _, err := c.Exchange(m, s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Rcode != tc.wantRcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.wantRcode])
			}
			if got := []int{len(resp.Answer), len(resp.Ns), len(resp.Extra)}; !slices.Equal(got, []int{tc.wantAnswer, tc.wantNs, tc.want}) {
				t.Errorf("answer/authority/additional = %v, want %v\n%v", got, []int{tc.wantAnswer, tc.wantNs, tc.want}, resp)
			}
			if !resp.Authoritative {
				t.Error("answer is not authoritative")
			}
		})
	}
}

func TestServerSlowAnswer(t *testing.T) {
	s := Start(t)
	s.Add(t, "slow.acme.test. 60 IN A 127.0.0.1")
	s.SetDelay("slow.acme.test.", time.Minute)
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("slow.acme.test.", dns.TypeA)
	_, _, err := c.Exchange(m, s.Addr)
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("exchange error = %v, want a timeout", err)
	}
	if s.Queries() != 1 {
		t.Errorf("queries = %d, want 1", s.Queries())
	}
}

func TestResolver(t *testing.T) {
	s := Start(t)
	s.Add(t, "shop.acme.test. 60 IN A 127.0.0.1")
	r := s.Resolver()
	addrs, err := r.LookupHost(context.Background(), "shop.acme.test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(addrs, []string{"127.0.0.1"}) {
		t.Errorf("addresses = %v, want [127.0.0.1]", addrs)
	}
	_, err = r.LookupHost(context.Background(), "nope.acme.test")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("lookup of unknown name: err = %v, want not found", err)
	}
}

func TestAddRejectsBadRecord(t *testing.T) {
	s := Start(t)
	if err := s.AddRecords("shop.acme.test. 60 IN A not-an-address"); err == nil {
		t.Error("AddRecords accepted a malformed record")
	}
}

func TestServeTLS(t *testing.T) {
	s := Start(t)
	s.Add(t, "shop.acme.test. 60 IN A 127.0.0.1")
	cert := testcerts.MustSelfSigned(t, testcerts.Options{DNSNames: []string{"dns.acme.test"}})
	addr, err := s.ServeTLS(cert)
	if err != nil {
		t.Fatal(err)
	}
	c := &dns.Client{Net: "tcp-tls", Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: testcerts.Pool(cert.Leaf), ServerName: "dns.acme.test"}}
	m := new(dns.Msg)
	m.SetQuestion("shop.acme.test.", dns.TypeA)
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) != 1 {
		t.Errorf("answer = %v, want one A record", resp.Answer)
	}
}
