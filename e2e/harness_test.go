// Package e2e runs the whole pipeline with real parts: the demo sites and their DNS server,
// siteward-exporter, real Prometheus and Alertmanager with the repository's prometheus.yml,
// alertmanager.yml and rules/, and siteward-receiver. adaptConfigs is the one place where the
// repository's configuration is changed for a test.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/internal/demosite"
	"github.com/siteward/siteward/internal/testutil"
)

// Contract ports (contracts.md) as they appear in the repository's configuration files.
// Alertmanager's (9093) is not replaced textually: adaptConfigs sets Prometheus' Alertmanager
// targets as a list, one or two.
const (
	exporterPort   = "9115"
	receiverPort   = "9096"
	prometheusPort = "9090"
)

// webhookToken is the bearer token Alertmanager sends and the receiver expects in tests.
const webhookToken = "e2e-webhook-token"

// addrs are the loopback addresses of one test pipeline.
type addrs struct {
	exporter, receiver, prometheus string
	alertmanagers                  []string // one, or an HA pair
	clusters                       []string // Alertmanager cluster (gossip) addresses, same order
}

// fastIntervals are the intervals a fast test uses instead of the shipped ones. Only these are
// changed; rule expressions and `for:` durations stay as shipped (SiteDown's `for: 30s` then
// holds for 15 evaluations instead of 2, which is stricter, not looser).
type fastIntervals struct {
	scrape, evaluation       time.Duration // Prometheus global (and per-job) intervals
	groupWait, groupInterval time.Duration // Alertmanager, every route
}

var fast = &fastIntervals{scrape: 2 * time.Second, evaluation: 2 * time.Second, groupWait: time.Second, groupInterval: 2 * time.Second}

// adaptConfigs writes the repository's prometheus.yml, alertmanager.yml and rules/ into dir with
// the ONLY changes a test makes:
//
//  1. every contract address (localhost:9115 exporter, :9096 receiver, :9090 Prometheus) is
//     replaced by this test's loopback address, and Prometheus' Alertmanager targets by this
//     test's Alertmanagers (two for an HA pair);
//  2. Alertmanager's bearer-token file (credentials_file) is replaced by dir/webhook-token, which
//     holds webhookToken;
//  3. when iv is not nil, Prometheus' scrape and evaluation intervals (global and per job; the
//     scrape timeout follows the interval) and Alertmanager's group_wait and group_interval
//     (every route) are set to iv's values.
//
// The rule files are copied unchanged. With iv nil the result runs at the shipped defaults.
func adaptConfigs(repo, dir string, a addrs, iv *fastIntervals) error {
	replacer := strings.NewReplacer(
		"localhost:"+exporterPort, a.exporter, "127.0.0.1:"+exporterPort, a.exporter,
		"localhost:"+receiverPort, a.receiver, "127.0.0.1:"+receiverPort, a.receiver,
		"localhost:"+prometheusPort, a.prometheus, "127.0.0.1:"+prometheusPort, a.prometheus,
	)

	// Prometheus.
	prom, err := readYAML(filepath.Join(repo, "prometheus.yml"), replacer)
	if err != nil {
		return err
	}
	alerting, _ := prom["alerting"].(map[string]any)
	ams, _ := alerting["alertmanagers"].([]any)
	if len(ams) == 0 {
		return fmt.Errorf("prometheus.yml: no alerting.alertmanagers")
	}
	for _, am := range ams {
		targets := []any{}
		for _, t := range a.alertmanagers {
			targets = append(targets, t)
		}
		am.(map[string]any)["static_configs"] = []any{map[string]any{"targets": targets}}
	}
	if iv != nil {
		global, _ := prom["global"].(map[string]any)
		if global == nil {
			global = map[string]any{}
			prom["global"] = global
		}
		global["scrape_interval"] = iv.scrape.String()
		global["scrape_timeout"] = iv.scrape.String()
		global["evaluation_interval"] = iv.evaluation.String()
		jobs, _ := prom["scrape_configs"].([]any)
		for _, j := range jobs {
			job := j.(map[string]any)
			if _, ok := job["scrape_interval"]; ok {
				job["scrape_interval"] = iv.scrape.String()
			}
			if _, ok := job["scrape_timeout"]; ok {
				job["scrape_timeout"] = iv.scrape.String()
			}
		}
	}
	if err := writeYAML(filepath.Join(dir, "prometheus.yml"), prom); err != nil {
		return err
	}
	if err := copyDir(filepath.Join(repo, "rules"), filepath.Join(dir, "rules")); err != nil {
		return err
	}

	// Alertmanager.
	am, err := readYAML(filepath.Join(repo, "alertmanager.yml"), replacer)
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(dir, "webhook-token")
	if err := os.WriteFile(tokenFile, []byte(webhookToken+"\n"), 0o600); err != nil {
		return err
	}
	walkYAML(am, func(m map[string]any) {
		if _, ok := m["credentials_file"]; ok {
			m["credentials_file"] = tokenFile
		}
		if iv != nil {
			if _, ok := m["receiver"]; ok { // a route
				m["group_wait"] = iv.groupWait.String()
				m["group_interval"] = iv.groupInterval.String()
			}
		}
	})
	return writeYAML(filepath.Join(dir, "alertmanager.yml"), am)
}

