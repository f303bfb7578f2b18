package replicatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
	"github.com/siteward/siteward/receiver/api"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

// TestBinaryReplicas runs the real siteward-receiver binary twice on one PostgreSQL database
// (--storage.postgres-url) and SIGKILLs the first while the team channel holds its delivery
// of a notification recorded from a real Alertmanager: the second process delivers the
// notice after the lease, with the same delivery ID, and knows the notification already.
func TestBinaryReplicas(t *testing.T) {
	bin := testutil.BuildBinary(t, "siteward-receiver")
	dbURL := pgtest.Database(t)
	channel := newDeliveryCounter(t)
	body, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "receiver", "api", "testdata", "alertmanager-0.25-firing.json"))
	if err != nil {
		t.Fatal(err)
	}

	victim := startBinary(t, bin, dbURL, writeConfig(t, channel.URL+"/victim"))
	if code := postWebhook(http.DefaultClient, victim.url, body); code != http.StatusOK {
		t.Fatalf("webhook: %d, want 200", code)
	}
	select {
	case <-channel.victimSent:
	case <-time.After(60 * time.Second):
		t.Fatal("the notice never reached the channel")
	}
	if err := victim.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown code runs
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()

	live := startBinary(t, bin, dbURL, writeConfig(t, channel.URL+"/live"))
	testutil.WaitFor(t, waitTimeout, "the notice re-sent after the dead process's lease", func() (bool, string) {
		posts, _, _ := channel.snapshot()
		total := 0
		for _, n := range posts {
			total += n
		}
		return total >= 2, fmt.Sprintf("%d POSTs", total)
	})
	testutil.WaitFor(t, waitTimeout, "an empty outbox", func() (bool, string) {
		m := get(t, live.url+"/metrics")
		_, pending, _ := strings.Cut(m, "\nsiteward_outbox_pending ")
		pending, _, _ = strings.Cut(pending, "\n")
		return strings.Contains(m, "siteward_outbox_pending 0\n"), "siteward_outbox_pending " + pending
	})
	posts, accepted, viaVictim := channel.snapshot()
	for id, n := range posts {
		if n != 2 || !viaVictim[id] || accepted[id] != "incident.opened" {
			t.Errorf("delivery %s (%s): %d POSTs (via the killed process: %v), want 2: the killed one and the retry", id, accepted[id], n, viaVictim[id])
		}
	}
	// The other Alertmanager of the pair delivers the same notification to the live replica.
	resp, err := http.Post(live.url+"/api/v1/webhook", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"duplicate"`) {
		t.Errorf("the same notification at the other replica: %d %s, want 200 duplicate", resp.StatusCode, answer)
	}
	list := get(t, live.url+"/api/v1/incidents")
	var incs struct{ Incidents []store.Incident }
	if err := json.Unmarshal([]byte(list), &incs); err != nil || len(incs.Incidents) != 1 {
		t.Fatalf("incidents: %v %s, want exactly one", err, list)
	}
	// The incident shows the retry: the taken-over notice counts the cut-off attempt, and
	// the timeline names the killed process (owner IDs are host-pid-random).
	var d api.IncidentDetail
	if err := json.Unmarshal([]byte(get(t, live.url+"/api/v1/incidents/"+incs.Incidents[0].ID)), &d); err != nil {
		t.Fatal(err)
	}
	var retried []string
	for _, e := range d.Timeline {
		if e.Kind == store.TimelineNoticeRetried {
			retried = append(retried, e.Text)
		}
	}
	victimOwner := fmt.Sprintf("-%d-", victim.cmd.Process.Pid)
	for _, n := range d.Notices {
		if !viaVictim[n.ID] {
			continue
		}
		if n.Status != store.NoticeSent || n.Attempts != 2 {
			t.Errorf("notice %s: %s after %d attempts, want sent after 2 (the cut-off one counts)", n.ID, n.Status, n.Attempts)
		}
		prefix := "notice " + n.ID + " to channel " + n.Channel + ": retried after replica "
		if len(retried) != 1 || !strings.HasPrefix(retried[0], prefix) || !strings.Contains(retried[0], victimOwner) {
			t.Errorf("timeline %s entries %q, want one for notice %s naming the killed process (%s)", store.TimelineNoticeRetried, retried, n.ID, victimOwner)
		}
	}
}

type binaryReplica struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

// startBinary starts siteward-receiver on dbURL and waits until it is ready.
func startBinary(t *testing.T, bin, dbURL, config string) *binaryReplica {
	t.Helper()
	addr := testutil.FreeAddr(t)
	r := &binaryReplica{url: "http://" + addr, logs: &bytes.Buffer{}}
	r.cmd = exec.Command(bin, "--config.file="+config, "--storage.postgres-url="+dbURL, "--web.listen-address="+addr)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		if t.Failed() {
			t.Logf("receiver logs:\n%s", r.logs)
		}
	})
	testutil.WaitHTTPOK(t, waitTimeout, r.url+"/-/ready")
	return r
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}
