package replicatest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

// TestDatabaseOutage stops PostgreSQL under a running replica: ingest fails (the webhook
// answers 5xx and Alertmanager retries), readiness fails; when the server is back the same
// store recovers by itself and nothing accepted before or retried after is lost.
// It runs its own private cluster: stopping the shared one would break parallel tests.
func TestDatabaseOutage(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	url := cluster.Database(t)
	r := startReplica(t, "r1", url)
	channel := newCountingChannel(t)
	w := &worker{r: r, notifier: &webhookNotifier{url: channel.URL, client: channel.Client()}, lease: 2 * time.Second}
	var workers sync.WaitGroup
	workers.Go(w.run)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	before := alert{`client="acme",site="shop"`, "firing", t0}
	during := alert{`client="acme",site="blog"`, "firing", t0}

	if err := r.ingest(before); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first notice", func() bool { _, accepted := channel.snapshot(); return len(accepted) == 1 })

	cluster.Stop(t)
	err := r.ingest(during)
	if err == nil {
		t.Fatal("ingest succeeded with the database down; want an error (a 5xx for Alertmanager)")
	}
	if errors.Is(err, store.ErrConflict) {
		t.Fatalf("ingest with the database down: %v; want a plain store error, not a conflict", err)
	}
	if err := r.store.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with the database down; /-/ready must fail")
	}

	cluster.Start(t)
	// No reopening: the pool replaces its dead connections by itself.
	waitFor(t, "the store to reconnect", func() bool { return r.store.Ping(ctx) == nil })
	// Alertmanager retries the refused notification, and repeats the accepted one.
	for _, a := range []alert{during, before} {
		if err := r.ingest(a); err != nil {
			t.Fatalf("ingest %s after the database returned: %v", a.key, err)
		}
	}
	waitFor(t, "both notices", func() bool {
		_, accepted := channel.snapshot()
		pending, err := r.store.PendingNotices(ctx)
		return err == nil && pending == 0 && len(accepted) == 2
	})
	r.kill()
	workers.Wait()

	incidents, err := r.store.Incidents(ctx, store.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, inc := range incidents {
		keys[inc.Key]++
	}
	if len(incidents) != 2 || keys[before.key] != 1 || keys[during.key] != 1 {
		t.Errorf("incidents by key = %v, want one for each of %s and %s", keys, before.key, during.key)
	}
	posts, _ := channel.snapshot()
	for id, n := range posts {
		if n != 1 {
			t.Errorf("notice %s POSTed %d times, want once", id, n)
		}
	}
}
