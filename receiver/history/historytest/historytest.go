// Package historytest starts a real Prometheus (Debian's prometheus binary) holding
// backfilled probe samples, for tests of the status history.
package historytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
)

// Sample is one backfilled sample: metric with labels in PromQL syntax, e.g.
// `probe_success{client="acme",site="shop"}`.
type Sample struct {
	Series string
	At     time.Time
	Value  float64
}

// Samples makes one sample per step from start to end (inclusive) with value(t).
func Samples(series string, start, end time.Time, step time.Duration, value func(time.Time) float64) []Sample {
	var out []Sample
	for t := start; !t.After(end); t = t.Add(step) {
		out = append(out, Sample{Series: series, At: t, Value: value(t)})
	}
	return out
}

// Start backfills samples with promtool and starts Prometheus on them; it returns its URL.
// The process is stopped when the test ends.
func Start(t *testing.T, samples []Sample) string {
	t.Helper()
	promtool := testutil.LookPath(t, "promtool")
	prometheus := testutil.LookPath(t, "prometheus")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")

	// OpenMetrics wants the samples of a metric family together and in time order.
	byFamily := map[string][]Sample{}
	var families []string
	for _, s := range samples {
		name, _, _ := strings.Cut(s.Series, "{")
		if _, ok := byFamily[name]; !ok {
			families = append(families, name)
		}
		byFamily[name] = append(byFamily[name], s)
	}
	var om strings.Builder
	for _, f := range families {
		fmt.Fprintf(&om, "# TYPE %s gauge\n", f)
		for _, s := range byFamily[f] {
			fmt.Fprintf(&om, "%s %g %d\n", s.Series, s.Value, s.At.Unix())
		}
	}
	om.WriteString("# EOF\n")
	input := filepath.Join(dir, "samples.om")
	if err := os.WriteFile(input, []byte(om.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", input, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool backfill: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	cmd := exec.Command(prometheus, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=200d", "--web.listen-address="+addr)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: the logs are read once the process has ended.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", logs.String())
		}
	})
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://" + addr
	testutil.WaitHTTPOK(t, 30*time.Second, url+"/-/ready")
	return url
}
