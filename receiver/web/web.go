// Package web serves the receiver's HTML pages and the JSON around them: the public status
// pages (/status, /status/{client}, /api/v1/status/{client}), the internal incident pages
// with their forms (/incidents, /incidents/{id}), post-mortems (page, Markdown API, edits,
// overdue reminders) and drills. Pages are server-rendered with html/template and work
// without JavaScript: forms POST and redirect back.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/receiver/history"
	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/lifecycle"
	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/postmortem"
	"github.com/siteward/siteward/receiver/store"
)

//go:embed templates/*.html static/style.css
var assets embed.FS

// maxFormBytes bounds a form or JSON body.
const maxFormBytes = 64 << 10

// Options configure the pages.
type Options struct {
	Service *lifecycle.Service
	// Authorized is the API's check (bearer token, or no tokens configured). The internal
	// pages also accept a token as the password of HTTP basic auth, so a browser can log in.
	Authorized func(*http.Request) bool
	// PrometheusURL enables status history; "" shows "history unavailable".
	PrometheusURL string
	Registry      prometheus.Registerer
	Logger        *slog.Logger
	Now           func() time.Time
	// ReminderInterval is how often overdue post-mortems are looked for (default 1m).
	ReminderInterval time.Duration
}

// Server holds the pages.
type Server struct {
	svc        *lifecycle.Service
	authorized func(*http.Request) bool
	history    *history.Client
	logger     *slog.Logger
	now        func() time.Time
	interval   time.Duration
	pages      map[string]*template.Template
	overdue    prometheus.Gauge
	csrf       *http.CrossOriginProtection
}

// New returns the pages.
func New(o Options) (*Server, error) {
	s := &Server{svc: o.Service, authorized: o.Authorized, logger: o.Logger, now: o.Now, interval: o.ReminderInterval,
		overdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "siteward_postmortems_overdue",
			Help: "Resolved incidents whose post-mortem is not published 24 hours after the resolution.",
		}),
		csrf: http.NewCrossOriginProtection(),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.interval == 0 {
		s.interval = time.Minute
	}
	if s.authorized == nil {
		s.authorized = func(*http.Request) bool { return true }
	}
	if o.PrometheusURL != "" {
		h, err := history.New(o.PrometheusURL)
		if err != nil {
			return nil, err
		}
		s.history = h
	}
	if o.Registry != nil {
		if err := o.Registry.Register(s.overdue); err != nil {
			return nil, fmt.Errorf("register siteward_postmortems_overdue: %w", err)
		}
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	return s, nil
}

var funcs = template.FuncMap{
	"time":     postmortem.FormatTime,
	"duration": postmortem.FormatDuration,
	"ratio":    postmortem.FormatRatio,
	"join":     strings.Join,
	"list":     func(s ...string) []string { return s },
	"mul":      func(a, b int) int { return a * b },
	"uptimeClass": func(v *float64) string {
		switch {
		case v == nil:
			return "u-none"
		case *v >= 0.999:
			return "u-ok"
		case *v >= 0.99:
			return "u-minor"
		case *v >= 0.95:
			return "u-partial"
		}
		return "u-major"
	},
}

func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"status_index", "status", "incidents", "incident", "postmortem"} {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web templates: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

// Register adds the routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /static/style.css", s.style)
	mux.HandleFunc("GET /status", s.statusIndex)
	mux.HandleFunc("GET /status/{client}", s.statusPage)
	mux.HandleFunc("GET /api/v1/status/{client}", s.statusJSON)

	mux.HandleFunc("GET /incidents", s.internal(s.incidentList))
	mux.HandleFunc("GET /incidents/{id}", s.internal(s.incidentPage))
	mux.HandleFunc("GET /incidents/{id}/postmortem", s.internal(s.postmortemPage))
	mux.Handle("POST /incidents/{id}/{action}", s.csrf.Handler(s.internal(s.incidentForm)))
	mux.Handle("POST /incidents/drills", s.csrf.Handler(s.internal(s.drillForm)))

	mux.HandleFunc("GET /api/v1/incidents/{id}/postmortem", s.api(s.postmortemMarkdown))
	mux.HandleFunc("POST /api/v1/incidents/{id}/postmortem", s.api(s.postmortemEdit))
	mux.HandleFunc("POST /api/v1/drills", s.api(s.drillAPI))
	mux.HandleFunc("POST /api/v1/drills/{id}/recover", s.api(s.drillRecoverAPI))
	mux.HandleFunc("GET /api/v1/maintenance", s.api(s.maintenanceAPI))
	mux.HandleFunc("POST /api/v1/maintenance", s.api(s.addMaintenanceAPI))
	mux.HandleFunc("DELETE /api/v1/maintenance/{id}", s.api(s.deleteMaintenanceAPI))
}

