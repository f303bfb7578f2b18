package receiver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/sqlite"
)

// The pruner deletes a resolved alert's events once the retention has passed since, in
// batches until none is left, counts them, and leaves a firing alert's events alone.
func TestAlertEventPruner(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "siteward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	startsAt := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var events []store.AlertEvent
	for _, fp := range []string{"resolved-1", "resolved-2", "resolved-3"} {
		for _, status := range []string{"firing", "resolved"} {
			events = append(events, store.AlertEvent{Key: "k", Alert: store.Alert{Fingerprint: fp, Status: status, StartsAt: startsAt}})
		}
	}
	firing := store.AlertEvent{Key: "k", Alert: store.Alert{Fingerprint: "firing", Status: "firing", StartsAt: startsAt}}
	events = append(events, firing)
	if err := st.Update(ctx, func(tx store.Tx) error { _, err := tx.RecordAlertEvents(ctx, events); return err }); err != nil {
		t.Fatal(err)
	}

	p := newAlertEventPruner(st, prometheus.NewRegistry(), promslog.NewNopLogger())
	if n := p.prune(ctx); n != 0 {
		t.Fatalf("pruned %d events recorded just now, want 0", n)
	}
	p.now = func() time.Time { return time.Now().Add(alertEventRetention + time.Minute) }
	if n := p.prune(ctx); n != 6 {
		t.Fatalf("pruned %d events after the retention, want the 6 of the 3 resolved alerts", n)
	}
	if v := testutil.ToFloat64(p.pruned); v != 6 {
		t.Errorf("siteward_alert_events_pruned_total = %v, want 6", v)
	}
	seen, err := st.AllAlertEventsSeen(ctx, []store.AlertEvent{firing})
	if err != nil || !seen {
		t.Errorf("the firing alert's event after pruning: seen %v, %v; want kept", seen, err)
	}
}
