package postmortem

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func entry(d time.Duration, actor, kind, text string) store.TimelineEntry {
	return store.TimelineEntry{IncidentID: "inc1", At: at(d), Actor: actor, Kind: kind, Text: text}
}

// resolvedInput is a full HTTP outage: detected after 1m, acknowledged, two client notices,
// recovered and resolved, with a responder's root cause and prevention item.
func resolvedInput() Input {
	inc := &store.Incident{
		ID: "inc1", Client: "acme", Sites: []string{"shop"}, FailureType: "http", Severity: "critical",
		State: store.StateResolved, Owner: "alice", RootCause: "Database connection pool exhausted",
		Assessment: store.Assessment{Owner: "alice"},
		StartedAt:  at(0), DetectedAt: at(time.Minute), AcknowledgedAt: at(4 * time.Minute), AcknowledgedBy: "alice",
		FirstNoticeAt: at(6 * time.Minute), RecoveredAt: at(41 * time.Minute), ResolvedAt: at(51 * time.Minute),
	}
	return Input{
		Incident: inc,
		Timeline: []store.TimelineEntry{
			entry(time.Minute, "alertmanager", "opened", "Opened: SiteDown firing (failure type http, severity critical)"),
			entry(time.Minute, "system", "assessed", "Assessment: sites shop; owner: alice"),
			entry(4*time.Minute, "alice", "acknowledged", "Acknowledged by alice"),
			entry(5*time.Minute, "alice", "action", "Restarted the app servers"),
			entry(6*time.Minute, "system", "client_notice", "First client notice sent (status: investigating)"),
			entry(20*time.Minute, "alice", "root_cause", "Root cause: Database connection pool exhausted"),
			entry(36*time.Minute, "system", "client_notice", "Client update sent (status: identified)"),
			entry(41*time.Minute, "system", "recovered", "All alerts resolved: monitoring for 10m0s before resolving"),
			entry(51*time.Minute, "system", "resolved", "Resolved: no failure for 10m0s"),
			entry(2*time.Hour, "bob", KindSummary, "The shop answered 503 for 41 minutes | pool too small."),
			entry(2*time.Hour, "bob", KindPrevention, "Alert on pool saturation"),
		},
		Notices: []store.Notice{
			{Audience: "client", Status: store.NoticeSent}, {Audience: "client", Status: store.NoticeSent},
			{Audience: "client", Status: store.NoticeFailed}, {Audience: "team", Status: store.NoticeSent},
		},
		Runbook:      config.DefaultRunbooks()["http"],
		Availability: &Availability{During: map[string]float64{"shop": 0.1234}, Days30: map[string]float64{"shop": 0.99905}},
	}
}

func TestMarkdownGolden(t *testing.T) {
	published := resolvedInput()
	published.Timeline = append(published.Timeline, entry(3*time.Hour, "bob", KindPublished, "Post-mortem published"))

	open := resolvedInput()
	open.Incident.State, open.Incident.RootCause = store.StateInvestigating, ""
	open.Incident.AcknowledgedAt, open.Incident.FirstNoticeAt, open.Incident.RecoveredAt, open.Incident.ResolvedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	open.Timeline = open.Timeline[:2]
	open.Availability = nil
	open.Runbook = config.DefaultRunbooks()["ssl"]
	open.Incident.FailureType = "ssl"

	drill := resolvedInput()
	drill.Incident.Drill = true
	drill.Incident.FirstNoticeAt = time.Time{}
	drill.Notices = nil

	for _, tc := range []struct {
		name string
		in   Input
		now  time.Time
	}{
		{"resolved_draft", resolvedInput(), at(3 * time.Hour)},
		{"resolved_overdue", resolvedInput(), at(26 * time.Hour)},
		{"published", published, at(30 * time.Hour)},
		{"open_suspected_cause", open, at(10 * time.Minute)},
		{"drill", drill, at(3 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Draft(tc.in).Markdown(tc.now)
			golden := filepath.Join("testdata", tc.name+".md")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("markdown differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

func TestDraftMeasures(t *testing.T) {
	r := Draft(resolvedInput())
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"detect", r.TimeToDetect, time.Minute},
		{"acknowledge", r.TimeToAcknowledge, 3 * time.Minute},
		{"first notice", r.TimeToFirstNotice, 5 * time.Minute},
		{"recover", r.TimeToRecover, 41 * time.Minute},
	} {
		if tc.got != tc.want {
			t.Errorf("time to %s = %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	if r.Notices != 2 {
		t.Errorf("client notices sent = %d, want 2 (failed and team notices do not count)", r.Notices)
	}
	if r.RootCauseSuspected || r.RootCause != "Database connection pool exhausted" {
		t.Errorf("root cause = %q suspected=%v, want the responder's", r.RootCause, r.RootCauseSuspected)
	}
	for _, e := range r.ResponseLog {
		if IsEditKind(e.Kind) {
			t.Errorf("response log has the post-mortem edit %q", e.Kind)
		}
	}
	if want := at(51*time.Minute + DueAfter); !r.DueAt.Equal(want) {
		t.Errorf("due %s, want %s", r.DueAt, want)
	}
	if r.Overdue(r.DueAt) || !r.Overdue(r.DueAt.Add(time.Second)) {
		t.Error("overdue should start right after the due time")
	}
}

// With Prometheus' probe history, the outage begins at the first failed probe, before the
// alert fired, and the times to detect and to recover count from there.
func TestDraftMeasuresFromFirstFailedProbe(t *testing.T) {
	in := resolvedInput()
	in.Availability.FirstFailure = at(-45 * time.Second)
	r := Draft(in)
	if r.TimeToDetect != time.Minute+45*time.Second || r.TimeToRecover != 41*time.Minute+45*time.Second {
		t.Errorf("time to detect %s, to recover %s; want 1m45s and 41m45s", r.TimeToDetect, r.TimeToRecover)
	}
	if len(r.Milestones) < 2 || !r.Milestones[0].At.Equal(at(-45*time.Second)) || r.Milestones[1].What != "Alert fired" {
		t.Errorf("milestones begin %+v, want the first failed probe, then the alert", r.Milestones[:min(2, len(r.Milestones))])
	}
	// A first failure after the alert (a different run of failures) changes nothing.
	in.Availability.FirstFailure = at(time.Minute)
	if r := Draft(in); r.TimeToDetect != time.Minute {
		t.Errorf("time to detect = %s, want 1m from the alert", r.TimeToDetect)
	}
}

func TestPostmortemRootCauseEditWins(t *testing.T) {
	in := resolvedInput()
	in.Timeline = append(in.Timeline, entry(3*time.Hour, "carol", KindRootCause, "A slow query held connections"))
	r := Draft(in)
	if r.RootCause != "A slow query held connections" || r.RootCauseSuspected {
		t.Errorf("root cause = %q, want the post-mortem edit", r.RootCause)
	}
	md := r.Markdown(at(3 * time.Hour))
	if !strings.Contains(md, "- [ ] Alert on pool saturation (added by bob)") {
		t.Errorf("responder's prevention item missing:\n%s", md)
	}
}
