package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/store"
)

// Component statuses of the status page, best first.
const (
	StatusOperational = "operational"
	StatusMaintenance = "under_maintenance"
	StatusDegraded    = "degraded_performance"
	StatusPartial     = "partial_outage"
	StatusMajor       = "major_outage"
)

var statusText = map[string]string{
	StatusOperational: "Operational",
	StatusMaintenance: "Under maintenance",
	StatusDegraded:    "Degraded performance",
	StatusPartial:     "Partial outage",
	StatusMajor:       "Major outage",
}

var statusRank = map[string]int{StatusOperational: 0, StatusMaintenance: 1, StatusDegraded: 2, StatusPartial: 3, StatusMajor: 4}

// Public incident states, in the status page's words.
var publicState = map[store.State]string{
	store.StateInvestigating: "Investigating",
	store.StateIdentified:    "Identified",
	store.StateMonitoring:    "Monitoring",
	store.StateResolved:      "Resolved",
}

const (
	uptimeDays      = 90
	recentIncidents = 14 * 24 * time.Hour
	// statusRefresh is the meta refresh of the public page.
	statusRefresh = 60
)

// ClientStatus is the public status of one client: GET /api/v1/status/{client} and the page.
// It carries nothing internal: no owner, notes, actors, root cause or internal timeline.
type ClientStatus struct {
	Client       string           `json:"client"`
	Status       string           `json:"status"`
	StatusText   string           `json:"status_text"`
	Sites        []SiteStatus     `json:"sites"`
	Open         []PublicIncident `json:"open_incidents"`
	Recent       []PublicIncident `json:"recent_incidents"`
	UptimeSource string           `json:"uptime_source"` // prometheus | incidents
	GeneratedAt  time.Time        `json:"generated_at"`
}

// SiteStatus is one component.
type SiteStatus struct {
	Name        string             `json:"name"`
	Status      string             `json:"status"`
	StatusText  string             `json:"status_text"`
	Maintenance *PublicMaintenance `json:"maintenance,omitempty"`
	Uptime      *float64           `json:"uptime_90d,omitempty"` // ratio over the days with data
	Days        []UptimeDay        `json:"days"`
}

// PublicMaintenance is a maintenance window as clients see it.
type PublicMaintenance struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Description string    `json:"description,omitempty"`
}

// UptimeDay is one bar of the 90-day uptime bar; Uptime is nil without data.
type UptimeDay struct {
	Date   string   `json:"date"`
	Uptime *float64 `json:"uptime,omitempty"`
}

// PublicIncident is an incident as clients see it.
type PublicIncident struct {
	ID         string         `json:"id"`
	Title      string         `json:"title"`
	Sites      []string       `json:"sites"`
	State      string         `json:"state"`
	StartedAt  time.Time      `json:"started_at"`
	ResolvedAt time.Time      `json:"resolved_at,omitzero"`
	Updates    []PublicUpdate `json:"updates"`
}

// PublicUpdate is one status update, newest first on the page.
type PublicUpdate struct {
	At    time.Time `json:"at"`
	State string    `json:"state"`
	Text  string    `json:"text"`
}

// publicClient returns the client when its status page is public.
func publicClient(cfg *config.Config, name string) *config.Client {
	c := cfg.Client(name)
	if c == nil || !c.PublicStatusPage {
		return nil
	}
	return c
}

func (s *Server) statusIndex(w http.ResponseWriter, r *http.Request) {
	cfg := s.svc.Config()
	var list []ClientStatus
	for _, c := range cfg.Clients {
		if !c.PublicStatusPage {
			continue
		}
		st, err := s.clientStatus(r.Context(), cfg, &c, false)
		if err != nil {
			s.httpError(w, err)
			return
		}
		list = append(list, *st)
	}
	s.render(w, http.StatusOK, "status_index", page{Title: "Status", Refresh: statusRefresh, Public: true, Data: list})
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	cfg := s.svc.Config()
	c := publicClient(cfg, r.PathValue("client"))
	if c == nil {
		http.NotFound(w, r)
		return
	}
	st, err := s.clientStatus(r.Context(), cfg, c, true)
	if err != nil {
		s.httpError(w, err)
		return
	}
	s.render(w, http.StatusOK, "status", page{Title: c.Name + " status", Refresh: statusRefresh, Public: true, Data: st})
}

