// Package receiver is the siteward-receiver process: Run wires the store, the lifecycle, the
// API, the outbox and timer workers and the HTTP server, so tests start the whole receiver
// in-process and cmd/siteward-receiver stays a thin main.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/siteward/siteward/receiver/api"
	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/lifecycle"
	"github.com/siteward/siteward/receiver/notify/channels"
	"github.com/siteward/siteward/receiver/outbox"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/sqlite"
	webpages "github.com/siteward/siteward/receiver/web"
)

// Options configure Run.
type Options struct {
	ConfigFile    string      // "" runs with the defaults
	StoragePath   string      // SQLite file (default data/siteward.db)
	Store         store.Store // a backend opened by the caller (PostgreSQL); StoragePath is then unused
	ListenAddress string      // default :9096; ":0" picks a free port (see Ready)
	WebConfigFile string      // exporter-toolkit TLS/basic-auth config
	ExternalURL   string      // base URL of links in notices
	PrometheusURL string      // status history on incident and post-mortem pages ("" : none)
	Logger        *slog.Logger
	Registry      *prometheus.Registry // default: a new one
	// Reload triggers a config reload (main sends SIGHUP here).
	Reload <-chan struct{}
	// Ready is called with the bound address once the server listens.
	Ready func(addr string)
}

// state is what a reload swaps.
type state struct {
	channels map[string]outbox.Channel
	tokens   []string
}

type receiver struct {
	logger     *slog.Logger
	configFile string
	svc        *lifecycle.Service
	current    atomic.Pointer[state]
	reloadMu   sync.Mutex
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
}

// Load reads the config file and builds its channels and tokens (also for --config.check).
func Load(path string, logger *slog.Logger) (*config.Config, map[string]outbox.Channel, []string, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, nil, err
	}
	chans := make(map[string]outbox.Channel, len(cfg.Channels))
	for _, c := range cfg.Channels {
		n, err := channels.New(c, logger)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("config: %w", err)
		}
		chans[c.Name] = outbox.Channel{Notifier: n, Kind: c.Kind()}
	}
	tokens, err := cfg.TokensFromFiles()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config: %w", err)
	}
	return cfg, chans, tokens, nil
}

func (r *receiver) reload() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	cfg, chans, tokens, err := Load(r.configFile, r.logger)
	if err != nil {
		r.reloadOK.Set(0)
		r.logger.Error("config reload failed; keeping the previous configuration", "err", err)
		return err
	}
	r.svc.SetConfig(cfg)
	r.current.Store(&state{channels: chans, tokens: tokens})
	r.reloadOK.Set(1)
	r.reloadTime.SetToCurrentTime()
	r.logger.Info("configuration loaded", "file", r.configFile, "channels", len(chans), "clients", len(cfg.Clients))
	return nil
}

func ownerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), lifecycle.NewID()[:6])
}

// Run runs the receiver until ctx ends.
func Run(ctx context.Context, o Options) error {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	reg.MustRegister(versioncollector.NewCollector("siteward_receiver"))

	cfg, chans, tokens, err := Load(o.ConfigFile, logger)
	if err != nil {
		return err
	}
	st := o.Store
	if st == nil {
		path := o.StoragePath
		if path == "" {
			path = filepath.Join("data", "siteward.db")
		}
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		defer s.Close()
		st = s
		logger.Info("storage opened", "backend", "sqlite", "path", path)
	}

	lm := newLifecycleMetrics(reg)
	r := &receiver{logger: logger, configFile: o.ConfigFile,
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "siteward_receiver_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded."}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "siteward_receiver_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully."}),
	}
	reg.MustRegister(r.reloadOK, r.reloadTime, newStoreCollector(st, logger))
	r.reloadOK.Set(1)
	r.reloadTime.SetToCurrentTime()
	r.current.Store(&state{channels: chans, tokens: tokens})
	r.svc = lifecycle.New(lifecycle.Options{Store: st, Config: cfg, Logger: logger, ExternalURL: o.ExternalURL, Observer: lm})

	mux := http.NewServeMux()
	a := api.New(r.svc, func() []string { return r.current.Load().tokens }, reg, logger)
	a.Register(mux)
	pages, err := webpages.New(webpages.Options{Service: r.svc, Authorized: a.Authorized, PrometheusURL: o.PrometheusURL, Registry: reg, Logger: logger})
	if err != nil {
		return err
	}
	pages.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, req *http.Request) {
		if err := st.Ping(req.Context()); err != nil {
			http.Error(w, "store not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.reload(); err != nil {
			http.Error(w, "reload failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})

	addr := o.ListenAddress
	if addr == "" {
		addr = ":9096"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	webConfig := o.WebConfigFile
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}

	owner := ownerID()
	workCtx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	sender := &outbox.Sender{
		Store: st, Owner: owner, Wake: r.svc.Enqueued(), Metrics: outbox.NewMetrics(reg), Logger: logger,
		Channels: func() map[string]outbox.Channel { return r.current.Load().channels },
		Config:   func() config.Outbox { return r.svc.Config().Outbox },
	}
	timers := &outbox.Timers{Store: st, Owner: owner, Lease: cfg.Outbox.Lease, Interval: cfg.Outbox.Interval,
		Fire: r.svc.FireTimer, Logger: logger}
	wg.Add(3)
	go func() { defer wg.Done(); sender.Run(workCtx) }()
	go func() { defer wg.Done(); timers.Run(workCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); pages.Run(workCtx) }()
	pruner := newAlertEventPruner(st, reg, logger)
	wg.Go(func() { pruner.run(workCtx) })
	go func() {
		defer wg.Done()
		for {
			select {
			case <-workCtx.Done():
				return
			case <-o.Reload:
				_ = r.reload()
			}
		}
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- web.Serve(ln, srv, flags, logger) }()
	logger.Info("siteward-receiver listening", "address", ln.Addr().String())
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	stopWork()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
