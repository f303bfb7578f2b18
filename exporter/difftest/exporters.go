package difftest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Exporter is a running exporter process (blackbox_exporter or siteward-exporter).
type Exporter struct {
	Name string
	URL  string // http://127.0.0.1:port

	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
}

// StartExporter runs binary with args plus --web.listen-address on a free port and waits
// until it answers /-/healthy.
func StartExporter(name, binary string, args ...string) (*Exporter, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	e := &Exporter{
		Name:   name,
		URL:    "http://" + addr,
		cmd:    exec.Command(binary, append(args, "--web.listen-address="+addr)...),
		output: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	e.cmd.Stdout, e.cmd.Stderr = e.output, e.output
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { _ = e.cmd.Wait(); close(e.exited) }()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(e.URL + "/-/healthy")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e, nil
			}
		}
		select {
		case <-e.exited:
			return nil, fmt.Errorf("%s exited before it was ready:\n%s", name, e.output.String())
		case <-ctx.Done():
			e.Stop()
			return nil, fmt.Errorf("%s not ready after 30s:\n%s", name, e.output.String())
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
}

// PID is the exporter's process id.
func (e *Exporter) PID() int { return e.cmd.Process.Pid }

// Output returns what the exporter has logged so far.
func (e *Exporter) Output() string { return e.output.String() }

// Stop terminates the exporter and waits for it to exit.
func (e *Exporter) Stop() {
	select {
	case <-e.exited:
		return
	default:
	}
	_ = e.cmd.Process.Signal(os.Interrupt)
	select {
	case <-e.exited:
	case <-time.After(5 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

// ProbeURL is the /probe URL for module and target.
func (e *Exporter) ProbeURL(module, target string) string {
	return e.URL + "/probe?" + url.Values{"module": {module}, "target": {target}}.Encode()
}

// Probe runs one probe through the exporter and returns the metric families it answered.
func (e *Exporter) Probe(client *http.Client, module, target string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, e.ProbeURL(module, target), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "5")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", e.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: /probe answered %s: %s", e.Name, resp.Status, body)
	}
	families, err := ParseMetrics(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", e.Name, err, body)
	}
	return families, nil
}

// ParseMetrics parses the Prometheus text format.
func ParseMetrics(text []byte) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return families, nil
}

// durationMetrics are the probe timings: they are compared within a tolerance, as two probes
// never take exactly as long. Timestamps (certificate expiry, ...) are compared exactly.
var durationMetrics = map[string]bool{
	"probe_duration_seconds":        true,
	"probe_dns_lookup_time_seconds": true,
	"probe_http_duration_seconds":   true,
	"probe_dns_duration_seconds":    true,
	"probe_icmp_duration_seconds":   true,
}

// Comparison is the outcome of comparing two exporters' answers to the same probe.
type Comparison struct {
	Mismatches []string // metrics both export that disagree: type, label sets or values
	OnlyA      []string // metric names only the first exporter exported
	OnlyB      []string // metric names only the second exporter exported
}

// Compare compares the metric families a and b exported for the same probe. Durations may
// differ by up to tolerance seconds; everything else must be equal.
func Compare(a, b map[string]*dto.MetricFamily, tolerance float64) Comparison {
	var c Comparison
	for name, fa := range a {
		fb, ok := b[name]
		if !ok {
			c.OnlyA = append(c.OnlyA, name)
			continue
		}
		if fa.GetType() != fb.GetType() {
			c.Mismatches = append(c.Mismatches, fmt.Sprintf("%s: type %s vs %s", name, fa.GetType(), fb.GetType()))
			continue
		}
		va, vb := seriesValues(fa), seriesValues(fb)
		for labels, x := range va {
			y, ok := vb[labels]
			if !ok {
				c.Mismatches = append(c.Mismatches, fmt.Sprintf("%s%s: only in the first (value %v); second has %v", name, labels, x, keys(vb)))
				continue
			}
			if !valuesAgree(name, x, y, tolerance) {
				c.Mismatches = append(c.Mismatches, fmt.Sprintf("%s%s: %v vs %v", name, labels, x, y))
			}
		}
		for labels, y := range vb {
			if _, ok := va[labels]; !ok {
				c.Mismatches = append(c.Mismatches, fmt.Sprintf("%s%s: only in the second (value %v); first has %v", name, labels, y, keys(va)))
			}
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			c.OnlyB = append(c.OnlyB, name)
		}
	}
	sort.Strings(c.Mismatches)
	sort.Strings(c.OnlyA)
	sort.Strings(c.OnlyB)
	return c
}

func valuesAgree(name string, x, y, tolerance float64) bool {
	if durationMetrics[name] {
		return x >= 0 && y >= 0 && math.Abs(x-y) <= tolerance
	}
	return x == y || (math.IsNaN(x) && math.IsNaN(y))
}

// seriesValues maps each series' label set ({a="1",b="2"}, sorted) to its value.
func seriesValues(f *dto.MetricFamily) map[string]float64 {
	values := map[string]float64{}
	for _, m := range f.GetMetric() {
		var labels []string
		for _, lp := range m.GetLabel() {
			labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
		}
		sort.Strings(labels)
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		default:
			v = math.NaN() // histograms and summaries: probes export none
		}
		values["{"+strings.Join(labels, ",")+"}"] = v
	}
	return values
}

func keys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// lockedBuffer collects a process's output; the process writes while tests read.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr returns "127.0.0.1:port" for a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