func readYAML(path string, r *strings.Replacer) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read repository config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(r.Replace(string(b))), &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return m, nil
}

func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

// walkYAML calls fn on every mapping in v, depth first.
func walkYAML(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, c := range x {
			walkYAML(c, fn)
		}
	case []any:
		for _, c := range x {
			walkYAML(c, fn)
		}
	}
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// process is an external program started by the test, stopped at cleanup.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs bin with args, logging to dir/<name>.log; at cleanup it sends SIGTERM, waits, and
// prints the log's tail when the test failed.
func start(t *testing.T, dir, name, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- last lines of %s (%s):\n%s", name, logPath, tail(logPath, 30))
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// get fetches url and returns status code and body (code 0 and the error text when it failed).
func get(rawURL string, header ...string) (int, []byte) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, []byte(err.Error())
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func post(t *testing.T, rawURL string) {
	t.Helper()
	resp, err := httpClient.Post(rawURL, "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", rawURL, resp.StatusCode, b)
	}
}

// waitReady polls base/-/ready until it answers 200 or the process exits.
func waitReady(t *testing.T, p *process, base string) {
	t.Helper()
	testutil.WaitFor(t, 90*time.Second, p.name+" ready at "+base+"/-/ready", func() (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited before it was ready:\n%s", p.name, tail(p.log, 30))
		}
		code, body := get(base + "/-/ready")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, truncate(body))
	})
}

