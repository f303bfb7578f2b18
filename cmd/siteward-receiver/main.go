// Command siteward-receiver turns Alertmanager webhooks into incidents: assessment, notices
// through a durable outbox, timers, escalation. Everything but flag parsing lives in
// package receiver (receiver.Run).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/siteward/siteward/receiver"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("siteward-receiver", "Incident lifecycle driven by Alertmanager webhooks.")
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	var (
		configFile  = app.Flag("config.file", "Receiver configuration file (optional: without it the defaults apply).").Default("").String()
		configCheck = app.Flag("config.check", "Validate the configuration file, print the result and exit.").Bool()
		storagePath = app.Flag("storage.path", "SQLite database file.").Default("data/siteward.db").String()
		postgresURL = app.Flag("storage.postgres-url", "PostgreSQL URL (postgres://...); replaces SQLite, for several replicas.").Default("").Envar("SITEWARD_POSTGRES_URL").String()
		externalURL = app.Flag("web.external-url", "URL under which the receiver is reachable (links in notices).").Default("").String()
		promURL     = app.Flag("prometheus.url", "Prometheus server for status history on incident pages, post-mortems and status pages (optional).").Default("").String()
		webFlags    = kingpinflag.AddFlags(app, ":9096")
	)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print("siteward-receiver"))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "siteward-receiver: %s\n", err)
		return 2
	}
	logConfig.Writer = stderr
	logger := promslog.New(logConfig)

	if *configCheck {
		cfg, chans, _, err := receiver.Load(*configFile, logger)
		if err != nil {
			fmt.Fprintf(stderr, "siteward-receiver: configuration is invalid: %s\n", err)
			return 1
		}
		name := *configFile
		if name == "" {
			name = "(no config file)"
		}
		fmt.Fprintf(stdout, "%s: config OK (%d channels, %d clients, %d rotations)\n", name, len(chans), len(cfg.Clients), len(cfg.OnCall.Rotations))
		return 0
	}
	if len(*webFlags.WebListenAddresses) != 1 {
		fmt.Fprintf(stderr, "siteward-receiver: exactly one --web.listen-address is supported, got %d\n", len(*webFlags.WebListenAddresses))
		return 2
	}

	logger.Info("Starting siteward-receiver", "version", version.Info())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{})
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()

	var st store.Store
	if *postgresURL != "" {
		pg, err := postgres.Open(ctx, *postgresURL, logger)
		if err != nil {
			logger.Error("opening PostgreSQL failed", "err", err)
			return 1
		}
		defer pg.Close()
		st = pg
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	err := receiver.Run(ctx, receiver.Options{
		ConfigFile:    *configFile,
		StoragePath:   *storagePath,
		Store:         st,
		ListenAddress: (*webFlags.WebListenAddresses)[0],
		WebConfigFile: *webFlags.WebConfigFile,
		ExternalURL:   *externalURL,
		PrometheusURL: *promURL,
		Logger:        logger,
		Registry:      reg,
		Reload:        reload,
	})
	if err != nil {
		logger.Error("siteward-receiver failed", "err", err)
		return 1
	}
	return 0
}
