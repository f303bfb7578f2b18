// Package storetest is the backend-agnostic test suite of store.Store. Every backend runs it:
//
//	func TestStore(t *testing.T) { storetest.Run(t, func(t *testing.T) store.Store { ... }) }
//
// newStore must return an empty store; Run closes it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/store"
)

// t0 is a fixed clock: leases and due times are tested by passing "now", never by sleeping.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Run runs the whole suite.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AlertEventDedup", testAlertEventDedup},
		{"PruneAlertEvents", testPruneAlertEvents},
		{"IncidentLifecycle", testIncidentLifecycle},
		{"OneOpenIncidentPerKey", testOneOpenIncidentPerKey},
		{"OpenIncidentByKeyAfterWrites", testOpenIncidentByKeyAfterWrites},
		{"ConcurrentCreate", testConcurrentCreate},
		{"StaleVersion", testStaleVersion},
		{"RollbackOnError", testRollbackOnError},
		{"ListFilters", testListFilters},
		{"Timeline", testTimeline},
		{"OutboxClaimLease", testOutboxClaimLease},
		{"OutboxRetryAndFail", testOutboxRetryAndFail},
		{"OutboxGivesUpAfterCutOffs", testOutboxGivesUpAfterCutOffs},
		{"NoticeOrder", testNoticeOrder},
		{"Timers", testTimers},
		{"Deploys", testDeploys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

func update(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func newIncident(id, key, client string, at time.Time) *store.Incident {
	return &store.Incident{
		ID: id, Key: key, Client: client, State: store.StateInvestigating, Severity: "critical",
		FailureType: "http", Sites: []string{"shop"}, Labels: map[string]string{"client": client, "site": "shop"},
		Alerts:    []store.Alert{{Fingerprint: "fp1", Status: "firing", Labels: map[string]string{"alertname": "SiteDown"}, StartsAt: at}},
		StartedAt: at, UpdatedAt: at,
	}
}

func ev(key, fp, status string, startsAt time.Time) store.AlertEvent {
	return store.AlertEvent{Key: key, Alert: store.Alert{Fingerprint: fp, Status: status, StartsAt: startsAt}}
}

func testAlertEventDedup(t *testing.T, s store.Store) {
	ctx := context.Background()
	k := `client="acme",site="shop"`
	record := func(events ...store.AlertEvent) []store.AlertEvent {
		var fresh []store.AlertEvent
		update(t, s, func(tx store.Tx) error {
			var err error
			fresh, err = tx.RecordAlertEvents(ctx, events)
			return err
		})
		return fresh
	}
	steps := []struct {
		name   string
		events []store.AlertEvent
		fresh  int
	}{
		{"first firing", []store.AlertEvent{ev(k, "a", "firing", t0)}, 1},
		{"repeat (repeat_interval, HA peer)", []store.AlertEvent{ev(k, "a", "firing", t0)}, 0},
		{"second alert, same batch as repeat", []store.AlertEvent{ev(k, "a", "firing", t0), ev(k, "b", "firing", t0)}, 1},
		{"resolved", []store.AlertEvent{ev(k, "a", "resolved", t0)}, 1},
		{"resolved repeat", []store.AlertEvent{ev(k, "a", "resolved", t0)}, 0},
		{"resolved overtook firing", []store.AlertEvent{ev(k, "c", "resolved", t0)}, 1},
		{"late firing after its resolved", []store.AlertEvent{ev(k, "c", "firing", t0)}, 0},
		{"same alert firing again later", []store.AlertEvent{ev(k, "a", "firing", t0.Add(time.Hour))}, 1},
		{"other key is independent", []store.AlertEvent{ev(`client="other",site="shop"`, "a", "firing", t0)}, 1},
	}
	for _, st := range steps {
		if got := record(st.events...); len(got) != st.fresh {
			t.Errorf("%s: %d fresh events, want %d (%+v)", st.name, len(got), st.fresh, got)
		}
	}
	if sc, ok := s.(store.SeenChecker); ok {
		for _, c := range []struct {
			events []store.AlertEvent
			want   bool
		}{
			{[]store.AlertEvent{ev(k, "a", "firing", t0), ev(k, "a", "resolved", t0)}, true},
			{[]store.AlertEvent{ev(k, "a", "firing", t0), ev(k, "z", "firing", t0)}, false},
			{[]store.AlertEvent{ev(k, "b", "resolved", t0)}, false},
		} {
			if got, err := sc.AllAlertEventsSeen(ctx, c.events); err != nil || got != c.want {
				t.Errorf("AllAlertEventsSeen(%v) = %v, %v; want %v", c.events, got, err, c.want)
			}
		}
	}
}

// Pruning deletes the events of resolved alerts (firing and resolved) once their resolution
// is old enough, a limited number of alerts at a time, and keeps the events of alerts still
// firing, whose repeats must stay duplicates.
func testPruneAlertEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	k := `client="acme",site="shop"`
	record := func(events ...store.AlertEvent) (fresh []store.AlertEvent) {
		update(t, s, func(tx store.Tx) error {
			var err error
			fresh, err = tx.RecordAlertEvents(ctx, events)
			return err
		})
		return fresh
	}
	record(ev(k, "a", "firing", t0), ev(k, "a", "resolved", t0), ev(k, "b", "firing", t0), ev(k, "b", "resolved", t0),
		ev(k, "c", "firing", t0))
	if n, err := s.PruneAlertEvents(ctx, time.Now().Add(-time.Hour), 100); err != nil || n != 0 {
		t.Fatalf("pruning events resolved over an hour ago: %d, %v; want 0 (they were recorded just now)", n, err)
	}
	if n, err := s.PruneAlertEvents(ctx, time.Now().Add(time.Hour), 1); err != nil || n != 2 {
		t.Fatalf("pruning one resolved alert: %d, %v; want its 2 events", n, err)
	}
	if n, err := s.PruneAlertEvents(ctx, time.Now().Add(time.Hour), 100); err != nil || n != 2 {
		t.Fatalf("pruning the other resolved alert: %d, %v; want its 2 events", n, err)
	}
	if fresh := record(ev(k, "c", "firing", t0)); len(fresh) != 0 {
		t.Errorf("a repeat of still-firing c after pruning is fresh: %+v; its event must be kept", fresh)
	}
	if fresh := record(ev(k, "a", "resolved", t0)); len(fresh) != 1 {
		t.Errorf("a's resolution after pruning: %d fresh events, want 1 (its events are gone)", len(fresh))
	}
}

func testIncidentLifecycle(t *testing.T, s store.Store) {
	ctx := context.Background()
	k := `client="acme",site="shop"`
	inc := newIncident("i1", k, "acme", t0)
	inc.Assessment = store.Assessment{Sites: []string{"shop"}, OtherClients: []string{"beta"}, Owner: "alice"}
	update(t, s, func(tx store.Tx) error {
		got, err := tx.OpenIncidentByKey(ctx, k)
		if err != nil || got != nil {
			t.Fatalf("OpenIncidentByKey on empty store = %v, %v; want nil, nil", got, err)
		}
		return tx.CreateIncident(ctx, inc)
	})
	if inc.Version != 1 {
		t.Fatalf("version after create = %d, want 1", inc.Version)
	}
	got, err := s.Incident(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != k || got.State != store.StateInvestigating || got.Assessment.Owner != "alice" ||
		len(got.Alerts) != 1 || !got.Alerts[0].StartsAt.Equal(t0) || !got.StartedAt.Equal(t0) || got.Version != 1 {
		t.Fatalf("stored incident = %+v", got)
	}
	update(t, s, func(tx store.Tx) error {
		cur, err := tx.OpenIncidentByKey(ctx, k)
		if err != nil {
			return err
		}
		if cur == nil || cur.ID != "i1" {
			t.Fatalf("OpenIncidentByKey = %+v, want i1", cur)
		}
		cur.State = store.StateResolved
		cur.ResolvedAt = t0.Add(time.Hour)
		return tx.UpdateIncident(ctx, cur)
	})
	got, err = s.Incident(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateResolved || got.Version != 2 || !got.ResolvedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after resolve: %+v", got)
	}
	update(t, s, func(tx store.Tx) error {
		cur, err := tx.OpenIncidentByKey(ctx, k)
		if err != nil || cur != nil {
			t.Fatalf("OpenIncidentByKey after resolve = %v, %v; want nil, nil", cur, err)
		}
		return nil
	})
	if _, err := s.Incident(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Incident(nope) err = %v, want ErrNotFound", err)
	}
}

// testOpenIncidentByKeyAfterWrites: within the webhook's transaction (record events, read
// the key's open incident, write it, read again), every read sees the writes before it.
func testOpenIncidentByKeyAfterWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	k := `client="acme",site="shop"`
	firing := func(fp string) []store.AlertEvent {
		return []store.AlertEvent{{Key: k, Alert: store.Alert{Fingerprint: fp, Status: "firing", StartsAt: t0}}}
	}
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.RecordAlertEvents(ctx, firing("a")); err != nil {
			return err
		}
		if cur, err := tx.OpenIncidentByKey(ctx, k); err != nil || cur != nil {
			t.Fatalf("OpenIncidentByKey before any incident = %+v, %v; want nil", cur, err)
		}
		if err := tx.CreateIncident(ctx, newIncident("i1", k, "acme", t0)); err != nil {
			return err
		}
		cur, err := tx.OpenIncidentByKey(ctx, k)
		if err != nil || cur == nil || cur.ID != "i1" || cur.Version != 1 {
			t.Fatalf("OpenIncidentByKey after CreateIncident = %+v, %v; want i1 version 1", cur, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.RecordAlertEvents(ctx, firing("b")); err != nil {
			return err
		}
		cur, err := tx.OpenIncidentByKey(ctx, k)
		if err != nil || cur == nil || cur.Version != 1 {
			t.Fatalf("OpenIncidentByKey in the next transaction = %+v, %v; want i1 version 1", cur, err)
		}
		cur.Owner = "alice"
		if err := tx.UpdateIncident(ctx, cur); err != nil {
			return err
		}
		again, err := tx.OpenIncidentByKey(ctx, k)
		if err != nil || again == nil || again.Version != 2 || again.Owner != "alice" {
			t.Fatalf("OpenIncidentByKey after UpdateIncident = %+v, %v; want version 2 owned by alice", again, err)
		}
		return nil
	})
}

func testOneOpenIncidentPerKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	k := `client="acme",site="shop"`
	update(t, s, func(tx store.Tx) error { return tx.CreateIncident(ctx, newIncident("i1", k, "acme", t0)) })
	err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateIncident(ctx, newIncident("i2", k, "acme", t0)) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second open incident for one key: err = %v, want ErrConflict", err)
	}
	// Once resolved, a new incident for the same key may open.
	update(t, s, func(tx store.Tx) error {
		cur, err := tx.Incident(ctx, "i1")
		if err != nil {
			return err
		}
		cur.State = store.StateResolved
		return tx.UpdateIncident(ctx, cur)
	})
	update(t, s, func(tx store.Tx) error {
		return tx.CreateIncident(ctx, newIncident("i3", k, "acme", t0.Add(time.Hour)))
	})
}

