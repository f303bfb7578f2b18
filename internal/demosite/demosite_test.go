package demosite

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	exporterconfig "github.com/siteward/siteward/exporter/config"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{Hang: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// client resolves names through the demo DNS server and trusts the demo CA, as the exporter does.
func client(t *testing.T, s *Server, timeout time.Duration) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("CAPEM is not a PEM certificate")
	}
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.DNSAddr())
	}}
	dialer := &net.Dialer{Resolver: resolver}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext:       dialer.DialContext,
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DisableKeepAlives: true,
	}}
}

func target(t *testing.T, s *Server, key string) string {
	t.Helper()
	for _, st := range s.Status() {
		if st.Key() == key {
			return st.Target
		}
	}
	t.Fatalf("no site %s", key)
	return ""
}

// expectHealthy fails unless the site answers 200 with the healthy page.
func expectHealthy(t *testing.T, c *http.Client, u string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), HealthyText) {
		t.Fatalf("GET %s: status %d body %q, want 200 with %q", u, resp.StatusCode, body, HealthyText)
	}
}

func TestBreakAndRestore(t *testing.T) {
	s := startServer(t)
	c := client(t, s, 500*time.Millisecond)
	tests := []struct {
		mode  Mode
		site  string
		check func(t *testing.T, resp *http.Response, body string, err error)
	}{
		{Mode503, "acme/shop", wantStatus(http.StatusServiceUnavailable)},
		{Mode404, "globex/status", wantStatus(http.StatusNotFound)},
		{ModeBody, "acme/blog", func(t *testing.T, resp *http.Response, body string, err error) {
			wantStatus(http.StatusOK)(t, resp, body, err)
			if strings.Contains(body, HealthyText) {
				t.Errorf("body %q still contains %q", body, HealthyText)
			}
		}},
		{ModeTimeout, "acme/api", func(t *testing.T, _ *http.Response, _ string, err error) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("err = %v, want a timeout", err)
			}
		}},
		{ModeExpiredCert, "globex/www", func(t *testing.T, _ *http.Response, _ string, err error) {
			var ce x509.CertificateInvalidError
			if !errors.As(err, &ce) || ce.Reason != x509.Expired {
				t.Errorf("err = %v, want an expired certificate", err)
			}
		}},
		{ModeRefused, "acme/shop", func(t *testing.T, _ *http.Response, _ string, err error) {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("err = %v, want connection refused", err)
			}
		}},
		{ModeDNS, "acme/blog", func(t *testing.T, _ *http.Response, _ string, err error) {
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsNotFound {
				t.Errorf("err = %v, want a not-found DNS error", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.mode), func(t *testing.T) {
			u := target(t, s, tc.site)
			expectHealthy(t, c, u)
			if err := s.Break(tc.site, tc.mode); err != nil {
				t.Fatal(err)
			}
			resp, err := c.Get(u)
			body := ""
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
			}
			tc.check(t, resp, body, err)
			if err := s.Restore(tc.site); err != nil {
				t.Fatal(err)
			}
			expectHealthy(t, c, u)
			if got := target(t, s, tc.site); got != u {
				t.Errorf("target changed from %s to %s after restore", u, got)
			}
		})
	}
}

func wantStatus(code int) func(t *testing.T, resp *http.Response, body string, err error) {
	return func(t *testing.T, resp *http.Response, _ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("err = %v, want status %d", err, code)
		}
		if resp.StatusCode != code {
			t.Errorf("status = %d, want %d", resp.StatusCode, code)
		}
	}
}

func TestControlAPI(t *testing.T) {
	s := startServer(t)
	api := httptest.NewServer(s.Handler())
	t.Cleanup(api.Close)
	tests := []struct {
		name, method, path string
		wantCode           int
		wantBody           string
		wantMode           Mode // mode of acme/shop afterwards
	}{
		{"listing", "GET", "/", 200, "acme/shop", ModeOK},
		{"break", "POST", "/break?site=acme/shop&mode=503", 200, "acme/shop is now 503", Mode503},
		{"restore all", "POST", "/restore", 200, "every site restored", ModeOK},
		{"by site name", "POST", "/break?site=shop&mode=404", 200, "is now 404", Mode404},
		{"by host name", "POST", "/restore?site=shop.acme.test", 200, "restored", ModeOK},
		{"unknown mode", "POST", "/break?site=acme/shop&mode=melt", 400, `unknown mode "melt"`, ModeOK},
		{"unknown site", "POST", "/break?site=nope&mode=503", 400, `unknown site "nope"`, ModeOK},
		{"missing mode", "POST", "/break?site=acme/shop", 400, "need ?site=NAME&mode=", ModeOK},
		{"expired cert on HTTP", "POST", "/break?site=acme/blog&mode=expired-cert", 400, "needs an HTTPS site", ModeOK},
		{"GET break", "GET", "/break?site=acme/shop&mode=503", 405, "", ModeOK},
		{"json listing", "GET", "/?format=json", 200, `"target": "https://shop.acme.test:`, ModeOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, api.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(b), tc.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, resp.StatusCode, b, tc.wantCode, tc.wantBody)
			}
			for _, st := range s.Status() {
				if st.Key() == "acme/shop" && st.Mode != tc.wantMode {
					t.Errorf("acme/shop mode = %s, want %s", st.Mode, tc.wantMode)
				}
			}
		})
	}
}

