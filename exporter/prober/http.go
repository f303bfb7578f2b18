package prober

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/exporter/config"
)

// ProbeHTTP is the `http` prober.
func ProbeHTTP(ctx context.Context, target string, module config.Module, registry *prometheus.Registry, result *Result, logger *slog.Logger) bool {
	return false
}
