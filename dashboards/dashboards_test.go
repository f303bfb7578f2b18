package dashboards

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/internal/testutil"
)

var wantUIDs = map[string]string{
	"sites-overview.json":    "siteward-sites-overview",
	"site-detail.json":       "siteward-site-detail",
	"incident-response.json": "siteward-incident-response",
}

func loadAll(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestDashboardsStructure(t *testing.T) {
	ds := loadAll(t)
	if len(ds) != len(wantUIDs) {
		t.Errorf("got %d dashboards, want %d", len(ds), len(wantUIDs))
	}
	for _, d := range ds {
		t.Run(d.File, func(t *testing.T) {
			if want, ok := wantUIDs[d.File]; !ok || d.UID != want {
				t.Errorf("uid = %q, want %q", d.UID, want)
			}
			if d.Title == "" {
				t.Error("no title")
			}
			if d.SchemaVersion < 36 {
				t.Errorf("schemaVersion = %d, want >= 36 (datasource references by uid)", d.SchemaVersion)
			}

			vars := map[string]Variable{}
			for _, v := range d.Templating.List {
				if _, dup := vars[v.Name]; dup {
					t.Errorf("variable %q defined twice", v.Name)
				}
				vars[v.Name] = v
			}
			if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || v.QueryString() != "prometheus" {
				t.Errorf("want a template variable datasource of type datasource with query prometheus, got %+v", v)
			}
			if _, ok := vars["client"]; !ok {
				t.Error("no client variable")
			}

			ids := map[int]string{}
			queries := 0
			for _, p := range d.AllPanels() {
				if prev, dup := ids[p.ID]; dup {
					t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
				}
				ids[p.ID] = p.Title
				if p.Type == "row" {
					continue
				}
				if p.Title == "" {
					t.Errorf("panel %d has no title", p.ID)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %d %q has no queries", p.ID, p.Title)
				}
				checkDatasource(t, fmt.Sprintf("panel %d %q", p.ID, p.Title), p.Datasource)
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					where := fmt.Sprintf("panel %d %q query %s", p.ID, p.Title, tg.RefID)
					queries++
					if tg.RefID == "" || refs[tg.RefID] {
						t.Errorf("%s: refId empty or duplicated", where)
					}
					refs[tg.RefID] = true
					checkDatasource(t, where, tg.Datasource)
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("%s: empty expr", where)
					}
					checkVarsDefined(t, where, tg.Expr, vars)
				}
			}
			if queries == 0 {
				t.Error("dashboard has no queries")
			}
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				checkDatasource(t, "variable "+v.Name, v.Datasource)
				if _, err := labelValuesSelector(v.QueryString()); err != nil {
					t.Errorf("variable %s: %v", v.Name, err)
				}
				checkVarsDefined(t, "variable "+v.Name, v.QueryString(), vars)
			}
		})
	}
}

// Every panel and query must use the dashboard's ${datasource} variable, so the dashboards
// work with whatever the Prometheus data source is called in the user's Grafana.
func checkDatasource(t *testing.T, where string, ds *Datasource) {
	t.Helper()
	if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
		t.Errorf("%s: datasource = %+v, want {prometheus ${datasource}}", where, ds)
	}
}

func checkVarsDefined(t *testing.T, where, expr string, vars map[string]Variable) {
	t.Helper()
	for _, name := range VarNames(expr) {
		if _, ok := vars[name]; !ok && !IsBuiltin(name) {
			t.Errorf("%s: variable $%s is not defined in the dashboard", where, name)
		}
		if _, ok := DefaultVars()[name]; !ok {
			t.Errorf("%s: DefaultVars has no value for $%s (the end-to-end test needs one)", where, name)
		}
	}
}

var labelValues = regexp.MustCompile(`^label_values\((?:(.+),\s*)?(\w+)\)$`)

// labelValuesSelector returns the series selector of a Grafana label_values(selector, label)
// variable query ("" when it has none), so that it can be checked as PromQL.
func labelValuesSelector(q string) (string, error) {
	m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return "", fmt.Errorf("query %q: want label_values([selector, ]label)", q)
	}
	return m[1], nil
}