func (s *Server) style(w http.ResponseWriter, _ *http.Request) {
	b, err := assets.ReadFile("static/style.css")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(b)
}

// isAuthorized accepts the API's bearer token, or a token as the basic-auth password.
func (s *Server) isAuthorized(r *http.Request) bool {
	if s.authorized(r) {
		return true
	}
	if _, pass, ok := r.BasicAuth(); ok {
		r2 := r.Clone(r.Context())
		r2.Header.Set("Authorization", "Bearer "+pass)
		return s.authorized(r2)
	}
	return false
}

// internal guards an HTML page; browsers are asked for basic auth.
func (s *Server) internal(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.isAuthorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="siteward (user: your name, password: an API token)"`)
			http.Error(w, "401 Unauthorized: log in with your name and an API token", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// api guards a JSON route like the rest of /api/v1.
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.isAuthorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="siteward"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

// actor names who acted: the basic-auth user, else the form or JSON field, else "web".
func actor(r *http.Request, field string) string {
	if user, _, ok := r.BasicAuth(); ok && strings.TrimSpace(user) != "" {
		return strings.TrimSpace(user)
	}
	if a := strings.TrimSpace(field); a != "" {
		return a
	}
	return "web"
}

// page is what every template gets.
type page struct {
	Title   string
	Refresh int // seconds; 0: no meta refresh
	Public  bool
	Error   string
	Data    any
}

func (s *Server) render(w http.ResponseWriter, code int, name string, p page) {
	var b strings.Builder
	if err := s.pages[name].ExecuteTemplate(&b, "layout.html", p); err != nil {
		s.logger.Error("web: rendering a page failed", "page", name, "err", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// httpError answers a store error on an HTML page.
func (s *Server) httpError(w http.ResponseWriter, err error) {
	code, msg := errorStatus(err)
	if code >= 500 {
		s.logger.Error("web: store error", "err", err)
	}
	http.Error(w, msg, code)
}

func errorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "no such incident"
	case errors.Is(err, incident.ErrResolved), errors.Is(err, postmortem.ErrNotResolved), errors.Is(err, lifecycle.ErrNotDrill):
		return http.StatusConflict, err.Error()
	case errors.Is(err, incident.ErrInvalid), errors.Is(err, postmortem.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusServiceUnavailable, "store error; retry"
}

// redirectBack answers a form: 303 to the page, with the error to show when there is one.
func redirectBack(w http.ResponseWriter, r *http.Request, to string, err error) {
	if err != nil {
		_, msg := errorStatus(err)
		to += "?error=" + url.QueryEscape(msg)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// maintenanceRefresh is how often the maintenance windows recorded through the API are
// reloaded, so a window another replica recorded takes effect here too.
const maintenanceRefresh = 10 * time.Second

// Run works until ctx ends: every interval it looks for overdue post-mortems (sets
// siteward_postmortems_overdue and reminds the team once per late post-mortem), and it
// reloads the maintenance windows recorded through the API.
func (s *Server) Run(ctx context.Context) {
	reminders := time.NewTicker(s.interval)
	defer reminders.Stop()
	maintenance := time.NewTicker(maintenanceRefresh)
	defer maintenance.Stop()
	s.refreshMaintenance(ctx)
	s.CheckPostmortems(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-maintenance.C:
			s.refreshMaintenance(ctx)
		case <-reminders.C:
			s.CheckPostmortems(ctx)
		}
	}
}

func (s *Server) refreshMaintenance(ctx context.Context) {
	if err := s.svc.RefreshMaintenance(ctx); err != nil && ctx.Err() == nil {
		s.logger.Warn("reloading maintenance windows failed", "err", err)
	}
}

// CheckPostmortems runs one round of Run.
func (s *Server) CheckPostmortems(ctx context.Context) {
	cfg := s.svc.Config()
	render := func(inc *store.Incident) notify.Incident { return s.svc.MessageIncident(inc) }
	n, err := postmortem.Reminders(ctx, s.svc.Store(), cfg.Team.Channels, render, s.now().UTC())
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("post-mortem reminders failed", "err", err)
		}
		return
	}
	s.overdue.Set(float64(n))
}
