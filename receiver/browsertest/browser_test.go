// Package browsertest drives Debian's chromium (headless, through chromedp) against a whole
// receiver started in-process: what a person sees on the status page, the incident page and
// the post-mortem, and that clicking Acknowledge changes the timeline.
//
// SITEWARD_UPDATE_SCREENSHOTS=1 writes the screenshots to docs/img (for the README);
// otherwise they go to the test's temporary directory.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/siteward/siteward/internal/testutil"
	"github.com/siteward/siteward/receiver"
	"github.com/siteward/siteward/receiver/history/historytest"
)

const cfgYAML = `
channels:
  - {name: team, log: {}}
  - {name: acme-mail, log: {}}
team: {channels: [team]}
clients:
  - {name: acme, channels: [acme-mail], public_status_page: true, sites: [shop, blog, api]}
oncall:
  rotations: [{name: primary, members: [olga]}]
`

// startReceiver runs receiver.Run in-process and returns its base URL.
func startReceiver(t *testing.T, promURL string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "receiver.yml")
	if err := os.WriteFile(cfg, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- receiver.Run(ctx, receiver.Options{ConfigFile: cfg, StoragePath: filepath.Join(dir, "db"), ListenAddress: "127.0.0.1:0",
			PrometheusURL: promURL, Ready: func(addr string) { ready <- addr }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("receiver.Run: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("receiver did not start: %v", err)
	}
	return ""
}

// post sends JSON and decodes the answer into out.
func post(t *testing.T, url string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s = %s", url, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// alert sends one Alertmanager v4 notification and returns the incident it touched.
func alert(t *testing.T, base, site, status string, startsAt time.Time) string {
	t.Helper()
	a := map[string]any{"status": status, "fingerprint": "fp-" + site, "startsAt": startsAt,
		"labels":      map[string]string{"alertname": "SiteDown", "client": "acme", "site": site, "severity": "critical", "failure_type": "http"},
		"annotations": map[string]string{"summary": site + " is down"}}
	if status == "resolved" {
		a["endsAt"] = startsAt.Add(40 * time.Minute)
	}
	var res struct{ Incidents []string }
	post(t, base+"/api/v1/webhook", map[string]any{"version": "4", "status": status, "receiver": "siteward", "groupKey": "g-" + site,
		"groupLabels": map[string]string{"client": "acme", "site": site}, "alerts": []any{a}}, &res)
	if len(res.Incidents) != 1 {
		t.Fatalf("webhook for %s touched %v", site, res.Incidents)
	}
	return res.Incidents[0]
}

func screenshotPath(t *testing.T, name string) string {
	if os.Getenv("SITEWARD_UPDATE_SCREENSHOTS") == "1" {
		return filepath.Join(testutil.RepoRoot(), "docs", "img", name)
	}
	return filepath.Join(t.TempDir(), name)
}

func browser(t *testing.T) context.Context {
	t.Helper()
	chromium := testutil.LookPath(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// do runs steps that return nothing.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action and returns its value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	path := screenshotPath(t, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

func TestPagesInChromium(t *testing.T) {
	ctx := browser(t)
	now := time.Now().UTC().Truncate(time.Minute)
	// Detected a few minutes after the first failed probe, as with Prometheus' "for" and
	// Alertmanager's group_wait; api recovers at once (its resolved notification follows).
	shopDown, apiDown, apiUp := now.Add(-4*time.Minute), now.Add(-3*time.Minute), now
	var samples []historytest.Sample
	for _, site := range []string{"shop", "blog", "api"} {
		sel := fmt.Sprintf(`{client="acme",site=%q}`, site)
		down := func(t time.Time) bool {
			return (site == "shop" && !t.Before(shopDown)) || (site == "api" && !t.Before(apiDown) && t.Before(apiUp))
		}
		samples = append(samples, historytest.Samples("probe_success"+sel, now.Add(-5*time.Hour), now.Add(-time.Minute), time.Minute, func(t time.Time) float64 {
			if down(t) {
				return 0
			}
			return 1
		})...)
		samples = append(samples, historytest.Samples("probe_duration_seconds"+sel, now.Add(-5*time.Hour), now.Add(-time.Minute), time.Minute, func(t time.Time) float64 {
			if down(t) {
				return 0.05
			}
			return 0.3 + 0.1*float64(t.Minute()%7)/7
		})...)
	}
	promURL := historytest.Start(t, samples)
	base := startReceiver(t, promURL)

	// A past incident with a post-mortem, and an open one.
	past := alert(t, base, "api", "firing", apiDown)
	alert(t, base, "api", "resolved", apiDown)
	post(t, base+"/api/v1/incidents/"+past+"/root-cause", map[string]string{"actor": "olga", "text": "The API's connection pool was exhausted after a traffic spike"}, nil)
	post(t, base+"/api/v1/incidents/"+past+"/resolve", map[string]string{"actor": "olga"}, nil)
	post(t, base+"/api/v1/incidents/"+past+"/postmortem", map[string]any{"actor": "olga", "summary": "The API answered 503 for 40 minutes.",
		"prevention": []string{"Alert on connection pool saturation"}}, nil)
	open := alert(t, base, "shop", "firing", shopDown)

	t.Run("status page", func(t *testing.T) {
		do(t, ctx, "status page",
			chromedp.EmulateViewport(1000, 900),
			chromedp.Navigate(base+"/status/acme"),
			chromedp.WaitVisible(chromedp.CSS("h1")),
		)
		text := get(t, ctx, "status page text", chromedp.Text(chromedp.CSS("main")))
		for _, want := range []string{"acme status", "Major outage", "Investigating", "We are investigating an issue affecting shop", "Operational", "Past incidents", "Resolved", "source: probe measurements"} {
			if !strings.Contains(text, want) {
				t.Errorf("status page text lacks %q:\n%s", want, text)
			}
		}
		for _, secret := range []string{"olga", "connection pool", "503"} {
			if strings.Contains(text, secret) {
				t.Errorf("the public status page shows the internal %q", secret)
			}
		}
		screenshot(t, ctx, "status-page.png")
		// Readable on a phone: nothing wider than the screen.
		do(t, ctx, "status page on a phone",
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Navigate(base+"/status/acme"),
			chromedp.WaitVisible(chromedp.CSS("h1")),
		)
		scrollW := get(t, ctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		innerW := get(t, ctx, "window width", chromedp.Evaluate[int](`window.innerWidth`))
		if scrollW > innerW {
			t.Errorf("on a 390px phone the page is %dpx wide (window %dpx): it scrolls sideways", scrollW, innerW)
		}
		screenshot(t, ctx, "status-page-phone.png")
	})

	t.Run("acknowledge on the incident page", func(t *testing.T) {
		do(t, ctx, "incident page",
			chromedp.EmulateViewport(1000, 900),
			chromedp.Navigate(base+"/incidents/"+open),
			chromedp.WaitVisible(chromedp.ID("acknowledge")),
		)
		if ack := get(t, ctx, "badge", chromedp.Text(chromedp.ID("ack-status"))); ack != "not acknowledged" {
			t.Errorf("before: acknowledgement badge %q", ack)
		}
		if n := get(t, ctx, "chart", chromedp.Evaluate[int](`document.querySelectorAll('.chart svg polyline').length`)); n == 0 {
			t.Error("incident page has no status-history chart (Prometheus is running)")
		}
		do(t, ctx, "click Acknowledge",
			chromedp.SendKeys(chromedp.CSS(`form[action$="/acknowledge"] input[name=actor]`), "alice"),
			chromedp.Click(chromedp.ID("acknowledge")),
			chromedp.WaitVisible(chromedp.Search(`//ol[@id="timeline"]/li[contains(., "Acknowledged by alice")]`)),
		)
		if ack := get(t, ctx, "badge", chromedp.Text(chromedp.ID("ack-status"))); ack != "acknowledged by alice" {
			t.Errorf("after: acknowledgement badge %q", ack)
		}
		timeline := get(t, ctx, "timeline", chromedp.Text(chromedp.ID("timeline")))
		if !strings.Contains(timeline, "alice") || !strings.Contains(timeline, "Opened: SiteDown firing") {
			t.Errorf("timeline after acknowledging:\n%s", timeline)
		}
		screenshot(t, ctx, "incident-page.png")
	})

	t.Run("post-mortem", func(t *testing.T) {
		do(t, ctx, "post-mortem page",
			chromedp.Navigate(base+"/incidents/"+past+"/postmortem"),
			chromedp.WaitVisible(chromedp.CSS("h1")),
		)
		text := get(t, ctx, "post-mortem text", chromedp.Text(chromedp.CSS("main")))
		for _, want := range []string{"Post-mortem: acme/api", "Timeline", "Time to detect", "Impact", "during the incident",
			"Root cause", "connection pool was exhausted", "Response log", "Prevention", "Alert on connection pool saturation", "Draft, due"} {
			if !strings.Contains(text, want) {
				t.Errorf("post-mortem page lacks %q", want)
			}
		}
		if n := get(t, ctx, "chart", chromedp.Evaluate[int](`document.querySelectorAll('.chart svg polyline').length`)); n == 0 {
			t.Error("post-mortem has no status-history chart")
		}
		screenshot(t, ctx, "postmortem.png")
	})
}
