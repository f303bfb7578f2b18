// Package rules_test checks the Prometheus rule files in this directory, prometheus.yml and
// alertmanager.yml with the real promtool and amtool, and enforces the alert contract
// (labels, annotations, runbook links) and test coverage that promtool cannot check itself.
package rules_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/internal/testutil"
)

// runbookURL is the one runbook link every alert uses; the anchor is the failure_type label.
const runbookURL = "https://github.com/siteward/siteward/blob/main/docs/runbooks.md#{{ $labels.failure_type }}"

// probeFailureTypes are the failure_type values of probe_failure_info (shared contract).
var probeFailureTypes = []string{"dns", "connect", "timeout", "ssl", "http", "content"}

// alertNames are the alerts of the shared contract.
var alertNames = []string{
	"SiteDown", "SiteSlow", "SiteCertificateExpiring", "SiteFlapping", "SitesDownAcrossClients",
	"SiteErrorBudgetBurn", "SitewardExporterDown", "Watchdog",
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type testFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTests []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

func globFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	return files
}

func loadYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// ruleFiles are the files prometheus.yml loads (its rule_files glob, relative to the repo root).
func ruleFiles(t *testing.T) []string {
	return globFiles(t, filepath.Join(testutil.RepoRoot(), "rules", "*.rules.yml"))
}

func testFiles(t *testing.T) []string {
	return globFiles(t, filepath.Join(testutil.RepoRoot(), "rules", "*_test.yml"))
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// TestTools runs promtool and amtool over the shipped files, as an operator would.
func TestTools(t *testing.T) {
	t.Parallel()
	root := testutil.RepoRoot()
	promtool := testutil.LookPath(t, "promtool")
	amtool := testutil.LookPath(t, "amtool")

	t.Run("promtool check rules", func(t *testing.T) {
		run(t, root, promtool, append([]string{"check", "rules"}, ruleFiles(t)...)...)
	})
	t.Run("promtool check config prometheus.yml", func(t *testing.T) {
		run(t, root, promtool, "check", "config", "prometheus.yml")
	})
	t.Run("amtool check-config alertmanager.yml", func(t *testing.T) {
		run(t, root, amtool, "check-config", "alertmanager.yml")
	})
	for _, f := range testFiles(t) {
		t.Run("promtool test rules "+filepath.Base(f), func(t *testing.T) {
			run(t, filepath.Dir(f), promtool, "test", "rules", filepath.Base(f))
		})
	}
}

// TestAlertContract checks what every alert must carry so that Alertmanager's grouping, the
// receiver and the runbook links work.
func TestAlertContract(t *testing.T) {
	seen := map[string]bool{}
	recordName := regexp.MustCompile(`^[a-z_]+:[a-z_]+:[a-z0-9_]+$`)
	for _, f := range ruleFiles(t) {
		var rf ruleFile
		loadYAML(t, f, &rf)
		for _, g := range rf.Groups {
			if !strings.HasSuffix(g.Name, ".rules") {
				t.Errorf("%s: group %q: name must be <component>.rules", filepath.Base(f), g.Name)
			}
			for _, r := range g.Rules {
				if r.Record != "" {
					if !recordName.MatchString(r.Record) {
						t.Errorf("%s: recording rule %q: name must be level:metric:operations", filepath.Base(f), r.Record)
					}
					continue
				}
				seen[r.Alert] = true
				t.Run(r.Alert+"/"+r.Labels["severity"], func(t *testing.T) {
					if !slices.Contains(alertNames, r.Alert) {
						t.Errorf("alert %q is not in the shared contract %v", r.Alert, alertNames)
					}
					if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
						t.Errorf("severity %q: want critical, warning or info", s)
					}
					if _, ok := r.Labels["failure_type"]; ok {
						t.Error("failure_type must come from the expression, not labels: annotations cannot see static labels")
					}
					if !strings.Contains(r.Expr, "failure_type") {
						t.Error("the expression must produce a failure_type label")
					}
					for _, a := range []string{"summary", "description"} {
						if r.Annotations[a] == "" {
							t.Errorf("annotation %s is missing", a)
						}
					}
					if got := r.Annotations["runbook_url"]; got != runbookURL {
						t.Errorf("runbook_url = %q, want %q", got, runbookURL)
					}
				})
			}
		}
	}
	for _, name := range alertNames {
		if !seen[name] {
			t.Errorf("alert %s of the shared contract is not defined", name)
		}
	}
}

