package exporter

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/exporter/config"
	"github.com/siteward/siteward/exporter/prober"
)

// defaultScrapeTimeout applies when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds
// (a request by hand), as in blackbox_exporter.
const defaultScrapeTimeout = 120 * time.Second

// serveProbe runs one probe: GET /probe?target=...&module=...[&debug=true].
func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	cfg := e.Config()
	params := r.URL.Query()
	moduleName := params.Get("module")
	if moduleName == "" {
		moduleName = config.DefaultSiteModule
	}
	module, ok := cfg.Modules[moduleName]
	if !ok {
		http.Error(w, fmt.Sprintf("Unknown module %q", moduleName), http.StatusBadRequest)
		return
	}
	target := params.Get("target")
	if target == "" {
		http.Error(w, "Target parameter is missing", http.StatusBadRequest)
		return
	}
	probeFn, ok := prober.Probers[module.Prober]
	if !ok {
		http.Error(w, fmt.Sprintf("Unknown prober %q", module.Prober), http.StatusBadRequest)
		return
	}
	if !e.opts.AllowAnyTarget && !targetAllowed(cfg, target) {
		e.metrics.refused.Inc()
		e.logger.Warn("Refused probe of a target outside the configuration", "target", target, "module", moduleName)
		http.Error(w, fmt.Sprintf("target %q is not allowed: it is neither a site in the clients inventory nor matched by allowed_targets; add it to the configuration or start the exporter with --probe.allow-any-target", target), http.StatusForbidden)
		return
	}
	timeout, err := probeTimeout(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), module.Timeout, e.opts.TimeoutOffset)
	if err != nil {
		http.Error(w, fmt.Sprintf("Failed to parse timeout from Prometheus header: %s", err), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if e.opts.Resolver != nil {
		ctx = prober.WithResolver(ctx, e.opts.Resolver)
	}

	debug := params.Get("debug") == "true"
	var logBuffer bytes.Buffer
	logger := probeLogger(e.logger, debug, &logBuffer).With("module", moduleName, "target", target)
	logger.Info("Beginning probe", "probe", module.Prober, "timeout_seconds", timeout.Seconds())

	registry := e.runProbe(ctx, probeFn, target, moduleName, module, logger)

	if debug {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, debugOutput(module, &logBuffer, registry))
		return
	}
	// Uncompressed: a probe's answer is a few kilobytes, and gzip cost about a tenth of the
	// CPU of a whole plain-HTTP probe.
	promhttp.HandlerFor(registry, promhttp.HandlerOpts{DisableCompression: true}).ServeHTTP(w, r)
}

// runProbe runs the prober, retrying a failed attempt up to module.Retries times while the
// deadline allows, and returns the registry of the last attempt with probe_success,
// probe_duration_seconds, probe_attempts and probe_failure_info added.
func (e *Exporter) runProbe(ctx context.Context, probeFn prober.ProbeFn, target, moduleName string, module config.Module, logger *slog.Logger) *prometheus.Registry {
	start := time.Now()
	var (
		registry *prometheus.Registry
		result   prober.Result
		success  bool
		attempts int
	)
	for {
		attempts++
		registry = prometheus.NewRegistry()
		result = prober.Result{}
		success = probeFn(ctx, target, module, registry, &result, logger)
		if success || attempts > module.Retries || !waitForRetry(ctx, module.RetryDelay) {
			break
		}
		failureType, reason, _ := result.Failure()
		logger.Info("Probe attempt failed, retrying", "attempt", attempts, "failure_type", failureType, "reason", reason)
	}
	duration := time.Since(start).Seconds()

	successGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_success",
		Help: "Displays whether or not the probe was a success",
	})
	durationGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_duration_seconds",
		Help: "Returns how long the probe took to complete in seconds",
	})
	attemptsGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_attempts",
		Help: "Attempts made by this probe: 1 plus the retries used.",
	})
	registry.MustRegister(successGauge, durationGauge, attemptsGauge)
	durationGauge.Set(duration)
	attemptsGauge.Set(float64(attempts))

	if success {
		successGauge.Set(1)
		e.metrics.probes.WithLabelValues(moduleName, "success").Inc()
		logger.Info("Probe succeeded", "duration_seconds", duration, "attempts", attempts)
		return registry
	}
	e.metrics.probes.WithLabelValues(moduleName, "failure").Inc()
	failureType, reason, ok := result.Failure()
	if !ok {
		// Every failure path of a prober records a reason; this is a bug, not a target's fault.
		logger.Warn("Prober failed without recording why; reporting connect_error")
		failureType, reason = prober.FailureConnect, prober.ReasonConnectError
	}
	failureInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_failure_info",
		Help: "Why the probe failed: failure_type (dns, connect, timeout, ssl, http, content) and a reason from a fixed set. Absent when the probe succeeded.",
	}, []string{"failure_type", "reason"})
	registry.MustRegister(failureInfo)
	failureInfo.WithLabelValues(string(failureType), string(reason)).Set(1)
	logger.Error("Probe failed", "duration_seconds", duration, "attempts", attempts, "failure_type", failureType, "reason", reason)
	return registry
}

// waitForRetry waits delay before a retry. It returns false, at once, when the deadline would
// pass first: a retry that cannot finish only hides the first attempt's answer.
func waitForRetry(ctx context.Context, delay time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
		return false
	}
	if ctx.Err() != nil {
		return false
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// probeTimeout is blackbox_exporter's rule: the scrape timeout Prometheus sends minus the
// offset, capped by the module's timeout when that is set and smaller.
func probeTimeout(header string, moduleTimeout, offset time.Duration) (time.Duration, error) {
	scrapeTimeout := defaultScrapeTimeout
	if header != "" {
		seconds, err := strconv.ParseFloat(header, 64)
		if err != nil {
			return 0, err
		}
		if seconds > 0 {
			scrapeTimeout = time.Duration(seconds * float64(time.Second))
		}
	}
	maxTimeout := scrapeTimeout - offset
	if moduleTimeout > 0 && (moduleTimeout < maxTimeout || maxTimeout <= 0) {
		return moduleTimeout, nil
	}
	if maxTimeout <= 0 {
		// An offset larger than the scrape timeout: better a short probe than none.
		return scrapeTimeout, nil
	}
	return maxTimeout, nil
}

// debugOutput is blackbox_exporter's ?debug=true page: the probe's log, the metrics it would
// have returned, and the module.
func debugOutput(module config.Module, logBuffer *bytes.Buffer, registry *prometheus.Registry) string {
	var buf bytes.Buffer
	buf.WriteString("Logs for the probe:\n")
	logBuffer.WriteTo(&buf)
	buf.WriteString("\n\n\nMetrics that would have been returned:\n")
	mfs, err := registry.Gather()
	if err != nil {
		fmt.Fprintf(&buf, "Error gathering metrics: %s\n", err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			fmt.Fprintf(&buf, "Error writing metric family: %s\n", err)
		}
	}
	buf.WriteString("\n\n\nModule configuration:\n")
	out, err := yaml.Marshal(module)
	if err != nil {
		fmt.Fprintf(&buf, "Error marshalling config: %s\n", err)
	}
	buf.Write(out)
	return buf.String()
}
