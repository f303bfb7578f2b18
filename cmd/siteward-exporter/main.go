// Command siteward-exporter is a blackbox_exporter-compatible multi-target prober that says why
// a probe failed. Everything but flag parsing and serving lives in package exporter.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/siteward/siteward/exporter"
	"github.com/siteward/siteward/exporter/config"
	"github.com/siteward/siteward/exporter/prober"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("siteward-exporter", "A blackbox_exporter-compatible prober that says why a probe failed.")
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	var (
		configFile     = app.Flag("config.file", "Exporter configuration file (modules, clients, allowed_targets).").Default("exporter.yml").String()
		configCheck    = app.Flag("config.check", "Validate the configuration file, print the result and exit.").Bool()
		timeoutOffset  = app.Flag("timeout-offset", "Seconds subtracted from Prometheus' scrape timeout to get the probe timeout.").Default("0.5").Float64()
		allowAnyTarget = app.Flag("probe.allow-any-target", "Probe any target, not only the clients inventory and allowed_targets (blackbox_exporter's behaviour; an SSRF risk).").Bool()
		dnsResolver    = app.Flag("dns.resolver", "DNS server (HOST:PORT) for resolving probe targets; empty means the system resolver.").Default("").String()
		webFlags       = kingpinflag.AddFlags(app, ":9115")
	)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print("siteward-exporter"))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "siteward-exporter: %s\n", err)
		return 2
	}
	logConfig.Writer = stderr
	logger := promslog.New(logConfig)

	if *configCheck {
		cfg, err := config.Load(*configFile)
		if err != nil {
			fmt.Fprintf(stderr, "siteward-exporter: configuration is invalid: %s\n", err)
			return 1
		}
		sites := 0
		for _, c := range cfg.Clients {
			sites += len(c.Sites)
		}
		fmt.Fprintf(stdout, "%s: config OK (%d modules, %d clients, %d sites, %d allowed_targets patterns)\n",
			*configFile, len(cfg.Modules), len(cfg.Clients), sites, len(cfg.AllowedTargets))
		return 0
	}
	if *timeoutOffset < 0 {
		fmt.Fprintf(stderr, "siteward-exporter: --timeout-offset must not be negative, got %v\n", *timeoutOffset)
		return 2
	}
	var resolver *net.Resolver
	if *dnsResolver != "" {
		if _, _, err := net.SplitHostPort(*dnsResolver); err != nil {
			fmt.Fprintf(stderr, "siteward-exporter: --dns.resolver must be HOST:PORT: %s\n", err)
			return 2
		}
		resolver = prober.NewResolver(*dnsResolver)
	}

	logger.Info("Starting siteward-exporter", "version", version.Info())
	logger.Info("Build context", "build_context", version.BuildContext())

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		versioncollector.NewCollector("siteward_exporter"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	exp, err := exporter.New(exporter.Options{
		ConfigFile:     *configFile,
		TimeoutOffset:  time.Duration(*timeoutOffset * float64(time.Second)),
		AllowAnyTarget: *allowAnyTarget,
		Resolver:       resolver,
		Registerer:     registry,
		Gatherer:       registry,
		Logger:         logger,
	})
	if err != nil {
		logger.Error("Error loading config", "err", err)
		return 1
	}
	if *allowAnyTarget {
		logger.Warn("--probe.allow-any-target is set: /probe probes any target anyone asks for")
	}

	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "siteward-exporter",
		Description: "A blackbox_exporter-compatible prober that says why a probe failed",
		Version:     version.Info(),
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics"},
			{Address: "/sd", Text: "Service discovery (clients inventory)"},
			{Address: "/config", Text: "Configuration"},
			{Address: "/-/healthy", Text: "Health"},
		},
	})
	if err != nil {
		logger.Error("Error creating landing page", "err", err)
		return 1
	}

	server := &http.Server{Handler: exp.Handler(landing), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, webFlags, logger) }()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	for {
		select {
		case err := <-serveErr:
			if !errors.Is(err, http.ErrServerClosed) {
				logger.Error("Error serving HTTP", "err", err)
				return 1
			}
			return 0
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				// Reload logs its own errors; the old configuration stays on failure.
				_ = exp.Reload()
				continue
			}
			logger.Info("Shutting down", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := server.Shutdown(ctx)
			cancel()
			if err != nil {
				logger.Error("Error shutting down", "err", err)
				return 1
			}
			return 0
		}
	}
}
