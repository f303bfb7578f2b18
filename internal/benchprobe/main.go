// Command benchprobe is the harness of scripts/bench-exporter.sh: it runs blackbox_exporter
// and siteward-exporter, one at a time, with the same module file against the same loopback
// HTTP and HTTPS targets (served by this process), drives /probe at a fixed concurrency for a
// fixed duration, and prints probes/s, CPU seconds per 1,000 probes (utime+stime from
// /proc/<pid>/stat) and peak RSS (VmHWM) for each, and siteward's ratios to blackbox.
//
// The machine is shared, so its load changes while the benchmark runs: the exporters take
// turns in several rounds and the figures sum over the rounds (peak RSS is the highest seen),
// so that neither exporter gets all the quiet or all the busy moments.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siteward/siteward/exporter/difftest"
	"github.com/siteward/siteward/internal/testcerts"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on Linux.
const userHZ = 100

const modules = `modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  https_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_not_ssl: true
      tls_config:
        ca_file: CA_FILE
`

func main() { os.Exit(run()) }

func run() int {
	blackboxBin := flag.String("blackbox", "prometheus-blackbox-exporter", "blackbox_exporter binary")
	sitewardBin := flag.String("siteward", "bin/siteward-exporter", "siteward-exporter binary")
	concurrency := flag.Int("concurrency", 8, "concurrent /probe requests")
	duration := flag.Duration("duration", 5*time.Second, "measured time per exporter, scenario and round")
	rounds := flag.Int("rounds", 3, "rounds in which the exporters take turns")
	warmup := flag.Duration("warmup", time.Second, "unmeasured load before each measurement")
	flag.Parse()

	if err := bench(*blackboxBin, *sitewardBin, *concurrency, *rounds, *duration, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "benchprobe:", err)
		return 1
	}
	return 0
}

// result is one exporter's figures for one scenario.
type result struct {
	probes, failed int64
	elapsed        time.Duration
	cpuSeconds     float64
	peakRSSKiB     int64
}

func (r result) probesPerSecond() float64 { return float64(r.probes) / r.elapsed.Seconds() }
func (r result) cpuPer1000() float64      { return r.cpuSeconds / float64(r.probes) * 1000 }

// add sums the figures of another round into r.
func (r *result) add(o result) {
	r.probes += o.probes
	r.failed += o.failed
	r.elapsed += o.elapsed
	r.cpuSeconds += o.cpuSeconds
	r.peakRSSKiB = max(r.peakRSSKiB, o.peakRSSKiB)
}

func bench(blackboxBin, sitewardBin string, concurrency, rounds int, duration, warmup time.Duration) error {
	dir, err := os.MkdirTemp("", "siteward-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ca, err := testcerts.NewCA(testcerts.Options{})
	if err != nil {
		return err
	}
	caFile, err := testcerts.WritePEM(dir, "ca.pem", ca.Cert)
	if err != nil {
		return err
	}
	cert, err := ca.Issue(difftest.TargetCertificate(time.Now().Add(-time.Hour), time.Now().Add(7*24*time.Hour)))
	if err != nil {
		return err
	}
	httpSite := httptest.NewServer(difftest.TargetHandler())
	defer httpSite.Close()
	httpsSite := httptest.NewUnstartedServer(difftest.TargetHandler())
	httpsSite.TLS = testcerts.ServerConfig(cert)
	httpsSite.StartTLS()
	defer httpsSite.Close()
	configFile := filepath.Join(dir, "modules.yml")
	if err := os.WriteFile(configFile, []byte(strings.ReplaceAll(modules, "CA_FILE", caFile)), 0o600); err != nil {
		return err
	}

	exporters := []struct {
		name string
		bin  string
		args []string
	}{
		{"blackbox", blackboxBin, []string{"--config.file=" + configFile, "--log.level=warn"}},
		{"siteward", sitewardBin, []string{"--config.file=" + configFile, "--probe.allow-any-target", "--log.level=warn"}},
	}
	scenarios := []struct{ name, module, target string }{
		{"http", "http_2xx", httpSite.URL + "/"},
		{"https", "https_2xx", httpsSite.URL + "/"},
	}

	fmt.Printf("exporter benchmark: %d concurrent /probe requests, %d rounds of %s per exporter and target (each after %s warm-up), loopback targets\n",
		concurrency, rounds, duration, warmup)
	fmt.Printf("%-6s %-9s %8s %9s %13s %12s %7s\n", "target", "exporter", "probes", "probes/s", "cpu-s/1000", "peak-rss-MiB", "failed")
	for _, sc := range scenarios {
		results := map[string]*result{}
		for _, ex := range exporters {
			results[ex.name] = &result{}
		}
		for range rounds {
			for _, ex := range exporters {
				r, err := measure(ex.name, ex.bin, ex.args, sc.module, sc.target, concurrency, duration, warmup)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", sc.name, ex.name, err)
				}
				results[ex.name].add(r)
			}
		}
		for _, ex := range exporters {
			r := results[ex.name]
			fmt.Printf("%-6s %-9s %8d %9.0f %13.3f %12.1f %7d\n", sc.name, ex.name, r.probes, r.probesPerSecond(),
				r.cpuPer1000(), float64(r.peakRSSKiB)/1024, r.failed)
		}
		b, s := results["blackbox"], results["siteward"]
		fmt.Printf("%-6s siteward/blackbox: throughput x%.2f, cpu per probe x%.2f, peak rss x%.2f\n", sc.name,
			s.probesPerSecond()/b.probesPerSecond(), s.cpuPer1000()/b.cpuPer1000(), float64(s.peakRSSKiB)/float64(b.peakRSSKiB))
	}
	return nil
}

