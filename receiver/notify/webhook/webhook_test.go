package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/notifytest"
)

func decode(data []byte) (*Config, error) {
	var cfg Config
	return &cfg, notifytest.DecodeStrict(data, &cfg)
}

func TestConfigInvalid(t *testing.T) {
	notifytest.CheckInvalidConfigs[Config](t, map[string]string{
		"missing_url.yml":      "webhook: url or url_file is required",
		"both_url.yml":         "webhook: at most one of url and url_file may be set",
		"bad_url.yml":          "webhook: url: scheme must be http or https",
		"both_secret.yml":      "webhook: at most one of secret and secret_file may be set",
		"reserved_header.yml":  `webhook: headers: "X-Siteward-Signature": set by siteward, cannot be overridden`,
		"bad_header.yml":       `webhook: headers: "Bad Header": not a valid header name`,
		"unknown_event.yml":    `webhook: events[1]: unknown event "monitor.up"`,
		"unknown_key.yml":      `webhook: line 2: unknown key "signing_secret"`,
		"negative_timeout.yml": "webhook: timeout: must not be negative",
	})
}

func TestNewFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URLFile: missing}, "webhook: reading secret: open " + missing},
		{Config{URL: "https://hooks.example.org/", SecretFile: missing}, "webhook: secret_file: reading secret"},
	} {
		if _, err := New(&tc.cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestConfigSecretsNotPrinted(t *testing.T) {
	cfg, err := decode([]byte("url: https://hooks.example.org/h?token=URLTOKEN\nsecret: HMACKEY\nheaders: {X-Api-Key: APIKEY}\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"URLTOKEN", "HMACKEY", "APIKEY"} {
		if strings.Contains(string(out), s) {
			t.Errorf("marshalled config exposes %s:\n%s", s, out)
		}
	}
}

// hmacHex computes the expected signature independently of Sign.
func hmacHex(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestPayloadSignatureAndHeaders(t *testing.T) {
	srv := notifytest.NewServer(t)
	cfg, err := decode([]byte("url: " + srv.URL + "/siteward\nsecret_file: testdata/secret.txt\nheaders: {X-Api-Key: k-123}\n"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	m := notifytest.Message()
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	for k, want := range map[string]string{
		"Content-Type":         "application/json",
		"X-Siteward-Event":     "notice.initial",
		"X-Siteward-Delivery":  "inc-42/notice.initial/1",
		"X-Siteward-Signature": "sha256=" + hmacHex("s3cr3t", r.Body),
		"X-Api-Key":            "k-123",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !Verify("s3cr3t", r.Body, r.Header.Get(HeaderSignature)) {
		t.Error("Verify rejects the signature the channel sent")
	}
	if Verify("wrong", r.Body, r.Header.Get(HeaderSignature)) || Verify("s3cr3t", append(r.Body, ' '), r.Header.Get(HeaderSignature)) {
		t.Error("Verify accepts a wrong secret or a changed body")
	}
	want := `{
	  "version": "1",
	  "id": "inc-42/notice.initial/1",
	  "event": "notice.initial",
	  "alias": "monitor.down",
	  "audience": "client",
	  "subject": "Investigating: shop.acme.example is down",
	  "text": "We have detected an issue affecting your website and are currently investigating. We will provide an update within 30 minutes.",
	  "created_at": "2026-11-27T20:05:00Z",
	  "incident": {
	    "id": "inc-42",
	    "client": "acme",
	    "sites": ["shop", "blog"],
	    "failure_type": "ssl",
	    "severity": "critical",
	    "state": "investigating",
	    "owner": "alice",
	    "drill": false,
	    "url": "https://siteward.example/incidents/inc-42",
	    "started_at": "2026-11-27T20:00:00Z"
	  }
	}`
	notifytest.AssertJSON(t, r.Body, want)
}

func TestUnsignedWithoutSecret(t *testing.T) {
	srv := notifytest.NewServer(t)
	n, err := New(&Config{URL: commoncfg.Secret(srv.URL)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if sig := srv.Requests()[0].Header.Get(HeaderSignature); sig != "" {
		t.Fatalf("unsigned channel sent %s: %q", HeaderSignature, sig)
	}
}

func TestEmptySitesIsAList(t *testing.T) {
	m := notifytest.Message()
	m.Incident.Sites = nil
	b, err := json.Marshal(BuildPayload(m))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"sites":[]`) {
		t.Fatalf("sites not an empty list: %s", b)
	}
}

// One notifier serves all outbox workers at once (run with -race).
func TestConcurrentNotify(t *testing.T) {
	srv := notifytest.NewServer(t)
	n, err := New(&Config{URL: commoncfg.Secret(srv.URL), Secret: "k"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			m := notifytest.Message()
			m.ID = fmt.Sprintf("n-%d", i)
			errs <- n.Notify(context.Background(), m)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, r := range srv.Requests() {
		if !Verify("k", r.Body, r.Header.Get(HeaderSignature)) {
			t.Errorf("bad signature on %s", r.Header.Get(HeaderDelivery))
		}
		seen[r.Header.Get(HeaderDelivery)] = true
	}
	if len(seen) != 8 {
		t.Fatalf("%d distinct deliveries, want 8", len(seen))
	}
}

func TestAlias(t *testing.T) {
	for e, want := range map[notify.Event]string{
		notify.EventIncidentOpened:    AliasDown,
		notify.EventClientInitial:     AliasDown,
		notify.EventIncidentResolved:  AliasRecovery,
		notify.EventClientResolved:    AliasRecovery,
		notify.EventIncidentReopened:  "",
		notify.EventClientUpdate:      "",
		notify.EventIncidentEscalated: "",
	} {
		if got := Alias(e); got != want {
			t.Errorf("Alias(%s) = %q, want %q", e, got, want)
		}
	}
}

func TestEventsFilter(t *testing.T) {
	srv := notifytest.NewServer(t)
	n, err := New(&Config{URL: commoncfg.Secret(srv.URL), Events: []string{AliasDown, AliasRecovery, string(notify.EventIncidentEscalated)}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []notify.Event{notify.EventIncidentOpened, notify.EventClientUpdate, notify.EventIncidentEscalated, notify.EventIncidentResolved, notify.EventPostmortemDue} {
		m := notifytest.Message()
		m.Event = e
		if err := n.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range srv.Requests() {
		got = append(got, r.Header.Get(HeaderEvent))
	}
	if want := "incident.opened incident.escalated incident.resolved"; strings.Join(got, " ") != want {
		t.Fatalf("sent %v, want %s", got, want)
	}
}

func TestClassification(t *testing.T) {
	srv := notifytest.NewServer(t,
		notifytest.Response{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {time.Now().Add(time.Hour + time.Minute).UTC().Format(http.TimeFormat)}}},
		notifytest.Response{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"30"}}},
		notifytest.Response{Status: http.StatusUnauthorized, Body: "bad token"},
	)
	n, err := New(&Config{URL: commoncfg.Secret(srv.URL)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	notifytest.CheckAttempts(t, n, []notifytest.Attempt{
		{Retryable: true, After: time.Hour, Err: "webhook: unexpected status 429 Too Many Requests"}, // an HTTP date an hour away, capped
		{Retryable: true, After: 30 * time.Second, Err: "webhook: unexpected status 503 Service Unavailable"},
		{Err: `webhook: unexpected status 401 Unauthorized: "bad token"`},
	})
	reqs := srv.Requests()
	if len(reqs) != 4 || reqs[0].Header.Get(HeaderDelivery) != reqs[3].Header.Get(HeaderDelivery) {
		t.Fatalf("want 4 attempts with the same delivery ID, got %d", len(reqs))
	}
}