// testConcurrentCreate is what an HA pair of Alertmanagers does to a set of replicas: the
// same notification at the same instant. Exactly one incident may result.
func testConcurrentCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	k := `client="acme",site="shop"`
	const workers = 8
	var wg sync.WaitGroup
	created := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; attempt < 5; attempt++ {
				var id string
				err := s.Update(ctx, func(tx store.Tx) error {
					id = ""
					fresh, err := tx.RecordAlertEvents(ctx, []store.AlertEvent{ev(k, "a", "firing", t0)})
					if err != nil || len(fresh) == 0 {
						return err
					}
					cur, err := tx.OpenIncidentByKey(ctx, k)
					if err != nil || cur != nil {
						return err
					}
					id = fmt.Sprintf("w%d", w)
					return tx.CreateIncident(ctx, newIncident(id, k, "acme", t0))
				})
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if id != "" {
					created <- id
				}
				return
			}
			t.Error("still conflicting after 5 attempts")
		}()
	}
	wg.Wait()
	close(created)
	var ids []string
	for id := range created {
		ids = append(ids, id)
	}
	if len(ids) != 1 {
		t.Fatalf("created incidents %v, want exactly one", ids)
	}
	all, err := s.Incidents(ctx, store.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d incidents stored, want 1", len(all))
	}
}

func testStaleVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error { return tx.CreateIncident(ctx, newIncident("i1", "k", "acme", t0)) })
	stale, err := s.Incident(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx store.Tx) error {
		cur, err := tx.Incident(ctx, "i1")
		if err != nil {
			return err
		}
		cur.Owner = "alice"
		return tx.UpdateIncident(ctx, cur)
	})
	stale.Owner = "bob"
	err = s.Update(ctx, func(tx store.Tx) error { return tx.UpdateIncident(ctx, stale) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update with stale version: err = %v, want ErrConflict", err)
	}
	got, _ := s.Incident(ctx, "i1")
	if got.Owner != "alice" {
		t.Fatalf("owner = %q, want alice (stale write must not win)", got.Owner)
	}
}

func testRollbackOnError(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateIncident(ctx, newIncident("i1", "k", "acme", t0)); err != nil {
			return err
		}
		if err := tx.AppendTimeline(ctx, store.TimelineEntry{IncidentID: "i1", At: t0, Actor: "system", Kind: "opened", Text: "x"}); err != nil {
			return err
		}
		if err := tx.EnqueueNotices(ctx, store.Notice{ID: "n1", IncidentID: "i1", Channel: "log", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.SetTimer(ctx, store.Timer{Subject: "i1", Kind: store.TimerUpdate, DueAt: t0}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update err = %v, want boom", err)
	}
	if _, err := s.Incident(ctx, "i1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("incident survived a rolled-back transaction: %v", err)
	}
	if n, _ := s.PendingNotices(ctx); n != 0 {
		t.Fatalf("%d notices survived a rolled-back transaction", n)
	}
	if tl, _ := s.Timeline(ctx, "i1"); len(tl) != 0 {
		t.Fatalf("timeline survived a rolled-back transaction: %v", tl)
	}
	if tm, _ := s.ClaimTimers(ctx, "o", t0.Add(time.Hour), time.Minute, 10); len(tm) != 0 {
		t.Fatalf("timer survived a rolled-back transaction: %v", tm)
	}
}

func testListFilters(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		for i, c := range []string{"acme", "acme", "beta"} {
			inc := newIncident(fmt.Sprintf("i%d", i), fmt.Sprintf("k%d", i), c, t0.Add(time.Duration(i)*time.Minute))
			if i == 1 {
				inc.State = store.StateResolved
			}
			if err := tx.CreateIncident(ctx, inc); err != nil {
				return err
			}
		}
		open, err := tx.OpenIncidents(ctx)
		if err != nil {
			return err
		}
		if len(open) != 2 {
			t.Errorf("OpenIncidents = %d, want 2", len(open))
		}
		if oc, ok := tx.(store.OpenClientsTx); ok {
			clients, err := oc.OpenClients(ctx)
			if err != nil {
				return err
			}
			if fmt.Sprint(clients) != "[acme beta]" {
				t.Errorf("OpenClients = %v, want [acme beta]", clients)
			}
		}
		return nil
	})
	cases := []struct {
		f    store.IncidentFilter
		want []string
	}{
		{store.IncidentFilter{}, []string{"i2", "i1", "i0"}},
		{store.IncidentFilter{Client: "acme"}, []string{"i1", "i0"}},
		{store.IncidentFilter{State: store.StateResolved}, []string{"i1"}},
		{store.IncidentFilter{Open: true}, []string{"i2", "i0"}},
		{store.IncidentFilter{Open: true, Client: "acme"}, []string{"i0"}},
		{store.IncidentFilter{Limit: 1}, []string{"i2"}},
	}
	for _, c := range cases {
		got, err := s.Incidents(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, i := range got {
			ids = append(ids, i.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(c.want) {
			t.Errorf("Incidents(%+v) = %v, want %v", c.f, ids, c.want)
		}
	}
}

func testTimeline(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		return tx.AppendTimeline(ctx,
			store.TimelineEntry{IncidentID: "i1", At: t0, Actor: "system", Kind: "opened", Text: "opened"},
			store.TimelineEntry{IncidentID: "i2", At: t0, Actor: "system", Kind: "opened", Text: "other"},
			store.TimelineEntry{IncidentID: "i1", At: t0.Add(time.Second), Actor: "alice", Kind: "acknowledged", Text: "ack"})
	})
	update(t, s, func(tx store.Tx) error {
		return tx.AppendTimeline(ctx, store.TimelineEntry{IncidentID: "i1", At: t0, Actor: "bob", Kind: "note", Text: "tried restart"})
	})
	tl, err := s.Timeline(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range tl {
		texts = append(texts, e.Actor+":"+e.Text)
	}
	if fmt.Sprint(texts) != "[system:opened alice:ack bob:tried restart]" {
		t.Fatalf("timeline = %v (appended order expected)", texts)
	}
	if tl[0].ID >= tl[1].ID || tl[1].ID >= tl[2].ID || !tl[1].At.Equal(t0.Add(time.Second)) {
		t.Fatalf("timeline ids/times wrong: %+v", tl)
	}
}

func testOutboxClaimLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		return tx.EnqueueNotices(ctx,
			store.Notice{ID: "n1", IncidentID: "i1", Channel: "slack", Audience: "team", Event: "incident.opened", Subject: "s", Text: "t", Payload: []byte(`{"id":"i1"}`), CreatedAt: t0},
			store.Notice{ID: "n2", IncidentID: "i1", Channel: "mail", Audience: "client", Event: "notice.initial", CreatedAt: t0, NextAttemptAt: t0.Add(5 * time.Minute)})
	})
	// Enqueueing the same ID again is a no-op (idempotency key).
	update(t, s, func(tx store.Tx) error {
		return tx.EnqueueNotices(ctx, store.Notice{ID: "n1", IncidentID: "i1", Channel: "other", CreatedAt: t0})
	})
	if n, _ := s.PendingNotices(ctx); n != 2 {
		t.Fatalf("PendingNotices = %d, want 2", n)
	}
	got, err := s.ClaimNotices(ctx, "A", t0, time.Minute, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "n1" || got[0].Channel != "slack" || string(got[0].Payload) != `{"id":"i1"}` || got[0].Status != store.NoticePending {
		t.Fatalf("claim at t0 = %+v, want only n1 (n2 is due later)", got)
	}
	if again, _ := s.ClaimNotices(ctx, "B", t0.Add(30*time.Second), time.Minute, 10, 10); len(again) != 0 {
		t.Fatalf("B claimed %v while A's lease holds", again)
	}
	// A crashed: after its lease expires B claims n1 (and n2, now due).
	again, err := s.ClaimNotices(ctx, "B", t0.Add(6*time.Minute), time.Minute, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 2 || again[0].ID != "n1" || again[1].ID != "n2" {
		t.Fatalf("B claimed %+v after lease expiry, want n1 and n2", again)
	}
	// Taking over A's lease on n1 counts as an attempt and says why; n2 was never claimed.
	if again[0].Attempts != 1 || again[0].LastError != store.CutOffError("A") {
		t.Fatalf("taken-over n1: attempts %d, last_error %q; want 1, %q", again[0].Attempts, again[0].LastError, store.CutOffError("A"))
	}
	if again[1].Attempts != 0 || again[1].LastError != "" {
		t.Fatalf("first claim of n2: attempts %d, last_error %q; want 0, none", again[1].Attempts, again[1].LastError)
	}
	tl, err := s.Timeline(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 1 || tl[0].Kind != store.TimelineNoticeRetried || tl[0].Actor != "system" ||
		tl[0].Text != store.TakeoverTimelineText("n1", "slack", "A") || !tl[0].At.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("timeline after the takeover = %+v, want one %s entry for n1", tl, store.TimelineNoticeRetried)
	}
	if err := s.CompleteNotices(ctx, "A", t0, []string{"n1"}); !errors.Is(err, store.ErrLeaseLost) || !strings.Contains(err.Error(), "n1") {
		t.Fatalf("A completing after losing the lease: err = %v, want ErrLeaseLost naming n1", err)
	}
	if err := s.CompleteNotices(ctx, "B", t0.Add(6*time.Minute), []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteNotices(ctx, "B", t0.Add(6*time.Minute), []string{"n1"}); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("completing twice: err = %v, want ErrLeaseLost", err)
	}
	ns, err := s.Notices(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0].ID != "n1" || ns[0].Status != store.NoticeSent || ns[0].Attempts != 2 || ns[0].LastError != "" || !ns[0].SentAt.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("notices = %+v", ns)
	}
	if n, _ := s.PendingNotices(ctx); n != 1 {
		t.Fatalf("PendingNotices = %d, want 1", n)
	}
	if more, _ := s.ClaimNotices(ctx, "C", t0.Add(time.Hour), time.Minute, 10, 10); len(more) != 1 || more[0].ID != "n2" {
		t.Fatalf("claim after completion = %+v, want n2 only (sent notices are never claimed)", more)
	}
	// A batch where the owner holds some notices: those are completed, the others named.
	err = s.CompleteNotices(ctx, "C", t0.Add(time.Hour), []string{"n2", "n1"})
	if !errors.Is(err, store.ErrLeaseLost) || !strings.Contains(err.Error(), "n1") || strings.Contains(err.Error(), "n2") {
		t.Fatalf("completing n2 (held) and n1 (sent before): err = %v, want ErrLeaseLost naming n1 only", err)
	}
	if n, _ := s.PendingNotices(ctx); n != 0 {
		t.Fatalf("PendingNotices after completing n2 = %d, want 0", n)
	}
}

