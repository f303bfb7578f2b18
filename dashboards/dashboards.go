// Package dashboards embeds siteward's Grafana dashboards and lists their PromQL queries, so
// that tests can check them offline (syntax, variables) and against a live Prometheus (the
// end-to-end test runs every query and expects data from the core panels listed in core.txt).
package dashboards

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Files holds the dashboard JSON files and core.txt, as Grafana's file provider reads them.
//
//go:embed *.json core.txt
var Files embed.FS

// Dashboard is the part of a Grafana dashboard model that siteward's checks read.
type Dashboard struct {
	File          string `json:"-"`
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a dashboard template variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Definition string          `json:"definition"`
	Query      json.RawMessage `json:"query"`
	Datasource *Datasource     `json:"datasource"`
	AllValue   string          `json:"allValue"`
}

// QueryString returns the variable's query: Grafana stores it either as a string or as an
// object with a "query" field (the Prometheus variable editor).
func (v Variable) QueryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var obj struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &obj) == nil {
		return obj.Query
	}
	return ""
}

// Datasource references a Grafana data source.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a dashboard panel; rows carry their collapsed panels in Panels.
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
	Panels     []Panel     `json:"panels"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Instant    bool        `json:"instant"`
	Datasource *Datasource `json:"datasource"`
}

// AllPanels returns every panel, rows' nested panels included, in document order.
func (d Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Load parses every embedded dashboard, sorted by file name.
func Load() ([]Dashboard, error) {
	names, err := fs.Glob(Files, "*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Dashboard
	for _, name := range names {
		b, err := Files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		d.File = path.Base(name)
		out = append(out, d)
	}
	return out, nil
}

// PanelRef names one panel of one dashboard.
type PanelRef struct {
	UID     string
	PanelID int
}

// CorePanels reads core.txt: the panels that must return data while the pipeline runs.
// Each line is "<dashboard uid> <panel id>", optionally followed by "# comment".
func CorePanels() (map[PanelRef]bool, error) {
	b, err := Files.ReadFile("core.txt")
	if err != nil {
		return nil, err
	}
	core := map[PanelRef]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("core.txt:%d: want \"<dashboard uid> <panel id>\", got %q", n, sc.Text())
		}
		id, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, fmt.Errorf("core.txt:%d: panel id: %w", n, err)
		}
		ref := PanelRef{UID: fields[0], PanelID: id}
		if core[ref] {
			return nil, fmt.Errorf("core.txt:%d: %s panel %d listed twice", n, ref.UID, ref.PanelID)
		}
		core[ref] = true
	}
	return core, sc.Err()
}

// Query is one PromQL query of one panel, with its Grafana variables still in place.
type Query struct {
	DashboardUID string
	PanelID      int
	PanelTitle   string
	RefID        string
	Expr         string
	Instant      bool
	// Core is true when the panel is listed in core.txt.
	Core bool
}

// Queries returns every panel query of every dashboard.
func Queries() ([]Query, error) {
	ds, err := Load()
	if err != nil {
		return nil, err
	}
	core, err := CorePanels()
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, d := range ds {
		for _, p := range d.AllPanels() {
			for _, t := range p.Targets {
				out = append(out, Query{
					DashboardUID: d.UID, PanelID: p.ID, PanelTitle: p.Title, RefID: t.RefID,
					Expr: t.Expr, Instant: t.Instant, Core: core[PanelRef{d.UID, p.ID}],
				})
			}
		}
	}
	return out, nil
}

// Grafana's built-in variables that the dashboards use, and what the checks substitute.
var builtinVars = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__range":         "1h",
}

// DefaultVars returns values for every variable the dashboards use: Grafana's built-ins and
// the template variables at "All" (".*"), so that a live Prometheus returns every series.
func DefaultVars() map[string]string {
	vars := map[string]string{"client": ".*", "site": ".*", "drill": ".*"}
	for k, v := range builtinVars {
		vars[k] = v
	}
	return vars
}

// IsBuiltin reports whether name is one of Grafana's built-in variables the dashboards may use.
func IsBuiltin(name string) bool {
	_, ok := builtinVars[name]
	return ok
}

// varRef matches the three Grafana variable syntaxes: $name, ${name[:format]}, [[name[:format]]].
var varRef = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]`)

// VarNames returns the variable names an expression references, in order of appearance.
func VarNames(expr string) []string {
	var names []string
	for _, m := range varRef.FindAllStringSubmatch(expr, -1) {
		names = append(names, m[1]+m[2]+m[3])
	}
	return names
}

// Expand substitutes every variable in expr with its value from vars; a variable without a
// value is an error, so no `$` reaches Prometheus by accident.
func Expand(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("expression %q: no value for variable(s) %s", expr, strings.Join(missing, ", "))
	}
	return out, nil
}