func TestCorePanels(t *testing.T) {
	core, err := CorePanels()
	if err != nil {
		t.Fatal(err)
	}
	panels := map[PanelRef]Panel{}
	for _, d := range loadAll(t) {
		for _, p := range d.AllPanels() {
			panels[PanelRef{d.UID, p.ID}] = p
		}
	}
	perDashboard := map[string]int{}
	for ref := range core {
		p, ok := panels[ref]
		if !ok {
			t.Errorf("core.txt lists %s panel %d, which does not exist", ref.UID, ref.PanelID)
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("core.txt lists %s panel %d %q, which has no queries", ref.UID, ref.PanelID, p.Title)
		}
		perDashboard[ref.UID]++
	}
	for _, uid := range wantUIDs {
		if perDashboard[uid] == 0 {
			t.Errorf("dashboard %s has no core panel", uid)
		}
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	coreQueries := 0
	for _, q := range qs {
		if q.Core {
			coreQueries++
		}
	}
	if coreQueries == 0 {
		t.Error("Queries marks no query as core")
	}
}

// knownMetrics are the series the dashboards may read: blackbox_exporter's probe metrics and
// the siteward metrics of the shared contract. A misspelt metric name parses as PromQL and
// silently returns nothing, so every name used must be in this list or be a recording rule
// of rules/.
var knownMetrics = []string{
	"probe_success", "probe_duration_seconds", "probe_dns_lookup_time_seconds", "probe_ip_protocol",
	"probe_http_status_code", "probe_http_duration_seconds", "probe_http_content_length",
	"probe_http_redirects", "probe_http_ssl", "probe_http_version", "probe_ssl_earliest_cert_expiry",
	"probe_ssl_last_chain_expiry_timestamp_seconds", "probe_tls_version_info",
	"probe_failure_info", "probe_attempts",
	"siteward_exporter_config_last_reload_successful", "siteward_exporter_config_last_reload_success_timestamp_seconds",
	"siteward_exporter_probes_total", "siteward_exporter_probes_refused_total", "siteward_exporter_build_info",
	"siteward_incidents_open", "siteward_notices_total", "siteward_webhook_requests_total",
	"siteward_outbox_pending", "siteward_postmortems_overdue", "siteward_watchdog_last_seen_timestamp_seconds",
	"siteward_incident_time_to_acknowledge_seconds_bucket", "siteward_incident_time_to_first_notice_seconds_bucket",
	"siteward_incident_time_to_resolve_seconds_bucket", "siteward_incident_time_to_first_notice_seconds_count",
}

// metricName matches the metric names the dashboards can use: siteward's and blackbox's
// prefixes, and recording rules (level:metric:operations).
var metricName = regexp.MustCompile(`\b(?:probe_\w+|siteward_\w+|\w+:\w+:\w+)\b`)

func recordingRules(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(), "rules", "*.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf struct {
			Groups []struct {
				Rules []struct {
					Record string `yaml:"record"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					names = append(names, r.Record)
				}
			}
		}
	}
	return names
}

func TestMetricNamesKnown(t *testing.T) {
	known := map[string]bool{}
	for _, n := range append(knownMetrics, recordingRules(t)...) {
		known[n] = true
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, q := range qs {
		for _, name := range metricName.FindAllString(q.Expr, -1) {
			used++
			if !known[name] {
				t.Errorf("%s panel %d %q query %s reads %s, which is neither a contract metric nor a recording rule in rules/",
					q.DashboardUID, q.PanelID, q.PanelTitle, q.RefID, name)
			}
		}
	}
	if used == 0 {
		t.Error("found no metric names in the queries")
	}
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		expr, want, wantErr string
	}{
		{expr: `rate(x{client=~"$client"}[$__rate_interval])`, want: `rate(x{client=~"acme"}[1m])`},
		{expr: `x{site=~"${site}",client=~"${client:regex}"}`, want: `x{site=~"shop",client=~"acme"}`},
		{expr: `x{site=~"[[site]]"}`, want: `x{site=~"shop"}`},
		{expr: `x{job="$job"}`, wantErr: "job"},
	} {
		got, err := Expand(tc.expr, map[string]string{"client": "acme", "site": "shop", "__rate_interval": "1m"})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Expand(%q) error = %v, want one naming %q", tc.expr, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}

// TestPromQLParses expands every query with concrete values (one specific client and site, and
// "All") and has promtool parse them offline: they become recording rules in a temporary rule
// file, and `promtool check rules` reports every expression that does not parse.
func TestPromQLParses(t *testing.T) {
	promtool := testutil.LookPath(t, "promtool")
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{} // record name -> expression
	where := map[string]string{} // record name -> human-readable origin
	add := func(origin, expr string, vars map[string]string) {
		e, err := Expand(expr, vars)
		if err != nil {
			t.Errorf("%s: %v", origin, err)
			return
		}
		name := fmt.Sprintf("dashboard_check:q%d", len(exprs))
		exprs[name], where[name] = e, origin
	}
	specific := DefaultVars()
	specific["client"], specific["site"], specific["drill"] = "acme", "shop", "false"
	for _, q := range qs {
		origin := fmt.Sprintf("%s panel %d %q query %s", q.DashboardUID, q.PanelID, q.PanelTitle, q.RefID)
		add(origin, q.Expr, DefaultVars())
		add(origin+" (one client and site)", q.Expr, specific)
	}
	for _, d := range loadAll(t) {
		for _, v := range d.Templating.List {
			if sel, err := labelValuesSelector(v.QueryString()); err == nil && sel != "" {
				add(d.UID+" variable "+v.Name, sel, specific)
			}
		}
	}
	if out, err := checkPromQL(t, promtool, exprs); err != nil {
		for name, origin := range where {
			if strings.Contains(out, `"`+name+`"`) {
				t.Errorf("%s does not parse: %s", origin, exprs[name])
			}
		}
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// TestPromQLCheckCatchesErrors makes sure the promtool check above can fail.
func TestPromQLCheckCatchesErrors(t *testing.T) {
	promtool := testutil.LookPath(t, "promtool")
	out, err := checkPromQL(t, promtool, map[string]string{
		"dashboard_check:ok":  `sum by (client) (probe_success)`,
		"dashboard_check:bad": `sum by (client (probe_success)`,
	})
	if err == nil {
		t.Fatalf("promtool accepted a broken expression:\n%s", out)
	}
	if !strings.Contains(out, `"dashboard_check:bad"`) || strings.Contains(out, `"dashboard_check:ok"`) {
		t.Errorf("promtool output should name only the broken rule:\n%s", out)
	}
}

// checkPromQL writes exprs as recording rules and runs `promtool check rules` on them.
func checkPromQL(t *testing.T, promtool string, exprs map[string]string) (string, error) {
	t.Helper()
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	names := make([]string, 0, len(exprs))
	for n := range exprs {
		names = append(names, n)
	}
	sort.Strings(names)
	rules := make([]rule, 0, len(names))
	for _, n := range names {
		rules = append(rules, rule{Record: n, Expr: exprs[n]})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboards.rules.yml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	return string(out), err
}
