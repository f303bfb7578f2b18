package receiver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
	"github.com/siteward/siteward/receiver/api"
	"github.com/siteward/siteward/receiver/notify/webhook"
	"github.com/siteward/siteward/receiver/store"
)

// countingChannel is a webhook endpoint that hangs on the first delivery (so the test can
// kill the receiver mid-delivery) and counts accepted deliveries per idempotency key.
type countingChannel struct {
	mu       sync.Mutex
	attempts map[string]int // delivery ID -> requests
	accepted map[string]int // delivery ID -> answered 200
	events   map[string]string
	hung     chan struct{}
	release  chan struct{}
	hangOnce sync.Once
}

func (c *countingChannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the body first: only then does net/http notice the client going away and cancel
	// the request context.
	_, _ = io.Copy(io.Discard, r.Body)
	id, event := r.Header.Get(webhook.HeaderDelivery), r.Header.Get(webhook.HeaderEvent)
	c.mu.Lock()
	c.attempts[id]++
	c.events[id] = event
	first := c.attempts[id] == 1 && event == "incident.opened"
	c.mu.Unlock()
	if first {
		hang := false
		c.hangOnce.Do(func() { hang = true })
		if hang {
			close(c.hung)
			select {
			case <-r.Context().Done(): // the receiver dies with this request open
			case <-c.release: // the test ended early
			}
			return
		}
	}
	c.mu.Lock()
	c.accepted[id]++
	c.mu.Unlock()
}

func (c *countingChannel) snapshot(event string) (ids, attempts, accepted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.events {
		if e != event {
			continue
		}
		ids++
		attempts += c.attempts[id]
		accepted += c.accepted[id]
	}
	return
}

type process struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
}

func startProcess(t *testing.T, bin, cfg, db string) *process {
	t.Helper()
	port := testutil.FreePort(t)
	p := &process{logs: &bytes.Buffer{}, base: fmtURL(port, "")}
	p.cmd = exec.Command(bin, "--config.file="+cfg, "--storage.path="+db,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=debug")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	dieWithTest(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("receiver logs:\n%s", p.logs)
		}
	})
	testutil.WaitHTTPOK(t, 30*time.Second, p.base+"/-/ready")
	return p
}

// TestCrashMidDelivery kills a receiver (a real subprocess) while a notice is being
// delivered, restarts it on the same database, and checks the notice is delivered exactly
// once: retried after the dead process's lease, with the same idempotency key.
func TestCrashMidDelivery(t *testing.T) {
	bin := testutil.BuildBinary(t, "siteward-receiver")
	ch := &countingChannel{attempts: map[string]int{}, accepted: map[string]int{}, events: map[string]string{}, hung: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(ch)
	defer srv.Close()
	defer close(ch.release)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "receiver.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
channels:
  - name: hook
    webhook: {url: %q, timeout: 30s}
team: {channels: [hook]}
outbox: {lease: 4s, interval: 100ms}
`, srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "siteward.db")
	body, err := os.ReadFile("api/testdata/alertmanager-0.25-firing.json")
	if err != nil {
		t.Fatal(err)
	}

	first := startProcess(t, bin, cfg, db)
	if code, out := post(t, first.base+"/api/v1/webhook", "", body); code != 200 || out["status"] != "accepted" {
		t.Fatalf("webhook: %d %v", code, out)
	}
	select {
	case <-ch.hung:
	case <-time.After(30 * time.Second):
		t.Fatal("the notice never reached the channel")
	}
	if err := first.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown code runs
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	second := startProcess(t, bin, cfg, db)
	testutil.WaitFor(t, 30*time.Second, "redelivery after the lease expired", func() (bool, string) {
		_, attempts, accepted := ch.snapshot("incident.opened")
		return accepted >= 1, fmt.Sprintf("%d attempts, %d accepted", attempts, accepted)
	})
	testutil.WaitFor(t, 10*time.Second, "an empty outbox", func() (bool, string) {
		_, m := get(t, second.base+"/metrics", "")
		_, pending, _ := strings.Cut(m, "\nsiteward_outbox_pending ")
		pending, _, _ = strings.Cut(pending, "\n")
		return strings.Contains(m, "siteward_outbox_pending 0\n"), "siteward_outbox_pending " + pending
	})
	ids, attempts, accepted := ch.snapshot("incident.opened")
	if ids != 1 || accepted != 1 || attempts != 2 {
		t.Fatalf("incident.opened: %d notice IDs, %d attempts, %d accepted; want 1 ID, 2 attempts (one killed), 1 accepted", ids, attempts, accepted)
	}
	// The webhook is not repeated by the restart either: still one incident.
	_, list := get(t, second.base+"/api/v1/incidents", "")
	if strings.Count(list, `"id":`) != 1 {
		t.Fatalf("incidents after restart: %s", list)
	}
	if _, m := get(t, second.base+"/metrics", ""); !strings.Contains(m, `siteward_notices_total{audience="team",channel="webhook",result="sent"} 1`) {
		t.Errorf("second process did not count the delivery: %s", grepLines(m, "siteward_notices_total"))
	}
	assertTakeoverShown(t, second.base, fmt.Sprintf("-%d-", first.cmd.Process.Pid))
}

// assertTakeoverShown checks, through the API, that the only incident at base shows the
// retry of a notice cut off mid-delivery by the replica whose owner ID contains deadOwner:
// a notice_retried timeline entry naming it, and that notice sent after 2 attempts.
func assertTakeoverShown(t *testing.T, base, deadOwner string) {
	t.Helper()
	_, list := get(t, base+"/api/v1/incidents", "")
	var incs struct{ Incidents []store.Incident }
	if err := json.Unmarshal([]byte(list), &incs); err != nil || len(incs.Incidents) != 1 {
		t.Fatalf("incidents: %v %s", err, list)
	}
	_, body := get(t, base+"/api/v1/incidents/"+incs.Incidents[0].ID, "")
	var d api.IncidentDetail
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("incident detail: %v %s", err, body)
	}
	var retried []store.TimelineEntry
	for _, e := range d.Timeline {
		if e.Kind == store.TimelineNoticeRetried {
			retried = append(retried, e)
		}
	}
	if len(retried) != 1 {
		t.Fatalf("timeline has %d %s entries, want 1: %+v", len(retried), store.TimelineNoticeRetried, d.Timeline)
	}
	var taken *store.Notice
	for i, n := range d.Notices {
		if strings.HasPrefix(retried[0].Text, "notice "+n.ID+" to channel "+n.Channel+": retried after replica ") {
			taken = &d.Notices[i]
		}
	}
	if taken == nil || !strings.Contains(retried[0].Text, deadOwner) || !strings.HasSuffix(retried[0].Text, " stopped mid-delivery") {
		t.Fatalf("timeline entry %q names no notice of the incident or not the replica %q: %+v", retried[0].Text, deadOwner, d.Notices)
	}
	if taken.Status != store.NoticeSent || taken.Attempts != 2 {
		t.Errorf("taken-over notice %s: status %s after %d attempts, want sent after 2 (the cut-off one counts)", taken.ID, taken.Status, taken.Attempts)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