// TestEveryRuleIsTested requires a promql_expr_test for every recording rule and, for every
// alert, a promtool case where it fires and one where it does not.
func TestEveryRuleIsTested(t *testing.T) {
	exprs := map[string][]string{}                       // rule file -> promql_expr_test expressions
	fires, quiet := map[string]bool{}, map[string]bool{} // alert name -> covered
	for _, f := range testFiles(t) {
		var tf testFile
		loadYAML(t, f, &tf)
		for _, c := range tf.Tests {
			for _, e := range c.PromQLExprTests {
				for _, rf := range tf.RuleFiles {
					exprs[rf] = append(exprs[rf], e.Expr)
				}
			}
			for _, a := range c.AlertRuleTests {
				if len(a.ExpAlerts) == 0 {
					quiet[a.Alertname] = true
					continue
				}
				fires[a.Alertname] = true
				for _, exp := range a.ExpAlerts {
					for _, l := range []string{"severity", "failure_type"} {
						if exp.ExpLabels[l] == "" {
							t.Errorf("%s: %s at %s: expected alert without label %s", filepath.Base(f), a.Alertname, a.EvalTime, l)
						}
					}
					for _, an := range []string{"summary", "description", "runbook_url"} {
						if exp.ExpAnnotations[an] == "" {
							t.Errorf("%s: %s at %s: expected alert without annotation %s", filepath.Base(f), a.Alertname, a.EvalTime, an)
						}
					}
				}
			}
		}
	}
	for _, f := range ruleFiles(t) {
		var rf ruleFile
		loadYAML(t, f, &rf)
		base := filepath.Base(f)
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				switch {
				case r.Record != "":
					if !slices.ContainsFunc(exprs[base], func(e string) bool { return strings.Contains(e, r.Record) }) {
						t.Errorf("%s: recording rule %s has no promql_expr_test", base, r.Record)
					}
				default:
					if !fires[r.Alert] {
						t.Errorf("%s: alert %s has no test where it fires", base, r.Alert)
					}
					// Watchdog always fires; every other alert needs a case before its for.
					if r.Alert != "Watchdog" && !quiet[r.Alert] {
						t.Errorf("%s: alert %s has no test where it does not fire", base, r.Alert)
					}
				}
			}
		}
	}
}

// TestRunbookAnchors checks that every failure_type an alert can carry has its section in
// docs/runbooks.md, with a heading that is exactly the failure type (GitHub anchor #<type>).
func TestRunbookAnchors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			headings[strings.TrimSpace(h)] = true
		}
	}
	types := slices.Clone(probeFailureTypes)
	literal := regexp.MustCompile(`"failure_type",\s*"([a-z_]+)"`)
	for _, f := range ruleFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			types = append(types, m[1])
		}
	}
	slices.Sort(types)
	for _, ft := range slices.Compact(types) {
		if !headings[ft] {
			t.Errorf("docs/runbooks.md has no section %q (heading %q)", ft, "## "+ft)
		}
	}
}

// TestPrometheusConfigIntervals keeps every interval in prometheus.yml's global block, the one
// place the end-to-end test and users change them.
func TestPrometheusConfigIntervals(t *testing.T) {
	var cfg yaml.Node
	loadYAML(t, filepath.Join(testutil.RepoRoot(), "prometheus.yml"), &cfg)
	keys := []string{"scrape_interval", "scrape_timeout", "evaluation_interval"}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if slices.Contains(keys, k) && path != "/global" {
					t.Errorf("%s/%s: intervals belong in the global block", path, k)
				}
				walk(n.Content[i+1], path+"/"+k)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(cfg.Content[0], "")
}
