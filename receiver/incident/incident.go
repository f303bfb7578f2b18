// Package incident is the incident lifecycle as a pure state machine: no I/O, no clock, no
// randomness of its own. Apply takes the current incident and one event and returns the new
// incident, the timeline entries to append, the notices to enqueue and the timers to set or
// cancel. The caller (receiver/lifecycle) writes all of it in one store transaction.
//
// States follow the status page: investigating -> identified (root cause set) -> monitoring
// (all alerts resolved) -> resolved (quiet window passed, or by hand). A firing alert in
// monitoring re-opens the incident; after resolved, a new incident opens.
package incident

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/store"
)

var (
	// ErrResolved: the action needs an open incident.
	ErrResolved = errors.New("incident is resolved")
	// ErrInvalid: the event's input is wrong (missing text, unknown note kind).
	ErrInvalid = errors.New("invalid input")
)

// Settings are the lifecycle's knobs, from the config.
type Settings struct {
	FirstNoticeDelay   time.Duration
	UpdateInterval     time.Duration
	ResolveQuietWindow time.Duration
	// EscalationTimeouts[i] is how long level i waits for an acknowledgement before level
	// i+1 is paged; the last level is never escalated further.
	EscalationTimeouts []time.Duration
	// ClientNotices is false when the client has no channels (unknown client, drill): then
	// the team alone is told.
	ClientNotices bool
}

// Facts are the assessment inputs the caller looked up (the machine does no I/O).
type Facts struct {
	Owner         string // on call at level 0 now
	OtherClients  []string
	RecentDeploys []store.Deploy
	Runbook       string
}

// Event is one input of the machine.
type Event interface{ actor() string }

// AlertsReceived carries the fresh (deduplicated) alerts of one incident key.
type AlertsReceived struct {
	Key       string
	KeyLabels map[string]string
	Alerts    []store.Alert
	Facts     Facts // used only when the event opens a new incident
}

// Acknowledge: a responder has seen it.
type Acknowledge struct{ Actor string }

// Assign sets the owner.
type Assign struct{ Actor, Owner string }

// Note kinds: a plain note, an action taken ("what was tried"), the next step.
const (
	NoteKindNote   = "note"
	NoteKindAction = "action"
	NoteKindNext   = "next"
)

// Note appends to the response log.
type Note struct{ Actor, Kind, Text string }

// SetRootCause records the cause (-> identified).
type SetRootCause struct{ Actor, Text string }

// Resolve resolves by hand.
type Resolve struct{ Actor, Text string }

// TimerFired is a durable timer coming due.
type TimerFired struct {
	Kind store.TimerKind
	// NextOwner is the person on call at the next escalation level (escalation timer only).
	NextOwner string
}

func (AlertsReceived) actor() string { return "alertmanager" }
func (e Acknowledge) actor() string  { return e.Actor }
func (e Assign) actor() string       { return e.Actor }
func (e Note) actor() string         { return e.Actor }
func (e SetRootCause) actor() string { return e.Actor }
func (e Resolve) actor() string      { return e.Actor }
func (TimerFired) actor() string     { return "system" }

// Notice is a message to enqueue; the caller renders its text and routes it to channels.
type Notice struct {
	Audience notify.Audience
	Event    notify.Event
}

// Decision is everything Apply wants done.
type Decision struct {
	Incident     *store.Incident // nil when nothing changed and there is no incident
	Created      bool
	Changed      bool
	Timeline     []store.TimelineEntry
	Notices      []Notice
	SetTimers    []store.Timer
	CancelTimers []store.TimerKind // of Incident.ID; all kinds when CancelAll
	CancelAll    bool
}

type machine struct {
	s   Settings
	now time.Time
	inc *store.Incident
	d   Decision
}

func (m *machine) log(actor, kind, format string, args ...any) {
	m.d.Timeline = append(m.d.Timeline, store.TimelineEntry{
		IncidentID: m.inc.ID, At: m.now, Actor: actor, Kind: kind, Text: fmt.Sprintf(format, args...),
	})
	m.d.Changed = true
}

