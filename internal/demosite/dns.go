package demosite

import (
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// dnsServer is the small authoritative server for the demo names (shop.acme.test, ...). The
// exporter resolves targets through it (--dns.resolver), and the `dns` break mode makes it
// answer NXDOMAIN for one site.
type dnsServer struct {
	udp, tcp *dns.Server
	addr     string
}

// startDNS serves lookup on addr over UDP and TCP (same port). lookup returns the address for a
// name (lower case, without the trailing dot) and whether the name exists.
func startDNS(addr string, lookup func(name string) (net.IP, bool)) (*dnsServer, error) {
	pc, ln, err := listenUDPAndTCP(addr)
	if err != nil {
		return nil, err
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.Authoritative = true
		if len(req.Question) != 1 {
			resp.Rcode = dns.RcodeFormatError
			_ = w.WriteMsg(resp)
			return
		}
		q := req.Question[0]
		ip, ok := lookup(strings.TrimSuffix(strings.ToLower(q.Name), "."))
		switch {
		case !ok:
			resp.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA && ip.To4() != nil:
			resp.Answer = append(resp.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
				A:   ip.To4(),
			})
		case q.Qtype == dns.TypeAAAA && ip.To4() == nil:
			resp.Answer = append(resp.Answer, &dns.AAAA{
				Hdr:  dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 1},
				AAAA: ip,
			})
		}
		// Any other type for a known name: NOERROR with no answer (NODATA).
		_ = w.WriteMsg(resp)
	})
	s := &dnsServer{
		udp:  &dns.Server{PacketConn: pc, Handler: handler},
		tcp:  &dns.Server{Listener: ln, Handler: handler},
		addr: pc.LocalAddr().String(),
	}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	<-started
	<-started
	return s, nil
}

func (s *dnsServer) close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// listenUDPAndTCP listens on addr over UDP and then TCP on the very port UDP got, so one address
// serves both (resolvers retry over TCP). With port 0 the TCP port may be taken by someone
// else: then it tries another free UDP port.
func listenUDPAndTCP(addr string) (net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns listen address %q: %w", addr, err)
	}
	attempts := 1
	if port == "0" {
		attempts = 20
	}
	for i := 0; ; i++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if i+1 >= attempts {
			return nil, nil, fmt.Errorf("dns listen tcp %s: %w", pc.LocalAddr(), err)
		}
	}
}
