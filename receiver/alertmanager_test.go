package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
)

// recorder captures the webhook bodies Alertmanager sends, by path.
type recorder struct {
	mu     sync.Mutex
	bodies map[string][][]byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], b)
	r.mu.Unlock()
}

// withStatus returns the recorded bodies of path whose top-level status is status.
func (r *recorder) withStatus(path, status string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, b := range r.bodies[path] {
		var m struct{ Status string }
		if json.Unmarshal(b, &m) == nil && m.Status == status {
			out = append(out, b)
		}
	}
	return out
}

// startAlertmanager runs one real (unclustered) Alertmanager sending to rec.
func startAlertmanager(t *testing.T, bin, recURL string) int {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: siteward
  group_by: [client, site]
  group_wait: 100ms
  group_interval: 300ms
  repeat_interval: 1h
  routes:
    - receiver: watchdog
      matchers: ['alertname="Watchdog"']
receivers:
  - name: siteward
    webhook_configs: [{url: %q, send_resolved: true}]
  - name: watchdog
    webhook_configs: [{url: %q}]
`, recURL+"/api/v1/webhook", recURL+"/api/v1/watchdog")
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(dir, "am.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--cluster.listen-address=",
		"--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager on %d logs:\n%s", port, logs.String())
		}
	})
	testutil.WaitHTTPOK(t, 20*time.Second, fmtURL(port, "/-/ready"))
	return port
}

func postAlerts(t *testing.T, port int, alerts []map[string]any) {
	t.Helper()
	resp, err := http.Post(fmtURL(port, "/api/v2/alerts"), "application/json", bytes.NewReader(mustJSON(alerts)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/v2/alerts: %d %s", resp.StatusCode, b)
	}
}

// TestRecordedAlertmanagerPayloads records webhook notifications from a real HA pair of
// Alertmanagers (both deliver every notification) and feeds them to the receiver: the
// second copy, repeats and a late out-of-order firing change nothing.
func TestRecordedAlertmanagerPayloads(t *testing.T) {
	bin := testutil.LookPath(t, "prometheus-alertmanager", "alertmanager")
	rec := &recorder{bodies: map[string][][]byte{}}
	recSrv := httptest.NewServer(rec)
	defer recSrv.Close()
	am1 := startAlertmanager(t, bin, recSrv.URL)
	am2 := startAlertmanager(t, bin, recSrv.URL)

	startsAt := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second)
	siteDown := map[string]any{
		"labels": map[string]string{"alertname": "SiteDown", "client": "acme", "site": "shop", "failure_type": "ssl",
			"severity": "critical", "instance": "https://shop.acme.example/"},
		"annotations":  map[string]string{"summary": "shop is down", "runbook_url": "https://github.com/siteward/siteward/blob/main/docs/runbooks.md#ssl"},
		"startsAt":     startsAt,
		"generatorURL": "http://prometheus:9090/graph",
	}
	watchdog := map[string]any{"labels": map[string]string{"alertname": "Watchdog", "severity": "none"}, "startsAt": startsAt}
	for _, am := range []int{am1, am2} {
		postAlerts(t, am, []map[string]any{siteDown, watchdog})
	}
	testutil.WaitFor(t, 20*time.Second, "firing notifications from both Alertmanagers", func() (bool, string) {
		webhook, watchdog := len(rec.withStatus("/api/v1/webhook", "firing")), len(rec.withStatus("/api/v1/watchdog", "firing"))
		return webhook >= 2 && watchdog >= 1, fmt.Sprintf("%d firing webhook and %d firing watchdog notifications", webhook, watchdog)
	})
	siteDown["endsAt"] = time.Now().UTC()
	for _, am := range []int{am1, am2} {
		postAlerts(t, am, []map[string]any{siteDown})
	}
	testutil.WaitFor(t, 20*time.Second, "resolved notifications from both Alertmanagers", func() (bool, string) {
		resolved := len(rec.withStatus("/api/v1/webhook", "resolved"))
		return resolved >= 2, fmt.Sprintf("%d resolved webhook notifications", resolved)
	})
	firing := rec.withStatus("/api/v1/webhook", "firing")
	resolved := rec.withStatus("/api/v1/webhook", "resolved")
	t.Logf("recorded firing payload: %s", firing[0])

	base := startReceiver(t, "")
	steps := []struct {
		name   string
		path   string
		body   []byte
		status string
		state  string
	}{
		{"first Alertmanager, firing", "/api/v1/webhook", firing[0], "accepted", "investigating"},
		{"HA peer, same firing", "/api/v1/webhook", firing[1], "duplicate", "investigating"},
		{"first Alertmanager retries (repeat)", "/api/v1/webhook", firing[0], "duplicate", "investigating"},
		{"resolved", "/api/v1/webhook", resolved[0], "accepted", "monitoring"},
		{"HA peer, same resolved", "/api/v1/webhook", resolved[1], "duplicate", "monitoring"},
		{"late firing after resolved (out of order)", "/api/v1/webhook", firing[1], "duplicate", "monitoring"},
		{"watchdog heartbeat", "/api/v1/watchdog", rec.withStatus("/api/v1/watchdog", "firing")[0], "recorded", ""},
	}
	for _, s := range steps {
		code, out := post(t, base+s.path, "", s.body)
		if code != 200 || out["status"] != s.status {
			t.Fatalf("%s: %d %v, want 200 %s", s.name, code, out, s.status)
		}
		if s.state == "" {
			continue
		}
		_, list := get(t, base+"/api/v1/incidents", "")
		var l struct{ Incidents []struct{ ID string } }
		if err := json.Unmarshal([]byte(list), &l); err != nil {
			t.Fatal(err)
		}
		if len(l.Incidents) != 1 {
			t.Fatalf("%s: %d incidents, want exactly 1", s.name, len(l.Incidents))
		}
		var inc map[string]any
		_, one := get(t, base+"/api/v1/incidents/"+l.Incidents[0].ID, "")
		if err := json.Unmarshal([]byte(one), &inc); err != nil {
			t.Fatal(err)
		}
		got := inc["incident"].(map[string]any)
		if got["state"] != s.state || got["client"] != "acme" || got["failure_type"] != "ssl" {
			t.Fatalf("%s: incident %v, want state %s, client acme, failure type ssl", s.name, got, s.state)
		}
	}
}
