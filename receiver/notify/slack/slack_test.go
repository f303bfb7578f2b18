package slack

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/notifytest"
)

func TestConfigInvalid(t *testing.T) {
	notifytest.CheckInvalidConfigs[Config](t, map[string]string{
		"missing_url.yml":             "slack: webhook_url or webhook_url_file is required",
		"both_url.yml":                "slack: at most one of webhook_url and webhook_url_file may be set",
		"bad_scheme.yml":              "slack: webhook_url: scheme must be http or https",
		"unknown_key.yml":             `slack: line 2: unknown key "colour"`,
		"unknown_http_config_key.yml": `slack: line 4: unknown key "insecure" in http_config.tls_config`,
		"two_icons.yml":               "slack: at most one of icon_emoji and icon_url may be set",
		"negative_timeout.yml":        "slack: timeout: must not be negative",
		"bad_timeout.yml":             "cannot unmarshal !!str `soon` into time.Duration",
	})
}

func TestConfigSecretNotPrinted(t *testing.T) {
	var cfg Config
	if err := notifytest.DecodeStrict([]byte("webhook_url: https://hooks.slack.example/services/T0/B0/TOPSECRET\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "TOPSECRET") || !strings.Contains(string(out), "<secret>") {
		t.Fatalf("marshalled config exposes the secret:\n%s", out)
	}
}

func TestNewURLFileErrors(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/does-not-exist": "slack: reading secret: open testdata/does-not-exist",
		"testdata/empty.txt":      "slack: secret file testdata/empty.txt is empty",
		"testdata/ftp-url.txt":    "slack: webhook_url_file: scheme must be http or https",
	} {
		_, err := New(&Config{WebhookURLFile: file}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", file, err, want)
		}
	}
}

func newNotifier(t *testing.T, cfg *Config) *Notifier {
	t.Helper()
	n, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPayload(t *testing.T) {
	srv := notifytest.NewServer(t)
	n := newNotifier(t, &Config{
		WebhookURL: commoncfg.Secret(srv.URL + "/services/T0/B0/X"),
		Channel:    "#acme-status",
		Username:   "siteward",
		IconEmoji:  ":rotating_light:",
	})
	m := notifytest.Message()
	m.Audience = notify.AudienceTeam
	m.Event = notify.EventIncidentOpened
	m.Text = "Checkout fails: <TLS> & more"
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	want := `{
	  "text": "*<https://siteward.example/incidents/inc-42|Investigating: shop.acme.example is down>*",
	  "channel": "#acme-status",
	  "username": "siteward",
	  "icon_emoji": ":rotating_light:",
	  "attachments": [{
	    "color": "#D32F2F",
	    "fallback": "Investigating: shop.acme.example is down",
	    "text": "Checkout fails: &lt;TLS&gt; &amp; more",
	    "fields": [
	      {"title": "Sites", "value": "shop, blog", "short": true},
	      {"title": "State", "value": "investigating", "short": true},
	      {"title": "Client", "value": "acme", "short": true},
	      {"title": "Severity", "value": "critical", "short": true},
	      {"title": "Failure type", "value": "ssl", "short": true},
	      {"title": "Owner", "value": "alice", "short": true},
	      {"title": "Incident", "value": "inc-42", "short": true}
	    ],
	    "footer": "siteward · incident.opened",
	    "ts": 1795809900,
	    "mrkdwn_in": ["text"]
	  }]
	}`
	notifytest.AssertJSON(t, reqs[0].Body, want)
}

func TestColorByEvent(t *testing.T) {
	for e, want := range map[notify.Event]string{
		notify.EventIncidentOpened:    ColorProblem,
		notify.EventIncidentEscalated: ColorProblem,
		notify.EventWatchdogMissing:   ColorProblem,
		notify.EventClientUpdate:      ColorProgress,
		notify.EventIncidentResolved:  ColorResolved,
		notify.EventClientResolved:    ColorResolved,
	} {
		if got := Color(e); got != want {
			t.Errorf("Color(%s) = %s, want %s", e, got, want)
		}
	}
}

func TestDrillAndNoURL(t *testing.T) {
	n := newNotifier(t, &Config{WebhookURL: "https://hooks.slack.example/x"})
	m := notifytest.Message()
	m.Incident.URL = ""
	m.Incident.Drill = true
	p := n.BuildPayload(m)
	if p.Text != "*Investigating: shop.acme.example is down*" {
		t.Errorf("text = %q", p.Text)
	}
	if f := p.Attachments[0].Footer; f != "siteward · notice.initial · drill" {
		t.Errorf("footer = %q", f)
	}
	// A client message shows what a status page shows, not who handles it or why.
	for _, f := range p.Attachments[0].Fields {
		if f.Title != "Sites" && f.Title != "State" {
			t.Errorf("client message shows %+v", f)
		}
	}
}

// A channel that fails twice then recovers: each failure is classified retryable with the
// delay the server asked for, the retry (the outbox's job) sends the same body, and the
// third attempt is delivered.
func TestFailsTwiceThenSucceeds(t *testing.T) {
	srv := notifytest.NewServer(t,
		notifytest.Response{Status: http.StatusServiceUnavailable, Body: "maintenance"},
		notifytest.Response{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3"}}, Body: "rate_limited"},
	)
	n := newNotifier(t, &Config{WebhookURL: commoncfg.Secret(srv.URL)})
	m := notifytest.Message()
	wantAfter := []time.Duration{0, 3 * time.Second}
	for i, after := range wantAfter {
		err := n.Notify(context.Background(), m)
		ok, got := notify.IsRetryable(err)
		if !ok || got != after {
			t.Fatalf("attempt %d: IsRetryable(%v) = %v, %v; want true, %v", i+1, err, ok, got, after)
		}
	}
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("attempt 3: %v", err)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || !bytes.Equal(reqs[0].Body, reqs[2].Body) {
		t.Fatalf("want 3 identical requests, got %d", len(reqs))
	}
}

func TestPermanentError(t *testing.T) {
	srv := notifytest.NewServer(t, notifytest.Response{Status: http.StatusBadRequest, Body: "invalid_blocks"})
	n := newNotifier(t, &Config{WebhookURL: commoncfg.Secret(srv.URL)})
	err := n.Notify(context.Background(), notifytest.Message())
	if ok, _ := notify.IsRetryable(err); ok || err == nil {
		t.Fatalf("want permanent error, got %v", err)
	}
	if want := `slack: unexpected status 400 Bad Request: "invalid_blocks"`; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestWebhookURLFileReadPerDelivery(t *testing.T) {
	first, second := notifytest.NewServer(t), notifytest.NewServer(t)
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte(first.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, &Config{WebhookURLFile: file})
	if err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(second.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if len(first.Requests()) != 1 || len(second.Requests()) != 1 {
		t.Fatalf("requests: first %d, second %d; want 1 and 1", len(first.Requests()), len(second.Requests()))
	}
}
