package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/siteward/siteward/internal/dnstest"
	"github.com/siteward/siteward/internal/testutil"
)

func TestConfigCheck(t *testing.T) {
	bin := testutil.BuildBinary(t, "siteward-exporter")
	testdata := filepath.Join(testutil.RepoRoot(), "exporter", "config", "testdata")
	cases := []struct {
		file     string
		wantCode int
		wantOut  string
	}{
		{filepath.Join(testdata, "valid.yml"), 0, "config OK (3 modules, 1 clients, 2 sites"},
		{filepath.Join(testutil.RepoRoot(), "examples", "exporter.yml"), 0, "config OK"},
		{filepath.Join(testdata, "invalid_unknown_http_key.yml"), 1, `module "http_2xx": line 5: unknown key valid_status_code`},
		{filepath.Join(testdata, "invalid_site_unknown_module.yml"), 1, `unknown module "http_post"`},
		{filepath.Join(t.TempDir(), "missing.yml"), 1, "no such file"},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "--config.check", "--config.file", tc.file)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.wantCode, stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.wantOut) {
				t.Errorf("output %q does not contain %q", out, tc.wantOut)
			}
		})
	}
}

// startExporter runs bin with args and --web.listen-address on a free port, until the test
// ends; the exporter's log is shown when the test failed. It returns the process and the
// address.
func startExporter(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	addr := testutil.FreeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, append(args, "--web.listen-address", addr)...)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("exporter log:\n%s", logs.String())
		}
	})
	return cmd, addr
}

// waitTimeout bounds every wait for the exporter.
const waitTimeout = 10 * time.Second

func httpGet(u string) (int, string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestServe runs the real binary: probes, own metrics, reload by SIGHUP and by POST.
func TestServe(t *testing.T) {
	bin := testutil.BuildBinary(t, "siteward-exporter")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer target.Close()

	cfgPath := filepath.Join(t.TempDir(), "exporter.yml")
	writeConfig := func(sites ...string) {
		var b strings.Builder
		b.WriteString("modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\nclients:\n  - name: acme\n    sites:\n")
		for _, s := range sites {
			fmt.Fprintf(&b, "      - {name: %s, target: %q}\n", s, target.URL+"/"+s)
		}
		if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("shop")

	cmd, addr := startExporter(t, bin, "--config.file", cfgPath, "--log.level", "debug")
	base := "http://" + addr
	testutil.WaitHTTPOK(t, waitTimeout, base+"/-/healthy")

	if code, body, err := httpGet(base + "/"); err != nil || code != 200 || !strings.Contains(body, "siteward-exporter") {
		t.Errorf("landing page: %d %v", code, err)
	}

	probe := func(site string) (int, string) {
		code, body, err := httpGet(base + "/probe?" + url.Values{"target": {target.URL + "/" + site}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return code, body
	}
	if code, body := probe("shop"); code != 200 || !strings.Contains(body, "probe_success 1\n") {
		t.Errorf("probe of an inventory site: %d\n%s", code, body)
	}
	if code, _ := probe("blog"); code != http.StatusForbidden {
		t.Errorf("probe of a site outside the inventory: %d, want 403", code)
	}

	_, metrics, err := httpGet(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"siteward_exporter_build_info{", "siteward_exporter_config_last_reload_successful 1",
		"siteward_exporter_probes_refused_total 1", `siteward_exporter_probes_total{module="http_2xx",result="success"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// SIGHUP reloads: the new site becomes probeable.
	writeConfig("shop", "blog")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, waitTimeout, `the reloaded inventory in /sd (with "site":"blog")`, func() (bool, string) {
		_, sd, err := httpGet(base + "/sd")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(sd, `"site":"blog"`), sd
	})
	if code, body := probe("blog"); code != 200 || !strings.Contains(body, "probe_success 1\n") {
		t.Errorf("probe after SIGHUP reload: %d\n%s", code, body)
	}

	// /-/reload: POST only.
	if code, _, err := httpGet(base + "/-/reload"); err != nil || code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d, %v; want 405", code, err)
	}
	resp, err := http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST /-/reload = %d, want 200", resp.StatusCode)
	}
}

// TestDNSResolverFlag: with --dns.resolver the exporter resolves targets with that server, so a
// name only the test's DNS server knows is probed, and one it answers NXDOMAIN for is reported
// as dns/dns_nxdomain.
func TestDNSResolverFlag(t *testing.T) {
	bin := testutil.BuildBinary(t, "siteward-exporter")
	zone := dnstest.Start(t)
	zone.Add(t, "shop.siteward.test. 60 IN A 127.0.0.1")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer target.Close()
	_, port, _ := net.SplitHostPort(target.Listener.Addr().String())

	cfgPath := filepath.Join(t.TempDir(), "exporter.yml")
	cfg := "modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\nallowed_targets: [\"http://*.siteward.test:*\"]\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, addr := startExporter(t, bin, "--config.file", cfgPath, "--dns.resolver", zone.Addr)
	base := "http://" + addr
	testutil.WaitHTTPOK(t, waitTimeout, base+"/-/healthy")

	for _, tc := range []struct{ host, want string }{
		{"shop.siteward.test", "probe_success 1\n"},
		{"missing.siteward.test", `probe_failure_info{failure_type="dns",reason="dns_nxdomain"} 1`},
	} {
		u := base + "/probe?" + url.Values{"target": {fmt.Sprintf("http://%s:%s/", tc.host, port)}}.Encode()
		code, body, err := httpGet(u)
		if err != nil {
			t.Fatal(err)
		}
		if code != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("probe of %s: %d, want a body with %q:\n%s", tc.host, code, tc.want, body)
		}
	}
}

// TestWebConfig: --web.config.file (exporter-toolkit) puts basic auth in front of every
// endpoint.
func TestWebConfig(t *testing.T) {
	bin := testutil.BuildBinary(t, "siteward-exporter")
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte(fmt.Sprintf("basic_auth_users:\n  prometheus: %s\n", hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "exporter.yml")
	if err := os.WriteFile(cfgPath, []byte("modules:\n  http_2xx:\n    prober: http\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, addr := startExporter(t, bin, "--config.file", cfgPath, "--web.config.file", webConfig)
	get := func(user, password string) int {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testutil.WaitFor(t, waitTimeout, "the exporter to answer /metrics", func() (bool, string) {
		code := get("", "")
		return code != 0, fmt.Sprintf("status %d", code)
	})
	if code := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", code)
	}
	if code := get("prometheus", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("with a wrong password: %d, want 401", code)
	}
	if code := get("prometheus", "s3cret"); code != http.StatusOK {
		t.Errorf("with the password: %d, want 200", code)
	}
}
