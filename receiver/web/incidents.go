package web

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/siteward/siteward/receiver/api"
	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/history"
	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/postmortem"
	"github.com/siteward/siteward/receiver/store"
)

// listData is the incident list page.
type listData struct {
	Incidents []*store.Incident
	State     string
	Client    string
	Clients   []string
	Drills    bool
}

func (s *Server) incidentList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := listData{State: q.Get("state"), Client: q.Get("client"), Drills: q.Get("drills") != "hide"}
	f := store.IncidentFilter{Client: d.Client, State: store.State(d.State), Limit: 200}
	if d.State == "open" {
		f.State, f.Open = "", true
	}
	if f.State != "" && !f.State.Valid() {
		http.Error(w, "state: want open, investigating, identified, monitoring or resolved", http.StatusBadRequest)
		return
	}
	incs, err := s.svc.Store().Incidents(r.Context(), f)
	if err != nil {
		s.httpError(w, err)
		return
	}
	// Open incidents first, each group newest first (the store's order).
	slices.SortStableFunc(incs, func(a, b *store.Incident) int {
		switch {
		case a.Open() == b.Open():
			return 0
		case a.Open():
			return -1
		}
		return 1
	})
	for _, inc := range incs {
		if d.Drills || !inc.Drill {
			d.Incidents = append(d.Incidents, inc)
		}
	}
	for _, c := range s.svc.Config().Clients {
		d.Clients = append(d.Clients, c.Name)
	}
	s.render(w, http.StatusOK, "incidents", page{Title: "Incidents", Error: q.Get("error"), Data: d})
}

// chart is the status history on a page: the SVG, or why there is none.
type chart struct {
	SVG         any // template.HTML
	Unavailable string
	Reasons     map[string][]string
}

// incidentWindow is the time around an incident that its chart shows.
func incidentWindow(inc *store.Incident, now time.Time) (time.Time, time.Time) {
	end := inc.RecoveredAt
	if end.IsZero() || inc.Open() && inc.State != store.StateMonitoring {
		end = now
	}
	start := inc.StartedAt
	if start.IsZero() {
		start = inc.DetectedAt
	}
	return start.Add(-30 * time.Minute), minTime(end.Add(30*time.Minute), now)
}

func (s *Server) chart(ctx context.Context, inc *store.Incident) chart {
	if s.history == nil {
		return chart{Unavailable: "History unavailable: Prometheus is not configured (--prometheus.url)."}
	}
	start, end := incidentWindow(inc, s.now().UTC())
	h, err := s.history.Around(ctx, inc.Client, inc.Sites, start, end)
	if err != nil {
		s.logger.Warn("status history unavailable", "incident", inc.ID, "err", err)
		return chart{Unavailable: "History unavailable: Prometheus at " + s.history.URL() + " did not answer."}
	}
	marks := []history.Mark{{At: inc.StartedAt, Label: "started"}}
	if !inc.RecoveredAt.IsZero() {
		marks = append(marks, history.Mark{At: inc.RecoveredAt, Label: "recovered"})
	}
	return chart{SVG: history.SVG(h, marks), Reasons: h.Reasons}
}

// detailData is the incident page.
type detailData struct {
	*api.IncidentDetail
	Runbook     config.Runbook
	Chart       chart
	Maintenance bool
	Firing      bool
	Postmortem  string // the post-mortem's status line
	NoteKinds   []string
}

func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d, err := api.Detail(ctx, s.svc, r.PathValue("id"))
	if err != nil {
		s.httpError(w, err)
		return
	}
	cfg := s.svc.Config()
	inc := d.Incident
	rb := cfg.Runbook(inc.FailureType)
	// The incident page keeps the post-mortem edits out of the response log too.
	tl := slices.DeleteFunc(slices.Clone(d.Timeline), func(e store.TimelineEntry) bool { return postmortem.IsEditKind(e.Kind) })
	pm := postmortem.Draft(postmortem.Input{Incident: inc, Timeline: d.Timeline, Notices: d.Notices, Runbook: rb})
	d.Timeline = tl
	data := detailData{IncidentDetail: d, Runbook: rb, Chart: s.chart(ctx, inc), Postmortem: pm.Status(s.now().UTC()),
		Maintenance: s.svc.InMaintenance(cfg, inc.Client, inc.Sites, s.now()),
		Firing:      slices.ContainsFunc(inc.Alerts, func(a store.Alert) bool { return a.Status == "firing" }),
		NoteKinds:   []string{incident.NoteKindNote, incident.NoteKindAction, incident.NoteKindNext}}
	title := "Incident " + inc.ID
	if inc.Drill {
		title = "DRILL " + title
	}
	// No meta refresh on internal pages: it would wipe a note being typed.
	s.render(w, http.StatusOK, "incident", page{Title: title, Error: r.URL.Query().Get("error"), Data: data})
}

// incidentForm handles the forms of the incident and post-mortem pages.
func (s *Server) incidentForm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	back := "/incidents/" + id
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	who := actor(r, r.PostFormValue("actor"))
	text := strings.TrimSpace(r.PostFormValue("text"))
	var err error
	switch r.PathValue("action") {
	case "acknowledge":
		_, err = s.svc.Act(r.Context(), id, incident.Acknowledge{Actor: who})
	case "assign":
		_, err = s.svc.Act(r.Context(), id, incident.Assign{Actor: who, Owner: strings.TrimSpace(r.PostFormValue("owner"))})
	case "notes":
		_, err = s.svc.Act(r.Context(), id, incident.Note{Actor: who, Kind: r.PostFormValue("kind"), Text: text})
	case "root-cause":
		_, err = s.svc.Act(r.Context(), id, incident.SetRootCause{Actor: who, Text: text})
	case "resolve":
		_, err = s.svc.Act(r.Context(), id, incident.Resolve{Actor: who, Text: text})
	case "recover":
		_, err = s.svc.RecoverDrill(r.Context(), id)
	case "postmortem":
		back += "/postmortem"
		e := postmortem.Edit{Actor: who, Summary: r.PostFormValue("summary"), RootCause: r.PostFormValue("root_cause"),
			Publish: r.PostFormValue("publish") == "on"}
		if p := strings.TrimSpace(r.PostFormValue("prevention")); p != "" {
			e.Prevention = []string{p}
		}
		err = postmortem.Save(r.Context(), s.svc.Store(), id, e, s.now().UTC())
	default:
		http.NotFound(w, r)
		return
	}
	if code, _ := errorStatus(err); err != nil && code >= 500 {
		s.logger.Error("web: form action failed", "incident", id, "action", r.PathValue("action"), "err", err)
	}
	redirectBack(w, r, back, err)
}
