package prober

import (
	"context"
	"slices"
	"testing"

	pconfig "github.com/prometheus/common/config"
)

// TestConnTLSConfig: the tcp and dns probers' TLS configuration offers probeCurves, like the
// http prober's, and verifies the target's host unless tls_config names a server.
func TestConnTLSConfig(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        pconfig.TLSConfig
		wantServer string
	}{
		{"target host", pconfig.TLSConfig{}, "mx.acme.test"},
		{"server_name wins", pconfig.TLSConfig{ServerName: "other.acme.test"}, "other.acme.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlsConfig, err := newConnTLSConfig(context.Background(), &tc.cfg, "mx.acme.test")
			if err != nil {
				t.Fatal(err)
			}
			if tlsConfig.ServerName != tc.wantServer {
				t.Errorf("ServerName = %q, want %q", tlsConfig.ServerName, tc.wantServer)
			}
			if !slices.Equal(tlsConfig.CurvePreferences, probeCurves) {
				t.Errorf("CurvePreferences = %v, want %v", tlsConfig.CurvePreferences, probeCurves)
			}
		})
	}
	if _, err := newConnTLSConfig(context.Background(), &pconfig.TLSConfig{CAFile: "/nonexistent/ca.pem"}, "mx.acme.test"); err == nil {
		t.Error("a missing ca_file gave no error")
	}
}
