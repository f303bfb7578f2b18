// Package demosite serves a few demo client websites on loopback, with a control API that
// breaks them in the ways real sites break (HTTP 503/404, a hanging response, an expired
// certificate, a refused connection, a vanished DNS record, a wrong page). `make demo` and the
// end-to-end tests point siteward-exporter at them.
package demosite

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mode is how a site currently behaves.
type Mode string

const (
	ModeOK          Mode = "ok"           // 200 with the expected page
	Mode503         Mode = "503"          // 503 Service Unavailable
	Mode404         Mode = "404"          // 404 Not Found
	ModeTimeout     Mode = "timeout"      // holds the request longer than any probe timeout
	ModeExpiredCert Mode = "expired-cert" // serves an expired certificate from the same CA (HTTPS sites)
	ModeRefused     Mode = "refused"      // listener closed: connection refused
	ModeDNS         Mode = "dns"          // the DNS server answers NXDOMAIN for the site's name
	ModeBody        Mode = "body"         // 200, but the page lacks the text the module expects
)

// BreakModes lists the modes /break accepts, in the order the listing shows them.
var BreakModes = []Mode{Mode503, Mode404, ModeTimeout, ModeExpiredCert, ModeRefused, ModeDNS, ModeBody}

// HealthyText is on every healthy page; the demo module's fail_if_body_not_matches_regexp
// looks for it, so ModeBody fails with failure_type="content".
const HealthyText = "siteward demo site: all systems normal"