func (s *Server) statusJSON(w http.ResponseWriter, r *http.Request) {
	cfg := s.svc.Config()
	c := publicClient(cfg, r.PathValue("client"))
	if c == nil {
		writeError(w, http.StatusNotFound, "no public status page for this client")
		return
	}
	st, err := s.clientStatus(r.Context(), cfg, c, true)
	if err != nil {
		code, msg := errorStatus(err)
		writeError(w, code, msg)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// clientStatus builds the public status. withUptime adds the 90-day bars.
func (s *Server) clientStatus(ctx context.Context, cfg *config.Config, c *config.Client, withUptime bool) (*ClientStatus, error) {
	now := s.now().UTC()
	all, err := s.svc.Store().Incidents(ctx, store.IncidentFilter{Client: c.Name, Limit: -1})
	if err != nil {
		return nil, err
	}
	since := now.Add(-uptimeDays * 24 * time.Hour)
	var incs []*store.Incident // real incidents of the last 90 days (drills never show)
	for _, inc := range all {
		if !inc.Drill && (inc.Open() || inc.ResolvedAt.After(since)) {
			incs = append(incs, inc)
		}
	}
	sites := slices.Clone(c.Sites)
	for _, inc := range incs {
		sites = append(sites, inc.Sites...)
	}

	st := &ClientStatus{Client: c.Name, GeneratedAt: now, UptimeSource: "incidents"}
	var days map[string][]UptimeDay
	if withUptime {
		days, st.UptimeSource = s.uptime(ctx, c.Name, now)
		for site := range days {
			sites = append(sites, site)
		}
	}
	slices.Sort(sites)
	sites = slices.Compact(sites)

	st.Status = StatusOperational
	for _, site := range sites {
		ss := SiteStatus{Name: site, Status: StatusOperational}
		if m := s.svc.MaintenanceOf(cfg, c.Name, site, now); m != nil {
			ss.Status = StatusMaintenance
			ss.Maintenance = &PublicMaintenance{Start: m.Start, End: m.End, Description: m.Description}
		}
		for _, inc := range incs {
			if inc.Open() && slices.Contains(inc.Sites, site) {
				if cs := componentStatus(inc); statusRank[cs] > statusRank[ss.Status] {
					ss.Status = cs
				}
			}
		}
		ss.StatusText = statusText[ss.Status]
		if withUptime {
			ss.Days = days[site]
			switch {
			case len(ss.Days) > 0:
			case st.UptimeSource == "incidents":
				ss.Days = incidentUptime(site, incs, now) // no incident: up every day
			default:
				ss.Days = emptyDays(now) // Prometheus has no data for it
			}
			ss.Uptime = meanUptime(ss.Days)
		}
		if statusRank[ss.Status] > statusRank[st.Status] {
			st.Status = ss.Status
		}
		st.Sites = append(st.Sites, ss)
	}
	st.StatusText = overallText(st.Status)

	for _, inc := range incs {
		if !inc.Open() && now.Sub(inc.ResolvedAt) > recentIncidents {
			continue
		}
		tl, err := s.svc.Store().Timeline(ctx, inc.ID)
		if err != nil {
			return nil, err
		}
		pi := publicIncident(inc, tl)
		if inc.Open() {
			st.Open = append(st.Open, pi)
		} else {
			st.Recent = append(st.Recent, pi)
		}
	}
	if st.Open == nil {
		st.Open = []PublicIncident{}
	}
	if st.Recent == nil {
		st.Recent = []PublicIncident{}
	}
	return st, nil
}

func overallText(status string) string {
	switch status {
	case StatusOperational:
		return "All systems operational"
	case StatusMaintenance:
		return "Scheduled maintenance in progress"
	case StatusDegraded:
		return "Degraded performance"
	case StatusPartial:
		return "Partial outage"
	}
	return "Major outage"
}

// componentStatus maps an open incident to the status of its sites: a critical failure is a
// major outage, a warning a partial one, slowness or a site still being watched after
// recovery is degraded performance.
func componentStatus(inc *store.Incident) string {
	if inc.State == store.StateMonitoring {
		return StatusDegraded
	}
	slow := slices.ContainsFunc(inc.Alerts, func(a store.Alert) bool {
		return a.Status == "firing" && a.Labels["alertname"] == "SiteSlow"
	})
	switch {
	case inc.Severity == "critical" && !slow:
		return StatusMajor
	case inc.Severity == "warning" && !slow:
		return StatusPartial
	}
	return StatusDegraded
}

// Public update texts, one per state change. Nothing a responder wrote is shown.
var publicUpdates = map[string]struct{ state, text string }{
	"opened":     {"Investigating", "We are investigating an issue affecting %s."},
	"reopened":   {"Investigating", "The issue affecting %s has returned; we are investigating."},
	"root_cause": {"Identified", "The cause has been identified and a fix is being worked on."},
	"recovered":  {"Monitoring", "A fix is in place and we are monitoring the results."},
	"resolved":   {"Resolved", "This incident has been resolved."},
}

func publicIncident(inc *store.Incident, tl []store.TimelineEntry) PublicIncident {
	sites := joinOr(inc.Sites, "your website")
	pi := PublicIncident{ID: inc.ID, Title: "Service disruption: " + sites, Sites: inc.Sites, State: publicState[inc.State],
		StartedAt: inc.StartedAt, ResolvedAt: inc.ResolvedAt, Updates: []PublicUpdate{}}
	identified := false
	for _, e := range tl {
		u, ok := publicUpdates[e.Kind]
		if !ok || (e.Kind == "root_cause" && identified) {
			continue // a corrected root cause is not news to the client
		}
		identified = identified || e.Kind == "root_cause"
		text := u.text
		if e.Kind == "opened" || e.Kind == "reopened" {
			text = fmtText(text, sites)
		}
		pi.Updates = append(pi.Updates, PublicUpdate{At: e.At, State: u.state, Text: text})
	}
	slices.Reverse(pi.Updates)
	return pi
}

// uptime returns the daily uptime per site from Prometheus when it is configured and
// answers; otherwise no bars and the source "incidents": clientStatus then computes each
// site's bar from the incident history (the share of each day no incident was open).
func (s *Server) uptime(ctx context.Context, client string, now time.Time) (map[string][]UptimeDay, string) {
	if s.history != nil {
		bars, err := s.history.DailyUptime(ctx, client, uptimeDays, now)
		if err == nil {
			out := map[string][]UptimeDay{}
			for site, bar := range bars {
				days := make([]UptimeDay, len(bar))
				for i, d := range bar {
					days[i] = UptimeDay{Date: d.Date.Format(time.DateOnly)}
					if d.Ratio >= 0 {
						v := d.Ratio
						days[i].Uptime = &v
					}
				}
				out[site] = days
			}
			return out, "prometheus"
		}
		s.logger.Warn("status page: uptime from Prometheus failed; using the incident history", "client", client, "err", err)
	}
	return nil, "incidents" // clientStatus computes each site's bar from the incidents
}

// incidentUptime is one site's bar from the incidents: down from start to recovery.
func incidentUptime(site string, incs []*store.Incident, now time.Time) []UptimeDay {
	days := emptyDays(now)
	for i := range days {
		dayStart, _ := time.Parse(time.DateOnly, days[i].Date)
		dayEnd := minTime(dayStart.Add(24*time.Hour), now)
		var down time.Duration
		for _, inc := range incs {
			if !slices.Contains(inc.Sites, site) {
				continue
			}
			end := inc.RecoveredAt
			if end.IsZero() {
				end = now
			}
			if lo, hi := maxTime(inc.StartedAt, dayStart), minTime(end, dayEnd); hi.After(lo) {
				down += hi.Sub(lo)
			}
		}
		v := max(0, 1-down.Seconds()/dayEnd.Sub(dayStart).Seconds())
		days[i].Uptime = &v
	}
	return days
}

func emptyDays(now time.Time) []UptimeDay {
	today := now.UTC().Truncate(24 * time.Hour)
	days := make([]UptimeDay, uptimeDays)
	for i := range days {
		days[i] = UptimeDay{Date: today.Add(-time.Duration(uptimeDays-1-i) * 24 * time.Hour).Format(time.DateOnly)}
	}
	return days
}

func meanUptime(days []UptimeDay) *float64 {
	sum, n := 0.0, 0
	for _, d := range days {
		if d.Uptime != nil {
			sum += *d.Uptime
			n++
		}
	}
	if n == 0 {
		return nil
	}
	v := sum / float64(n)
	return &v
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"status": "error", "error": msg})
}

func joinOr(items []string, def string) string {
	if len(items) == 0 {
		return def
	}
	return strings.Join(items, ", ")
}

func fmtText(format, arg string) string { return fmt.Sprintf(format, arg) }
