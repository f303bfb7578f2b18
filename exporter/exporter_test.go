package exporter

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newTestExporter writes cfgText (with {{target}} replaced) to a file and serves it.
func newTestExporter(t testing.TB, cfgText string, opts Options) (*Exporter, *httptest.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "exporter.yml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts.ConfigFile = path
	opts.Registerer = reg
	opts.Gatherer = reg
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler(nil))
	t.Cleanup(srv.Close)
	return e, srv, path
}

// getOK is get for a request that must answer 200; it returns the body.
func getOK(t *testing.T, u string, header http.Header) string {
	t.Helper()
	code, body := get(t, u, header)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	return body
}

// checkLines checks that body has each of lines as a whole line.
func checkLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	for _, want := range lines {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func get(t *testing.T, u string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func probeURL(srv *httptest.Server, target, module string, extra ...string) string {
	q := url.Values{"target": {target}}
	if module != "" {
		q.Set("module", module)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return srv.URL + "/probe?" + q.Encode()
}

const baseConfig = `
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  http_auth:
    prober: http
    http:
      preferred_ip_protocol: ip4
      basic_auth: {username: probe, password: hunter2}
  http_retry:
    prober: http
    retries: 3
    retry_delay: 10ms
    http:
      preferred_ip_protocol: ip4
clients:
  - name: acme
    labels: {tier: gold}
    sites:
      - name: shop
        target: %[1]s/shop
        labels: {slo: "99.9", tier: platinum}
      - name: flaky
        target: %[1]s/flaky
        module: http_retry
allowed_targets: ["%[1]s/allowed/*"]
`

func TestProbeHandler(t *testing.T) {
	var flakyCalls atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/flaky" && flakyCalls.Add(1) < 3:
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.HasSuffix(r.URL.Path, "/down"):
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.HasSuffix(r.URL.Path, "/slow"):
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer target.Close()
	e, srv, _ := newTestExporter(t, fmt.Sprintf(baseConfig, target.URL), Options{TimeoutOffset: 500 * time.Millisecond})

	t.Run("inventory target succeeds", func(t *testing.T) {
		body := getOK(t, probeURL(srv, target.URL+"/shop", ""), nil)
		checkLines(t, body, "probe_success 1", "probe_attempts 1", "probe_http_status_code 200")
		if strings.Contains(body, "probe_failure_info") {
			t.Errorf("probe_failure_info present on success:\n%s", body)
		}
	})

	t.Run("allowed_targets pattern, failure reported", func(t *testing.T) {
		body := getOK(t, probeURL(srv, target.URL+"/allowed/down", "http_2xx"), nil)
		checkLines(t, body, "probe_success 0", `probe_failure_info{failure_type="http",reason="http_status"} 1`)
	})

	t.Run("retries until success", func(t *testing.T) {
		body := getOK(t, probeURL(srv, target.URL+"/flaky", "http_retry"), nil)
		checkLines(t, body, "probe_success 1", "probe_attempts 3")
	})

	t.Run("retries exhausted", func(t *testing.T) {
		body := getOK(t, probeURL(srv, target.URL+"/allowed/down", "http_retry"), nil)
		checkLines(t, body, "probe_success 0", "probe_attempts 4", `probe_failure_info{failure_type="http",reason="http_status"} 1`)
	})

	t.Run("SSRF guard refuses unknown targets", func(t *testing.T) {
		before := testutil.ToFloat64(e.metrics.refused)
		code, body := get(t, probeURL(srv, "http://169.254.169.254/latest/meta-data/", ""), nil)
		if code != http.StatusForbidden {
			t.Fatalf("status %d, want 403: %s", code, body)
		}
		if !strings.Contains(body, "not allowed") || !strings.Contains(body, "--probe.allow-any-target") {
			t.Errorf("message does not explain the refusal: %s", body)
		}
		if got := testutil.ToFloat64(e.metrics.refused) - before; got != 1 {
			t.Errorf("siteward_exporter_probes_refused_total grew by %v, want 1", got)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			url, want string
		}{
			{probeURL(srv, target.URL+"/shop", "nope"), `Unknown module "nope"`},
			{srv.URL + "/probe?module=http_2xx", "Target parameter is missing"},
		} {
			code, body := get(t, tc.url, nil)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("%s: %d %q, want 400 %q", tc.url, code, body, tc.want)
			}
		}
		code, body := get(t, probeURL(srv, target.URL+"/shop", ""), http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"soon"}})
		if code != http.StatusBadRequest || !strings.Contains(body, "timeout") {
			t.Errorf("bad timeout header: %d %q", code, body)
		}
	})

	t.Run("scrape timeout header bounds the probe", func(t *testing.T) {
		// The target answers only after ten seconds; with a 1s scrape timeout and the 0.5s
		// offset the probe must give up long before and say it timed out.
		body := getOK(t, probeURL(srv, target.URL+"/allowed/slow", "http_retry"), http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"1"}})
		checkLines(t, body, "probe_success 0", "probe_attempts 1", `probe_failure_info{failure_type="timeout",reason="response_timeout"} 1`)
	})

	t.Run("debug output", func(t *testing.T) {
		body := getOK(t, probeURL(srv, target.URL+"/shop", "", "debug", "true"), nil)
		for _, want := range []string{"Logs for the probe:", "Beginning probe", "Metrics that would have been returned:",
			"probe_success 1", "Module configuration:", "prober: http", "timeout: 5s"} {
			if !strings.Contains(body, want) {
				t.Errorf("debug output lacks %q:\n%s", want, body)
			}
		}
		_, body = get(t, probeURL(srv, target.URL+"/shop", "http_auth", "debug", "true"), nil)
		if !strings.Contains(body, "password: <secret>") || strings.Contains(body, "hunter2") {
			t.Errorf("debug output does not hide the password:\n%s", body)
		}
	})

	t.Run("config", func(t *testing.T) {
		body := getOK(t, srv.URL+"/config", nil)
		for _, want := range []string{"http_auth:", "password: <secret>", "retry_delay: 10ms", "name: acme", "allowed_targets:", "/allowed/*"} {
			if !strings.Contains(body, want) {
				t.Errorf("/config lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, "hunter2") {
			t.Errorf("/config shows the password:\n%s", body)
		}
	})

	t.Run("own metrics", func(t *testing.T) {
		code, body := get(t, srv.URL+"/metrics", nil)
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		for _, want := range []string{
			"siteward_exporter_config_last_reload_successful 1",
			`siteward_exporter_probes_total{module="http_2xx",result="success"}`,
			`siteward_exporter_probes_total{module="http_2xx",result="failure"}`,
			"siteward_exporter_probes_refused_total",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
}

func TestAllowAnyTarget(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer target.Close()
	_, srv, _ := newTestExporter(t, "modules:\n  http_2xx:\n    prober: http\n", Options{AllowAnyTarget: true})
	code, body := get(t, probeURL(srv, target.URL, ""), nil)
	if code != http.StatusOK || !strings.Contains(body, "probe_success 1\n") {
		t.Errorf("with --probe.allow-any-target: %d\n%s", code, body)
	}
}

func TestServiceDiscovery(t *testing.T) {
	_, srv, _ := newTestExporter(t, fmt.Sprintf(baseConfig, "https://acme.example"), Options{})
	body := getOK(t, srv.URL+"/sd", nil)
	var groups []sdGroup
	if err := json.Unmarshal([]byte(body), &groups); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := []sdGroup{
		{Targets: []string{"https://acme.example/shop"}, Labels: map[string]string{
			"client": "acme", "site": "shop", "module": "http_2xx", "__param_module": "http_2xx", "tier": "platinum", "slo": "99.9"}},
		{Targets: []string{"https://acme.example/flaky"}, Labels: map[string]string{
			"client": "acme", "site": "flaky", "module": "http_retry", "__param_module": "http_retry", "tier": "gold"}},
	}
	if !reflect.DeepEqual(groups, want) {
		t.Errorf("/sd = %+v\nwant %+v", groups, want)
	}
}

func TestReload(t *testing.T) {
	e, srv, path := newTestExporter(t, "modules:\n  http_2xx:\n    prober: http\n", Options{})

	resp, err := http.Get(srv.URL + "/-/reload")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d, want 405", resp.StatusCode)
	}

	post := func() (int, string) {
		resp, err := http.Post(srv.URL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if err := os.WriteFile(path, []byte("modules:\n  http_2xx:\n    prober: http\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := post(); code != http.StatusInternalServerError || !strings.Contains(body, "bogus") {
		t.Errorf("reload of a broken file = %d %q, want 500 naming the key", code, body)
	}
	if got := testutil.ToFloat64(e.metrics.reloadSuccess); got != 0 {
		t.Errorf("last_reload_successful = %v after a failed reload, want 0", got)
	}
	if _, ok := e.Config().Modules["http_2xx"]; !ok {
		t.Error("failed reload dropped the running configuration")
	}

	if err := os.WriteFile(path, []byte("modules:\n  http_2xx:\n    prober: http\n  tcp_connect:\n    prober: tcp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := post(); code != http.StatusOK {
		t.Errorf("reload = %d %q, want 200", code, body)
	}
	if got := testutil.ToFloat64(e.metrics.reloadSuccess); got != 1 {
		t.Errorf("last_reload_successful = %v, want 1", got)
	}
	if _, ok := e.Config().Modules["tcp_connect"]; !ok {
		t.Error("reload did not apply the new module")
	}
}

func TestProbeTimeout(t *testing.T) {
	cases := []struct {
		header        string
		module, offet time.Duration
		want          time.Duration
	}{
		{"", 0, 500 * time.Millisecond, defaultScrapeTimeout - 500*time.Millisecond},
		{"10", 0, 500 * time.Millisecond, 9500 * time.Millisecond},
		{"10", 5 * time.Second, 500 * time.Millisecond, 5 * time.Second},
		{"3", 5 * time.Second, 500 * time.Millisecond, 2500 * time.Millisecond},
		{"0.2", 5 * time.Second, 500 * time.Millisecond, 5 * time.Second},
		{"0.2", 0, 500 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tc := range cases {
		got, err := probeTimeout(tc.header, tc.module, tc.offet)
		if err != nil || got != tc.want {
			t.Errorf("probeTimeout(%q, %s, %s) = %s, %v; want %s", tc.header, tc.module, tc.offet, got, err, tc.want)
		}
	}
	if _, err := probeTimeout("ten", 0, 0); err == nil {
		t.Error("probeTimeout accepted a non-number")
	}
}

// TestConcurrentProbesAndReloads runs probes while the configuration is reloaded (run with
// -race): every probe answers from one complete configuration.
func TestConcurrentProbesAndReloads(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer target.Close()
	e, srv, _ := newTestExporter(t, fmt.Sprintf(baseConfig, target.URL), Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if err := e.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	errs := make(chan error, 40)
	for range 40 {
		go func() {
			// Not get(): t.Fatal must not be called from another goroutine.
			resp, err := http.Get(probeURL(srv, target.URL+"/shop", ""))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil && (resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "probe_success 1\n")) {
				err = fmt.Errorf("probe during reloads: %d\n%s", resp.StatusCode, body)
			}
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-done
}
