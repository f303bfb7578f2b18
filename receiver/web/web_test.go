package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/receiver/api"
	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/lifecycle"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/sqlite"
	"github.com/siteward/siteward/receiver/web"
)

const token = "s3cret-token"

const cfgYAML = `
channels:
  - {name: team, log: {}}
  - {name: acme-mail, log: {}}
team: {channels: [team]}
clients:
  - {name: acme, channels: [acme-mail], public_status_page: true, sites: [shop, blog]}
  - {name: globex, channels: [acme-mail]}
oncall:
  rotations: [{name: primary, members: [owner-olga]}]
api: {tokens: [` + token + `]}
maintenance:
  - {client: acme, sites: [blog], start: 2026-11-27T11:00:00Z, end: 2026-11-27T23:00:00Z, description: Theme upgrade}
`

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fixture is the receiver's real API and pages on one mux, with a settable clock.
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	store store.Store
	svc   *lifecycle.Service
	pages *web.Server
	reg   *prometheus.Registry
	mu    sync.Mutex
	now   time.Time
}

func newFixture(t *testing.T, promURL string) *fixture {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgYAML), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{t: t, store: s, now: t0, reg: prometheus.NewRegistry()}
	logger := slog.New(slog.DiscardHandler)
	f.svc = lifecycle.New(lifecycle.Options{Store: s, Config: cfg, Logger: logger, ExternalURL: "http://rx", Now: f.clock})
	tokens := func() []string { return []string{token} }
	a := api.New(f.svc, tokens, f.reg, logger)
	f.pages, err = web.New(web.Options{Service: f.svc, Authorized: a.Authorized, PrometheusURL: promURL, Registry: f.reg, Logger: logger, Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	f.pages.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// open starts a real incident of acme/site through the webhook path.
func (f *fixture) open(site, alertname, severity string) *store.Incident {
	f.t.Helper()
	res, err := f.svc.Ingest(context.Background(), []store.Alert{{Fingerprint: site + alertname, Status: "firing", StartsAt: f.clock().Add(-time.Minute),
		Labels: map[string]string{"alertname": alertname, "client": "acme", "site": site, "severity": severity, "failure_type": "http"}}})
	if err != nil || len(res.Incidents) != 1 {
		f.t.Fatalf("ingest: %v %+v", err, res)
	}
	inc, err := f.store.Incident(context.Background(), res.Incidents[0])
	if err != nil {
		f.t.Fatal(err)
	}
	return inc
}

func (f *fixture) act(id string, ev incident.Event) {
	f.t.Helper()
	if _, err := f.svc.Act(context.Background(), id, ev); err != nil {
		f.t.Fatal(err)
	}
}

// get fetches path; auth is "" (none), "bearer" or "basic".
func (f *fixture) get(path, auth string) (int, string, http.Header) {
	f.t.Helper()
	return f.do(http.MethodGet, path, auth, "", "")
}

func (f *fixture) do(method, path, auth, contentType, body string) (int, string, http.Header) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	switch auth {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+token)
	case "basic":
		req.SetBasicAuth("alice", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestPublicStatusShowsNothingInternal(t *testing.T) {
	f := newFixture(t, "")
	inc := f.open("shop", "SiteDown", "critical")
	secrets := []string{"owner-olga", "INTERNAL-NOTE-42", "SECRET-CAUSE", "bob-the-responder", "alertmanager", "runbook", "failure_type", "assessment"}
	f.act(inc.ID, incident.Acknowledge{Actor: "bob-the-responder"})
	f.act(inc.ID, incident.Note{Actor: "bob-the-responder", Kind: "action", Text: "INTERNAL-NOTE-42 restarted php-fpm"})
	f.act(inc.ID, incident.SetRootCause{Actor: "bob-the-responder", Text: "SECRET-CAUSE: the database password rotated"})
	drill, err := f.svc.OpenDrill(context.Background(), "acme", "shop", "carol")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, drill.ID, "DRILL", "carol")

	code, page, hdr := f.get("/status/acme", "")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /status/acme = %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{"Major outage", "shop", "Investigating", "Identified", "The cause has been identified",
		"blog", "Under maintenance", "Theme upgrade", `http-equiv="refresh"`, `name="viewport"`, `lang="en"`, "90 days"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	_, js, _ := f.get("/api/v1/status/acme", "")
	var st web.ClientStatus
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != web.StatusMajor || len(st.Open) != 1 || len(st.Sites) != 2 || st.Sites[0].Name != "blog" || st.Sites[0].Status != web.StatusMaintenance {
		t.Errorf("status JSON = %+v", st)
	}
	if len(st.Sites[1].Days) != 90 {
		t.Errorf("shop's uptime bar has %d days, want 90", len(st.Sites[1].Days))
	}
	for _, body := range []struct{ name, text string }{{"HTML", page}, {"JSON", js}} {
		for _, s := range secrets {
			if strings.Contains(body.text, s) {
				t.Errorf("public %s status leaks %q", body.name, s)
			}
		}
	}
	if code, _, _ := f.get("/status/globex", ""); code != http.StatusNotFound {
		t.Errorf("non-public client's page = %d, want 404", code)
	}
	if code, _, _ := f.get("/api/v1/status/globex", ""); code != http.StatusNotFound {
		t.Errorf("non-public client's JSON = %d, want 404", code)
	}
	if _, idx, _ := f.get("/status", ""); !strings.Contains(idx, "/status/acme") || strings.Contains(idx, "globex") {
		t.Errorf("status index should list acme only:\n%s", idx)
	}
}

func TestStatusRecentIncidentsAndUptimeFromHistory(t *testing.T) {
	f := newFixture(t, "")
	inc := f.open("shop", "SiteSlow", "warning")
	if _, js, _ := f.get("/api/v1/status/acme", ""); !strings.Contains(js, `"status":"degraded_performance"`) {
		t.Errorf("a SiteSlow incident should make shop degraded: %s", js)
	}
	f.advance(2 * time.Hour)
	f.act(inc.ID, incident.Resolve{Actor: "bob", Text: "fixed"})
	f.advance(time.Hour)
	_, js, _ := f.get("/api/v1/status/acme", "")
	var st web.ClientStatus
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != web.StatusMaintenance || len(st.Open) != 0 || len(st.Recent) != 1 || st.Recent[0].State != "Resolved" {
		t.Errorf("after resolution: status %s, open %d, recent %+v", st.Status, len(st.Open), st.Recent)
	}
	if blog := st.Sites[0].Days[89]; blog.Uptime == nil || *blog.Uptime != 1 {
		t.Errorf("blog (no incident) uptime today = %v, want 1", blog.Uptime)
	}
	today := st.Sites[1].Days[89]
	if st.UptimeSource != "incidents" || today.Uptime == nil || *today.Uptime >= 1 || *today.Uptime <= 0.5 {
		t.Errorf("shop's uptime today from the incident history = %v (source %s), want between 0.5 and 1", today.Uptime, st.UptimeSource)
	}
}

func TestIncidentPagesNeedAuthAndFormsWork(t *testing.T) {
	f := newFixture(t, "")
	inc := f.open("shop", "SiteDown", "critical")
	if code, _, hdr := f.get("/incidents", ""); code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("GET /incidents without auth = %d %q, want 401 asking for basic auth", code, hdr.Get("WWW-Authenticate"))
	}
	if code, _, _ := f.do(http.MethodPost, "/incidents/"+inc.ID+"/acknowledge", "", "application/x-www-form-urlencoded", ""); code != http.StatusUnauthorized {
		t.Errorf("form without auth = %d, want 401", code)
	}
	code, list, _ := f.get("/incidents", "basic")
	if code != http.StatusOK || !strings.Contains(list, inc.ID) || !strings.Contains(list, "not acknowledged") {
		t.Fatalf("incident list = %d:\n%s", code, list)
	}
	code, detail, _ := f.get("/incidents/"+inc.ID, "bearer")
	for _, want := range []string{"Which sites?", "Isolated?", "Recent deploys?", "owner-olga", "Runbook: HTTP errors", "History unavailable: Prometheus is not configured", `action="/incidents/` + inc.ID + `/acknowledge"`, "incident.opened"} {
		if !strings.Contains(detail, want) {
			t.Errorf("incident page lacks %q", want)
		}
	}
	form := func(action string, v url.Values) {
		t.Helper()
		code, _, hdr := f.do(http.MethodPost, "/incidents/"+inc.ID+"/"+action, "basic", "application/x-www-form-urlencoded", v.Encode())
		if code != http.StatusSeeOther || strings.Contains(hdr.Get("Location"), "error") {
			t.Errorf("form %s = %d, Location %q", action, code, hdr.Get("Location"))
		}
	}
	form("acknowledge", nil)
	form("notes", url.Values{"text": {"Restarted php-fpm"}, "kind": {"action"}})
	form("root-cause", url.Values{"text": {"Pool exhausted"}})
	form("resolve", url.Values{"text": {"Fixed the pool size"}})
	_, detail, _ = f.get("/incidents/"+inc.ID, "basic")
	for _, want := range []string{"Acknowledged by alice", "Restarted php-fpm", "Root cause: Pool exhausted", "Fixed the pool size", "resolved"} {
		if !strings.Contains(detail, want) {
			t.Errorf("timeline after the forms lacks %q", want)
		}
	}
	// A form that fails redirects back with the reason.
	code, _, hdr := f.do(http.MethodPost, "/incidents/"+inc.ID+"/acknowledge", "basic", "application/x-www-form-urlencoded", "")
	if code != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "error=") {
		t.Errorf("acknowledging a resolved incident = %d, Location %q, want a redirect with the error", code, hdr.Get("Location"))
	}
	// Cross-origin form posts are refused.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/incidents/"+inc.ID+"/notes", strings.NewReader("text=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.SetBasicAuth("alice", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form post = %d, want 403", resp.StatusCode)
	}
}

