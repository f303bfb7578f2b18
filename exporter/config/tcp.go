package config

// TCPProbe is the `tcp:` section of a module (blackbox_exporter's keys and defaults).
type TCPProbe struct{}
