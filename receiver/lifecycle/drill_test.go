package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/lifecycle"
	"github.com/siteward/siteward/receiver/store"
)

func TestDrillRunsTheLifecycleWithTeamNoticesOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.OpenDrill(ctx, "acme", "", "carol"); !errors.Is(err, incident.ErrInvalid) {
		t.Errorf("drill without a site: err = %v, want ErrInvalid", err)
	}
	// A real incident of the same site stays separate from the drill.
	if _, err := f.svc.Ingest(ctx, []store.Alert{{Fingerprint: "real", Status: "firing", StartsAt: t0,
		Labels: map[string]string{"alertname": "SiteDown", "client": "acme", "site": "shop", "severity": "critical"}}}); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.OpenDrill(ctx, "acme", "shop", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Drill || d.State != store.StateInvestigating || d.Owner != "alice" {
		t.Fatalf("drill = drill %v state %s owner %q, want a drill investigating, owned by the on-call alice", d.Drill, d.State, d.Owner)
	}
	if _, err := f.svc.Act(ctx, d.ID, incident.Acknowledge{Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	f.advance(20 * time.Minute) // past the first-notice delay: no client notice for a drill
	if _, err := f.svc.RecoverDrill(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	f.advance(11 * time.Minute) // the quiet window
	got, err := f.store.Incident(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateResolved {
		t.Errorf("drill state after recovery and the quiet window = %s, want resolved", got.State)
	}
	ns := f.notices(d.ID)
	if len(ns) == 0 {
		t.Fatal("drill sent no team notice")
	}
	for _, n := range ns {
		if n.Audience != "team" {
			t.Errorf("drill notice %s went to the %s", n.Event, n.Audience)
		}
		if !strings.HasPrefix(n.Subject, "[DRILL]") {
			t.Errorf("drill notice subject %q lacks [DRILL]", n.Subject)
		}
	}
	open, err := f.store.Incidents(ctx, store.IncidentFilter{Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].Drill {
		t.Errorf("open incidents = %d, want the real one only", len(open))
	}
	if _, err := f.svc.RecoverDrill(ctx, open[0].ID); !errors.Is(err, lifecycle.ErrNotDrill) {
		t.Errorf("RecoverDrill of a real incident: err = %v, want ErrNotDrill", err)
	}
}