func TestPostmortemAPIAndOverdue(t *testing.T) {
	f := newFixture(t, "")
	inc := f.open("shop", "SiteDown", "critical")
	path := "/api/v1/incidents/" + inc.ID + "/postmortem"
	if code, _, _ := f.get(path, ""); code != http.StatusUnauthorized {
		t.Errorf("post-mortem without a token = %d, want 401", code)
	}
	code, body, _ := f.do(http.MethodPost, path, "bearer", "application/json", `{"publish": true}`)
	if code != http.StatusConflict {
		t.Errorf("publishing an open incident's post-mortem = %d %s, want 409", code, body)
	}
	f.advance(10 * time.Minute)
	f.act(inc.ID, incident.Resolve{Actor: "bob"})
	code, md, hdr := f.get(path, "bearer")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/markdown") {
		t.Fatalf("GET postmortem = %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{"## Timeline", "## Impact", "## Root cause", "Suspected", "## Response log", "## Prevention", "Capacity alerts before saturation", "Draft, due 2026-11-28 12:10:00 UTC"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if code, body, _ := f.do(http.MethodPost, path, "bearer", "application/json", `{"summari": "typo"}`); code != http.StatusBadRequest {
		t.Errorf("unknown field = %d %s, want 400", code, body)
	}
	if code, body, _ := f.do(http.MethodPost, path, "bearer", "application/json", `{"actor":"dana","root_cause":"Pool too small","prevention":["Pool alerts"],"summary":"Shop down 10 minutes"}`); code != http.StatusOK {
		t.Fatalf("edit = %d %s", code, body)
	}

	f.advance(25 * time.Hour)
	f.pages.CheckPostmortems(context.Background())
	if got := gaugeValue(t, f.reg, "siteward_postmortems_overdue"); got != 1 {
		t.Errorf("siteward_postmortems_overdue = %v, want 1", got)
	}
	ns, err := f.store.Notices(context.Background(), inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	reminders := 0
	for _, n := range ns {
		if n.Event == "postmortem.due" {
			reminders++
		}
	}
	if reminders != 1 {
		t.Errorf("post-mortem reminders = %d, want 1 (one team channel)", reminders)
	}

	form := url.Values{"publish": {"on"}}
	if code, _, hdr := f.do(http.MethodPost, "/incidents/"+inc.ID+"/postmortem", "basic", "application/x-www-form-urlencoded", form.Encode()); code != http.StatusSeeOther || strings.Contains(hdr.Get("Location"), "error") {
		t.Errorf("publish form = %d %q", code, hdr.Get("Location"))
	}
	f.pages.CheckPostmortems(context.Background())
	if got := gaugeValue(t, f.reg, "siteward_postmortems_overdue"); got != 0 {
		t.Errorf("after publishing, siteward_postmortems_overdue = %v, want 0", got)
	}
	_, page, _ := f.get("/incidents/"+inc.ID+"/postmortem", "basic")
	for _, want := range []string{"Published", "by alice", "Pool too small", "Pool alerts", "added by dana", "Shop down 10 minutes", "History unavailable"} {
		if !strings.Contains(page, want) {
			t.Errorf("post-mortem page lacks %q", want)
		}
	}
	if strings.Contains(page, "Suspected") {
		t.Error("post-mortem page still calls the root cause suspected after a responder set it")
	}
}

// gaugeValue reads a gauge from the registry.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestDrillAPI(t *testing.T) {
	f := newFixture(t, "")
	code, body, _ := f.do(http.MethodPost, "/api/v1/drills", "bearer", "application/json", `{"client":"acme","site":"shop","actor":"carol"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/v1/drills = %d %s", code, body)
	}
	var out struct{ Incident store.Incident }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	if !out.Incident.Drill {
		t.Errorf("drill incident has drill=false: %s", body)
	}
	if code, body, _ := f.do(http.MethodPost, "/api/v1/drills", "bearer", "application/json", `{"client":"acme"}`); code != http.StatusBadRequest {
		t.Errorf("drill without site = %d %s, want 400", code, body)
	}
	_, page, _ := f.get("/incidents/"+out.Incident.ID, "basic")
	for _, want := range []string{"DRILL - a synthetic incident", "Recover the drill"} {
		if !strings.Contains(page, want) {
			t.Errorf("drill page lacks %q", want)
		}
	}
	if code, body, _ := f.do(http.MethodPost, "/api/v1/drills/"+out.Incident.ID+"/recover", "bearer", "", ""); code != http.StatusOK || !strings.Contains(body, `"state":"monitoring"`) {
		t.Errorf("recover the drill = %d %s, want monitoring", code, body)
	}
	_, js, _ := f.get("/api/v1/status/acme", "")
	if strings.Contains(js, out.Incident.ID) || !strings.Contains(js, `"open_incidents":[]`) {
		t.Errorf("the drill shows on the status page: %s", js)
	}
	code, _, hdr := f.do(http.MethodPost, "/incidents/drills", "basic", "application/x-www-form-urlencoded", "client=acme&site=blog")
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/incidents/") {
		t.Errorf("drill button = %d %q, want a redirect to the new incident", code, hdr.Get("Location"))
	}
	_, js, _ = f.get("/api/v1/maintenance", "bearer")
	if !strings.Contains(js, `"description":"Theme upgrade"`) || !strings.Contains(js, `"active":true`) {
		t.Errorf("GET /api/v1/maintenance = %s", js)
	}
}

func TestMaintenanceAPI(t *testing.T) {
	f := newFixture(t, "")
	body := `{"client":"acme","sites":["shop"],"start":"2026-11-27T11:30:00Z","end":"2026-11-27T13:00:00Z","description":"Payment provider switch","actor":"erin"}`
	if code, _, _ := f.do(http.MethodPost, "/api/v1/maintenance", "", "application/json", body); code != http.StatusUnauthorized {
		t.Errorf("without a token = %d, want 401", code)
	}
	for _, bad := range []string{
		`{"client":"acme","start":"2026-11-27T13:00:00Z","end":"2026-11-27T12:00:00Z"}`,
		`{"client":"","start":"2026-11-27T11:00:00Z","end":"2026-11-27T13:00:00Z"}`,
		`{"client":"acme","start":"2026-11-27T09:00:00Z","end":"2026-11-27T10:00:00Z"}`,
		`{"client":"acme","start":"2026-11-27T11:00:00Z","end":"2026-11-27T13:00:00Z","until":"x"}`,
	} {
		if code, out, _ := f.do(http.MethodPost, "/api/v1/maintenance", "bearer", "application/json", bad); code != http.StatusBadRequest {
			t.Errorf("POST %s = %d %s, want 400", bad, code, out)
		}
	}
	code, out, _ := f.do(http.MethodPost, "/api/v1/maintenance", "bearer", "application/json", body)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/v1/maintenance = %d %s", code, out)
	}
	var created struct{ Maintenance store.MaintenanceWindow }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Maintenance.ID == "" {
		t.Fatalf("answer %s: %v", out, err)
	}
	_, js, _ := f.get("/api/v1/status/acme", "")
	if !strings.Contains(js, `"name":"shop","status":"under_maintenance"`) || !strings.Contains(js, "Payment provider switch") {
		t.Errorf("status after recording the window: %s", js)
	}
	_, list, _ := f.get("/api/v1/maintenance", "bearer")
	if !strings.Contains(list, `"source":"api"`) || !strings.Contains(list, `"source":"config"`) {
		t.Errorf("GET /api/v1/maintenance = %s, want the config and the API window", list)
	}
	if code, out, _ := f.do(http.MethodDelete, "/api/v1/maintenance/"+created.Maintenance.ID, "bearer", "", ""); code != http.StatusOK {
		t.Errorf("DELETE = %d %s", code, out)
	}
	if code, _, _ := f.do(http.MethodDelete, "/api/v1/maintenance/"+created.Maintenance.ID, "bearer", "", ""); code != http.StatusNotFound {
		t.Errorf("DELETE twice = %d, want 404", code)
	}
	if _, list, _ = f.get("/api/v1/maintenance", "bearer"); strings.Contains(list, created.Maintenance.ID) {
		t.Errorf("deleted window still listed: %s", list)
	}
}
