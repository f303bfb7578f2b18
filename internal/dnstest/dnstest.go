// Package dnstest runs a small authoritative DNS server on a loopback port for tests: records
// given in zone-file syntax (A, AAAA, CNAME, MX, TXT, SOA, NS, ...), names that answer
// NXDOMAIN, SERVFAIL or any other rcode, and names that answer slowly. The server listens on
// UDP and TCP on the same port, so it serves both the Go resolver and DNS probes over either
// transport, and on request over DNS over TLS as well.
package dnstest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a running authoritative DNS server. Its methods are safe for concurrent use, so a
// test may change the zone while probes run.
type Server struct {
	// Addr is the "127.0.0.1:port" address the server answers on, over UDP and TCP.
	Addr string

	udp, tcp *dns.Server
	tlsSrv   []*dns.Server // DNS over TLS listeners, see ServeTLS
	closed   chan struct{}

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case FQDN owner name
	rcodes  map[string]int      // forced response code by lower-case FQDN
	delays  map[string]time.Duration
	queries int
	last    *dns.Msg
}

// Start starts a server on a free loopback port and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server on a free loopback port; Close stops it. Tests use Start; New is for
// helpers outside a test (the benchmark harness).
func New() (*Server, error) {
	s := &Server{
		closed:  make(chan struct{}),
		records: map[string][]dns.RR{},
		rcodes:  map[string]int{},
		delays:  map[string]time.Duration{},
	}
	pc, ln, err := listenPair()
	if err != nil {
		return nil, err
	}
	s.Addr = pc.LocalAddr().String()
	handler := dns.HandlerFunc(s.serveDNS)
	s.udp = &dns.Server{PacketConn: pc, Handler: handler}
	s.tcp = &dns.Server{Listener: ln, Handler: handler}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		if err := activate(srv); err != nil {
			_ = pc.Close()
			_ = ln.Close()
			return nil, err
		}
	}
	return s, nil
}

// activate starts srv on its listener and waits until it serves.
func activate(srv *dns.Server) error {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case <-started:
		return nil
	case err := <-errc:
		return fmt.Errorf("starting DNS server: %w", err)
	}
}

// ServeTLS also serves the zone over DNS over TLS (RFC 7858) with cert, on another loopback
// port, and returns that "127.0.0.1:port" address. Close stops it too.
func (s *Server) ServeTLS(cert tls.Certificate) (string, error) {
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return "", fmt.Errorf("listening for DNS over TLS: %w", err)
	}
	srv := &dns.Server{Listener: ln, Net: "tcp-tls", Handler: dns.HandlerFunc(s.serveDNS)}
	if err := activate(srv); err != nil {
		_ = ln.Close()
		return "", err
	}
	s.mu.Lock()
	s.tlsSrv = append(s.tlsSrv, srv)
	s.mu.Unlock()
	return ln.Addr().String(), nil
}

// listenPair opens a UDP socket and a TCP listener on the same loopback port. The kernel picks
// the UDP port; the TCP port of the same number is almost always free, and a few attempts
// cover the rare case where it is not.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listening on UDP: %w", err)
		}
		ln, err := net.Listen("tcp4", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		lastErr = err
		_ = pc.Close()
	}
	return nil, nil, fmt.Errorf("listening on TCP next to UDP: %w", lastErr)
}

// Close stops the server. Slow answers still pending are abandoned.
func (s *Server) Close() {
	select {
	case <-s.closed:
		return
	default:
	}
	close(s.closed)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.mu.Lock()
	servers := append([]*dns.Server{s.udp, s.tcp}, s.tlsSrv...)
	s.mu.Unlock()
	for _, srv := range servers {
		_ = srv.ShutdownContext(ctx)
	}
}

// Host and Port split Addr, for configurations that want them apart.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port is the server's port number as a string.
func (s *Server) Port() string { _, p, _ := net.SplitHostPort(s.Addr); return p }

