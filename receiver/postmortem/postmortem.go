// Package postmortem drafts the playbook's Report: a post-mortem with five sections
// (Timeline, Impact, Root cause, Response log, Prevention) built from an incident, its
// timeline, its notices and the runbook of its failure type, rendered as Markdown.
//
// Responders' edits (summary, root cause, prevention items, publication) are stored as
// timeline entries of the kinds below: the timeline is append-only, so every edit stays in
// the record and the latest one wins, and no store schema change is needed.
package postmortem

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/store"
)

// Timeline entry kinds of post-mortem edits. They are left out of the response log.
const (
	KindSummary    = "postmortem_summary"
	KindRootCause  = "postmortem_root_cause"
	KindPrevention = "postmortem_prevention"
	KindPublished  = "postmortem_published"
	KindReminder   = "postmortem_reminder"
)

// DueAfter is the playbook's deadline: the post-mortem is written within 24 hours of the
// resolution.
const DueAfter = 24 * time.Hour

// IsEditKind reports whether a timeline kind belongs to the post-mortem, not the response.
func IsEditKind(kind string) bool { return strings.HasPrefix(kind, "postmortem_") }

// Availability is the share of successful probes (0..1) per site, from Prometheus.
type Availability struct {
	During map[string]float64 // between the start and the recovery
	Days30 map[string]float64 // the 30 days up to the resolution
	// FirstFailure is when the run of failed probes that fired the alert began; zero when
	// unknown. Alerts carry the time they fired, a `for` later than the outage began.
	FirstFailure time.Time
}

// Input is everything a draft is made of.
type Input struct {
	Incident *store.Incident
	Timeline []store.TimelineEntry
	Notices  []store.Notice
	Runbook  config.Runbook
	// Availability is nil when Prometheus is not configured or did not answer.
	Availability *Availability
}

// Milestone is one line of the Timeline section.
type Milestone struct {
	At   time.Time
	What string
}

// PreventionItem is one prevention measure; Actor is empty for the runbook's items.
type PreventionItem struct {
	Text  string
	Actor string
}

// Report is a drafted post-mortem.
type Report struct {
	IncidentID  string
	Client      string
	Sites       []string
	FailureType string
	Severity    string
	Drill       bool
	Summary     string

	Milestones []Milestone
	// Durations of the playbook's measures; zero when the moment never came.
	TimeToDetect, TimeToAcknowledge, TimeToFirstNotice, TimeToRecover time.Duration
	Duration                                                          time.Duration // start to recovery (or to now while open)

	Availability *Availability
	Notices      int // client notices sent

	RootCause          string
	RootCauseSuspected bool // no responder set one: the runbook's likely cause

	ResponseLog []store.TimelineEntry
	Prevention  []PreventionItem

	Resolved    bool
	DueAt       time.Time // zero while the incident is open
	Published   bool
	PublishedAt time.Time
	PublishedBy string
}

// Overdue reports whether the post-mortem is past due and not published at now.
func (r *Report) Overdue(now time.Time) bool {
	return r.Resolved && !r.Published && now.After(r.DueAt)
}

// Draft builds the report.
func Draft(in Input) *Report {
	inc := in.Incident
	r := &Report{
		IncidentID: inc.ID, Client: inc.Client, Sites: slices.Clone(inc.Sites), FailureType: inc.FailureType,
		Severity: inc.Severity, Drill: inc.Drill, Availability: in.Availability, Resolved: !inc.Open(),
		RootCause: inc.RootCause,
	}
	if r.Resolved {
		r.DueAt = inc.ResolvedAt.Add(DueAfter)
	}
	for _, p := range in.Runbook.Prevention {
		r.Prevention = append(r.Prevention, PreventionItem{Text: p})
	}
	for _, e := range in.Timeline {
		switch e.Kind {
		case KindSummary:
			r.Summary = e.Text
		case KindRootCause:
			r.RootCause = e.Text
		case KindPrevention:
			r.Prevention = append(r.Prevention, PreventionItem{Text: e.Text, Actor: e.Actor})
		case KindPublished:
			r.Published, r.PublishedAt, r.PublishedBy = true, e.At, e.Actor
		case KindReminder:
		default:
			r.ResponseLog = append(r.ResponseLog, e)
		}
	}
	if r.RootCause == "" {
		r.RootCause, r.RootCauseSuspected = in.Runbook.LikelyCause, true
	}
	for _, n := range in.Notices {
		if n.Audience == "client" && n.Status == store.NoticeSent {
			r.Notices++
		}
	}
	began := inc.StartedAt
	if a := in.Availability; a != nil && !a.FirstFailure.IsZero() && (began.IsZero() || a.FirstFailure.Before(began)) {
		began = a.FirstFailure
	}
	r.Milestones = milestones(inc, r.ResponseLog, began)
	if !began.IsZero() && !inc.DetectedAt.IsZero() {
		r.TimeToDetect = nonNegative(inc.DetectedAt.Sub(began))
	}
	if !inc.AcknowledgedAt.IsZero() {
		r.TimeToAcknowledge = nonNegative(inc.AcknowledgedAt.Sub(inc.DetectedAt))
	}
	if !inc.FirstNoticeAt.IsZero() {
		r.TimeToFirstNotice = nonNegative(inc.FirstNoticeAt.Sub(inc.DetectedAt))
	}
	if !inc.RecoveredAt.IsZero() {
		r.TimeToRecover = nonNegative(inc.RecoveredAt.Sub(began))
		r.Duration = r.TimeToRecover
	}
	return r
}

func nonNegative(d time.Duration) time.Duration { return max(d, 0) }

// milestones picks the playbook's moments from the incident and its log, in time order;
// began is when the outage began (the first failed probe when Prometheus knows it).
func milestones(inc *store.Incident, log []store.TimelineEntry, began time.Time) []Milestone {
	var ms []Milestone
	add := func(at time.Time, what string) {
		if !at.IsZero() {
			ms = append(ms, Milestone{At: at, What: what})
		}
	}
	if began.Before(inc.StartedAt) {
		add(began, "Started: first failed probe (Prometheus)")
		add(inc.StartedAt, "Alert fired")
	} else {
		add(inc.StartedAt, "Started: first failing probe alert")
	}
	add(inc.DetectedAt, "Detected: incident opened")
	if inc.Assessment.Owner != "" {
		add(inc.DetectedAt, "Owner assigned: "+inc.Assessment.Owner+" (on call)")
	}
	firstNotice := true
	for _, e := range log {
		switch e.Kind {
		case "assigned":
			add(e.At, fmt.Sprintf("Owner assigned: %s", strings.TrimPrefix(e.Text, "Owner set to ")))
		case "acknowledged":
			add(e.At, "Acknowledged by "+e.Actor)
		case "escalated":
			add(e.At, e.Text)
		case "root_cause":
			add(e.At, "Root cause identified")
		case "client_notice":
			if firstNotice {
				add(e.At, "First client notice")
				firstNotice = false
			} else {
				add(e.At, "Client update")
			}
		}
	}
	add(inc.RecoveredAt, "Recovered: all alerts resolved")
	add(inc.ResolvedAt, "Resolved")
	slices.SortStableFunc(ms, func(a, b Milestone) int { return a.At.Compare(b.At) })
	return ms
}
