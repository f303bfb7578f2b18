package postmortem

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func createIncident(t *testing.T, st store.Store, inc *store.Incident) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.CreateIncident(context.Background(), inc); err != nil {
			return err
		}
		return tx.AppendTimeline(context.Background(), store.TimelineEntry{IncidentID: inc.ID, At: inc.DetectedAt, Actor: "alertmanager", Kind: "opened", Text: "Opened"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSave(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	open := &store.Incident{ID: "open1", Key: `client="acme",site="shop"`, Client: "acme", State: store.StateInvestigating, StartedAt: t0, DetectedAt: t0}
	createIncident(t, st, open)

	if err := Save(ctx, st, "open1", Edit{Actor: "bob"}, t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty edit: err = %v, want ErrInvalid", err)
	}
	if err := Save(ctx, st, "missing", Edit{Actor: "bob", Summary: "x"}, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown incident: err = %v, want ErrNotFound", err)
	}
	if err := Save(ctx, st, "open1", Edit{Actor: "bob", Publish: true}, t0); !errors.Is(err, ErrNotResolved) {
		t.Errorf("publishing an open incident: err = %v, want ErrNotResolved", err)
	}
	if err := Save(ctx, st, "open1", Edit{Actor: "bob", Summary: " Shop down ", RootCause: "Bad deploy", Prevention: []string{"Canary deploys", " "}}, t0); err != nil {
		t.Fatal(err)
	}
	tl, err := st.Timeline(ctx, "open1")
	if err != nil {
		t.Fatal(err)
	}
	r := Draft(Input{Incident: open, Timeline: tl})
	if r.Summary != "Shop down" || r.RootCause != "Bad deploy" || len(r.Prevention) != 1 || r.Prevention[0] != (PreventionItem{"Canary deploys", "bob"}) {
		t.Errorf("draft after the edit: summary %q, root cause %q, prevention %v", r.Summary, r.RootCause, r.Prevention)
	}
}

func TestReminders(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	resolvedAt := t0.Add(time.Hour)
	for _, id := range []string{"late", "published", "recent", "drill"} {
		inc := &store.Incident{ID: id, Key: id, Client: "acme", State: store.StateResolved, StartedAt: t0, DetectedAt: t0, ResolvedAt: resolvedAt, Drill: id == "drill"}
		if id == "recent" {
			inc.ResolvedAt = resolvedAt.Add(20 * time.Hour)
		}
		createIncident(t, st, inc)
	}
	if err := Save(ctx, st, "published", Edit{Actor: "bob", Publish: true}, resolvedAt); err != nil {
		t.Fatal(err)
	}
	now := resolvedAt.Add(DueAfter + time.Minute)
	render := func(inc *store.Incident) notify.Incident {
		return notify.Incident{ID: inc.ID, Client: inc.Client, URL: "http://receiver/incidents/" + inc.ID}
	}
	for round := range 2 { // the second round must not remind again
		n, err := Reminders(ctx, st, []string{"team-log", "team-slack"}, render, now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("round %d: overdue = %d, want 1 (only \"late\"; the drill is reminded, not counted)", round, n)
		}
	}
	ns, err := st.Notices(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 {
		t.Fatalf("reminders enqueued = %d, want one per team channel (2): %+v", len(ns), ns)
	}
	for _, n := range ns {
		if n.Event != string(notify.EventPostmortemDue) || n.Audience != "team" {
			t.Errorf("reminder %s: event %s audience %s", n.ID, n.Event, n.Audience)
		}
	}
	if ns, _ := st.Notices(ctx, "drill"); len(ns) != 2 {
		t.Errorf("the overdue drill got %d reminders, want 2", len(ns))
	}
	for _, id := range []string{"published", "recent"} {
		if ns, _ := st.Notices(ctx, id); len(ns) != 0 {
			t.Errorf("%s got %d reminders, want none", id, len(ns))
		}
	}
}
