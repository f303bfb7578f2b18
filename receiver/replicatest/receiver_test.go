package replicatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/promslog"

	"github.com/siteward/siteward/receiver"
	"github.com/siteward/siteward/receiver/api"
	"github.com/siteward/siteward/receiver/notify/webhook"
	"github.com/siteward/siteward/receiver/store/postgres"
)

// This file runs whole receivers (receiver.Run, in-process, each with its own PostgreSQL
// pool and HTTP listener) and talks to them as Alertmanager and a channel would.

// receiverReplica is one running siteward-receiver.
type receiverReplica struct {
	name  string
	url   string          // http://127.0.0.1:port
	store *postgres.Store // nil when it runs on SQLite
	stop  context.CancelFunc
	done  chan error
}

// startReceiver runs a receiver on the database at dbURL with the given config file.
func startReceiver(t testing.TB, name, dbURL, configFile string) *receiverReplica {
	t.Helper()
	s, err := postgres.Open(context.Background(), dbURL, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := runReceiver(t, name, receiver.Options{ConfigFile: configFile, Store: s})
	r.store = s
	return r
}

// runReceiver runs receiver.Run with o (on a free loopback port, logging nowhere) until the
// test ends or kill.
func runReceiver(t testing.TB, name string, o receiver.Options) *receiverReplica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &receiverReplica{name: name, stop: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	o.ListenAddress = "127.0.0.1:0"
	o.Logger = promslog.NewNopLogger()
	o.Ready = func(addr string) { ready <- addr }
	go func() { r.done <- receiver.Run(ctx, o) }()
	select {
	case addr := <-ready:
		r.url = "http://" + addr
	case err := <-r.done:
		t.Fatalf("receiver %s: %v", name, err)
	}
	t.Cleanup(func() { r.kill(t) })
	return r
}

// kill stops the receiver and waits until Run returned. Run stops its workers without
// completing what they hold: claimed notices stay leased, exactly as after a crash.
func (r *receiverReplica) kill(t testing.TB) {
	t.Helper()
	if r.stop == nil {
		return
	}
	r.stop()
	r.stop = nil
	if err := <-r.done; err != nil {
		t.Errorf("receiver %s: %v", r.name, err)
	}
}

// writeConfig writes a receiver config whose team channel "team-hook" is a webhook to url.
// Short timers keep the test quick; the lease is long enough that a live replica never loses
// one mid-delivery on a busy machine.
func writeConfig(t testing.TB, url string) string {
	t.Helper()
	return writeFile(t, fmt.Sprintf(`channels:
  - name: team-hook
    webhook: {url: %q}
team:
  channels: [team-hook]
timers:
  resolve_quiet_window: 1s
outbox:
  lease: 4s # deliveries time out after half of it: generous for a busy test machine
  interval: 50ms
  min_backoff: 100ms
  max_backoff: 1s
`, url))
}

// writeFile writes a receiver config file.
func writeFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "receiver.yml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// webhookBody is an Alertmanager (version 4) notification with one alert for site.
func webhookBody(t testing.TB, site, status string, startsAt time.Time) []byte {
	t.Helper()
	labels := template.KV{"alertname": "SiteDown", "client": "acme", "site": site, "severity": "critical", "failure_type": "http"}
	a := template.Alert{Status: status, Labels: labels, Annotations: template.KV{"summary": site + " is down"},
		StartsAt: startsAt, Fingerprint: fmt.Sprintf("%016x", []byte(site))[:16]}
	if status == "resolved" {
		a.EndsAt = startsAt.Add(time.Minute)
	}
	msg := api.WebhookMessage{
		Version: "4", GroupKey: `{}:{client="acme",site="` + site + `"}`,
		Data: template.Data{Receiver: "siteward", Status: status, Alerts: template.Alerts{a},
			GroupLabels: template.KV{"client": "acme", "site": site}, CommonLabels: labels, ExternalURL: "http://alertmanager.test"},
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postWebhook sends one notification and returns the status code (0 when nothing answered).
func postWebhook(client *http.Client, url string, body []byte) int {
	resp, err := client.Post(url+"/api/v1/webhook", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// deliveryCounter is the team's webhook endpoint. It accepts each X-Siteward-Delivery once
// (a repeat is acknowledged and dropped, as a channel with idempotency keys does) and counts
// every POST. Requests to /victim are accepted and then held until the sender gives up, so
// the sending replica can never record the delivery: a crash between the channel's "OK" and
// the replica's bookkeeping.
type deliveryCounter struct {
	*httptest.Server
	mu         sync.Mutex
	posts      map[string]int    // delivery ID -> POSTs
	events     map[string]string // delivery ID -> event, first accepted
	viaVictim  map[string]bool   // delivery IDs POSTed by the victim
	victimSent chan struct{}     // closed at the victim's first POST
	victimOnce sync.Once
	release    chan struct{} // closed when the test ends: held requests return
}

func newDeliveryCounter(t *testing.T) *deliveryCounter {
	c := &deliveryCounter{posts: map[string]int{}, events: map[string]string{}, viaVictim: map[string]bool{},
		victimSent: make(chan struct{}), release: make(chan struct{})}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(webhook.HeaderDelivery)
		var body struct {
			Event string `json:"event"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || id == "" || body.Event == "" {
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		// Read to the end: only then does net/http notice the client going away.
		io.Copy(io.Discard, r.Body) //nolint:errcheck // nothing to do about a broken body here
		c.mu.Lock()
		c.posts[id]++
		if _, seen := c.events[id]; !seen {
			c.events[id] = body.Event
		}
		if r.URL.Path == "/victim" {
			c.viaVictim[id] = true
		}
		c.mu.Unlock()
		if r.URL.Path == "/victim" {
			c.victimOnce.Do(func() { close(c.victimSent) })
			select {
			case <-r.Context().Done(): // the sender is killed before it hears back
			case <-c.release:
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(c.Close)
	t.Cleanup(func() { close(c.release) }) // before Close, which waits for held requests
	return c
}

func (c *deliveryCounter) snapshot() (posts map[string]int, events map[string]string, viaVictim map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	posts, events, viaVictim = map[string]int{}, map[string]string{}, map[string]bool{}
	for k, v := range c.posts {
		posts[k] = v
	}
	for k, v := range c.events {
		events[k] = v
	}
	for k, v := range c.viaVictim {
		viaVictim[k] = v
	}
	return posts, events, viaVictim
}
