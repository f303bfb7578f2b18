// Package config loads and validates siteward-exporter's configuration: blackbox_exporter's
// module format (accepted unchanged) plus siteward's additions (clients inventory,
// allowed_targets, retries).
package config

import "time"

// Module is one probe module, as in blackbox_exporter's `modules:` map.
type Module struct {
	Prober  string        `yaml:"prober,omitempty"`
	Timeout time.Duration `yaml:"timeout,omitempty"`
	HTTP    HTTPProbe     `yaml:"http,omitempty"`
	TCP     TCPProbe      `yaml:"tcp,omitempty"`
	DNS     DNSProbe      `yaml:"dns,omitempty"`
}
