package replicatest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

// TestDatabaseOutage stops PostgreSQL under a running receiver: webhooks answer 5xx (so
// Alertmanager retries them) and /-/ready fails; when the server is back the receiver
// recovers by itself, without a restart, and nothing accepted before or retried after is
// lost or sent twice. It runs its own private cluster: stopping the shared one would break
// tests running in parallel.
func TestDatabaseOutage(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	channel := newDeliveryCounter(t)
	r := startReceiver(t, "r1", cluster.Database(t), writeConfig(t, channel.URL+"/live"))
	client := &http.Client{Timeout: 30 * time.Second}
	ready := func() int {
		resp, err := client.Get(r.url + "/-/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	before, during := webhookBody(t, "shop", "firing", t0), webhookBody(t, "blog", "firing", t0)

	if code := postWebhook(client, r.url, before); code != http.StatusOK {
		t.Fatalf("webhook before the outage: %d, want 200", code)
	}
	testutil.WaitFor(t, waitTimeout, "the first notice", func() (bool, string) {
		_, accepted, _ := channel.snapshot()
		return len(accepted) == 1, fmt.Sprintf("%d accepted", len(accepted))
	})

	cluster.Stop(t)
	if code := postWebhook(client, r.url, during); code/100 != 5 {
		t.Fatalf("webhook with the database down: %d, want 5xx so that Alertmanager retries", code)
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("/-/ready with the database down: %d, want 503", code)
	}

	cluster.Start(t)
	testutil.WaitFor(t, waitTimeout, "/-/ready to recover", func() (bool, string) {
		code := ready()
		return code == http.StatusOK, fmt.Sprintf("status %d", code)
	})
	// Alertmanager retries the refused notification and repeats the accepted one.
	for _, body := range [][]byte{during, before} {
		if code := postWebhook(client, r.url, body); code != http.StatusOK {
			t.Fatalf("webhook after the outage: %d, want 200", code)
		}
	}
	ctx := context.Background()
	testutil.WaitFor(t, waitTimeout, "both notices", func() (bool, string) {
		_, accepted, _ := channel.snapshot()
		pending, err := r.store.PendingNotices(ctx)
		return err == nil && pending == 0 && len(accepted) == 2, fmt.Sprintf("%d accepted, %d pending (error %v)", len(accepted), pending, err)
	})

	incidents, err := r.store.Incidents(ctx, store.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, inc := range incidents {
		keys[inc.Key]++
	}
	if len(incidents) != 2 || keys[`client="acme",site="shop"`] != 1 || keys[`client="acme",site="blog"`] != 1 {
		t.Errorf("incidents by key = %v, want one for shop and one for blog", keys)
	}
	posts, _, _ := channel.snapshot()
	for id, n := range posts {
		if n != 1 {
			t.Errorf("delivery %s POSTed %d times, want once", id, n)
		}
	}
}