func (m *machine) notice(a notify.Audience, e notify.Event) {
	m.d.Notices = append(m.d.Notices, Notice{Audience: a, Event: e})
}

func (m *machine) timer(k store.TimerKind, due time.Time) {
	m.d.SetTimers = append(m.d.SetTimers, store.Timer{Subject: m.inc.ID, Kind: k, DueAt: due})
}

// Apply runs one event. cur is the incident (a copy is changed; cur is left alone), or nil
// for AlertsReceived when the key has no open incident. newID makes the ID of a new incident.
func Apply(cur *store.Incident, ev Event, now time.Time, s Settings, newID func() string) (Decision, error) {
	m := &machine{s: s, now: now}
	if cur != nil {
		c := *cur
		c.Alerts = slices.Clone(cur.Alerts)
		c.Sites = slices.Clone(cur.Sites)
		m.inc = &c
	}
	if a, ok := ev.(AlertsReceived); ok {
		if m.inc == nil {
			m.open(a, newID())
		} else {
			m.alerts(a)
		}
	} else {
		if m.inc == nil {
			return Decision{}, fmt.Errorf("event %T needs an incident", ev)
		}
		if err := m.apply(ev); err != nil {
			return Decision{}, err
		}
	}
	if m.d.Changed {
		m.inc.UpdatedAt = now
	}
	m.d.Incident = m.inc
	return m.d, nil
}

var severityRank = map[string]int{"info": 1, "warning": 2, "critical": 3}

// summarise recomputes severity, sites and failure type from the alerts.
func (m *machine) summarise() {
	for _, a := range m.inc.Alerts {
		if site := a.Labels["site"]; site != "" && !slices.Contains(m.inc.Sites, site) {
			m.inc.Sites = append(m.inc.Sites, site)
		}
		if a.Status != "firing" {
			continue
		}
		if sev := a.Labels["severity"]; severityRank[sev] > severityRank[m.inc.Severity] {
			m.inc.Severity = sev
		}
		if m.inc.FailureType == "" {
			m.inc.FailureType = a.Labels["failure_type"]
		}
		if m.inc.StartedAt.IsZero() || a.StartsAt.Before(m.inc.StartedAt) {
			m.inc.StartedAt = a.StartsAt
		}
	}
	slices.Sort(m.inc.Sites)
}

func alertName(a store.Alert) string {
	if n := a.Labels["alertname"]; n != "" {
		return n
	}
	return "alert " + a.Fingerprint
}

