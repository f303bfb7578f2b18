package prober

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/exporter/config"
)

// ProbeDNS is the `dns` prober.
func ProbeDNS(ctx context.Context, target string, module config.Module, registry *prometheus.Registry, result *Result, logger *slog.Logger) bool {
	return false
}
