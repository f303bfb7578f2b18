// Package lifecycle runs the incident state machine (receiver/incident) against the store:
// it looks up the assessment facts, applies one event, renders the notices and writes the
// new state, timeline, outbox notices and timers in ONE transaction. The webhook, the API
// and the timer worker all go through it.
package lifecycle

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/oncall"
	"github.com/siteward/siteward/receiver/store"
)

// WatchdogSubject is the timer subject of the watchdog (not an incident).
const WatchdogSubject = "watchdog"

// maxConflictRetries bounds retries of a transaction that lost a race (another replica
// opened the incident first, or changed it meanwhile).
const maxConflictRetries = 5

// Observer is told about lifecycle transitions after they are committed (metrics).
type Observer interface {
	Transition(before, after *store.Incident)
	Heartbeat(at time.Time)
}

// Service is the lifecycle around the store.
type Service struct {
	store       store.Store
	logger      *slog.Logger
	cfg         atomic.Pointer[config.Config]
	externalURL string
	observer    Observer
	now         func() time.Time
	// enqueued is signalled (non-blocking) after notices were committed, so the outbox
	// delivers at once instead of at its next poll.
	enqueued chan struct{}
	// stored are the maintenance windows recorded through the API (see maintenance.go).
	stored atomic.Pointer[[]config.Maintenance]
}

// Options configure a Service.
type Options struct {
	Store       store.Store
	Config      *config.Config
	Logger      *slog.Logger
	ExternalURL string // base of incident links, e.g. http://receiver:9096
	Observer    Observer
	Now         func() time.Time // default time.Now
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, logger: o.Logger, externalURL: strings.TrimSuffix(o.ExternalURL, "/"),
		observer: o.Observer, now: o.Now, enqueued: make(chan struct{}, 1)}
	if s.now == nil {
		s.now = time.Now
	}
	s.cfg.Store(o.Config)
	return s
}

// SetConfig swaps the configuration (reload).
func (s *Service) SetConfig(c *config.Config) { s.cfg.Store(c) }

// Config returns the current configuration.
func (s *Service) Config() *config.Config { return s.cfg.Load() }

// Enqueued is signalled when new notices were committed.
func (s *Service) Enqueued() <-chan struct{} { return s.enqueued }

// Store returns the store (read side of the API).
func (s *Service) Store() store.Store { return s.store }

// NewID returns a random identifier (incidents, notices). Random rather than sequential so
// several replicas never collide.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// KeyOf returns the incident key of labels and the key labels themselves.
func KeyOf(keyLabels []string, labels map[string]string) (string, map[string]string) {
	var sb strings.Builder
	kl := make(map[string]string, len(keyLabels))
	for i, l := range keyLabels {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s=%q", l, labels[l])
		kl[l] = labels[l]
	}
	return sb.String(), kl
}

