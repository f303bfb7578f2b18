package exporter

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkProbeHandler measures GET /probe end to end (plain-HTTP loopback target), the way
// Prometheus asks: with Accept-Encoding: gzip and a scrape timeout header.
func BenchmarkProbeHandler(b *testing.B) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello world") }))
	defer target.Close()
	_, srv, _ := newTestExporter(b, fmt.Sprintf(baseConfig, target.URL), Options{})
	u := probeURL(srv, target.URL+"/shop", "")
	client := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
