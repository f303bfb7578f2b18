package lifecycle_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/lifecycle"
	"github.com/siteward/siteward/receiver/outbox"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/sqlite"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const cfgYAML = `
channels:
  - {name: team, log: {}}
  - {name: acme-mail, log: {}}
team: {channels: [team]}
clients:
  - name: acme
    channels: [acme-mail]
oncall:
  rotations:
    - {name: primary, members: [alice]}
    - {name: backup, members: [bob]}
  escalation:
    - {rotation: primary, timeout: 10m}
    - {rotation: backup}
timers: {first_notice_delay: 5m, update_interval: 30m, resolve_quiet_window: 10m}
`

type fixture struct {
	t      *testing.T
	store  store.Store
	svc    *lifecycle.Service
	timers *outbox.Timers
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	cfg, err := config.Parse([]byte(cfgYAML), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{t: t, store: s, now: t0}
	now := func() time.Time { return f.now }
	f.svc = lifecycle.New(lifecycle.Options{Store: s, Config: cfg, Logger: slog.New(slog.DiscardHandler), ExternalURL: "http://rx", Now: now})
	f.timers = &outbox.Timers{Store: s, Owner: "test", Lease: time.Minute, Fire: f.svc.FireTimer, Logger: slog.New(slog.DiscardHandler), Now: now}
	return f
}

// advance moves the clock and fires what came due.
func (f *fixture) advance(d time.Duration) {
	f.now = f.now.Add(d)
	for f.timers.RunOnce(context.Background()) > 0 {
	}
}

func (f *fixture) notices(id string) []store.Notice {
	f.t.Helper()
	ns, err := f.store.Notices(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return ns
}

func events(ns []store.Notice) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Channel+":"+n.Event)
	}
	return strings.Join(out, ",")
}

func alert(status string, startsAt time.Time) store.Alert {
	return store.Alert{Fingerprint: "fp-shop", Status: status, StartsAt: startsAt, Labels: map[string]string{
		"alertname": "SiteDown", "client": "acme", "site": "shop", "failure_type": "http", "severity": "critical"}}
}

// Two clients' incidents opened at the same instant do not see each other's incident, but each
// carries the rules' SitesDownAcrossClients alert: the team is told it is not isolated.
func TestTeamNoticeNotIsolatedWhenSitesDownAcrossClients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		alerts []store.Alert
		want   string
	}{
		{"SiteDown only", []store.Alert{alert("firing", t0)}, "Isolated? Yes"},
		{"with SitesDownAcrossClients", []store.Alert{alert("firing", t0), {Fingerprint: "fp-across", Status: "firing", StartsAt: t0,
			Labels: map[string]string{"alertname": "SitesDownAcrossClients", "client": "acme", "site": "shop", "failure_type": "http", "severity": "critical"}}},
			"Isolated? No: SitesDownAcrossClients is firing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			res, err := f.svc.Ingest(context.Background(), tc.alerts)
			if err != nil || len(res.Incidents) != 1 {
				t.Fatalf("Ingest = %+v, %v", res, err)
			}
			ns := f.notices(res.Incidents[0])
			if len(ns) != 1 || !strings.Contains(ns[0].Text, tc.want) {
				t.Fatalf("team notice does not say %q: %+v", tc.want, ns)
			}
		})
	}
}

func TestOutageEndToEnd(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.RecordDeploy(ctx, store.Deploy{Client: "acme", Version: "v42", Description: "new theme"}); err != nil {
		t.Fatal(err)
	}
	// Another client is down already: the assessment says it is not isolated.
	if _, err := f.svc.Ingest(ctx, []store.Alert{{Fingerprint: "fp-beta", Status: "firing", StartsAt: t0,
		Labels: map[string]string{"alertname": "SiteDown", "client": "beta", "site": "www"}}}); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Ingest(ctx, []store.Alert{alert("firing", t0.Add(-time.Minute))})
	if err != nil || res.Fresh != 1 || len(res.Incidents) != 1 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	id := res.Incidents[0]
	// The same notification again (repeat_interval, HA peer) changes nothing.
	if again, err := f.svc.Ingest(ctx, []store.Alert{alert("firing", t0.Add(-time.Minute))}); err != nil || again.Fresh != 0 || len(again.Incidents) != 0 {
		t.Fatalf("duplicate Ingest = %+v, %v", again, err)
	}
	inc, err := f.store.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	a := inc.Assessment
	if inc.Owner != "alice" || strings.Join(a.OtherClients, ",") != "beta" || len(a.RecentDeploys) != 1 || a.RecentDeploys[0].Version != "v42" ||
		a.Runbook != "HTTP errors (e.g. 503)" {
		t.Fatalf("assessment = %+v (owner %q)", a, inc.Owner)
	}
	ns := f.notices(id)
	if events(ns) != "team:incident.opened" {
		t.Fatalf("notices at open = %s", events(ns))
	}
	for _, want := range []string{"Isolated? No", "beta", "v42", "Owner: alice", "Runbook: HTTP errors", "- [ ] Restart the failing services", "http://rx/incidents/" + id} {
		if !strings.Contains(ns[0].Text, want) {
			t.Errorf("team notice lacks %q:\n%s", want, ns[0].Text)
		}
	}

	// Not acknowledged within 10 minutes: but first, the client's first notice at 5 minutes.
	f.advance(5 * time.Minute)
	ns = f.notices(id)
	if events(ns) != "team:incident.opened,acme-mail:notice.initial" {
		t.Fatalf("notices after 5m = %s", events(ns))
	}
	if !strings.Contains(ns[1].Text, "We have detected an issue affecting your website (shop) and are currently investigating. We will provide an update within 30 minutes.") {
		t.Errorf("initial notice text = %q", ns[1].Text)
	}
	f.advance(5 * time.Minute)
	inc, _ = f.store.Incident(ctx, id)
	if inc.Owner != "bob" || inc.EscalationLevel != 1 || !strings.HasSuffix(events(f.notices(id)), "team:incident.escalated") {
		t.Fatalf("after escalation: owner %q level %d notices %s", inc.Owner, inc.EscalationLevel, events(f.notices(id)))
	}
	for _, ev := range []incident.Event{
		incident.Acknowledge{Actor: "bob"},
		incident.Note{Actor: "bob", Kind: incident.NoteKindAction, Text: "restarted php-fpm"},
		incident.Note{Actor: "bob", Kind: incident.NoteKindNext, Text: "scale the database"},
		incident.SetRootCause{Actor: "bob", Text: "database connections exhausted"},
	} {
		if _, err := f.svc.Act(ctx, id, ev); err != nil {
			t.Fatal(err)
		}
	}
	f.advance(25 * time.Minute) // 35m: first update
	ns = f.notices(id)
	last := ns[len(ns)-1]
	if last.Event != "notice.update" || !strings.Contains(last.Text, "restarted php-fpm") || !strings.Contains(last.Text, "scale the database") ||
		!strings.Contains(last.Text, "identified the cause") {
		t.Fatalf("update notice = %s: %q", last.Event, last.Text)
	}
	// Recovery, then the quiet window resolves it with a resolution notice.
	if _, err := f.svc.Ingest(ctx, []store.Alert{alert("resolved", t0.Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	f.advance(10 * time.Minute)
	inc, _ = f.store.Incident(ctx, id)
	if inc.State != store.StateResolved {
		t.Fatalf("state = %s, want resolved", inc.State)
	}
	ns = f.notices(id)
	if got := events(ns[len(ns)-2:]); got != "team:incident.resolved,acme-mail:notice.resolved" {
		t.Fatalf("last notices = %s", got)
	}
	// No timer survives the resolution.
	f.advance(2 * time.Hour)
	if n := len(f.notices(id)); n != len(ns) {
		t.Fatalf("%d notices after resolution, want %d", n, len(ns))
	}
	tl, _ := f.store.Timeline(ctx, id)
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	want := "opened,assessed,client_notice,escalated,acknowledged,action,next,root_cause,client_notice,alert,recovered,resolved"
	if strings.Join(kinds, ",") != want {
		t.Fatalf("timeline kinds = %s\nwant            %s", strings.Join(kinds, ","), want)
	}
}

func TestWatchdog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	f.advance(9 * time.Minute)
	if err := f.svc.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	f.advance(9 * time.Minute)
	if ns := f.notices(""); len(ns) != 0 {
		t.Fatalf("watchdog notice while heartbeats arrive: %v", events(ns))
	}
	f.advance(2 * time.Minute)
	f.advance(time.Hour)
	ns := f.notices("")
	if events(ns) != "team:watchdog.missing" || !strings.Contains(ns[0].Text, "Watchdog") {
		t.Fatalf("after silence: %s", events(ns))
	}
}

func TestKeyOf(t *testing.T) {
	key, kl := lifecycle.KeyOf([]string{"client", "site"}, map[string]string{"client": "acme", "site": "shop", "x": "y"})
	if key != `client="acme",site="shop"` || len(kl) != 2 {
		t.Fatalf("KeyOf = %q, %v", key, kl)
	}
}