// measure starts one exporter, loads it for warmup and then duration, and reads its CPU time
// and peak RSS from /proc.
func measure(name, bin string, args []string, module, target string, concurrency int, duration, warmup time.Duration) (result, error) {
	e, err := difftest.StartExporter(name, bin, args...)
	if err != nil {
		return result{}, err
	}
	defer e.Stop()
	probeURL := e.ProbeURL(module, target)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 10 * time.Second}
	if err := probeOnce(client, probeURL); err != nil {
		return result{}, fmt.Errorf("first probe: %w\n%s", err, e.Output())
	}
	load(client, probeURL, concurrency, warmup)

	cpuBefore, err := cpuSeconds(e.PID())
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	probes, failed := load(client, probeURL, concurrency, duration)
	elapsed := time.Since(start)
	cpuAfter, err := cpuSeconds(e.PID())
	if err != nil {
		return result{}, err
	}
	rss, err := peakRSS(e.PID())
	if err != nil {
		return result{}, err
	}
	if probes == 0 {
		return result{}, errors.New("no probe succeeded")
	}
	return result{probes: probes, failed: failed, elapsed: elapsed, cpuSeconds: cpuAfter - cpuBefore, peakRSSKiB: rss}, nil
}

// load runs concurrency workers that probe until d has passed and counts successful probes
// (HTTP 200 with probe_success 1) and failed ones.
func load(client *http.Client, probeURL string, concurrency int, d time.Duration) (probes, failed int64) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := probeOnce(client, probeURL); err != nil {
					bad.Add(1)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return ok.Load(), bad.Load()
}

var successLine = []byte("\nprobe_success 1\n")

func probeOnce(client *http.Client, probeURL string) error {
	resp, err := client.Get(probeURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, successLine) {
		return fmt.Errorf("probe failed: %s\n%s", resp.Status, body)
	}
	return nil
}

// cpuSeconds returns the user+system CPU time of process pid.
func cpuSeconds(pid int) (float64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseCPUSeconds(stat)
}

// parseCPUSeconds reads utime and stime (fields 14 and 15) from a /proc/<pid>/stat line.
func parseCPUSeconds(stat []byte) (float64, error) {
	// The command name (field 2) may contain spaces and parentheses; the fields after it
	// start past the last ')'.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return float64(utime+stime) / userHZ, nil
}

// peakRSS returns VmHWM of process pid in KiB.
func peakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parsePeakRSS(status)
}

// parsePeakRSS reads VmHWM, in KiB, from a /proc/<pid>/status file.
func parsePeakRSS(status []byte) (int64, error) {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("status: no VmHWM")
}
