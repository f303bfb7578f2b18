// Command siteward-demosite serves demo client websites on loopback, with a DNS server for
// their names and a control API that breaks and restores them. `make demo` and the end-to-end
// tests probe them with siteward-exporter.
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	webflag "github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/siteward/siteward/internal/demosite"
)

func main() { os.Exit(run()) }

func run() int {
	app := kingpin.New("siteward-demosite", "Demo client websites that can be broken on purpose, for the siteward demo and end-to-end tests.")
	var (
		listenIP       = app.Flag("sites.listen-ip", "IP address the demo sites listen on and their DNS names resolve to.").Default("127.0.0.1").String()
		portBase       = app.Flag("sites.port-base", "Port of the first demo site; the others follow. 0 picks free ports.").Default("9181").Int()
		dnsAddress     = app.Flag("dns.listen-address", "Address (UDP and TCP) of the DNS server for the sites' names; point the exporter's --dns.resolver at it.").Default("127.0.0.1:9153").String()
		hang           = app.Flag("break.timeout-hang", "How long the `timeout` mode holds a request (longer than any probe timeout).").Default("2m").Duration()
		caFile         = app.Flag("ca.file", "Write the demo CA certificate (PEM) here. Default: demo-ca.pem next to --exporter.config-file.").String()
		exporterFile   = app.Flag("exporter.config-file", "Write a siteward-exporter configuration (module + clients inventory) for the demo sites here.").String()
		probeTimeout   = app.Flag("exporter.probe-timeout", "The probe timeout of the module written to --exporter.config-file.").Default("5s").Duration()
		toolkitFlags   = webflag.AddFlags(app, "127.0.0.1:9180")
		promslogConfig = &promslog.Config{}
	)
	promslogflag.AddFlags(app, promslogConfig)
	app.Version(version.Print("siteward-demosite"))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := promslog.New(promslogConfig)

	srv, err := demosite.New(demosite.Options{
		ListenIP:   *listenIP,
		PortBase:   *portBase,
		DNSAddress: *dnsAddress,
		Hang:       *hang,
		Logger:     logger,
	})
	if err != nil {
		logger.Error("Cannot start the demo sites", "err", err)
		return 1
	}
	defer srv.Close()

	if *caFile == "" && *exporterFile != "" {
		*caFile = filepath.Join(filepath.Dir(*exporterFile), "demo-ca.pem")
	}
	if *caFile != "" {
		if err := writeFile(*caFile, srv.CAPEM()); err != nil {
			logger.Error("Cannot write the CA certificate", "err", err)
			return 1
		}
	}
	if *exporterFile != "" {
		caPath, err := filepath.Abs(*caFile)
		if err != nil {
			logger.Error("Cannot resolve the CA file path", "err", err)
			return 1
		}
		cfg, err := srv.ExporterConfig(demosite.ExporterConfigOptions{CAFile: caPath, Timeout: *probeTimeout})
		if err == nil {
			err = writeFile(*exporterFile, cfg)
		}
		if err != nil {
			logger.Error("Cannot write the exporter configuration", "err", err)
			return 1
		}
	}
	for _, st := range srv.Status() {
		logger.Info("Demo site", "site", st.Key(), "target", st.Target)
	}
	logger.Info("DNS server", "address", srv.DNSAddr())

	server := &http.Server{Handler: srv.Handler()}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(server, toolkitFlags, logger) }()

	term := make(chan os.Signal, 1)
	signal.Notify(term, os.Interrupt, syscall.SIGTERM)
	select {
	case <-term:
		logger.Info("Received a termination signal, exiting")
		_ = server.Close()
		return 0
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return 0
		}
		logger.Error("Control API failed", "err", err)
		return 1
	}
}

// writeFile writes data atomically, so a reader never sees half a file.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
