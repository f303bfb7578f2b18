package demosite

import (
	"bytes"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// ModuleName is the module every demo site uses (the inventory's default name).
const ModuleName = "http_2xx"

// ExporterConfigOptions shape the siteward-exporter configuration written for the demo.
type ExporterConfigOptions struct {
	// CAFile is where the demo CA certificate (CAPEM) is stored: the module's tls_config.ca_file.
	CAFile string
	// Timeout is the module's probe timeout (blackbox_exporter's default, 5s, when zero).
	Timeout time.Duration
}

// The exporter configuration: blackbox_exporter's module format plus siteward's inventory.
type exporterConfig struct {
	Modules map[string]exporterModule `yaml:"modules"`
	Clients []exporterClient          `yaml:"clients"`
}

type exporterModule struct {
	Prober  string     `yaml:"prober"`
	Timeout string     `yaml:"timeout"`
	HTTP    httpModule `yaml:"http"`
}

type httpModule struct {
	PreferredIPProtocol        string    `yaml:"preferred_ip_protocol"`
	FailIfBodyNotMatchesRegexp []string  `yaml:"fail_if_body_not_matches_regexp"`
	TLSConfig                  tlsConfig `yaml:"tls_config"`
}

type tlsConfig struct {
	CAFile string `yaml:"ca_file"`
}

type exporterClient struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels,omitempty"`
	Sites  []exporterSite    `yaml:"sites"`
}

type exporterSite struct {
	Name   string            `yaml:"name"`
	Target string            `yaml:"target"`
	Module string            `yaml:"module"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

// ExporterConfig returns a siteward-exporter configuration that probes every demo site: one
// module (http_2xx, trusting the demo CA and expecting HealthyText in the page) and the
// clients inventory with the sites' current targets. Its output is deterministic for fixed ports.
func (s *Server) ExporterConfig(o ExporterConfigOptions) ([]byte, error) {
	if o.CAFile == "" {
		return nil, fmt.Errorf("exporter config: the CA file path is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	cfg := exporterConfig{Modules: map[string]exporterModule{
		ModuleName: {
			Prober:  "http",
			Timeout: o.Timeout.String(),
			HTTP: httpModule{
				// The demo DNS server answers A records only.
				PreferredIPProtocol:        "ip4",
				FailIfBodyNotMatchesRegexp: []string{HealthyText},
				TLSConfig:                  tlsConfig{CAFile: o.CAFile},
			},
		},
	}}
	for _, st := range s.Status() {
		if n := len(cfg.Clients); n == 0 || cfg.Clients[n-1].Name != st.Client {
			cfg.Clients = append(cfg.Clients, exporterClient{Name: st.Client, Labels: st.ClientLabels})
		}
		c := &cfg.Clients[len(cfg.Clients)-1]
		c.Sites = append(c.Sites, exporterSite{Name: st.Name, Target: st.Target, Module: ModuleName, Labels: st.Labels})
	}
	var buf bytes.Buffer
	buf.WriteString("# siteward-exporter configuration for the demo sites, written by siteward-demosite.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("exporter config: %w", err)
	}
	return buf.Bytes(), nil
}
