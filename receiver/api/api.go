// Package api is the receiver's JSON API: the Alertmanager webhook, the Watchdog heartbeat,
// incidents and their actions, deploys. When API tokens are configured every route needs
// `Authorization: Bearer <token>`.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/lifecycle"
	"github.com/siteward/siteward/receiver/store"
)

// maxActionBytes bounds the body of an action or a deploy.
const maxActionBytes = 64 << 10

// API serves /api/v1.
type API struct {
	svc      *lifecycle.Service
	tokens   func() []string
	logger   *slog.Logger
	requests *prometheus.CounterVec
}

// New returns the API. tokens returns the current bearer tokens (none: no auth).
func New(svc *lifecycle.Service, tokens func() []string, reg prometheus.Registerer, logger *slog.Logger) *API {
	a := &API{svc: svc, tokens: tokens, logger: logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siteward_webhook_requests_total",
			Help: "Alertmanager webhook requests by result (accepted, duplicate, invalid, unauthorized, error).",
		}, []string{"result"}),
	}
	for _, r := range []string{"accepted", "duplicate", "invalid", "unauthorized", "error"} {
		a.requests.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(a.requests)
	}
	return a
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/webhook", a.webhook)
	mux.HandleFunc("POST /api/v1/watchdog", a.auth(a.watchdog))
	mux.HandleFunc("GET /api/v1/incidents", a.auth(a.listIncidents))
	mux.HandleFunc("GET /api/v1/incidents/{id}", a.auth(a.getIncident))
	mux.HandleFunc("POST /api/v1/incidents/{id}/{action}", a.auth(a.action))
	mux.HandleFunc("POST /api/v1/deploys", a.auth(a.deploy))
}

// Authorized reports whether r carries a configured token (or none are configured).
func (a *API) Authorized(r *http.Request) bool {
	toks := a.tokens()
	if len(toks) == 0 {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	match := 0
	for _, t := range toks {
		match |= subtle.ConstantTimeCompare([]byte(got), []byte(t))
	}
	return match == 1
}

func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.Authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="siteward"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"status": "error", "error": msg})
}

// readBody reads at most limit bytes; a larger body is a validation error.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("reading body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, badRequest("body larger than %d bytes", limit)
	}
	return b, nil
}