// update runs fn in a transaction, retrying when a concurrent change won.
func (s *Service) update(ctx context.Context, fn func(tx store.Tx) error) error {
	var err error
	for range maxConflictRetries {
		err = s.store.Update(ctx, fn)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return err
}

// transition is one committed incident change, for the observer.
type transition struct{ before, after *store.Incident }

func (s *Service) committed(ts []transition, notices int) {
	if s.observer != nil {
		for _, t := range ts {
			s.observer.Transition(t.before, t.after)
		}
	}
	if notices > 0 {
		select {
		case s.enqueued <- struct{}{}:
		default:
		}
	}
}

// IngestResult says what a webhook notification did.
type IngestResult struct {
	Fresh     int      // alert events not seen before
	Incidents []string // incidents opened or changed
}

// Ingest records the alerts of one webhook notification. It is idempotent: alert events
// already seen (repeats, the HA peer's copy) change nothing.
func (s *Service) Ingest(ctx context.Context, alerts []store.Alert) (IngestResult, error) {
	cfg := s.cfg.Load()
	now := s.now().UTC()
	events := make([]store.AlertEvent, 0, len(alerts))
	keyLabels := map[string]map[string]string{}
	for _, a := range alerts {
		key, kl := KeyOf(cfg.IncidentKeyLabels, a.Labels)
		keyLabels[key] = kl
		events = append(events, store.AlertEvent{Key: key, Alert: a})
	}
	if sc, ok := s.store.(store.SeenChecker); ok {
		// Repeats (repeat_interval, the HA peer's copy) are most of the traffic: answer
		// them from a reader without taking the writer.
		if seen, err := sc.AllAlertEventsSeen(ctx, events); err == nil && seen {
			return IngestResult{}, nil
		}
	}
	var res IngestResult
	var ts []transition
	var notices int
	err := s.update(ctx, func(tx store.Tx) error {
		res, ts, notices = IngestResult{}, nil, 0
		fresh, err := tx.RecordAlertEvents(ctx, events)
		if err != nil {
			return err
		}
		res.Fresh = len(fresh)
		byKey := map[string][]store.Alert{}
		var keys []string
		for _, ev := range fresh {
			if _, ok := byKey[ev.Key]; !ok {
				keys = append(keys, ev.Key)
			}
			byKey[ev.Key] = append(byKey[ev.Key], ev.Alert)
		}
		slices.Sort(keys)
		for _, key := range keys {
			cur, err := tx.OpenIncidentByKey(ctx, key)
			if err != nil {
				return err
			}
			ev := incident.AlertsReceived{Key: key, KeyLabels: keyLabels[key], Alerts: byKey[key]}
			if cur == nil {
				if ev.Facts, err = s.assess(ctx, tx, cfg, keyLabels[key]["client"], now); err != nil {
					return err
				}
				ev.Facts.Runbook = cfg.Runbook(failureType(byKey[key])).Title
			}
			d, err := incident.Apply(cur, ev, now, s.settings(cfg, keyLabels[key]["client"], keySites(keyLabels[key]), false), NewID)
			if err != nil {
				return err
			}
			n, err := s.persist(ctx, tx, cfg, d, now)
			if err != nil {
				return err
			}
			if d.Incident != nil && d.Changed {
				res.Incidents = append(res.Incidents, d.Incident.ID)
				ts = append(ts, transition{cur, d.Incident})
			}
			notices += n
		}
		return nil
	})
	if err != nil {
		return IngestResult{}, err
	}
	s.committed(ts, notices)
	return res, nil
}

// failureType is the failure_type label of the first firing alert that has one.
func failureType(alerts []store.Alert) string {
	for _, a := range alerts {
		if a.Status == "firing" && a.Labels["failure_type"] != "" {
			return a.Labels["failure_type"]
		}
	}
	return ""
}

// assess answers the checklist for a new incident of client.
func (s *Service) assess(ctx context.Context, tx store.Tx, cfg *config.Config, client string, now time.Time) (incident.Facts, error) {
	f := incident.Facts{Owner: oncall.Owner(&cfg.OnCall, 0, now)}
	var err error
	var clients []string
	since := now.Add(-cfg.Timers.DeployWindow)
	at, both := tx.(store.AssessTx)
	if both {
		if clients, f.RecentDeploys, err = at.OpenClientsAndDeploys(ctx, client, since); err != nil {
			return f, err
		}
	} else if oc, ok := tx.(store.OpenClientsTx); ok {
		if clients, err = oc.OpenClients(ctx); err != nil {
			return f, err
		}
	} else {
		open, err := tx.OpenIncidents(ctx)
		if err != nil {
			return f, err
		}
		for _, o := range open {
			if !o.Drill {
				clients = append(clients, o.Client)
			}
		}
	}
	for _, c := range clients {
		if c != client && !slices.Contains(f.OtherClients, c) {
			f.OtherClients = append(f.OtherClients, c)
		}
	}
	slices.Sort(f.OtherClients)
	if !both {
		if f.RecentDeploys, err = tx.Deploys(ctx, client, since); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (s *Service) settings(cfg *config.Config, client string, sites []string, drill bool) incident.Settings {
	st := incident.Settings{
		FirstNoticeDelay:   cfg.Timers.FirstNoticeDelay,
		UpdateInterval:     cfg.Timers.UpdateInterval,
		ResolveQuietWindow: cfg.Timers.ResolveQuietWindow,
	}
	for _, l := range cfg.OnCall.Escalation {
		st.EscalationTimeouts = append(st.EscalationTimeouts, l.Timeout)
	}
	if c := cfg.Client(client); c != nil && len(c.Channels) > 0 && !drill && !s.InMaintenance(cfg, client, sites, s.now()) {
		st.ClientNotices = true
	}
	return st
}

// Act applies a responder's action or a timer to incident id.
func (s *Service) Act(ctx context.Context, id string, ev incident.Event) (*store.Incident, error) {
	cfg := s.cfg.Load()
	now := s.now().UTC()
	var out *store.Incident
	var ts []transition
	var notices int
	err := s.update(ctx, func(tx store.Tx) error {
		cur, err := tx.Incident(ctx, id)
		if err != nil {
			return err
		}
		d, err := incident.Apply(cur, ev, now, s.settings(cfg, cur.Client, cur.Sites, cur.Drill), NewID)
		if err != nil {
			return err
		}
		if notices, err = s.persist(ctx, tx, cfg, d, now); err != nil {
			return err
		}
		out, ts = d.Incident, []transition{{cur, d.Incident}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.committed(ts, notices)
	return out, nil
}

// FireTimer acts on a claimed timer. A timer moved or cancelled since the claim is skipped.
func (s *Service) FireTimer(ctx context.Context, t store.Timer) error {
	cfg := s.cfg.Load()
	now := s.now().UTC()
	var ts []transition
	var notices int
	err := s.update(ctx, func(tx store.Tx) error {
		ts, notices = nil, 0
		ok, err := tx.TakeTimer(ctx, t)
		if err != nil || !ok {
			return err
		}
		if t.Kind == store.TimerWatchdog {
			notices, err = s.enqueue(ctx, tx, cfg, nil, incident.Notice{Audience: notify.AudienceTeam, Event: notify.EventWatchdogMissing}, now)
			return err
		}
		cur, err := tx.Incident(ctx, t.Subject)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ev := incident.TimerFired{Kind: t.Kind}
		if t.Kind == store.TimerEscalation {
			ev.NextOwner = oncall.Owner(&cfg.OnCall, cur.EscalationLevel+1, now)
		}
		d, err := incident.Apply(cur, ev, now, s.settings(cfg, cur.Client, cur.Sites, cur.Drill), NewID)
		if err != nil {
			return err
		}
		if notices, err = s.persist(ctx, tx, cfg, d, now); err != nil {
			return err
		}
		ts = []transition{{cur, d.Incident}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("timer %s/%s: %w", t.Subject, t.Kind, err)
	}
	s.committed(ts, notices)
	return nil
}

// Heartbeat records a Watchdog notification: the team is told when the next one does not
// arrive within the watchdog timeout.
func (s *Service) Heartbeat(ctx context.Context) error {
	cfg := s.cfg.Load()
	now := s.now().UTC()
	err := s.update(ctx, func(tx store.Tx) error {
		return tx.SetTimer(ctx, store.Timer{Subject: WatchdogSubject, Kind: store.TimerWatchdog, DueAt: now.Add(cfg.Timers.WatchdogTimeout)})
	})
	if err == nil && s.observer != nil {
		s.observer.Heartbeat(now)
	}
	return err
}

// RecordDeploy stores a deploy for the assessment of later incidents.
func (s *Service) RecordDeploy(ctx context.Context, d store.Deploy) error {
	if d.At.IsZero() {
		d.At = s.now().UTC()
	}
	return s.update(ctx, func(tx store.Tx) error { return tx.RecordDeploy(ctx, d) })
}

// persist writes a decision; it returns the number of notices enqueued.
func (s *Service) persist(ctx context.Context, tx store.Tx, cfg *config.Config, d incident.Decision, now time.Time) (int, error) {
	if d.Incident == nil || (!d.Changed && len(d.Notices) == 0 && len(d.SetTimers) == 0 && len(d.CancelTimers) == 0 && !d.CancelAll) {
		return 0, nil
	}
	inc := d.Incident
	var err error
	if d.Created {
		err = tx.CreateIncident(ctx, inc)
	} else {
		err = tx.UpdateIncident(ctx, inc)
	}
	if err != nil {
		return 0, err
	}
	if err := tx.AppendTimeline(ctx, d.Timeline...); err != nil {
		return 0, err
	}
	if d.CancelAll {
		if err := tx.CancelTimers(ctx, inc.ID); err != nil {
			return 0, err
		}
	} else if len(d.CancelTimers) > 0 {
		if err := tx.CancelTimers(ctx, inc.ID, d.CancelTimers...); err != nil {
			return 0, err
		}
	}
	for _, t := range d.SetTimers {
		if err := tx.SetTimer(ctx, t); err != nil {
			return 0, err
		}
	}
	total := 0
	for _, n := range d.Notices {
		k, err := s.enqueue(ctx, tx, cfg, inc, n, now)
		if err != nil {
			return 0, err
		}
		total += k
	}
	return total, nil
}

// enqueue renders one notice and puts a copy per channel into the outbox.
func (s *Service) enqueue(ctx context.Context, tx store.Tx, cfg *config.Config, inc *store.Incident, n incident.Notice, now time.Time) (int, error) {
	msg, err := s.render(ctx, tx, cfg, inc, n)
	if err != nil {
		return 0, err
	}
	chans := cfg.Team.Channels
	if n.Audience == notify.AudienceClient {
		if inc == nil || cfg.Client(inc.Client) == nil {
			return 0, nil
		}
		chans = cfg.Client(inc.Client).Channels
	}
	payload, err := json.Marshal(msg.Incident)
	if err != nil {
		return 0, fmt.Errorf("encode notice: %w", err)
	}
	notices := make([]store.Notice, 0, len(chans))
	for _, ch := range chans {
		notices = append(notices, store.Notice{
			ID: NewID(), IncidentID: msg.Incident.ID, Channel: ch, Audience: string(n.Audience), Event: string(n.Event),
			Subject: msg.Subject, Text: msg.Text, CreatedAt: now, Payload: payload,
		})
	}
	return len(notices), tx.EnqueueNotices(ctx, notices...)
}

// MessageIncident is the notify.Incident view of inc.
func (s *Service) MessageIncident(inc *store.Incident) notify.Incident {
	if inc == nil {
		return notify.Incident{}
	}
	return notify.Incident{
		ID: inc.ID, Client: inc.Client, Sites: inc.Sites, FailureType: inc.FailureType, Severity: inc.Severity,
		State: string(inc.State), Owner: inc.Owner, Drill: inc.Drill, URL: s.IncidentURL(inc.ID), StartedAt: inc.StartedAt,
	}
}

// IncidentURL links to the incident's page.
func (s *Service) IncidentURL(id string) string {
	if s.externalURL == "" || id == "" {
		return ""
	}
	return s.externalURL + "/incidents/" + id
}

// TemplateData is what client notice templates see.
type TemplateData struct {
	ID             string
	Client         string
	Sites          []string
	FailureType    string
	State          string
	StatePhrase    string // e.g. "we have identified the cause and are working on a fix"
	UpdateInterval string // e.g. "30 minutes"
	Tried          string // the actions taken so far (timeline notes of kind action)
	Next           string // the latest "next" note
	RootCause      string
	StartedAt      string
	RecoveredAt    string
	URL            string
}

var statePhrases = map[store.State]string{
	store.StateInvestigating: "we are investigating the issue",
	store.StateIdentified:    "we have identified the cause and are working on a fix",
	store.StateMonitoring:    "a fix is in place and we are monitoring the results",
	store.StateResolved:      "the issue has been resolved",
}

func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d >= time.Hour:
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0 && d >= time.Minute:
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

func (s *Service) render(ctx context.Context, tx store.Tx, cfg *config.Config, inc *store.Incident, n incident.Notice) (*notify.Message, error) {
	m := &notify.Message{Event: n.Event, Audience: n.Audience, Incident: s.MessageIncident(inc)}
	if n.Event == notify.EventWatchdogMissing {
		m.Subject = "Alerting pipeline silent: no Watchdog heartbeat"
		m.Text = fmt.Sprintf("No Watchdog notification for %s. Prometheus or Alertmanager may be down, or cannot reach the receiver: site outages would go unnoticed. Check them now.",
			humanDuration(cfg.Timers.WatchdogTimeout))
		return m, nil
	}
	if n.Audience == notify.AudienceTeam {
		s.renderTeam(cfg, inc, m)
		return m, nil
	}
	tl, err := tx.Timeline(ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	data := TemplateData{
		ID: inc.ID, Client: inc.Client, Sites: inc.Sites, FailureType: inc.FailureType, State: string(inc.State),
		StatePhrase: statePhrases[inc.State], UpdateInterval: humanDuration(cfg.Timers.UpdateInterval),
		RootCause: inc.RootCause, StartedAt: inc.StartedAt.Format(time.RFC1123), URL: m.Incident.URL,
	}
	if !inc.RecoveredAt.IsZero() {
		data.RecoveredAt = inc.RecoveredAt.Format(time.RFC1123)
	}
	var tried []string
	for _, e := range tl {
		switch e.Kind {
		case incident.NoteKindAction:
			tried = append(tried, e.Text)
		case incident.NoteKindNext:
			data.Next = e.Text
		}
	}
	data.Tried = strings.Join(tried, "; ")
	tpl := cfg.Templates
	if c := cfg.Client(inc.Client); c != nil {
		tpl = c.Templates
	}
	var subj, body string
	switch n.Event {
	case notify.EventClientInitial:
		subj, body = tpl.InitialSubject, tpl.Initial
	case notify.EventClientUpdate:
		subj, body = tpl.UpdateSubject, tpl.Update
	default:
		subj, body = tpl.ResolvedSubject, tpl.Resolved
	}
	if m.Subject, err = execTemplate(subj, data); err != nil {
		return nil, err
	}
	if m.Text, err = execTemplate(body, data); err != nil {
		return nil, err
	}
	return m, nil
}

func execTemplate(src string, data TemplateData) (string, error) {
	t, err := template.New("notice").Funcs(config.TemplateFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		return "", fmt.Errorf("notice template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("notice template: %w", err)
	}
	return b.String(), nil
}

// renderTeam writes the responders' message: what happened, the assessment checklist, the
// owner and the runbook.
func (s *Service) renderTeam(cfg *config.Config, inc *store.Incident, m *notify.Message) {
	where := inc.Client
	if len(inc.Sites) > 0 {
		where += "/" + strings.Join(inc.Sites, ",")
	}
	drill := ""
	if inc.Drill {
		drill = "[DRILL] "
	}
	var b strings.Builder
	switch m.Event {
	case notify.EventIncidentOpened:
		m.Subject = fmt.Sprintf("%s[%s] %s down: %s failure", drill, orDash(inc.Severity), where, orDash(inc.FailureType))
		a := inc.Assessment
		rb := cfg.Runbook(inc.FailureType)
		fmt.Fprintf(&b, "Incident %s opened for %s.\n\nAssessment:\n", inc.ID, where)
		fmt.Fprintf(&b, "- Which sites: %s\n", orDash(strings.Join(a.Sites, ", ")))
		fmt.Fprintf(&b, "- What failure type: %s\n", orDash(a.FailureType))
		switch {
		case len(a.OtherClients) > 0:
			fmt.Fprintf(&b, "- Isolated? No: other clients affected right now: %s\n", strings.Join(a.OtherClients, ", "))
		case firingAlert(inc, "SitesDownAcrossClients"):
			// Incidents of several clients opened at the same instant do not see each other;
			// the rules' cross-client alert, grouped into each of them, does.
			b.WriteString("- Isolated? No: SitesDownAcrossClients is firing, sites of several clients are down\n")
		default:
			b.WriteString("- Isolated? Yes: no other client has an open incident\n")
		}
		if len(a.RecentDeploys) > 0 {
			d := a.RecentDeploys[0]
			fmt.Fprintf(&b, "- Recent deploys: %d, latest %s %s at %s\n", len(a.RecentDeploys), d.Version, d.Description, d.At.Format(time.RFC3339))
		} else {
			b.WriteString("- Recent deploys: none recorded\n")
		}
		fmt.Fprintf(&b, "- Owner: %s (acknowledge to take it)\n", orDash(inc.Owner))
		fmt.Fprintf(&b, "\nRunbook: %s (%s)\nLikely cause: %s\n", rb.Title, rb.URL, rb.LikelyCause)
		for _, act := range rb.Actions {
			fmt.Fprintf(&b, "- [ ] %s\n", act)
		}
	case notify.EventIncidentEscalated:
		m.Subject = fmt.Sprintf("%s[%s] ESCALATED: %s not acknowledged", drill, orDash(inc.Severity), where)
		fmt.Fprintf(&b, "Incident %s was not acknowledged in time; escalated to level %d, owner now %s.\n", inc.ID, inc.EscalationLevel+1, orDash(inc.Owner))
	case notify.EventIncidentReopened:
		m.Subject = fmt.Sprintf("%s[%s] %s failing again", drill, orDash(inc.Severity), where)
		fmt.Fprintf(&b, "Incident %s failed again inside the resolution window and is %s again.\n", inc.ID, inc.State)
	case notify.EventIncidentResolved:
		m.Subject = fmt.Sprintf("%s[resolved] %s", drill, where)
		fmt.Fprintf(&b, "Incident %s resolved after %s. Write the post-mortem within 24 hours.\n", inc.ID,
			inc.ResolvedAt.Sub(inc.DetectedAt).Round(time.Second))
	}
	if m.Incident.URL != "" {
		fmt.Fprintf(&b, "\n%s\n", m.Incident.URL)
	}
	m.Text = b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// firingAlert reports whether an alert of that name is firing in the incident.
func firingAlert(inc *store.Incident, name string) bool {
	for _, a := range inc.Alerts {
		if a.Labels["alertname"] == name && a.Status == "firing" {
			return true
		}
	}
	return false
}
