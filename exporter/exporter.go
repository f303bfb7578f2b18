// Package exporter is siteward-exporter's HTTP side: the /probe handler (timeouts, retries,
// probe_failure_info, debug output), the SSRF guard, /sd service discovery, configuration
// reloads and the exporter's own metrics. cmd/siteward-exporter only parses flags and serves it.
package exporter

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/exporter/config"
)

// Options configure an Exporter.
type Options struct {
	// ConfigFile is the configuration file, read by New and by every Reload.
	ConfigFile string
	// TimeoutOffset is subtracted from Prometheus' scrape timeout so the answer arrives in time.
	TimeoutOffset time.Duration
	// AllowAnyTarget turns the SSRF guard off (blackbox_exporter's behaviour).
	AllowAnyTarget bool
	// Resolver, when set, resolves every probed name (--dns.resolver); nil means the system's.
	Resolver *net.Resolver
	// Registerer takes the exporter's own metrics; Gatherer serves /metrics. Both nil means a
	// registry of the exporter's own.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
}

// Exporter serves probes for the current configuration.
type Exporter struct {
	opts    Options
	logger  *slog.Logger
	metrics *metrics

	mu  sync.RWMutex
	cfg *config.Config
}

type metrics struct {
	reloadSuccess     prometheus.Gauge
	reloadSuccessTime prometheus.Gauge
	probes            *prometheus.CounterVec
	refused           prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "siteward_exporter_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		reloadSuccessTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "siteward_exporter_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siteward_exporter_probes_total",
			Help: "Probes run, by module and result (success or failure).",
		}, []string{"module", "result"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "siteward_exporter_probes_refused_total",
			Help: "Probe requests refused by the SSRF guard: the target is neither in the clients inventory nor matched by allowed_targets.",
		}),
	}
	reg.MustRegister(m.reloadSuccess, m.reloadSuccessTime, m.probes, m.refused)
	return m
}

// New loads the configuration file and returns an Exporter serving it. A configuration that
// does not load is an error: the exporter does not start without one.
func New(opts Options) (*Exporter, error) {
	if opts.Logger == nil {
		return nil, errors.New("exporter: Options.Logger is required")
	}
	switch {
	case opts.Registerer == nil && opts.Gatherer == nil:
		registry := prometheus.NewRegistry()
		opts.Registerer, opts.Gatherer = registry, registry
	case opts.Registerer == nil || opts.Gatherer == nil:
		// /metrics must serve what the exporter registers.
		return nil, errors.New("exporter: set both Options.Registerer and Options.Gatherer, or neither")
	}
	e := &Exporter{opts: opts, logger: opts.Logger, metrics: newMetrics(opts.Registerer)}
	if err := e.Reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload reads the configuration file again. On error the running configuration stays and
// siteward_exporter_config_last_reload_successful drops to 0.
func (e *Exporter) Reload() error {
	cfg, err := config.Load(e.opts.ConfigFile)
	if err != nil {
		e.metrics.reloadSuccess.Set(0)
		e.logger.Error("Error loading config", "err", err)
		return fmt.Errorf("loading config: %w", err)
	}
	e.mu.Lock()
	e.cfg = cfg
	e.mu.Unlock()
	e.metrics.reloadSuccess.Set(1)
	e.metrics.reloadSuccessTime.SetToCurrentTime()
	e.logger.Info("Loaded config file", "file", e.opts.ConfigFile)
	return nil
}

// Config returns the running configuration (never modified after loading).
func (e *Exporter) Config() *config.Config {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cfg
}

// Handler returns every endpoint: /probe, /sd, /config, /metrics, /-/healthy, /-/ready,
// /-/reload.
// landing, when not nil, serves "/".
func (e *Exporter) Handler(landing http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/probe", e.serveProbe)
	mux.HandleFunc("/sd", e.serveSD)
	mux.Handle("/metrics", promhttp.HandlerFor(e.opts.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", e.serveReload)
	mux.HandleFunc("/config", e.serveConfig)
	if landing != nil {
		mux.Handle("/", landing)
	}
	return mux
}

func (e *Exporter) serveReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "This endpoint requires a POST request.", http.StatusMethodNotAllowed)
		return
	}
	if err := e.Reload(); err != nil {
		http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "config reloaded")
}

// serveConfig shows the running configuration as YAML, secrets as <secret> (as
// blackbox_exporter's /config does).
func (e *Exporter) serveConfig(w http.ResponseWriter, _ *http.Request) {
	out, err := yaml.Marshal(e.Config())
	if err != nil {
		http.Error(w, fmt.Sprintf("error marshalling configuration: %s", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(out)
}
