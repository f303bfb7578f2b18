package prober

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkProbeHTTP measures one plain-HTTP probe against a loopback server, metrics gathered.
func BenchmarkProbeHTTP(b *testing.B) {
	srv := startHTTP(b, text("hello world"))
	module := moduleFromYAML(b, "prober: http\nhttp:\n  preferred_ip_protocol: ip4")
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	b.ReportAllocs()
	for b.Loop() {
		registry := prometheus.NewRegistry()
		var result Result
		if !ProbeHTTP(context.Background(), srv.URL, module, registry, &result, logger) {
			b.Fatal("probe failed")
		}
		if _, err := registry.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
