package dashboards

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
)

// contractMetrics serves the metrics of the shared contract as the exporter's /probe and the
// receiver's /metrics would: two client sites (acme/shop up over HTTPS, beta/blog down with
// HTTP 503), the exporter's own metrics and the receiver's incident metrics. Counters grow
// with every scrape.
func contractMetrics() http.Handler {
	var scrapes atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := scrapes.Add(1)
		now := time.Now().Unix()
		var b strings.Builder
		shop := `client="acme",site="shop",instance="https://shop.acme.example/",module="http_2xx",slo="99.9"`
		blog := `client="beta",site="blog",instance="http://blog.beta.example/",module="http_2xx"`
		fmt.Fprintf(&b, "probe_success{%s} 1\nprobe_success{%s} 0\n", shop, blog)
		fmt.Fprintf(&b, "probe_duration_seconds{%s} 0.21\nprobe_duration_seconds{%s} 0.05\n", shop, blog)
		fmt.Fprintf(&b, "probe_dns_lookup_time_seconds{%s} 0.002\nprobe_dns_lookup_time_seconds{%s} 0.001\n", shop, blog)
		fmt.Fprintf(&b, "probe_http_status_code{%s} 200\nprobe_http_status_code{%s} 503\n", shop, blog)
		fmt.Fprintf(&b, "probe_attempts{%s} 1\nprobe_attempts{%s} 2\n", shop, blog)
		for _, phase := range []string{"resolve", "connect", "tls", "processing", "transfer"} {
			fmt.Fprintf(&b, "probe_http_duration_seconds{%s,phase=%q} 0.03\n", shop, phase)
			fmt.Fprintf(&b, "probe_http_duration_seconds{%s,phase=%q} 0.01\n", blog, phase)
		}
		fmt.Fprintf(&b, "probe_ssl_earliest_cert_expiry{%s} %d\n", shop, now+30*86400)
		fmt.Fprintf(&b, "probe_failure_info{%s,failure_type=\"http\",reason=\"http_status\"} 1\n", blog)

		b.WriteString("siteward_exporter_config_last_reload_successful 1\n")
		fmt.Fprintf(&b, "siteward_exporter_config_last_reload_success_timestamp_seconds %d\n", now-60)
		fmt.Fprintf(&b, "siteward_exporter_probes_total{module=\"http_2xx\",result=\"success\"} %d\n", 10*n)
		fmt.Fprintf(&b, "siteward_exporter_probes_total{module=\"http_2xx\",result=\"failure\"} %d\n", 10*n)
		fmt.Fprintf(&b, "siteward_exporter_probes_refused_total %d\n", n)

		b.WriteString("siteward_incidents_open{client=\"beta\",severity=\"critical\",drill=\"false\"} 1\n")
		for _, h := range []string{"acknowledge", "first_notice", "resolve"} {
			name := "siteward_incident_time_to_" + h + "_seconds"
			for i, le := range []string{"60", "300", "900", "3600", "+Inf"} {
				fmt.Fprintf(&b, "%s_bucket{drill=\"false\",le=%q} %d\n", name, le, n*int64(i+1))
			}
			fmt.Fprintf(&b, "%s_sum{drill=\"false\"} %d\n%s_count{drill=\"false\"} %d\n", name, 400*n, name, 5*n)
		}
		fmt.Fprintf(&b, "siteward_notices_total{channel=\"log\",audience=\"team\",result=\"sent\"} %d\n", n)
		fmt.Fprintf(&b, "siteward_webhook_requests_total{result=\"accepted\"} %d\n", n)
		b.WriteString("siteward_outbox_pending 0\nsiteward_postmortems_overdue 1\n")
		fmt.Fprintf(&b, "siteward_watchdog_last_seen_timestamp_seconds %d\n", now-10)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(b.String()))
	})
}

// TestQueriesLive runs every dashboard query against a real Prometheus that scrapes the
// contract metrics every second and evaluates the repository's recording rules: no query
// may fail, and every core panel must return data.
func TestQueriesLive(t *testing.T) {
	prometheus := testutil.LookPath(t, "prometheus")
	target := httptest.NewServer(contractMetrics())
	t.Cleanup(target.Close)

	dir := t.TempDir()
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: contract
    honor_labels: true
    static_configs: [{targets: [%q]}]
`, filepath.Join(testutil.RepoRoot(), "rules", "*.rules.yml"), strings.TrimPrefix(target.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	var log bytes.Buffer
	cmd := exec.Command(prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when Prometheus has exited and its output is complete.
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus output:\n%s", log.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := "http://" + addr
	deadline, _ := ctx.Deadline()
	// Ready when rate() has two samples to work with and the recording rules have run.
	for _, ready := range []string{"min(count_over_time(probe_success[1m])) >= 3", "client_site:probe_success:mean1h"} {
		testutil.WaitFor(t, time.Until(deadline), "prometheus to answer "+ready+" with data", func() (bool, string) {
			select {
			case <-exited:
				t.Fatalf("prometheus exited: %v", exitErr)
			default:
			}
			n, err := query(ctx, http.DefaultClient, url, ready, true, time.Now())
			return err == nil && n > 0, fmt.Sprintf("%d series, error %v", n, err)
		})
	}

	specific := DefaultVars()
	specific["client"], specific["site"], specific["drill"] = "acme", "shop", "false"
	for _, tc := range []struct {
		name string
		vars map[string]string
		// With every client and site selected, the served metrics cover every query.
		wantAllData bool
	}{
		{"all", DefaultVars(), true},
		{"acme/shop", specific, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results, err := RunQueries(ctx, http.DefaultClient, url, tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				where := fmt.Sprintf("%s panel %d %q query %s", r.DashboardUID, r.PanelID, r.PanelTitle, r.RefID)
				switch {
				case r.Err != nil:
					t.Errorf("%s: %v\n  %s", where, r.Err, r.Expanded)
				case r.Series > 0:
				case tc.wantAllData && !startsLate.MatchString(r.Expr):
					t.Errorf("%s returned no data: %s", where, r.Expanded)
				default:
					t.Logf("no data (allowed): %s: %s", where, r.Expanded)
				}
			}
			for _, ref := range EmptyCorePanels(results) {
				t.Errorf("core panel %s %d returned no data", ref.UID, ref.PanelID)
			}
		})
	}
}

func TestEmptyCorePanels(t *testing.T) {
	results := []LiveResult{
		{Query: Query{DashboardUID: "d", PanelID: 1, RefID: "A", Core: true}, Series: 0},
		{Query: Query{DashboardUID: "d", PanelID: 1, RefID: "B", Core: true}, Series: 2},
		{Query: Query{DashboardUID: "d", PanelID: 2, RefID: "A", Core: true}, Series: 0},
		{Query: Query{DashboardUID: "d", PanelID: 3, RefID: "A"}, Series: 0},
	}
	got := EmptyCorePanels(results)
	if len(got) != 1 || got[0] != (PanelRef{"d", 2}) {
		t.Errorf("EmptyCorePanels = %v, want [{d 2}]", got)
	}
}

// startsLate matches the recording rules that use subqueries aligned to 5-minute and 1-hour
// steps (rules/availability.rules.yml): a fresh Prometheus has no value for them yet.
var startsLate = regexp.MustCompile(`:mean(1d|30d)\b`)
