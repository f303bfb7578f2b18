package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/internal/testutil"
	receiverconfig "github.com/siteward/siteward/receiver/config"
)

var testAddrs = addrs{
	exporter:      "127.0.0.1:41115",
	receiver:      "127.0.0.1:41096",
	prometheus:    "127.0.0.1:41090",
	alertmanagers: []string{"127.0.0.1:41093", "127.0.0.1:42093"},
}

func TestAdaptConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		iv   *fastIntervals
	}{{"fast", fast}, {"shipped defaults", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := adaptConfigs("testdata/repo", dir, testAddrs, tc.iv); err != nil {
				t.Fatal(err)
			}
			prom := readFile(t, filepath.Join(dir, "prometheus.yml"))
			am := readFile(t, filepath.Join(dir, "alertmanager.yml"))
			for _, s := range []string{":9115", ":9096", ":9093", "/etc/siteward"} {
				if strings.Contains(prom+am, s) {
					t.Errorf("contract address or path %q left in the adapted configs:\n%s\n%s", s, prom, am)
				}
			}
			for _, s := range []string{"http://127.0.0.1:41115/sd", "replacement: 127.0.0.1:41115", "127.0.0.1:41093", "127.0.0.1:42093", "127.0.0.1:41096"} {
				if !strings.Contains(prom, s) {
					t.Errorf("prometheus.yml lacks %q:\n%s", s, prom)
				}
			}
			if !strings.Contains(am, "http://127.0.0.1:41096/api/v1/webhook") || !strings.Contains(am, filepath.Join(dir, "webhook-token")) {
				t.Errorf("alertmanager.yml not pointed at the test receiver and token:\n%s", am)
			}
			if got := readFile(t, filepath.Join(dir, "rules", "example.rules.yml")); got != readFile(t, "testdata/repo/rules/example.rules.yml") {
				t.Errorf("rules changed:\n%s", got)
			}

			wantScrape, wantGroupWait := "15s", "10s"
			if tc.iv != nil {
				wantScrape, wantGroupWait = tc.iv.scrape.String(), tc.iv.groupWait.String()
			}
			var p struct {
				Global        map[string]string `yaml:"global"`
				ScrapeConfigs []map[string]any  `yaml:"scrape_configs"`
			}
			if err := yaml.Unmarshal([]byte(prom), &p); err != nil {
				t.Fatal(err)
			}
			if p.Global["scrape_interval"] != wantScrape || p.ScrapeConfigs[0]["scrape_interval"] != wantScrape {
				t.Errorf("scrape intervals = %v / %v, want %s", p.Global, p.ScrapeConfigs[0]["scrape_interval"], wantScrape)
			}
			var a struct {
				Route struct {
					GroupWait string `yaml:"group_wait"`
					Routes    []struct {
						GroupWait string `yaml:"group_wait"`
					} `yaml:"routes"`
				} `yaml:"route"`
			}
			if err := yaml.Unmarshal([]byte(am), &a); err != nil {
				t.Fatal(err)
			}
			if a.Route.GroupWait != wantGroupWait {
				t.Errorf("route group_wait = %q, want %s", a.Route.GroupWait, wantGroupWait)
			}
			if tc.iv != nil && a.Route.Routes[0].GroupWait != wantGroupWait {
				t.Errorf("child route group_wait = %q, want %s", a.Route.Routes[0].GroupWait, wantGroupWait)
			}
		})
	}
}

// The repository's own configuration, adapted as the end-to-end tests adapt it, must still pass
// promtool and amtool.
func TestAdaptedRepositoryConfigsAreValid(t *testing.T) {
	promtool := testutil.LookPath(t, "promtool")
	amtool := testutil.LookPath(t, "amtool")
	for _, iv := range []*fastIntervals{fast, nil} {
		dir := t.TempDir()
		if err := adaptConfigs(testutil.RepoRoot(), dir, testAddrs, iv); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range [][]string{
			{promtool, "check", "config", filepath.Join(dir, "prometheus.yml")},
			{amtool, "check-config", filepath.Join(dir, "alertmanager.yml")},
		} {
			if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
				t.Errorf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The fast tests' receiver configuration must be one the receiver accepts.
func TestFastReceiverConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	cfg, err := receiverconfig.Parse([]byte(fastReceiverConfig("acme", "globex")(dir)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timers.FirstNoticeDelay != firstNoticeDelay || cfg.Timers.ResolveQuietWindow != resolveAfter {
		t.Errorf("timers = %+v", cfg.Timers)
	}
	if len(cfg.Clients) != 2 || !cfg.Clients[1].PublicStatusPage {
		t.Errorf("clients = %+v", cfg.Clients)
	}
}