// A notice whose every delivery is cut off (each replica that sends it dies) is given up
// when a takeover uses its last attempt: failed, with the reason on it and on the timeline.
func testOutboxGivesUpAfterCutOffs(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		return tx.EnqueueNotices(ctx, store.Notice{ID: "n1", IncidentID: "i1", Channel: "slack", CreatedAt: t0})
	})
	const maxAttempts = 3
	at := t0
	for i, owner := range []string{"A", "B", "C", "D"} {
		c, err := s.ClaimNotices(ctx, owner, at, time.Minute, 10, maxAttempts)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 1 {
			t.Fatalf("claim %d by %s: got %d notices, want 1", i+1, owner, len(c))
		}
		if owner != "D" {
			// Claims 2 and 3 took over cut-off deliveries 1 and 2: attempts 1 and 2 of 3.
			if c[0].Status != store.NoticePending || c[0].Attempts != i {
				t.Fatalf("claim %d by %s: status %s, attempts %d; want pending, %d", i+1, owner, c[0].Status, c[0].Attempts, i)
			}
			at = at.Add(2 * time.Minute) // the owner dies; its lease expires
			continue
		}
		// Claim 4 takes over the third cut-off delivery, the last attempt: it gives up.
		if c[0].Status != store.NoticeFailed || c[0].Attempts != maxAttempts || c[0].LastError != store.GaveUpError("C", maxAttempts) {
			t.Fatalf("claim after %d cut-off deliveries = %+v, want failed, attempts %d, last_error %q",
				maxAttempts, c[0], maxAttempts, store.GaveUpError("C", maxAttempts))
		}
	}
	if c, _ := s.ClaimNotices(ctx, "E", at.Add(time.Hour), time.Minute, 10, maxAttempts); len(c) != 0 {
		t.Fatalf("claimed %+v after giving up, want nothing", c)
	}
	ns, err := s.Notices(ctx, "i1")
	if err != nil || len(ns) != 1 || ns[0].Status != store.NoticeFailed {
		t.Fatalf("notices = %+v, %v; want n1 failed", ns, err)
	}
	tl, err := s.Timeline(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 3 || tl[2].Kind != store.TimelineNoticeFailed || tl[2].Text != store.GaveUpTimelineText("n1", "slack", "C", maxAttempts) ||
		tl[1].Kind != store.TimelineNoticeRetried || tl[1].Text != store.TakeoverTimelineText("n1", "slack", "B") {
		t.Fatalf("timeline = %+v, want two %s entries then one %s", tl, store.TimelineNoticeRetried, store.TimelineNoticeFailed)
	}
	if n, _ := s.PendingNotices(ctx); n != 0 {
		t.Fatalf("PendingNotices = %d, want 0", n)
	}
}