// Add adds records given in zone-file syntax, one per string, for example
// "shop.acme.test. 60 IN A 127.0.0.1" or `acme.test. 60 IN TXT "v=spf1 -all"`. A name without
// a trailing dot is taken as fully qualified. It fails the test on a syntax error.
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	if err := s.AddRecords(records...); err != nil {
		t.Fatalf("dnstest: %v", err)
	}
}

// AddRecords is Add for callers without a testing.TB.
func (s *Server) AddRecords(records ...string) error {
	rrs := make([]dns.RR, 0, len(records))
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return fmt.Errorf("parsing record %q: %w", r, err)
		}
		if rr == nil {
			return fmt.Errorf("parsing record %q: empty record", r)
		}
		rrs = append(rrs, rr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		name := key(rr.Header().Name)
		s.records[name] = append(s.records[name], rr)
	}
	return nil
}

// SetRcode makes every query for name answer with rcode (dns.RcodeNameError for NXDOMAIN,
// dns.RcodeServerFailure for SERVFAIL, ...) and no records. Names the zone does not hold
// answer NXDOMAIN anyway.
func (s *Server) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcodes[key(name)] = rcode
}

// SetDelay makes queries for name wait d before they are answered (a slow or overloaded
// server). A delay longer than the client's timeout looks like a server that does not answer.
func (s *Server) SetDelay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[key(name)] = d
}

// Queries returns how many queries the server has received.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// LastQuery returns a copy of the last query the server received (nil before the first), so
// a test can check its flags.
func (s *Server) LastQuery() *dns.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return nil
	}
	return s.last.Copy()
}

// Resolver returns a Go resolver that sends every query to this server, whatever the system's
// resolv.conf says.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.Addr)
		},
	}
}

func key(name string) string { return strings.ToLower(dns.Fqdn(name)) }

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := key(q.Name)

	s.mu.Lock()
	s.queries++
	s.last = req.Copy()
	delay := s.delays[name]
	rcode, forced := s.rcodes[name]
	if forced {
		m.Rcode = rcode
	} else {
		s.answer(m, name, q.Qtype)
	}
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-s.closed:
			return
		}
	}
	_ = w.WriteMsg(m)
}

// answer fills m for a query of name and qtype; the caller holds s.mu. It follows CNAMEs inside
// the zone, adds the addresses of MX and NS targets as additional records, and answers
// NXDOMAIN (with the zone's SOA as authority, if one was added) for unknown names.
func (s *Server) answer(m *dns.Msg, name string, qtype uint16) {
	for range 8 { // bounds CNAME chains, including loops
		rrs, ok := s.records[name]
		if !ok {
			// The rcode describes the last name of a CNAME chain (RFC 6604).
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, s.soaFor(name)...)
			return
		}
		var cname *dns.CNAME
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			switch {
			case t == qtype || qtype == dns.TypeANY:
				m.Answer = append(m.Answer, rr)
			case t == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if cname == nil || qtype == dns.TypeCNAME || qtype == dns.TypeANY {
			break
		}
		m.Answer = append(m.Answer, cname)
		name = key(cname.Target)
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soaFor(name)...) // NODATA
	}
	for _, rr := range m.Answer {
		var target string
		switch v := rr.(type) {
		case *dns.MX:
			target = v.Mx
		case *dns.NS:
			target = v.Ns
		default:
			continue
		}
		for _, glue := range s.records[key(target)] {
			if t := glue.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA {
				m.Extra = append(m.Extra, glue)
			}
		}
	}
}

// soaFor returns the SOA record of the closest enclosing zone the server holds, if any.
func (s *Server) soaFor(name string) []dns.RR {
	for {
		for _, rr := range s.records[name] {
			if rr.Header().Rrtype == dns.TypeSOA {
				return []dns.RR{rr}
			}
		}
		if name == "." {
			return nil
		}
		i := strings.IndexByte(name, '.')
		name = name[i+1:]
		if name == "" {
			name = "."
		}
	}
}
