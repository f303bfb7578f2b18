package rules_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
)

// These tests start the real Prometheus and Alertmanager with the shipped prometheus.yml and
// alertmanager.yml, changing only the addresses (and, for Prometheus, the intervals in the
// global block), to check what promtool and amtool cannot: the relabelling, the rules on real
// scraped labels, the routes, the inhibitions and the bearer token read from a relative path.

const waitTimeout = 30 * time.Second

// startProcess runs a program until the test ends and shows its output when the test fails.
func startProcess(t *testing.T, name string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = t.TempDir() // relative paths must resolve against the config file, not the cwd
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), out.String())
		}
	})
}

// replaceAll replaces old by new in s and fails unless it occurs exactly n times, so a
// changed config file breaks the test instead of silently testing the wrong addresses.
func replaceAll(t *testing.T, s, old, new string, n int) string {
	t.Helper()
	if got := strings.Count(s, old); got != n {
		t.Fatalf("%q occurs %d times in the config, want %d", old, got, n)
	}
	return strings.ReplaceAll(s, old, new)
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// webhookMessage is the part of Alertmanager's webhook payload (version 4) checked here.
type webhookMessage struct {
	Version     string            `json:"version"`
	Status      string            `json:"status"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

type delivery struct {
	path, authorization string
	msg                 webhookMessage
}

// recorder is an HTTP server that records every request body it gets.
type recorder struct {
	mu         sync.Mutex
	deliveries []delivery
	bodies     map[string][][]byte // path -> raw bodies
}

func newRecorder(t *testing.T, handler http.Handler) (*recorder, *httptest.Server) {
	r := &recorder{bodies: map[string][][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			handler.ServeHTTP(w, req)
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d := delivery{path: req.URL.Path, authorization: req.Header.Get("Authorization")}
		_ = json.Unmarshal(body, &d.msg) // not every recorded body is a webhook message
		r.mu.Lock()
		r.deliveries = append(r.deliveries, d)
		r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], body)
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *recorder) snapshot() ([]delivery, map[string][][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deliveries), maps.Clone(r.bodies)
}

func TestAlertmanagerConfig(t *testing.T) {
	t.Parallel()
	alertmanager := testutil.LookPath(t, "prometheus-alertmanager", "alertmanager")
	receiver, receiverSrv := newRecorder(t, http.NotFoundHandler())

	// The shipped config, pointed at the test receiver; the token file keeps its relative path.
	dir := t.TempDir()
	cfg := replaceAll(t, readRepoFile(t, "alertmanager.yml"), "http://localhost:9096", receiverSrv.URL, 2)
	writeFile(t, filepath.Join(dir, "alertmanager.yml"), cfg)
	const token = "s3cret-token"
	writeFile(t, filepath.Join(dir, "secrets", "receiver-token"), token+"\n")

	addr := testutil.FreeAddr(t)
	startProcess(t, alertmanager,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no HA gossip
	)
	base := "http://" + addr
	testutil.WaitHTTPOK(t, waitTimeout, base+"/-/ready")

	alert := func(name, client, site, severity string) map[string]any {
		labels := map[string]string{"alertname": name, "severity": severity, "failure_type": "http"}
		if client != "" {
			labels["client"], labels["site"] = client, site
		}
		return map[string]any{"labels": labels, "startsAt": time.Now().Format(time.RFC3339)}
	}
	alerts := []map[string]any{
		alert("SiteDown", "acme", "shop", "critical"),
		alert("SiteSlow", "acme", "shop", "warning"),                // inhibited by SiteDown
		alert("SiteCertificateExpiring", "acme", "shop", "warning"), // inhibited by SiteDown
		alert("SiteSlow", "globex", "web", "warning"),
		alert("SiteCertificateExpiring", "initech", "www", "warning"), // inhibited by critical
		alert("SiteCertificateExpiring", "initech", "www", "critical"),
		alert("Watchdog", "", "", "info"),
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("posting alerts: %s", resp.Status)
	}

	// One delivery per notification group: path, group and the alerts it carries.
	want := map[string][]string{
		"/api/v1/webhook client=acme site=shop":   {"SiteDown/critical"},
		"/api/v1/webhook client=globex site=web":  {"SiteSlow/warning"},
		"/api/v1/webhook client=initech site=www": {"SiteCertificateExpiring/critical"},
		"/api/v1/watchdog alertname=Watchdog":     {"Watchdog/info"},
	}
	got := map[string][]string{}
	testutil.WaitFor(t, waitTimeout, "one delivery per notification group", func() (bool, string) {
		deliveries, _ := receiver.snapshot()
		clear(got)
		for _, d := range deliveries {
			if d.authorization != "Bearer "+token {
				t.Fatalf("%s: Authorization %q, want the token from secrets/receiver-token", d.path, d.authorization)
			}
			if d.msg.Version != "4" || d.msg.Status != "firing" {
				t.Fatalf("%s: version %q status %q, want 4 firing", d.path, d.msg.Version, d.msg.Status)
			}
			key := d.path
			for _, k := range slices.Sorted(maps.Keys(d.msg.GroupLabels)) {
				key += " " + k + "=" + d.msg.GroupLabels[k]
			}
			for _, a := range d.msg.Alerts {
				got[key] = append(got[key], a.Labels["alertname"]+"/"+a.Labels["severity"])
			}
		}
		if len(got) < len(want) {
			return false, fmt.Sprintf("deliveries so far: %v", got)
		}
		return true, ""
	})
	for k := range got {
		slices.Sort(got[k])
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("deliveries:\n got %v\nwant %v", got, want)
	}
}

// fakeExporter serves /sd with one site and /probe with a failed DNS probe, recording the
// query of every probe request.
func fakeExporter(t *testing.T) (*httptest.Server, func() []url.Values) {
	var mu sync.Mutex
	var probes []url.Values
	mux := http.NewServeMux()
	mux.HandleFunc("/sd", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"targets":["https://shop.acme.example/"],"labels":{"client":"acme","site":"shop","module":"http_2xx","__param_module":"http_2xx","slo":"99.9"}}]`)
	})
	mux.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		probes = append(probes, r.URL.Query())
		mu.Unlock()
		fmt.Fprint(w, "probe_success 0\nprobe_duration_seconds 0.05\nprobe_failure_info{failure_type=\"dns\",reason=\"dns_nxdomain\"} 1\n")
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "siteward_exporter_config_last_reload_successful 1\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(probes)
	}
}