func truncate(b []byte) string {
	const max = 2000
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// binary builds ./cmd/<name>, or takes it from $SITEWARD_E2E_BIN_DIR when that is set (to run
// the end-to-end tests against binaries built elsewhere, e.g. a release).
func binary(t *testing.T, name string) string {
	t.Helper()
	if dir := os.Getenv("SITEWARD_E2E_BIN_DIR"); dir != "" {
		return filepath.Join(dir, name)
	}
	return testutil.BuildBinary(t, name)
}

// hasFlag reports whether bin's --help lists flag: the harness passes optional flags (added
// by later issues) only to binaries that know them.
func hasFlag(t *testing.T, bin, flag string) bool {
	t.Helper()
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return bytes.Contains(out, []byte("-"+flag))
}

// pipeline is one running set of processes.
type pipeline struct {
	addrs addrs
	// demoURL is the demo sites' control API.
	demoURL string
}

type pipelineOptions struct {
	sites         []demosite.Site
	alertmanagers int            // 1, or 2 for an HA pair
	intervals     *fastIntervals // nil: shipped defaults
	// receiverConfig returns the receiver's configuration file content; nil starts the receiver
	// without a configuration file (its shipped defaults).
	receiverConfig func(dir string) string
}

// startPipeline starts demo sites, exporter, receiver, Alertmanager(s) and Prometheus, waits
// until each is ready and Prometheus has seen every demo site up with its client and site
// labels.
func startPipeline(t *testing.T, o pipelineOptions) *pipeline {
	t.Helper()
	repo := testutil.RepoRoot()
	promBin := testutil.LookPath(t, "prometheus")
	amBin := testutil.LookPath(t, "prometheus-alertmanager", "alertmanager")
	exporterBin := binary(t, "siteward-exporter")
	receiverBin := binary(t, "siteward-receiver")
	dir := t.TempDir()

	// Demo sites, in process: real listeners, real TLS, a real DNS server.
	demo, err := demosite.New(demosite.Options{Sites: o.sites})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(demo.Close)
	ctl := &http.Server{Handler: demo.Handler()}
	ctlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ctl.Serve(ctlLn) }()
	t.Cleanup(func() { _ = ctl.Close() })

	// The processes bind their ports later: take them from below the ephemeral range, where
	// the demo sites' listeners on ":0" cannot take them first.
	free := func() string { return testutil.FreeAddr(t) }
	a := addrs{exporter: free(), receiver: free(), prometheus: free()}
	for range o.alertmanagers {
		a.alertmanagers = append(a.alertmanagers, free())
		a.clusters = append(a.clusters, free())
	}
	if err := adaptConfigs(repo, dir, a, o.intervals); err != nil {
		t.Fatal(err)
	}

	// Exporter.
	caFile := filepath.Join(dir, "demo-ca.pem")
	if err := os.WriteFile(caFile, demo.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	exporterCfg, err := demo.ExporterConfig(demosite.ExporterConfigOptions{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "exporter.yml"), exporterCfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if !hasFlag(t, exporterBin, "dns.resolver") {
		t.Fatal("siteward-exporter has no --dns.resolver flag: the demo sites' names (shop.acme.test) resolve only through the demo DNS server")
	}
	exporter := start(t, dir, "exporter", exporterBin,
		"--config.file="+filepath.Join(dir, "exporter.yml"),
		"--web.listen-address="+a.exporter,
		"--dns.resolver="+demo.DNSAddr(),
	)

	// Receiver.
	receiverArgs := []string{
		"--storage.path=" + filepath.Join(dir, "receiver.db"),
		"--web.listen-address=" + a.receiver,
	}
	if o.receiverConfig != nil {
		path := filepath.Join(dir, "receiver.yml")
		if err := os.WriteFile(path, []byte(o.receiverConfig(dir)), 0o644); err != nil {
			t.Fatal(err)
		}
		receiverArgs = append(receiverArgs, "--config.file="+path)
	}
	if hasFlag(t, receiverBin, "prometheus.url") {
		receiverArgs = append(receiverArgs, "--prometheus.url=http://"+a.prometheus)
	}
	if hasFlag(t, receiverBin, "web.external-url") {
		receiverArgs = append(receiverArgs, "--web.external-url=http://"+a.receiver)
	}
	receiver := start(t, dir, "receiver", receiverBin, receiverArgs...)

	// Alertmanager(s): an HA pair gossips on loopback and deduplicates notifications.
	var ams []*process
	for i, addr := range a.alertmanagers {
		args := []string{
			"--config.file=" + filepath.Join(dir, "alertmanager.yml"),
			"--storage.path=" + filepath.Join(dir, "alertmanager"+strconv.Itoa(i)),
			"--web.listen-address=" + addr,
		}
		if len(a.alertmanagers) == 1 {
			args = append(args, "--cluster.listen-address=")
		} else {
			args = append(args, "--cluster.listen-address="+a.clusters[i], "--cluster.advertise-address="+a.clusters[i])
			for j, peer := range a.clusters {
				if j != i {
					args = append(args, "--cluster.peer="+peer)
				}
			}
		}
		ams = append(ams, start(t, dir, "alertmanager"+strconv.Itoa(i), amBin, args...))
	}

	prom := start(t, dir, "prometheus", promBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+a.prometheus,
	)

	waitReady(t, exporter, "http://"+a.exporter)
	waitReady(t, receiver, "http://"+a.receiver)
	for i, am := range ams {
		waitReady(t, am, "http://"+a.alertmanagers[i])
	}
	waitReady(t, prom, "http://"+a.prometheus)
	if len(a.alertmanagers) > 1 {
		// A real HA pair: each member sees every peer, so they deduplicate notifications.
		for _, am := range a.alertmanagers {
			testutil.WaitFor(t, 90*time.Second, fmt.Sprintf("Alertmanager %s in a ready cluster of %d", am, len(a.alertmanagers)), func() (bool, string) {
				code, body := get("http://" + am + "/api/v2/status")
				var st struct {
					Cluster struct {
						Status string           `json:"status"`
						Peers  []map[string]any `json:"peers"`
					} `json:"cluster"`
				}
				_ = json.Unmarshal(body, &st)
				return st.Cluster.Status == "ready" && len(st.Cluster.Peers) == len(a.alertmanagers), fmt.Sprintf("%d %s", code, truncate(body))
			})
		}
	}

	p := &pipeline{addrs: a, demoURL: "http://" + ctlLn.Addr().String()}
	// The chain exporter /sd -> Prometheus -> /probe works when every site is up with labels.
	want := len(demo.Status())
	testutil.WaitFor(t, 90*time.Second, fmt.Sprintf("probe_success == 1 for all %d demo sites, with client and site labels", want), func() (bool, string) {
		res, err := p.query(`probe_success{client!="", site!=""} == 1`)
		return err == nil && len(res) == want, fmt.Sprintf("%v %v", res, err)
	})
	return p
}

// sample is one element of a Prometheus instant-query vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (p *pipeline) query(q string) ([]sample, error) {
	code, body := get("http://" + p.addrs.prometheus + "/api/v1/query?query=" + url.QueryEscape(q))
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("query %s: %d %s", q, code, truncate(body))
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, resp.Error)
	}
	return resp.Data.Result, nil
}

// breakSite and restoreSite go through the demo sites' HTTP control API, as a user would.
func (p *pipeline) breakSite(t *testing.T, key string, mode demosite.Mode) {
	post(t, p.demoURL+"/break?site="+url.QueryEscape(key)+"&mode="+url.QueryEscape(string(mode)))
}

func (p *pipeline) restoreSite(t *testing.T, key string) {
	post(t, p.demoURL+"/restore?site="+url.QueryEscape(key))
}

// api calls the receiver's JSON API with the test's token.
func (p *pipeline) api(path string) (int, []byte) {
	return get("http://"+p.addrs.receiver+path, "Authorization", "Bearer "+apiToken, "Accept", "application/json")
}

// observer remembers when the test first saw something, to measure order and delays of events
// without relying on the receiver's own timestamps.
type observer struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (o *observer) see(key string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.first == nil {
		o.first = map[string]time.Time{}
	}
	if ts, ok := o.first[key]; ok {
		return ts
	}
	o.first[key] = time.Now()
	return o.first[key]
}
