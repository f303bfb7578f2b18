package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadValid(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "valid.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Modules["http_2xx"]
	if m.Prober != "http" || m.Timeout != 5*time.Second || m.Retries != 2 || m.RetryDelay != 500*time.Millisecond {
		t.Errorf("http_2xx = %+v", m)
	}
	if m.HTTP.IPProtocol != "ip4" || !m.HTTP.IPProtocolFallback {
		t.Errorf("ip protocol = %q fallback %v, want ip4 and the default fallback true", m.HTTP.IPProtocol, m.HTTP.IPProtocolFallback)
	}
	if len(m.HTTP.FailIfBodyNotMatchesRegexp) != 1 || !m.HTTP.FailIfBodyNotMatchesRegexp[0].MatchString("all ok") {
		t.Errorf("body regexp not compiled: %+v", m.HTTP.FailIfBodyNotMatchesRegexp)
	}
	if m.HTTP.HTTPClientConfig.BasicAuth == nil || m.HTTP.HTTPClientConfig.BasicAuth.Username != "probe" {
		t.Errorf("basic_auth not decoded: %+v", m.HTTP.HTTPClientConfig.BasicAuth)
	}
	if !m.HTTP.HTTPClientConfig.FollowRedirects || !m.HTTP.HTTPClientConfig.EnableHTTP2 {
		t.Errorf("HTTP client defaults lost: %+v", m.HTTP.HTTPClientConfig)
	}
	if cfg.Modules["http_no_redirects"].HTTP.HTTPClientConfig.FollowRedirects {
		t.Error("no_follow_redirects: true did not turn follow_redirects off")
	}
	d := cfg.Modules["http_defaults"]
	if !d.HTTP.IPProtocolFallback || d.Retries != 0 || d.Timeout != 0 {
		t.Errorf("module without http section lost defaults: %+v", d)
	}
	if len(cfg.Clients) != 1 || len(cfg.Clients[0].Sites) != 2 {
		t.Fatalf("clients = %+v", cfg.Clients)
	}
	if got := cfg.Clients[0].Sites[0].Module; got != DefaultSiteModule {
		t.Errorf("site module default = %q, want %q", got, DefaultSiteModule)
	}
	if len(cfg.AllowedTargets) != 1 {
		t.Fatalf("allowed_targets = %+v", cfg.AllowedTargets)
	}
}

func TestTargetPattern(t *testing.T) {
	p, err := NewTargetPattern("https://*.example.org/*")
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]bool{
		"https://www.example.org/":            true,
		"https://a.b.example.org/deep/path?q": true,
		"https://example.org/":                false,
		"http://www.example.org/":             false,
		"https://www.example.org.evil.com/":   false,
		"https://www.example.org":             false,
	} {
		if got := p.Match(target); got != want {
			t.Errorf("Match(%q) = %v, want %v", target, got, want)
		}
	}
}

// Every invalid configuration is one file in testdata/; the error must name the key (and the
// module, client or site it is in).
func TestLoadInvalid(t *testing.T) {
	cases := []struct {
		file string
		want []string
	}{
		{"invalid_unknown_top_key.yml", []string{"line 2", "unknown key bogus"}},
		{"invalid_unknown_module_key.yml", []string{`module "http_2xx"`, "unknown key tiemout"}},
		{"invalid_unknown_http_key.yml", []string{`module "http_2xx"`, "unknown key valid_status_code"}},
		{"invalid_unknown_tls_key.yml", []string{`module "http_2xx"`, "unknown key insecure_skip_verfy"}},
		{"invalid_missing_prober.yml", []string{`module "http_2xx"`, "prober: missing"}},
		{"invalid_unsupported_prober.yml", []string{`module "ping"`, "prober", `"icmp"`}},
		{"invalid_timeout.yml", []string{`module "http_2xx"`, "soon"}},
		{"invalid_retries.yml", []string{`module "http_2xx"`, "retries"}},
		{"invalid_retry_delay.yml", []string{`module "http_2xx"`, "retry_delay"}},
		{"invalid_status_code.yml", []string{`module "http_2xx"`, "http: valid_status_codes", "2000"}},
		{"invalid_ip_protocol.yml", []string{`module "http_2xx"`, "http: preferred_ip_protocol", "ipv4"}},
		{"invalid_http_version.yml", []string{`module "http_2xx"`, "http: valid_http_versions"}},
		{"invalid_body_regexp.yml", []string{`module "http_2xx"`, "(unclosed"}},
		{"invalid_header_match.yml", []string{`module "http_2xx"`, "fail_if_header_matches[0]: header: missing"}},
		{"invalid_basic_auth_and_bearer.yml", []string{`module "http_2xx"`, "basic_auth", "bearer_token"}},
		{"invalid_compression.yml", []string{`module "http_2xx"`, "compression", "lz4"}},
		{"invalid_ssl_both.yml", []string{`module "http_2xx"`, "fail_if_ssl and fail_if_not_ssl"}},
		{"invalid_site_unknown_module.yml", []string{`client "acme"`, `site "shop"`, "module", "http_post"}},
		{"invalid_site_missing_target.yml", []string{`site "shop"`, "target: missing"}},
		{"invalid_duplicate_site.yml", []string{`client "acme"`, "duplicate site", "shop"}},
		{"invalid_duplicate_client.yml", []string{"duplicate client", "acme"}},
		{"invalid_reserved_label.yml", []string{`client "acme"`, "labels", `"client"`}},
		{"invalid_label_name.yml", []string{`site "shop"`, "labels", "bad-name"}},
		{"invalid_unknown_site_key.yml", []string{"unknown key targets"}},
		{"invalid_allowed_target.yml", []string{"allowed_targets", "empty"}},
		{"invalid_empty.yml", []string{"empty"}},
		{"invalid_grpc_module.yml", []string{`module "grpc"`, "unknown key grpc", "supports the http, tcp and dns probers"}},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "invalid_*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	// exporter-2's tcp_*/dns_* cases live in their own test; every other file needs a case here.
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no case in TestLoadInvalid", f)
		}
	}
}
