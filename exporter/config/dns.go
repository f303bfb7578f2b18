package config

// DNSProbe is the `dns:` section of a module (blackbox_exporter's keys and defaults).
type DNSProbe struct{}