func testOutboxRetryAndFail(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		return tx.EnqueueNotices(ctx, store.Notice{ID: "n1", IncidentID: "i1", Channel: "slack", CreatedAt: t0})
	})
	if c, _ := s.ClaimNotices(ctx, "A", t0, time.Minute, 10, 10); len(c) != 1 {
		t.Fatalf("claimed %d, want 1", len(c))
	}
	if err := s.RetryNotice(ctx, "n1", "A", "503 Service Unavailable", t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Not due before next, even though the lease was released.
	if c, _ := s.ClaimNotices(ctx, "A", t0.Add(5*time.Second), time.Minute, 10, 10); len(c) != 0 {
		t.Fatalf("claimed %v before its retry time", c)
	}
	c, _ := s.ClaimNotices(ctx, "A", t0.Add(10*time.Second), time.Minute, 10, 10)
	if len(c) != 1 || c[0].Attempts != 1 || c[0].LastError != "503 Service Unavailable" {
		t.Fatalf("retry claim = %+v", c)
	}
	if err := s.FailNotice(ctx, "n1", "A", "400 Bad Request"); err != nil {
		t.Fatal(err)
	}
	ns, _ := s.Notices(ctx, "i1")
	if len(ns) != 1 || ns[0].Status != store.NoticeFailed || ns[0].Attempts != 2 || ns[0].LastError != "400 Bad Request" {
		t.Fatalf("after fail: %+v", ns)
	}
	if c, _ := s.ClaimNotices(ctx, "A", t0.Add(time.Hour), time.Minute, 10, 10); len(c) != 0 {
		t.Fatalf("a failed notice was claimed again: %v", c)
	}
	if n, _ := s.PendingNotices(ctx); n != 0 {
		t.Fatalf("PendingNotices = %d, want 0", n)
	}
}