func TestAmbiguousSiteName(t *testing.T) {
	sites := []Site{
		{Client: "a", Name: "www", Host: "www.a.test"},
		{Client: "b", Name: "www", Host: "www.b.test"},
	}
	s, err := New(Options{Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Break("www", Mode503); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("Break(www) = %v, want an ambiguity error", err)
	}
	if err := s.Break("b/www", Mode503); err != nil {
		t.Errorf("Break(b/www) = %v", err)
	}
}

func TestInvalidSites(t *testing.T) {
	for name, sites := range map[string][]Site{
		"missing host":   {{Client: "a", Name: "www"}},
		"duplicate key":  {{Client: "a", Name: "www", Host: "x.test"}, {Client: "a", Name: "www", Host: "y.test"}},
		"duplicate host": {{Client: "a", Name: "www", Host: "x.test"}, {Client: "b", Name: "www", Host: "X.test"}},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := New(Options{Sites: sites}); err == nil {
				s.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

func TestExporterConfig(t *testing.T) {
	s := startServer(t)
	out, err := s.ExporterConfig(ExporterConfigOptions{CAFile: "/run/demo/ca.pem"})
	if err != nil {
		t.Fatal(err)
	}
	var cfg exporterConfig
	dec := yaml.NewDecoder(strings.NewReader(string(out)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	m := cfg.Modules[ModuleName]
	if m.Prober != "http" || m.Timeout != "5s" || m.HTTP.TLSConfig.CAFile != "/run/demo/ca.pem" {
		t.Errorf("module = %+v", m)
	}
	if len(cfg.Clients) != 2 || cfg.Clients[0].Name != "acme" || cfg.Clients[1].Name != "globex" {
		t.Fatalf("clients = %+v", cfg.Clients)
	}
	shop := cfg.Clients[0].Sites[0]
	if u, err := url.Parse(shop.Target); err != nil || u.Hostname() != "shop.acme.test" || u.Scheme != "https" || shop.Labels["slo"] != "99.9" {
		t.Errorf("shop = %+v", shop)
	}
	if _, err := s.ExporterConfig(ExporterConfigOptions{}); err == nil {
		t.Error("ExporterConfig without a CA file succeeded")
	}
}

// The written configuration must load in siteward-exporter itself, strictly.
func TestExporterConfigLoadsInExporter(t *testing.T) {
	s := startServer(t)
	out, err := s.ExporterConfig(ExporterConfigOptions{CAFile: "/run/demo/ca.pem"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := exporterconfig.Parse(strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("exporter rejects the demo config: %v\n%s", err, out)
	}
	if len(cfg.Clients) != 2 || len(cfg.Clients[0].Sites) != 3 {
		t.Errorf("exporter sees clients %+v", cfg.Clients)
	}
}

// An HTTPS site sends its certificate for the host and the loopback addresses, followed by
// the demo CA whose subject the exporter reports as the issuer.
func TestHTTPSChain(t *testing.T) {
	s := startServer(t)
	resp, err := client(t, s, 5*time.Second).Get(target(t, s, "globex/www"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	chain := resp.TLS.PeerCertificates
	if len(chain) != 2 {
		t.Fatalf("%d certificates sent, want the leaf and the CA", len(chain))
	}
	leaf, ca := chain[0], chain[1]
	const caSubject = "CN=siteward demo CA,O=siteward demo"
	if ca.Subject.String() != caSubject || !ca.IsCA || leaf.Issuer.String() != caSubject {
		t.Errorf("CA %q (IsCA %v), leaf issuer %q; want %q", ca.Subject, ca.IsCA, leaf.Issuer, caSubject)
	}
	if leaf.Subject.CommonName != "www.globex.test" || !slices.Equal(leaf.DNSNames, []string{"www.globex.test", "localhost"}) || len(leaf.IPAddresses) != 2 {
		t.Errorf("leaf CN %q, DNS names %v, IPs %v; want www.globex.test, [www.globex.test localhost] and the two loopback IPs",
			leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	}
}
