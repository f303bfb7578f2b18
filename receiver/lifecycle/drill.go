package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/store"
)

// ErrNotDrill: the action is only for drills.
var ErrNotDrill = errors.New("not a drill")

// drillAlert is the synthetic alert of a drill.
func drillAlert(id, client, site string) store.Alert {
	return store.Alert{
		Fingerprint: "drill-" + id, Status: "firing",
		Labels: map[string]string{"alertname": "SiteDown", "client": client, "site": site,
			"failure_type": "http", "severity": "critical", "drill": "true"},
		Annotations: map[string]string{"summary": "DRILL: synthetic outage of " + client + "/" + site},
	}
}

// OpenDrill starts a drill: a synthetic incident of client/site that runs the whole
// lifecycle (assessment, owner, escalation, acknowledgement, recovery, resolution,
// post-mortem) with notices to the team only. Its key is unique, so it never joins or
// blocks a real incident of the site.
func (s *Service) OpenDrill(ctx context.Context, client, site, actor string) (*store.Incident, error) {
	client, site = strings.TrimSpace(client), strings.TrimSpace(site)
	if client == "" || site == "" {
		return nil, fmt.Errorf("%w: client and site are required", incident.ErrInvalid)
	}
	cfg := s.cfg.Load()
	now := s.now().UTC()
	id := NewID()
	alert := drillAlert(id, client, site)
	alert.StartsAt = now
	keyLabels := map[string]string{"client": client, "site": site}
	key := fmt.Sprintf("drill=%q,client=%q,site=%q", id, client, site)
	var out *store.Incident
	var ts []transition
	var notices int
	err := s.update(ctx, func(tx store.Tx) error {
		facts, err := s.assess(ctx, tx, cfg, client, now)
		if err != nil {
			return err
		}
		ev := incident.AlertsReceived{Key: key, KeyLabels: keyLabels, Alerts: []store.Alert{alert}, Facts: facts}
		d, err := incident.Apply(nil, ev, now, s.settings(cfg, client, []string{site}, true), func() string { return id })
		if err != nil {
			return err
		}
		d.Incident.Drill = true
		d.Timeline = append([]store.TimelineEntry{{IncidentID: id, At: now, Actor: actor, Kind: "drill",
			Text: "DRILL started by " + actor + ": a synthetic incident; notices go to the team only"}}, d.Timeline...)
		if notices, err = s.persist(ctx, tx, cfg, d, now); err != nil {
			return err
		}
		out, ts = d.Incident, []transition{{nil, d.Incident}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.committed(ts, notices)
	return out, nil
}

// RecoverDrill resolves the drill's synthetic alert, as Alertmanager would when the site
// comes back: the drill moves to monitoring and resolves after the quiet window.
func (s *Service) RecoverDrill(ctx context.Context, id string) (*store.Incident, error) {
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	if !inc.Drill {
		return nil, ErrNotDrill
	}
	var resolved []store.Alert
	for _, a := range inc.Alerts {
		if a.Status == "firing" {
			a.Status, a.EndsAt = "resolved", s.now().UTC()
			resolved = append(resolved, a)
		}
	}
	if len(resolved) == 0 {
		return inc, nil
	}
	return s.Act(ctx, id, incident.AlertsReceived{Key: inc.Key, KeyLabels: inc.Labels, Alerts: resolved})
}
