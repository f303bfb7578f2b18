package config

// HTTPProbe is the `http:` section of a module (blackbox_exporter's keys and defaults).
type HTTPProbe struct{}
