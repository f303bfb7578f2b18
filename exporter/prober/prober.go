// Package prober holds one file per probe kind (http, tcp, dns), each a ProbeFn, registered in
// Probers. The shape follows blackbox_exporter's prober package, with one addition: a prober
// records why a probe failed on the Result it is given, which becomes probe_failure_info.
package prober

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/exporter/config"
)

// ProbeFn runs one probe of target with module, registering its metrics on registry (a fresh
// registry per probe). It returns whether the probe succeeded; when it did not, it has called
// result.Fail with the failure type and reason.
type ProbeFn func(ctx context.Context, target string, module config.Module, registry *prometheus.Registry, result *Result, logger *slog.Logger) bool

// Probers maps a module's `prober` key to its implementation.
var Probers = map[string]ProbeFn{
	"http": ProbeHTTP,
	"tcp":  ProbeTCP,
	"dns":  ProbeDNS,
}

// newGauge makes one of a probe's gauges: a probe registers its metrics in a registry of its
// own, so they need no labels or namespace, only blackbox_exporter's name and help.
func newGauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

// newFailedDueToRegexGauge makes probe_failed_due_to_regex, which the http and tcp probers share.
func newFailedDueToRegexGauge() prometheus.Gauge {
	return newGauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex")
}