func (m *machine) open(a AlertsReceived, id string) {
	var firing []store.Alert
	for _, al := range a.Alerts {
		if al.Status == "firing" {
			firing = append(firing, al)
		}
	}
	if len(firing) == 0 {
		return // resolved alerts of an incident we never opened (or already resolved): nothing to do
	}
	m.inc = &store.Incident{
		ID: id, Key: a.Key, Client: a.KeyLabels["client"], Labels: a.KeyLabels,
		State: store.StateInvestigating, Alerts: firing, DetectedAt: m.now, Owner: a.Facts.Owner,
	}
	m.summarise()
	m.inc.Assessment = store.Assessment{
		Sites: m.inc.Sites, FailureType: m.inc.FailureType, OtherClients: a.Facts.OtherClients,
		RecentDeploys: a.Facts.RecentDeploys, Owner: a.Facts.Owner, Runbook: a.Facts.Runbook,
	}
	m.d.Created = true
	names := make([]string, 0, len(firing))
	for _, al := range firing {
		names = append(names, alertName(al))
	}
	m.log("alertmanager", "opened", "Opened: %s firing (failure type %s, severity %s)",
		strings.Join(names, ", "), orNone(m.inc.FailureType), orNone(m.inc.Severity))
	m.log("system", "assessed", "Assessment: sites %s; failure type %s; other clients affected: %s; recent deploys: %d; owner: %s",
		orNone(strings.Join(m.inc.Sites, ", ")), orNone(m.inc.FailureType), orNone(strings.Join(a.Facts.OtherClients, ", ")),
		len(a.Facts.RecentDeploys), orNone(a.Facts.Owner))
	m.notice(notify.AudienceTeam, notify.EventIncidentOpened)
	if m.s.ClientNotices {
		m.timer(store.TimerFirstNotice, m.now.Add(m.s.FirstNoticeDelay))
	}
	if len(m.s.EscalationTimeouts) > 1 {
		m.timer(store.TimerEscalation, m.now.Add(m.s.EscalationTimeouts[0]))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// alerts merges fresh alerts into an open incident. An alert event older than what the
// incident knows for that fingerprint (out-of-order delivery) is ignored.
func (m *machine) alerts(a AlertsReceived) {
	for _, al := range a.Alerts {
		i := slices.IndexFunc(m.inc.Alerts, func(x store.Alert) bool { return x.Fingerprint == al.Fingerprint })
		switch {
		case i < 0 && al.Status != "firing":
			continue // resolved alert that never joined this incident
		case i < 0:
			m.inc.Alerts = append(m.inc.Alerts, al)
		case al.StartsAt.Before(m.inc.Alerts[i].StartsAt):
			continue // stale
		case al.StartsAt.Equal(m.inc.Alerts[i].StartsAt) && al.Status == m.inc.Alerts[i].Status:
			continue
		default:
			m.inc.Alerts[i] = al
		}
		m.log("alertmanager", "alert", "%s %s", alertName(al), al.Status)
	}
	m.summarise()
	firing := slices.ContainsFunc(m.inc.Alerts, func(x store.Alert) bool { return x.Status == "firing" })
	switch {
	case firing && m.inc.State == store.StateMonitoring:
		m.inc.State = store.StateInvestigating
		if m.inc.RootCause != "" {
			m.inc.State = store.StateIdentified
		}
		m.inc.RecoveredAt = time.Time{}
		m.d.CancelTimers = append(m.d.CancelTimers, store.TimerResolve)
		m.log("system", "reopened", "Failing again inside the resolution window: back to %s", m.inc.State)
		m.notice(notify.AudienceTeam, notify.EventIncidentReopened)
		if m.s.ClientNotices && m.inc.FirstNoticeAt.IsZero() {
			// The first notice was skipped because it had recovered; keep its original time
			// if that is still ahead.
			m.timer(store.TimerFirstNotice, latest(m.now, m.inc.DetectedAt.Add(m.s.FirstNoticeDelay)))
		}
	case !firing && (m.inc.State == store.StateInvestigating || m.inc.State == store.StateIdentified):
		m.inc.State = store.StateMonitoring
		m.inc.RecoveredAt = m.now
		m.timer(store.TimerResolve, m.now.Add(m.s.ResolveQuietWindow))
		m.log("system", "recovered", "All alerts resolved: monitoring for %s before resolving", m.s.ResolveQuietWindow)
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (m *machine) apply(ev Event) error {
	if !m.inc.Open() {
		if _, ok := ev.(TimerFired); ok {
			return nil // a timer that outlived the incident: nothing to do
		}
		if _, ok := ev.(Note); !ok {
			return ErrResolved
		}
	}
	switch e := ev.(type) {
	case Acknowledge:
		if !m.inc.AcknowledgedAt.IsZero() {
			return nil
		}
		m.inc.AcknowledgedAt, m.inc.AcknowledgedBy = m.now, e.Actor
		if m.inc.Owner == "" {
			m.inc.Owner = e.Actor
		}
		m.d.CancelTimers = append(m.d.CancelTimers, store.TimerEscalation)
		m.log(e.Actor, "acknowledged", "Acknowledged by %s", e.Actor)
	case Assign:
		if e.Owner == "" {
			return fmt.Errorf("%w: owner is required", ErrInvalid)
		}
		if e.Owner == m.inc.Owner {
			return nil
		}
		m.inc.Owner = e.Owner
		m.log(e.Actor, "assigned", "Owner set to %s", e.Owner)
	case Note:
		if strings.TrimSpace(e.Text) == "" {
			return fmt.Errorf("%w: text is required", ErrInvalid)
		}
		switch e.Kind {
		case "", NoteKindNote, NoteKindAction, NoteKindNext:
		default:
			return fmt.Errorf("%w: kind must be note, action or next, got %q", ErrInvalid, e.Kind)
		}
		m.log(e.Actor, cmpOr(e.Kind, NoteKindNote), "%s", e.Text)
	case SetRootCause:
		if strings.TrimSpace(e.Text) == "" {
			return fmt.Errorf("%w: text is required", ErrInvalid)
		}
		m.inc.RootCause = e.Text
		if m.inc.State == store.StateInvestigating {
			m.inc.State = store.StateIdentified
		}
		m.log(e.Actor, "root_cause", "Root cause: %s", e.Text)
	case Resolve:
		m.resolve(e.Actor, cmpOr(e.Text, "Resolved by "+e.Actor))
	case TimerFired:
		m.timerFired(e)
	default:
		return fmt.Errorf("unknown event %T", ev)
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (m *machine) resolve(actor, text string) {
	m.inc.State = store.StateResolved
	m.inc.ResolvedAt = m.now
	if m.inc.RecoveredAt.IsZero() {
		m.inc.RecoveredAt = m.now
	}
	m.d.CancelAll = true
	m.log(actor, "resolved", "%s", text)
	m.notice(notify.AudienceTeam, notify.EventIncidentResolved)
	if m.s.ClientNotices && !m.inc.FirstNoticeAt.IsZero() {
		m.notice(notify.AudienceClient, notify.EventClientResolved)
	}
}

func (m *machine) timerFired(e TimerFired) {
	switch e.Kind {
	case store.TimerFirstNotice:
		if !m.inc.FirstNoticeAt.IsZero() || !m.s.ClientNotices {
			return
		}
		if m.inc.State == store.StateMonitoring {
			m.log("system", "notice_skipped", "Client's first notice skipped: the site recovered before it was due")
			return
		}
		m.inc.FirstNoticeAt = m.now
		m.notice(notify.AudienceClient, notify.EventClientInitial)
		m.log("system", "client_notice", "First client notice sent (status: investigating)")
		m.timer(store.TimerUpdate, m.now.Add(m.s.UpdateInterval))
	case store.TimerUpdate:
		if m.inc.FirstNoticeAt.IsZero() || !m.s.ClientNotices {
			return
		}
		m.notice(notify.AudienceClient, notify.EventClientUpdate)
		m.log("system", "client_notice", "Client update sent (status: %s)", m.inc.State)
		m.timer(store.TimerUpdate, m.now.Add(m.s.UpdateInterval))
	case store.TimerEscalation:
		if !m.inc.AcknowledgedAt.IsZero() {
			return
		}
		m.inc.EscalationLevel++
		if e.NextOwner != "" {
			m.inc.Owner = e.NextOwner
		}
		m.notice(notify.AudienceTeam, notify.EventIncidentEscalated)
		m.log("system", "escalated", "Not acknowledged in time: escalated to level %d (%s)", m.inc.EscalationLevel+1, orNone(e.NextOwner))
		if next := m.inc.EscalationLevel; next < len(m.s.EscalationTimeouts)-1 {
			m.timer(store.TimerEscalation, m.now.Add(m.s.EscalationTimeouts[next]))
		}
	case store.TimerResolve:
		if m.inc.State != store.StateMonitoring {
			return
		}
		m.resolve("system", fmt.Sprintf("Resolved: no failure for %s", m.s.ResolveQuietWindow))
	}
}
