package prober

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/exporter/config"
)

// moduleFromYAML parses one module the way the exporter loads it, so defaults apply.
func moduleFromYAML(t testing.TB, body string) config.Module {
	t.Helper()
	var b strings.Builder
	b.WriteString("modules:\n  m:\n")
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		b.WriteString("    " + line + "\n")
	}
	cfg, err := config.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("module: %v\n%s", err, b.String())
	}
	return cfg.Modules["m"]
}

// gatheredSeries returns every series in registry as "name{label="value",...}" -> value.
func gatheredSeries(t *testing.T, registry *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			sort.Strings(labels)
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			series[name] = m.GetGauge().GetValue()
		}
	}
	return series
}

// checkOutcome checks a probe's success and the failure it recorded: none on success,
// wantFailure (type and reason) otherwise.
func checkOutcome(t *testing.T, ok bool, result *Result, wantSuccess bool, wantFailure [2]string) {
	t.Helper()
	failureType, reason, failed := result.Failure()
	if ok != wantSuccess {
		t.Fatalf("success = %v, want %v (failure %s/%s)", ok, wantSuccess, failureType, reason)
	}
	if ok && failed {
		t.Errorf("successful probe recorded a failure %s/%s", failureType, reason)
	}
	if !ok && [2]string{string(failureType), string(reason)} != wantFailure {
		t.Errorf("failure = %s/%s, want %s/%s", failureType, reason, wantFailure[0], wantFailure[1])
	}
}

// checkSeries checks that series (from gatheredSeries) has the wanted values and lacks the
// absent series.
func checkSeries(t *testing.T, series map[string]float64, want map[string]float64, absent []string) {
	t.Helper()
	for name, want := range want {
		if got, ok := series[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v\nall: %v", name, got, ok, want, series)
		}
	}
	for _, name := range absent {
		if _, ok := series[name]; ok {
			t.Errorf("%s is present, want it absent", name)
		}
	}
}
