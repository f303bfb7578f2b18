package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/store"
)

// A database from before migration 4 (alert events without recorded_at) upgrades in place:
// its events count as recorded long ago, so a resolved alert's are pruned at once and a firing
// alert's stay.
func TestUpgradeKeepsAlertEventsPrunable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "siteward.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:3] {
		if _, err := db.ExecContext(ctx, m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = 3"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO alert_events (key, fingerprint, starts_at, status)
		VALUES ('k', 'gone', 1, 'firing'), ('k', 'gone', 1, 'resolved'), ('k', 'firing', 1, 'firing')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.PruneAlertEvents(ctx, time.Unix(1, 0), 100); err != nil || n != 2 {
		t.Fatalf("pruning after the upgrade: %d, %v; want the resolved alert's 2 events", n, err)
	}
	firing := store.AlertEvent{Key: "k", Alert: store.Alert{Fingerprint: "firing", Status: "firing", StartsAt: time.Unix(0, 1)}}
	if seen, err := s.AllAlertEventsSeen(ctx, []store.AlertEvent{firing}); err != nil || !seen {
		t.Fatalf("the firing alert's event after pruning: seen %v, %v; want kept", seen, err)
	}
}
