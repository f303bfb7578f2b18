package incident_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/store"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

var settings = incident.Settings{
	FirstNoticeDelay:   5 * time.Minute,
	UpdateInterval:     30 * time.Minute,
	ResolveQuietWindow: 10 * time.Minute,
	EscalationTimeouts: []time.Duration{10 * time.Minute, 15 * time.Minute},
	ClientNotices:      true,
}

func alert(fp, status, site string, startsAt time.Time) store.Alert {
	return store.Alert{Fingerprint: fp, Status: status, StartsAt: startsAt, Labels: map[string]string{
		"alertname": "SiteDown", "client": "acme", "site": site, "failure_type": "ssl", "severity": "critical",
	}}
}

func received(alerts ...store.Alert) incident.AlertsReceived {
	return incident.AlertsReceived{
		Key: `client="acme",site="shop"`, KeyLabels: map[string]string{"client": "acme", "site": "shop"}, Alerts: alerts,
		Facts: incident.Facts{Owner: "alice", OtherClients: []string{"beta"}, Runbook: "SSL/TLS certificate errors"},
	}
}

// step is one event at a time offset and what must come out.
type step struct {
	at      time.Duration
	ev      incident.Event
	state   store.State // "" means no incident
	notices string      // audience:event, comma separated
	timers  string      // kind@offset set, comma separated
	cancel  string      // kinds cancelled ("*" for all)
	err     error
	check   func(t *testing.T, inc *store.Incident)
}

