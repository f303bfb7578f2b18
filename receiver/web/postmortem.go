package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/siteward/siteward/receiver/api"
	"github.com/siteward/siteward/receiver/postmortem"
	"github.com/siteward/siteward/receiver/store"
)

// report drafts the post-mortem of incident id, with availability from Prometheus when it
// answers.
func (s *Server) report(ctx context.Context, id string) (*postmortem.Report, *api.IncidentDetail, error) {
	d, err := api.Detail(ctx, s.svc, id)
	if err != nil {
		return nil, nil, err
	}
	inc := d.Incident
	in := postmortem.Input{Incident: inc, Timeline: d.Timeline, Notices: d.Notices, Runbook: s.svc.Config().Runbook(inc.FailureType)}
	if s.history != nil && len(inc.Sites) > 0 {
		end := inc.RecoveredAt
		if end.IsZero() {
			end = s.now().UTC()
		}
		if a, err := s.history.Availability(ctx, inc.Client, inc.Sites, inc.StartedAt, end); err == nil {
			in.Availability = a
		} else {
			s.logger.Warn("post-mortem: availability from Prometheus failed", "incident", id, "err", err)
		}
	}
	return postmortem.Draft(in), d, nil
}

func (s *Server) postmortemMarkdown(w http.ResponseWriter, r *http.Request) {
	rep, _, err := s.report(r.Context(), r.PathValue("id"))
	if err != nil {
		code, msg := errorStatus(err)
		writeError(w, code, msg)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, _ = w.Write([]byte(rep.Markdown(s.now().UTC())))
}

func (s *Server) postmortemEdit(w http.ResponseWriter, r *http.Request) {
	var e postmortem.Edit
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	e.Actor = actor(r, e.Actor)
	if err := postmortem.Save(r.Context(), s.svc.Store(), r.PathValue("id"), e, s.now().UTC()); err != nil {
		code, msg := errorStatus(err)
		writeError(w, code, msg)
		return
	}
	rep, _, err := s.report(r.Context(), r.PathValue("id"))
	if err != nil {
		code, msg := errorStatus(err)
		writeError(w, code, msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "saved", "published": rep.Published, "due_at": rep.DueAt,
		"markdown": rep.Markdown(s.now().UTC())})
}

// postmortemData is the post-mortem page.
type postmortemData struct {
	Report  *postmortem.Report
	Status  string
	Overdue bool
	Chart   chart
	Lines   []string // impact: availability lines
}

func (s *Server) postmortemPage(w http.ResponseWriter, r *http.Request) {
	rep, d, err := s.report(r.Context(), r.PathValue("id"))
	if err != nil {
		s.httpError(w, err)
		return
	}
	now := s.now().UTC()
	data := postmortemData{Report: rep, Status: rep.Status(now), Overdue: rep.Overdue(now),
		Chart: s.chart(r.Context(), d.Incident), Lines: rep.AvailabilityLines()}
	s.render(w, http.StatusOK, "postmortem", page{Title: rep.Title(), Error: r.URL.Query().Get("error"), Data: data})
}

// drillBody is POST /api/v1/drills.
type drillBody struct {
	Client string `json:"client"`
	Site   string `json:"site"`
	Actor  string `json:"actor"`
}

func (s *Server) drillAPI(w http.ResponseWriter, r *http.Request) {
	var b drillBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	inc, err := s.svc.OpenDrill(r.Context(), b.Client, b.Site, actor(r, b.Actor))
	if err != nil {
		code, msg := errorStatus(err)
		writeError(w, code, msg)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"incident": inc})
}

func (s *Server) drillRecoverAPI(w http.ResponseWriter, r *http.Request) {
	inc, err := s.svc.RecoverDrill(r.Context(), r.PathValue("id"))
	if err != nil {
		code, msg := errorStatus(err)
		writeError(w, code, msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": inc})
}

func (s *Server) drillForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	inc, err := s.svc.OpenDrill(r.Context(), r.PostFormValue("client"), r.PostFormValue("site"), actor(r, r.PostFormValue("actor")))
	if err != nil {
		redirectBack(w, r, "/incidents", err)
		return
	}
	http.Redirect(w, r, "/incidents/"+inc.ID, http.StatusSeeOther)
}

// maintenanceWindow is a window in the maintenance API.
type maintenanceWindow struct {
	ID          string    `json:"id,omitempty"`
	Source      string    `json:"source"` // config | api
	Client      string    `json:"client"`
	Sites       []string  `json:"sites"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Description string    `json:"description,omitempty"`
	Active      bool      `json:"active"`
}

// maintenanceAPI lists the maintenance windows (config file and API) that have not ended.
func (s *Server) maintenanceAPI(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	out := []maintenanceWindow{}
	for _, m := range s.svc.Maintenance(s.svc.Config()) {
		if !now.Before(m.End) {
			continue
		}
		src := "config"
		if m.ID != "" {
			src = "api"
		}
		out = append(out, maintenanceWindow{ID: m.ID, Source: src, Client: m.Client, Sites: orEmpty(m.Sites), Start: m.Start, End: m.End,
			Description: strings.TrimSpace(m.Description), Active: !now.Before(m.Start)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"maintenance": out})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maintenanceBody is POST /api/v1/maintenance.
type maintenanceBody struct {
	Client      string    `json:"client"`
	Sites       []string  `json:"sites"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Description string    `json:"description"`
	Actor       string    `json:"actor"`
}

func (s *Server) addMaintenanceAPI(w http.ResponseWriter, r *http.Request) {
	var b maintenanceBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	win, err := s.svc.AddMaintenance(r.Context(), store.MaintenanceWindow{Client: b.Client, Sites: b.Sites, Start: b.Start, End: b.End,
		Description: strings.TrimSpace(b.Description), Actor: actor(r, b.Actor)})
	if err != nil {
		code, msg := errorStatus(err)
		writeError(w, code, msg)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"maintenance": win})
}

func (s *Server) deleteMaintenanceAPI(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.DeleteMaintenance(r.Context(), r.PathValue("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, "no such maintenance window (windows of the config file cannot be deleted here)")
			return
		}
		code, msg := errorStatus(err)
		writeError(w, code, msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "deleted"})
}