// Site is one demo website of one client.
type Site struct {
	Client       string            `json:"client"`
	ClientLabels map[string]string `json:"client_labels,omitempty"`
	Name         string            `json:"name"`
	Host         string            `json:"host"` // DNS name served by the demo DNS server
	TLS          bool              `json:"tls"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// Key is the site's unique name in the control API: "client/site".
func (s Site) Key() string { return s.Client + "/" + s.Name }

// DefaultSites is the demo inventory: two clients with a few sites each, HTTP and HTTPS.
func DefaultSites() []Site {
	gold := map[string]string{"tier": "gold"}
	silver := map[string]string{"tier": "silver"}
	return []Site{
		{Client: "acme", ClientLabels: gold, Name: "shop", Host: "shop.acme.test", TLS: true, Labels: map[string]string{"slo": "99.9"}},
		{Client: "acme", ClientLabels: gold, Name: "blog", Host: "blog.acme.test", TLS: false},
		{Client: "acme", ClientLabels: gold, Name: "api", Host: "api.acme.test", TLS: true},
		{Client: "globex", ClientLabels: silver, Name: "www", Host: "www.globex.test", TLS: true, Labels: map[string]string{"slo": "99.5"}},
		{Client: "globex", ClientLabels: silver, Name: "status", Host: "status.globex.test", TLS: false},
	}
}

// Options configure a Server.
type Options struct {
	Sites []Site
	// ListenIP is the address the sites listen on and the DNS server answers with.
	ListenIP string
	// PortBase gives site i the port PortBase+i; 0 picks free ports.
	PortBase int
	// DNSAddress is where the DNS server listens (UDP and TCP), e.g. "127.0.0.1:0".
	DNSAddress string
	// Hang is how long ModeTimeout holds a request at most (it also ends on restore).
	Hang   time.Duration
	Logger *slog.Logger
}

// Server runs the demo sites, their DNS server and the control API.
type Server struct {
	opts   Options
	logger *slog.Logger
	ca     *authority
	dns    *dnsServer

	mu    sync.Mutex
	sites []*site
}

type site struct {
	Site
	addr    string // host:port, fixed for the server's life so restore reopens the same port
	valid   *tls.Certificate
	expired *tls.Certificate

	// Guarded by Server.mu.
	mode    Mode
	since   time.Time
	srv     *http.Server
	release chan struct{} // closed on restore: ends requests held by ModeTimeout
}

// URL is the target the exporter probes.
func (s *site) URL() string {
	scheme := "http"
	if s.TLS {
		scheme = "https"
	}
	_, port, _ := net.SplitHostPort(s.addr)
	return scheme + "://" + s.Host + ":" + port + "/"
}

// New generates the demo CA and certificates, starts the DNS server and every site, and
// returns the running Server. Close stops it.
func New(opts Options) (*Server, error) {
	if len(opts.Sites) == 0 {
		opts.Sites = DefaultSites()
	}
	if opts.ListenIP == "" {
		opts.ListenIP = "127.0.0.1"
	}
	if net.ParseIP(opts.ListenIP) == nil {
		return nil, fmt.Errorf("listen IP %q is not an IP address", opts.ListenIP)
	}
	if opts.DNSAddress == "" {
		opts.DNSAddress = net.JoinHostPort(opts.ListenIP, "0")
	}
	if opts.Hang <= 0 {
		opts.Hang = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := validateSites(opts.Sites); err != nil {
		return nil, err
	}
	now := time.Now()
	ca, err := newAuthority(now)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, logger: opts.Logger, ca: ca}
	for i, cfg := range opts.Sites {
		st := &site{Site: cfg, mode: ModeOK, since: now}
		if cfg.TLS {
			if st.valid, err = ca.issue(cfg.Host, now.Add(-time.Hour), now.Add(365*24*time.Hour)); err != nil {
				return nil, err
			}
			// Expired yesterday, issued by the same CA: the only thing wrong is the date.
			if st.expired, err = ca.issue(cfg.Host, now.Add(-90*24*time.Hour), now.Add(-24*time.Hour)); err != nil {
				return nil, err
			}
		}
		port := 0
		if opts.PortBase > 0 {
			port = opts.PortBase + i
		}
		st.addr = net.JoinHostPort(opts.ListenIP, strconv.Itoa(port))
		s.sites = append(s.sites, st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.sites {
		if err := s.startSiteLocked(st); err != nil {
			s.closeLocked()
			return nil, err
		}
	}
	if s.dns, err = startDNS(opts.DNSAddress, s.resolve); err != nil {
		s.closeLocked()
		return nil, err
	}
	return s, nil
}

func validateSites(sites []Site) error {
	seen := map[string]bool{}
	for _, st := range sites {
		if st.Client == "" || st.Name == "" || st.Host == "" {
			return fmt.Errorf("site %q of client %q: client, name and host are required", st.Name, st.Client)
		}
		for _, k := range []string{st.Key(), "host:" + strings.ToLower(st.Host)} {
			if seen[k] {
				return fmt.Errorf("site %q: duplicate %s", st.Key(), k)
			}
			seen[k] = true
		}
	}
	return nil
}

// startSiteLocked opens the site's listener (on its fixed address) and serves it.
func (s *Server) startSiteLocked(st *site) error {
	ln, err := net.Listen("tcp", st.addr)
	if err != nil {
		return fmt.Errorf("site %s: listen %s: %w", st.Key(), st.addr, err)
	}
	st.addr = ln.Addr().String()
	st.release = make(chan struct{})
	st.srv = &http.Server{
		Handler:           s.siteHandler(st),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	if st.TLS {
		st.srv.TLSConfig = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if st.mode == ModeExpiredCert {
				return st.expired, nil
			}
			return st.valid, nil
		}}
		ln = tls.NewListener(ln, st.srv.TLSConfig)
	}
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("demo site stopped", "site", st.Key(), "err", err)
		}
	}(st.srv)
	return nil
}

func (s *Server) siteHandler(st *site) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mode, release := st.mode, st.release
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch mode {
		case Mode503:
			http.Error(w, "503 Service Unavailable: the server is overloaded", http.StatusServiceUnavailable)
		case Mode404:
			http.Error(w, "404 Not Found", http.StatusNotFound)
		case ModeTimeout:
			timer := time.NewTimer(s.opts.Hang)
			defer timer.Stop()
			select {
			case <-r.Context().Done():
			case <-release:
			case <-timer.C:
			}
			http.Error(w, "504 Gateway Timeout", http.StatusGatewayTimeout)
		case ModeBody:
			fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>Error establishing a database connection</h1>\n", st.Name)
		default:
			fmt.Fprintf(w, "<!doctype html><title>%s (%s)</title><h1>Welcome to %s</h1><p>%s</p>\n", st.Name, st.Client, st.Host, HealthyText)
		}
	})
}

// resolve is the DNS server's view: every healthy site's name maps to the listen IP.
func (s *Server) resolve(name string) (net.IP, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.sites {
		if strings.EqualFold(st.Host, name) {
			if st.mode == ModeDNS {
				return nil, false
			}
			return net.ParseIP(s.opts.ListenIP), true
		}
	}
	return nil, false
}

// find looks a site up by "client/site", by site name when that is unique, or by host name.
func (s *Server) find(name string) (*site, error) {
	var match []*site
	for _, st := range s.sites {
		if st.Key() == name || strings.EqualFold(st.Host, name) {
			return st, nil
		}
		if st.Name == name {
			match = append(match, st)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, fmt.Errorf("unknown site %q (sites: %s)", name, strings.Join(s.keys(), ", "))
	default:
		return nil, fmt.Errorf("site name %q is ambiguous, use client/site (sites: %s)", name, strings.Join(s.keys(), ", "))
	}
}

func (s *Server) keys() []string {
	var keys []string
	for _, st := range s.sites {
		keys = append(keys, st.Key())
	}
	return keys
}

// Break switches a site (see find) to mode. Breaking a broken site first restores it.
func (s *Server) Break(name string, mode Mode) error {
	valid := false
	for _, m := range BreakModes {
		valid = valid || m == mode
	}
	if !valid {
		return fmt.Errorf("unknown mode %q (modes: %s)", mode, joinModes())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.find(name)
	if err != nil {
		return err
	}
	if mode == ModeExpiredCert && !st.TLS {
		return fmt.Errorf("site %s is plain HTTP: mode %s needs an HTTPS site", st.Key(), mode)
	}
	if err := s.restoreLocked(st); err != nil {
		return err
	}
	if mode == ModeRefused {
		// Close the listener and every open connection: new connections are refused.
		_ = st.srv.Close()
		close(st.release)
		st.srv = nil
	}
	st.mode, st.since = mode, time.Now()
	s.logger.Info("site broken", "site", st.Key(), "mode", mode)
	return nil
}

// Restore makes a site (see find) healthy again; an empty name restores every site.
func (s *Server) Restore(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		for _, st := range s.sites {
			if err := s.restoreLocked(st); err != nil {
				return err
			}
		}
		return nil
	}
	st, err := s.find(name)
	if err != nil {
		return err
	}
	return s.restoreLocked(st)
}

func (s *Server) restoreLocked(st *site) error {
	if st.mode == ModeOK {
		return nil
	}
	prev := st.mode
	if prev == ModeRefused {
		if err := s.startSiteLocked(st); err != nil {
			return err
		}
	} else {
		close(st.release) // let requests held by ModeTimeout finish
		st.release = make(chan struct{})
	}
	st.mode, st.since = ModeOK, time.Now()
	s.logger.Info("site restored", "site", st.Key(), "was", prev)
	return nil
}

// SiteStatus is one row of the listing.
type SiteStatus struct {
	Site
	Target string    `json:"target"`
	Mode   Mode      `json:"mode"`
	Since  time.Time `json:"since"`
}

// Status lists the sites with their current mode.
func (s *Server) Status() []SiteStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SiteStatus, 0, len(s.sites))
	for _, st := range s.sites {
		out = append(out, SiteStatus{Site: st.Site, Target: st.URL(), Mode: st.mode, Since: st.since})
	}
	return out
}

// CAPEM is the demo CA certificate, PEM-encoded: the exporter's tls_config.ca_file.
func (s *Server) CAPEM() []byte { return s.ca.pem }

// DNSAddr is the DNS server's address (UDP and TCP): the exporter's --dns.resolver.
func (s *Server) DNSAddr() string { return s.dns.addr }

// Close stops every site and the DNS server.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *Server) closeLocked() {
	for _, st := range s.sites {
		if st.srv != nil {
			_ = st.srv.Close()
			close(st.release)
			st.srv = nil
		}
	}
	if s.dns != nil {
		s.dns.close()
	}
}

func joinModes() string {
	var m []string
	for _, mode := range BreakModes {
		m = append(m, string(mode))
	}
	return strings.Join(m, "|")
}
