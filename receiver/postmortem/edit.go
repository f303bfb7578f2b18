package postmortem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/store"
)

var (
	// ErrInvalid: the edit is empty or malformed.
	ErrInvalid = errors.New("invalid post-mortem edit")
	// ErrNotResolved: publishing needs a resolved incident.
	ErrNotResolved = errors.New("the incident is not resolved yet")
)

// Edit is one change by a responder; empty fields are left alone.
type Edit struct {
	Actor      string   `json:"actor"`
	Summary    string   `json:"summary"`
	RootCause  string   `json:"root_cause"`
	Prevention []string `json:"prevention"` // items to add
	Publish    bool     `json:"publish"`
}

// Save appends the edit to the incident's timeline in one transaction.
func Save(ctx context.Context, st store.Store, id string, e Edit, now time.Time) error {
	var entries []store.TimelineEntry
	add := func(kind, text string) {
		entries = append(entries, store.TimelineEntry{IncidentID: id, At: now, Actor: e.Actor, Kind: kind, Text: text})
	}
	if s := strings.TrimSpace(e.Summary); s != "" {
		add(KindSummary, s)
	}
	if s := strings.TrimSpace(e.RootCause); s != "" {
		add(KindRootCause, s)
	}
	for _, p := range e.Prevention {
		if s := strings.TrimSpace(p); s != "" {
			add(KindPrevention, s)
		}
	}
	if e.Publish {
		add(KindPublished, "Post-mortem published")
	}
	if len(entries) == 0 {
		return fmt.Errorf("%w: set summary, root_cause, prevention or publish", ErrInvalid)
	}
	return st.Update(ctx, func(tx store.Tx) error {
		inc, err := tx.Incident(ctx, id) // locks it: edits of one incident are serialised
		if err != nil {
			return err
		}
		if e.Publish && inc.Open() {
			return ErrNotResolved
		}
		return tx.AppendTimeline(ctx, entries...)
	})
}

// Reminders finds resolved incidents whose post-mortem is overdue at now, returns how many
// real (not drill) ones there are, and enqueues one reminder per team channel for each the first time it is seen
// overdue. Notice IDs are derived from the incident, so replicas running this at once
// enqueue each reminder once. render makes the notify.Incident payload of a notice.
func Reminders(ctx context.Context, st store.Store, teamChannels []string, render func(*store.Incident) notify.Incident, now time.Time) (int, error) {
	// Incidents resolved after (now - DueAfter) cannot be overdue; older ones can.
	resolved, err := st.Incidents(ctx, store.IncidentFilter{State: store.StateResolved, Limit: -1})
	if err != nil {
		return 0, err
	}
	overdue := 0
	for _, inc := range resolved {
		if !now.After(inc.ResolvedAt.Add(DueAfter)) {
			continue
		}
		tl, err := st.Timeline(ctx, inc.ID)
		if err != nil {
			return overdue, err
		}
		published, reminded := false, false
		for _, e := range tl {
			published = published || e.Kind == KindPublished
			reminded = reminded || e.Kind == KindReminder
		}
		if published {
			continue
		}
		if !inc.Drill { // drills are reminded but kept out of the real-incident count
			overdue++
		}
		if reminded {
			continue
		}
		if err := remind(ctx, st, inc, teamChannels, render, now); err != nil {
			return overdue, err
		}
	}
	return overdue, nil
}

func remind(ctx context.Context, st store.Store, inc *store.Incident, teamChannels []string, render func(*store.Incident) notify.Incident, now time.Time) error {
	msg := render(inc)
	payload, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode reminder: %w", err)
	}
	drill := ""
	if inc.Drill {
		drill = "[DRILL] "
	}
	subject := fmt.Sprintf("%sPost-mortem overdue: %s (incident %s)", drill, inc.Client, inc.ID)
	text := fmt.Sprintf("The post-mortem of incident %s (%s) was due %s, 24 hours after the resolution. Write and publish it.",
		inc.ID, inc.Client, FormatTime(inc.ResolvedAt.Add(DueAfter)))
	if msg.URL != "" {
		text += "\n\n" + msg.URL + "/postmortem"
	}
	notices := make([]store.Notice, 0, len(teamChannels))
	for _, ch := range teamChannels {
		notices = append(notices, store.Notice{
			ID: "postmortem-due-" + inc.ID + "-" + ch, IncidentID: inc.ID, Channel: ch, Audience: string(notify.AudienceTeam),
			Event: string(notify.EventPostmortemDue), Subject: subject, Text: text, CreatedAt: now, Payload: payload,
		})
	}
	return st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Incident(ctx, inc.ID); err != nil { // lock it
			return err
		}
		tl, err := tx.Timeline(ctx, inc.ID)
		if err != nil {
			return err
		}
		for _, e := range tl {
			if e.Kind == KindReminder {
				return nil // another replica was first
			}
		}
		if err := tx.AppendTimeline(ctx, store.TimelineEntry{IncidentID: inc.ID, At: now, Actor: "system", Kind: KindReminder, Text: subject}); err != nil {
			return err
		}
		return tx.EnqueueNotices(ctx, notices...)
	})
}