func run(t *testing.T, s incident.Settings, steps []step) {
	t.Helper()
	var cur *store.Incident
	for i, st := range steps {
		now := t0.Add(st.at)
		d, err := incident.Apply(cur, st.ev, now, s, func() string { return "inc1" })
		if st.err != nil {
			if err == nil || (st.err != errAny && !errors.Is(err, st.err)) {
				t.Fatalf("step %d (%T): err = %v, want %v", i, st.ev, err, st.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d (%T): %v", i, st.ev, err)
		}
		if d.Incident != nil {
			for _, e := range d.Timeline {
				if e.IncidentID != d.Incident.ID || !e.At.Equal(now) || e.Actor == "" || e.Text == "" {
					t.Errorf("step %d: bad timeline entry %+v", i, e)
				}
			}
		}
		var state store.State
		if d.Incident != nil {
			state = d.Incident.State
		}
		if state != st.state {
			t.Fatalf("step %d (%T): state %q, want %q", i, st.ev, state, st.state)
		}
		var ns, ts, cs []string
		for _, n := range d.Notices {
			ns = append(ns, string(n.Audience)+":"+string(n.Event))
		}
		for _, tm := range d.SetTimers {
			ts = append(ts, fmt.Sprintf("%s@%s", tm.Kind, tm.DueAt.Sub(t0)))
		}
		for _, k := range d.CancelTimers {
			cs = append(cs, string(k))
		}
		if d.CancelAll {
			cs = append(cs, "*")
		}
		if got := strings.Join(ns, ","); got != st.notices {
			t.Errorf("step %d (%T): notices %q, want %q", i, st.ev, got, st.notices)
		}
		if got := strings.Join(ts, ","); got != st.timers {
			t.Errorf("step %d (%T): timers %q, want %q", i, st.ev, got, st.timers)
		}
		if got := strings.Join(cs, ","); got != st.cancel {
			t.Errorf("step %d (%T): cancelled %q, want %q", i, st.ev, got, st.cancel)
		}
		if st.check != nil {
			st.check(t, d.Incident)
		}
		cur = d.Incident
	}
}

func TestLifecycle(t *testing.T) {
	fired := t0.Add(-time.Minute)
	cases := []struct {
		name  string
		s     incident.Settings
		steps []step
	}{
		{"full outage: notices, update, recovery, quiet window", settings, []step{
			{at: 0, ev: received(alert("a", "firing", "shop", fired)), state: store.StateInvestigating,
				notices: "team:incident.opened", timers: "first_notice@5m0s,escalation@10m0s",
				check: func(t *testing.T, inc *store.Incident) {
					if inc.ID != "inc1" || inc.Client != "acme" || inc.Owner != "alice" || inc.FailureType != "ssl" ||
						inc.Severity != "critical" || !inc.StartedAt.Equal(fired) || !inc.DetectedAt.Equal(t0) ||
						inc.Assessment.OtherClients[0] != "beta" || strings.Join(inc.Sites, ",") != "shop" {
						t.Errorf("opened incident = %+v", inc)
					}
				}},
			{at: 2 * time.Minute, ev: incident.Acknowledge{Actor: "alice"}, state: store.StateInvestigating, cancel: "escalation",
				check: func(t *testing.T, inc *store.Incident) {
					if inc.AcknowledgedBy != "alice" || !inc.AcknowledgedAt.Equal(t0.Add(2*time.Minute)) {
						t.Errorf("ack = %+v", inc)
					}
				}},
			{at: 3 * time.Minute, ev: incident.Acknowledge{Actor: "bob"}, state: store.StateInvestigating,
				check: func(t *testing.T, inc *store.Incident) {
					if inc.AcknowledgedBy != "alice" {
						t.Error("second acknowledgement overwrote the first")
					}
				}},
			{at: 5 * time.Minute, ev: incident.TimerFired{Kind: store.TimerFirstNotice}, state: store.StateInvestigating,
				notices: "client:notice.initial", timers: "update@35m0s"},
			{at: 20 * time.Minute, ev: incident.SetRootCause{Actor: "alice", Text: "certificate expired"}, state: store.StateIdentified},
			{at: 35 * time.Minute, ev: incident.TimerFired{Kind: store.TimerUpdate}, state: store.StateIdentified,
				notices: "client:notice.update", timers: "update@1h5m0s"},
			{at: 40 * time.Minute, ev: received(alert("a", "resolved", "shop", fired)), state: store.StateMonitoring,
				timers: "resolve@50m0s"},
			{at: 50 * time.Minute, ev: incident.TimerFired{Kind: store.TimerResolve}, state: store.StateResolved,
				notices: "team:incident.resolved,client:notice.resolved", cancel: "*",
				check: func(t *testing.T, inc *store.Incident) {
					if !inc.ResolvedAt.Equal(t0.Add(50*time.Minute)) || !inc.RecoveredAt.Equal(t0.Add(40*time.Minute)) {
						t.Errorf("resolved incident times = %+v", inc)
					}
				}},
			{at: 55 * time.Minute, ev: incident.TimerFired{Kind: store.TimerUpdate}, state: store.StateResolved},
			{at: 56 * time.Minute, ev: incident.Acknowledge{Actor: "bob"}, err: incident.ErrResolved},
		}},
		{"recovers before the first notice: the client is not told", settings, []step{
			{at: 0, ev: received(alert("a", "firing", "shop", fired)), state: store.StateInvestigating,
				notices: "team:incident.opened", timers: "first_notice@5m0s,escalation@10m0s"},
			{at: 2 * time.Minute, ev: received(alert("a", "resolved", "shop", fired)), state: store.StateMonitoring, timers: "resolve@12m0s"},
			{at: 5 * time.Minute, ev: incident.TimerFired{Kind: store.TimerFirstNotice}, state: store.StateMonitoring},
			{at: 12 * time.Minute, ev: incident.TimerFired{Kind: store.TimerResolve}, state: store.StateResolved,
				notices: "team:incident.resolved", cancel: "*"},
		}},
		{"fails again inside the window: re-opens, first notice rescheduled", settings, []step{
			{at: 0, ev: received(alert("a", "firing", "shop", fired)), state: store.StateInvestigating,
				notices: "team:incident.opened", timers: "first_notice@5m0s,escalation@10m0s"},
			{at: time.Minute, ev: received(alert("a", "resolved", "shop", fired)), state: store.StateMonitoring, timers: "resolve@11m0s"},
			{at: 3 * time.Minute, ev: received(alert("a", "firing", "shop", t0.Add(3*time.Minute))), state: store.StateInvestigating,
				notices: "team:incident.reopened", timers: "first_notice@5m0s", cancel: "resolve"},
		}},
		{"out of order: stale resolved of an older occurrence is ignored", settings, []step{
			{at: 0, ev: received(alert("a", "firing", "shop", t0)), state: store.StateInvestigating,
				notices: "team:incident.opened", timers: "first_notice@5m0s,escalation@10m0s"},
			{at: time.Minute, ev: received(alert("a", "resolved", "shop", fired)), state: store.StateInvestigating},
		}},
		{"a second site joins; recovery waits for both", settings, []step{
			{at: 0, ev: received(alert("a", "firing", "shop", fired)), state: store.StateInvestigating,
				notices: "team:incident.opened", timers: "first_notice@5m0s,escalation@10m0s"},
			{at: time.Minute, ev: received(alert("b", "firing", "blog", t0)), state: store.StateInvestigating,
				check: func(t *testing.T, inc *store.Incident) {
					if strings.Join(inc.Sites, ",") != "blog,shop" || len(inc.Alerts) != 2 {
						t.Errorf("sites %v alerts %d", inc.Sites, len(inc.Alerts))
					}
				}},
			{at: 2 * time.Minute, ev: received(alert("a", "resolved", "shop", fired)), state: store.StateInvestigating},
			{at: 3 * time.Minute, ev: received(alert("b", "resolved", "blog", t0)), state: store.StateMonitoring, timers: "resolve@13m0s"},
		}},
		{"resolved alerts alone open nothing", settings, []step{
			{at: 0, ev: received(alert("a", "resolved", "shop", fired)), state: ""},
		}},
		{"escalation when not acknowledged", settings, []step{
			{at: 0, ev: received(alert("a", "firing", "shop", fired)), state: store.StateInvestigating,
				notices: "team:incident.opened", timers: "first_notice@5m0s,escalation@10m0s"},
			{at: 10 * time.Minute, ev: incident.TimerFired{Kind: store.TimerEscalation, NextOwner: "bob"}, state: store.StateInvestigating,
				notices: "team:incident.escalated",
				check: func(t *testing.T, inc *store.Incident) {
					if inc.Owner != "bob" || inc.EscalationLevel != 1 {
						t.Errorf("after escalation: owner %q level %d", inc.Owner, inc.EscalationLevel)
					}
				}},
		}},
		{"unknown client: team only, no client timers", incident.Settings{FirstNoticeDelay: time.Minute, ResolveQuietWindow: time.Minute, EscalationTimeouts: []time.Duration{time.Minute}}, []step{
			{at: 0, ev: received(alert("a", "firing", "shop", fired)), state: store.StateInvestigating, notices: "team:incident.opened"},
			{at: time.Minute, ev: incident.Resolve{Actor: "alice", Text: "fixed by hand"}, state: store.StateResolved,
				notices: "team:incident.resolved", cancel: "*"},
		}},
		{"manual actions", settings, []step{
			{at: 0, ev: received(alert("a", "firing", "shop", fired)), state: store.StateInvestigating,
				notices: "team:incident.opened", timers: "first_notice@5m0s,escalation@10m0s"},
			{at: time.Minute, ev: incident.Assign{Actor: "alice", Owner: "carol"}, state: store.StateInvestigating,
				check: func(t *testing.T, inc *store.Incident) {
					if inc.Owner != "carol" {
						t.Errorf("owner %q", inc.Owner)
					}
				}},
			{at: time.Minute, ev: incident.Note{Actor: "carol", Kind: "action", Text: "restarted nginx"}, state: store.StateInvestigating},
			{at: time.Minute, ev: incident.Note{Actor: "carol", Kind: "rant", Text: "x"}, err: errAny},
			{at: time.Minute, ev: incident.SetRootCause{Actor: "carol"}, err: errAny},
			{at: 2 * time.Minute, ev: incident.Resolve{Actor: "carol"}, state: store.StateResolved,
				notices: "team:incident.resolved", cancel: "*"},
			{at: 3 * time.Minute, ev: incident.Note{Actor: "carol", Text: "post-mortem scheduled"}, state: store.StateResolved},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.s, tc.steps) })
	}
}

// errAny: the step must fail, with any error.
var errAny = errors.New("any error")

func TestNeedsIncident(t *testing.T) {
	if _, err := incident.Apply(nil, incident.Acknowledge{Actor: "x"}, t0, settings, nil); err == nil {
		t.Fatal("acknowledging no incident: no error")
	}
}