type queryResult struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func query(base, q string) ([]queryResult, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []queryResult `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	return r.Data.Result, nil
}

func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	prometheus := testutil.LookPath(t, "prometheus")
	exporter, probes := fakeExporter(t)
	receiverSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "siteward_receiver_build_info 1\n")
	}))
	t.Cleanup(receiverSrv.Close)
	am, amSrv := newRecorder(t, http.NotFoundHandler())

	// The shipped config with the test servers' addresses and 1s intervals in its global block.
	dir := t.TempDir()
	cfg := readRepoFile(t, "prometheus.yml")
	cfg = replaceAll(t, cfg, "localhost:9115", strings.TrimPrefix(exporter.URL, "http://"), 3)
	cfg = replaceAll(t, cfg, "localhost:9096", strings.TrimPrefix(receiverSrv.URL, "http://"), 1)
	cfg = replaceAll(t, cfg, "localhost:9093", strings.TrimPrefix(amSrv.URL, "http://"), 1)
	cfg = replaceAll(t, cfg, "  scrape_interval: 15s\n", "  scrape_interval: 1s\n", 1)
	cfg = replaceAll(t, cfg, "  scrape_timeout: 10s\n", "  scrape_timeout: 1s\n", 1)
	cfg = replaceAll(t, cfg, "  evaluation_interval: 15s\n", "  evaluation_interval: 1s\n", 1)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), cfg)
	for _, f := range ruleFiles(t) {
		writeFile(t, filepath.Join(dir, "rules", filepath.Base(f)), readRepoFile(t, filepath.Join("rules", filepath.Base(f))))
	}

	addr := testutil.FreeAddr(t)
	startProcess(t, prometheus,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		// Alerts evaluated before the Alertmanager target is discovered are dropped and only
		// resent after this delay (default 1m).
		"--rules.alert.resend-delay=1s",
	)
	base := "http://" + addr
	testutil.WaitHTTPOK(t, waitTimeout, base+"/-/ready")

	t.Run("probe series carry the inventory labels", func(t *testing.T) {
		want := map[string]string{
			"__name__": "probe_success", "job": "siteward-sites", "instance": "https://shop.acme.example/",
			"client": "acme", "site": "shop", "module": "http_2xx", "slo": "99.9",
		}
		testutil.WaitFor(t, waitTimeout, "probe_success with the inventory labels", func() (bool, string) {
			res, err := query(base, "probe_success")
			if err != nil {
				return false, err.Error()
			}
			if len(res) != 1 || !maps.Equal(res[0].Metric, want) {
				return false, fmt.Sprintf("probe_success = %v, want one series %v", res, want)
			}
			return true, ""
		})
		p := probes()
		if len(p) == 0 || p[0].Get("target") != "https://shop.acme.example/" || p[0].Get("module") != "http_2xx" {
			t.Errorf("probe requests %v: want target=https://shop.acme.example/ and module=http_2xx", p)
		}
	})

	t.Run("exporter and receiver are scraped", func(t *testing.T) {
		testutil.WaitFor(t, waitTimeout, "the exporter and receiver jobs up", func() (bool, string) {
			res, err := query(base, `up{job=~"siteward-exporter|siteward-receiver"} == 1`)
			if err != nil {
				return false, err.Error()
			}
			if len(res) != 2 {
				return false, fmt.Sprintf("up == 1: %v, want both jobs", res)
			}
			return true, ""
		})
	})

	t.Run("rules evaluate on the scraped labels", func(t *testing.T) {
		want := map[string]string{
			"__name__": "client_site_failure_type:probe_failed:ratio", "client": "acme", "site": "shop",
			"instance": "https://shop.acme.example/", "failure_type": "dns",
		}
		testutil.WaitFor(t, waitTimeout, "client_site_failure_type:probe_failed:ratio on the scraped labels", func() (bool, string) {
			res, err := query(base, "client_site_failure_type:probe_failed:ratio")
			if err != nil {
				return false, err.Error()
			}
			if len(res) != 1 || !maps.Equal(res[0].Metric, want) {
				return false, fmt.Sprintf("got %v, want %v", res, want)
			}
			return true, ""
		})
		// Every rule of every group has been evaluated without error.
		testutil.WaitFor(t, waitTimeout, "every rule healthy", func() (bool, string) {
			resp, err := http.Get(base + "/api/v1/rules")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			var r struct {
				Data struct {
					Groups []struct {
						Name  string `json:"name"`
						Rules []struct {
							Name      string `json:"name"`
							Health    string `json:"health"`
							LastError string `json:"lastError"`
						} `json:"rules"`
					} `json:"groups"`
				} `json:"data"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				return false, err.Error()
			}
			var groups []string
			for _, g := range r.Data.Groups {
				groups = append(groups, g.Name)
				for _, rule := range g.Rules {
					if rule.Health == "err" {
						t.Fatalf("group %s rule %s: %s", g.Name, rule.Name, rule.LastError)
					}
					if rule.Health != "ok" {
						return false, fmt.Sprintf("group %s rule %s: health %q", g.Name, rule.Name, rule.Health)
					}
				}
			}
			slices.Sort(groups)
			if w := []string{"availability.rules", "site.rules", "siteward.rules", "slo.rules"}; !slices.Equal(groups, w) {
				t.Fatalf("rule groups %v, want %v", groups, w)
			}
			return true, ""
		})
	})

	t.Run("alerts reach Alertmanager", func(t *testing.T) {
		testutil.WaitFor(t, waitTimeout, "a Watchdog alert in Alertmanager", func() (bool, string) {
			_, bodies := am.snapshot()
			for _, b := range bodies["/api/v2/alerts"] {
				var alerts []struct {
					Labels map[string]string `json:"labels"`
				}
				if err := json.Unmarshal(b, &alerts); err != nil {
					t.Fatalf("alerts posted to Alertmanager: %v", err)
				}
				for _, a := range alerts {
					if a.Labels["alertname"] == "Watchdog" {
						return true, ""
					}
				}
			}
			return false, fmt.Sprintf("no Watchdog alert posted to Alertmanager's /api/v2/alerts yet (got: %s)", bodies["/api/v2/alerts"])
		})
	})
}