func (a *API) webhook(w http.ResponseWriter, r *http.Request) {
	if !a.Authorized(r) {
		a.requests.WithLabelValues("unauthorized").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="siteward"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	body, err := readBody(r, MaxWebhookBytes)
	var msg *WebhookMessage
	if err == nil {
		msg, err = DecodeWebhook(body)
	}
	if err != nil {
		a.requests.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := a.svc.Ingest(r.Context(), msg.StoreAlerts())
	if err != nil {
		// 5xx so that Alertmanager retries; never 429, which it would drop.
		a.requests.WithLabelValues("error").Inc()
		a.logger.Error("webhook: storing the notification failed", "group_key", msg.GroupKey, "err", err)
		writeError(w, http.StatusServiceUnavailable, "storing the notification failed; retry")
		return
	}
	result := "accepted"
	if res.Fresh == 0 {
		result = "duplicate"
	}
	a.requests.WithLabelValues(result).Inc()
	writeJSON(w, http.StatusOK, map[string]any{"status": result, "fresh_alerts": res.Fresh, "incidents": orEmpty(res.Incidents)})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *API) watchdog(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxWebhookBytes)
	var msg *WebhookMessage
	if err == nil {
		msg, err = DecodeWebhook(body)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if msg.Status != "firing" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "reason": "the Watchdog alert is resolved"})
		return
	}
	if err := a.svc.Heartbeat(r.Context()); err != nil {
		a.logger.Error("watchdog: recording the heartbeat failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "recording the heartbeat failed; retry")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "recorded"})
}

func (a *API) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.IncidentFilter{State: store.State(q.Get("state")), Client: q.Get("client")}
	if f.State == "open" {
		f.State, f.Open = "", true
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want a positive integer, got %q", l))
			return
		}
		f.Limit = n
	}
	if f.State != "" && !f.State.Valid() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state: want open, investigating, identified, monitoring or resolved, got %q", f.State))
		return
	}
	incs, err := a.svc.Store().Incidents(r.Context(), f)
	if err != nil {
		a.storeError(w, err)
		return
	}
	if incs == nil {
		incs = []*store.Incident{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": incs})
}

// IncidentDetail is GET /api/v1/incidents/{id}.
type IncidentDetail struct {
	Incident *store.Incident       `json:"incident"`
	Timeline []store.TimelineEntry `json:"timeline"`
	Notices  []store.Notice        `json:"notices"`
	Runbook  any                   `json:"runbook"`
}

// Detail loads an incident with its timeline, notices and runbook.
func Detail(ctx context.Context, svc *lifecycle.Service, id string) (*IncidentDetail, error) {
	inc, err := svc.Store().Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	tl, err := svc.Store().Timeline(ctx, id)
	if err != nil {
		return nil, err
	}
	ns, err := svc.Store().Notices(ctx, id)
	if err != nil {
		return nil, err
	}
	return &IncidentDetail{Incident: inc, Timeline: nonNil(tl), Notices: nonNil(ns), Runbook: svc.Config().Runbook(inc.FailureType)}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *API) getIncident(w http.ResponseWriter, r *http.Request) {
	d, err := Detail(r.Context(), a.svc, r.PathValue("id"))
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// actionBody is the JSON body of every action; each uses the fields it needs.
type actionBody struct {
	Actor string `json:"actor"`
	Owner string `json:"owner"` // assign
	Text  string `json:"text"`  // notes, root-cause, resolve
	Kind  string `json:"kind"`  // notes: note (default), action, next
}

func (a *API) action(w http.ResponseWriter, r *http.Request) {
	var body actionBody
	raw, err := readBody(r, maxActionBytes)
	if err == nil && len(strings.TrimSpace(string(raw))) > 0 {
		if jerr := json.Unmarshal(raw, &body); jerr != nil {
			err = badRequest("malformed JSON: %v", jerr)
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	actor := trimActor(body.Actor)
	var ev incident.Event
	switch r.PathValue("action") {
	case "acknowledge":
		ev = incident.Acknowledge{Actor: actor}
	case "assign":
		ev = incident.Assign{Actor: actor, Owner: strings.TrimSpace(body.Owner)}
	case "notes":
		ev = incident.Note{Actor: actor, Kind: body.Kind, Text: body.Text}
	case "root-cause":
		ev = incident.SetRootCause{Actor: actor, Text: body.Text}
	case "resolve":
		ev = incident.Resolve{Actor: actor, Text: body.Text}
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q (acknowledge, assign, notes, root-cause, resolve)", r.PathValue("action")))
		return
	}
	inc, err := a.svc.Act(r.Context(), r.PathValue("id"), ev)
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": inc})
}

type deployBody struct {
	Client      string    `json:"client"`
	Site        string    `json:"site"`
	At          time.Time `json:"at"`
	Version     string    `json:"version"`
	Description string    `json:"description"`
	Actor       string    `json:"actor"`
}

func (a *API) deploy(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(r, maxActionBytes)
	var body deployBody
	if err == nil {
		if jerr := json.Unmarshal(raw, &body); jerr != nil {
			err = badRequest("malformed JSON: %v", jerr)
		} else if strings.TrimSpace(body.Client) == "" {
			err = badRequest("client: required")
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d := store.Deploy{Client: body.Client, Site: body.Site, At: body.At.UTC(), Version: body.Version, Description: body.Description, Actor: body.Actor}
	if body.At.IsZero() {
		d.At = time.Time{}
	}
	if err := a.svc.RecordDeploy(r.Context(), d); err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"status": "recorded"})
}

func (a *API) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such incident")
	case errors.Is(err, incident.ErrResolved):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, incident.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		a.logger.Error("api: store error", "err", err)
		writeError(w, http.StatusServiceUnavailable, "store error; retry")
	}
}