func testTimers(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		for _, tm := range []store.Timer{
			{Subject: "i1", Kind: store.TimerFirstNotice, DueAt: t0.Add(5 * time.Minute)},
			{Subject: "i1", Kind: store.TimerEscalation, DueAt: t0.Add(10 * time.Minute)},
			{Subject: "i2", Kind: store.TimerUpdate, DueAt: t0.Add(30 * time.Minute)},
			{Subject: "watchdog", Kind: store.TimerWatchdog, DueAt: t0.Add(time.Minute)},
		} {
			if err := tx.SetTimer(ctx, tm); err != nil {
				return err
			}
		}
		// Moving a timer replaces it.
		return tx.SetTimer(ctx, store.Timer{Subject: "watchdog", Kind: store.TimerWatchdog, DueAt: t0.Add(3 * time.Minute)})
	})
	if got, _ := s.ClaimTimers(ctx, "A", t0.Add(2*time.Minute), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %v before anything is due (the watchdog timer was moved)", got)
	}
	got, err := s.ClaimTimers(ctx, "A", t0.Add(10*time.Minute), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("claimed %v, want 3 due timers", got)
	}
	if again, _ := s.ClaimTimers(ctx, "B", t0.Add(10*time.Minute+30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Fatalf("B claimed %v under A's lease", again)
	}
	var first store.Timer
	for _, tm := range got {
		if tm.Kind == store.TimerFirstNotice {
			first = tm
		}
	}
	if !first.DueAt.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("first-notice timer = %+v", first)
	}
	update(t, s, func(tx store.Tx) error {
		// The escalation timer is cancelled and the watchdog moved while A holds them.
		if err := tx.CancelTimers(ctx, "i1", store.TimerEscalation); err != nil {
			return err
		}
		if err := tx.SetTimer(ctx, store.Timer{Subject: "watchdog", Kind: store.TimerWatchdog, DueAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		ok, err := tx.TakeTimer(ctx, first)
		if err != nil {
			return err
		}
		if !ok {
			t.Error("TakeTimer(first notice) = false, want true")
		}
		if ok, _ := tx.TakeTimer(ctx, first); ok {
			t.Error("TakeTimer twice = true, want false")
		}
		for _, tm := range got {
			if tm.Kind == store.TimerEscalation || tm.Kind == store.TimerWatchdog {
				if ok, _ := tx.TakeTimer(ctx, tm); ok {
					t.Errorf("TakeTimer(%v) = true after it was cancelled/moved", tm.Kind)
				}
			}
		}
		return nil
	})
	// The i2 update timer comes due; the moved watchdog timer is due only later.
	got, _ = s.ClaimTimers(ctx, "B", t0.Add(31*time.Minute), time.Minute, 10)
	if len(got) != 1 || got[0].Subject != "i2" || got[0].Kind != store.TimerUpdate {
		t.Fatalf("B claimed %v, want the i2 update timer", got)
	}
	// B crashed without taking it: after B's lease C claims it again.
	if again, _ := s.ClaimTimers(ctx, "C", t0.Add(33*time.Minute), time.Minute, 10); len(again) != 1 || again[0].Subject != "i2" {
		t.Fatalf("C claimed %v after B's lease expired, want the i2 update timer", again)
	}
	update(t, s, func(tx store.Tx) error { return tx.CancelTimers(ctx, "i2") })
	if got, _ := s.ClaimTimers(ctx, "C", t0.Add(2*time.Hour), time.Minute, 10); len(got) != 1 || got[0].Kind != store.TimerWatchdog {
		t.Fatalf("claimed %v, want only the watchdog timer", got)
	}
}

func testDeploys(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		for _, d := range []store.Deploy{
			{Client: "acme", Site: "shop", At: t0.Add(-2 * time.Hour), Version: "v1"},
			{Client: "acme", At: t0.Add(-10 * time.Minute), Version: "v2", Description: "theme update", Actor: "ci"},
			{Client: "beta", At: t0.Add(-time.Minute), Version: "v9"},
		} {
			if err := tx.RecordDeploy(ctx, d); err != nil {
				return err
			}
		}
		got, err := tx.Deploys(ctx, "acme", t0.Add(-time.Hour))
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Version != "v2" || got[0].Description != "theme update" || got[0].Actor != "ci" || !got[0].At.Equal(t0.Add(-10*time.Minute)) {
			t.Errorf("Deploys(acme, last hour) = %+v", got)
		}
		all, err := tx.Deploys(ctx, "acme", time.Time{})
		if err != nil {
			return err
		}
		if len(all) != 2 || all[0].Version != "v2" {
			t.Errorf("Deploys(acme) = %+v, want v2 then v1", all)
		}
		// The fast path answers as OpenClients and Deploys do, here inside the transaction
		// that recorded the deploys and opened an incident (queued writes are read back).
		if at, ok := tx.(store.AssessTx); ok {
			if err := tx.CreateIncident(ctx, newIncident("i1", `client="beta",site="x"`, "beta", t0)); err != nil {
				return err
			}
			clients, deploys, err := at.OpenClientsAndDeploys(ctx, "acme", t0.Add(-time.Hour))
			if err != nil {
				return err
			}
			if !slices.Equal(clients, []string{"beta"}) || len(deploys) != 1 || deploys[0].Version != "v2" {
				t.Errorf("OpenClientsAndDeploys(acme, last hour) = %v, %+v; want [beta], v2", clients, deploys)
			}
		}
		return nil
	})
}

// testNoticeOrder: notices come back in enqueue order even with equal timestamps and IDs
// that sort the other way (IDs are random).
func testNoticeOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		return tx.EnqueueNotices(ctx,
			store.Notice{ID: "zz", IncidentID: "i1", Channel: "team", CreatedAt: t0},
			store.Notice{ID: "mm", IncidentID: "i1", Channel: "team", CreatedAt: t0})
	})
	update(t, s, func(tx store.Tx) error {
		return tx.EnqueueNotices(ctx, store.Notice{ID: "aa", IncidentID: "i1", Channel: "team", CreatedAt: t0})
	})
	ns, err := s.Notices(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	if fmt.Sprint(ids) != "[zz mm aa]" {
		t.Fatalf("notices in order %v, want enqueue order [zz mm aa]", ids)
	}
}
