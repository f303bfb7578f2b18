//go:build linux

// Command benchreceiver measures sustained webhook notifications per second into a real
// siteward-receiver (SQLite store) with a mix of new alerts, repeats and resolutions, prints
// p50/p99 latency, then kills the receiver with SIGKILL, restarts it on the same database
// and checks that every accepted notification survived. scripts/bench-receiver.sh runs it.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchreceiver:", err)
		os.Exit(1)
	}
}

type alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

func body(status string, a alert) []byte {
	a.Status = status
	if status == "resolved" {
		a.EndsAt = a.StartsAt.Add(time.Minute)
	}
	b, _ := json.Marshal(map[string]any{
		"version": "4", "status": status, "receiver": "siteward", "groupKey": "{}:" + a.Fingerprint,
		"groupLabels": map[string]string{"client": a.Labels["client"], "site": a.Labels["site"]},
		"alerts":      []alert{a}, "externalURL": "http://alertmanager:9093",
	})
	return b
}

type stats struct {
	mu        sync.Mutex
	latencies []time.Duration
	byKind    map[string]int
	errors    int
}

func run() error {
	bin := flag.String("binary", "bin/siteward-receiver", "siteward-receiver binary")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	workers := flag.Int("workers", 16, "concurrent senders (Alertmanager sends each group concurrently)")
	goal := flag.Float64("goal", 1000, "notifications/s goal")
	goalP99 := flag.Duration("goal-p99", 50*time.Millisecond, "p99 latency goal")
	flag.Parse()

	dir, err := os.MkdirTemp("", "siteward-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "siteward.db")
	proc, base, err := start(*bin, db)
	if err != nil {
		return err
	}
	defer func() { _ = proc.Process.Kill(); _ = proc.Wait() }()

	// Mix: 40% a new alert (new site -> new incident), 40% a repeat of a firing alert
	// (repeat_interval, the HA peer), 20% a resolution.
	var (
		mu      sync.Mutex
		firing  []alert
		opened  = map[string]bool{} // incident keys accepted as new
		counter atomic.Int64
	)
	st := &stats{byKind: map[string]int{}}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	started := time.Now()
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for time.Now().Before(deadline) {
				var kind string
				var a alert
				mu.Lock()
				p := rng.IntN(100)
				switch {
				case p < 40 || len(firing) < 10:
					n := counter.Add(1)
					a = alert{Fingerprint: fmt.Sprintf("fp%08d", n), StartsAt: started, Labels: map[string]string{
						"alertname": "SiteDown", "client": fmt.Sprintf("client%03d", n%200), "site": fmt.Sprintf("site%d", n),
						"failure_type": "http", "severity": "critical"}}
					kind = "new" // joins firing once accepted: a resolution must not overtake it
				case p < 80:
					a = firing[rng.IntN(len(firing))]
					kind = "repeat"
				default:
					i := rng.IntN(len(firing))
					a = firing[i]
					firing = slices.Delete(firing, i, i+1)
					kind = "resolve"
				}
				mu.Unlock()
				status := "firing"
				if kind == "resolve" {
					status = "resolved"
				}
				t0 := time.Now()
				resp, err := client.Post(base+"/api/v1/webhook", "application/json", bytes.NewReader(body(status, a)))
				lat := time.Since(t0)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				st.mu.Lock()
				if ok {
					st.latencies = append(st.latencies, lat)
					st.byKind[kind]++
				} else {
					st.errors++
				}
				st.mu.Unlock()
				if ok && kind == "new" {
					mu.Lock()
					opened[a.Labels["site"]] = true
					firing = append(firing, a)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	slices.Sort(st.latencies)
	n := len(st.latencies)
	if n == 0 {
		return errors.New("no successful notification")
	}
	rate := float64(n) / elapsed.Seconds()
	p50, p99 := st.latencies[n/2], st.latencies[n*99/100]
	fmt.Printf("receiver (SQLite): %d notifications in %s with %d senders: %.0f notifications/s (new %d, repeat %d, resolve %d, errors %d)\n",
		n, elapsed.Round(time.Millisecond), *workers, rate, st.byKind["new"], st.byKind["repeat"], st.byKind["resolve"], st.errors)
	fmt.Printf("latency: p50 %s, p99 %s, max %s\n", p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), st.latencies[n-1].Round(10*time.Microsecond))

	// Durability: SIGKILL, restart on the same file, count the incidents.
	_ = proc.Process.Kill()
	_ = proc.Wait()
	proc, base, err = start(*bin, db)
	if err != nil {
		return err
	}
	got, err := countIncidents(client, base)
	if err != nil {
		return err
	}
	fmt.Printf("durability: SIGKILL + restart: %d incidents stored for %d accepted new alerts\n", got, len(opened))
	verdict := "MET"
	if rate < *goal || p99 > *goalP99 {
		verdict = "NOT MET"
	}
	fmt.Printf("goal (>= %.0f/s, p99 < %s): %s\n", *goal, *goalP99, verdict)
	if got != len(opened) || st.errors > 0 {
		return fmt.Errorf("lost notifications: %d incidents for %d accepted, %d errors", got, len(opened), st.errors)
	}
	return nil
}

func countIncidents(c *http.Client, base string) (int, error) {
	total := 0
	for _, state := range []string{"investigating", "identified", "monitoring", "resolved"} {
		resp, err := c.Get(base + "/api/v1/incidents?limit=10000000&state=" + state)
		if err != nil {
			return 0, err
		}
		var out struct{ Incidents []json.RawMessage }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		total += len(out.Incidents)
	}
	return total, nil
}

func start(bin, db string) (*exec.Cmd, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--storage.path="+db, "--web.listen-address="+addr, "--log.level=error")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	// The receiver dies with the harness, even when the harness is killed (e.g. by SIGPIPE
	// from `| head`) before its deferred cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	for range 300 {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, base, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, "", errors.New("receiver did not become ready")
}
