package replicatest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

// BenchmarkWebhook measures Alertmanager webhook notifications per second, and their
// latency, through whole receivers (HTTP, decoding, the lifecycle, the store, the outbox
// and timer workers delivering to the log channel): one receiver on SQLite, and one and three
// replicas on one PostgreSQL. The load is a mix of new alerts (40%), repeats (20%) and
// resolutions (40%; incidents resolve after a 1ms quiet window, so the number of open
// incidents stays realistic), sent by 16 concurrent senders (Alertmanager sends groups
// concurrently) spread over the replicas by a least-requests load balancer. Timers are
// polled every 50ms, so the resolutions fire within the run whatever the number of
// replicas: every configuration does the same work, and the figures compare.
// scripts/bench-postgres.sh runs it; PostgreSQL needs SITEWARD_TEST_POSTGRES_URL.
func BenchmarkWebhook(b *testing.B) {
	config := writeFile(b, "timers: {resolve_quiet_window: 1ms}\noutbox: {interval: 50ms}\n")
	b.Run("sqlite", func(b *testing.B) {
		r := runReceiver(b, "sqlite", receiver.Options{ConfigFile: config, StoragePath: filepath.Join(b.TempDir(), "siteward.db")})
		benchWebhook(b, []*receiverReplica{r})
	})
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("postgres-%d-replicas", n), func(b *testing.B) {
			dbURL := shareConnections(pgtest.Database(b), n)
			var replicas []*receiverReplica
			for i := range n {
				replicas = append(replicas, startReceiver(b, fmt.Sprintf("r%d", i+1), dbURL, config))
			}
			benchWebhook(b, replicas)
		})
	}
}

// shareConnections gives each of n replicas its share of one connection budget: pgx's default
// pool for a single replica (the larger of 4 and the CPU count). A database runs only as many
// transactions at once as it has cores; on one machine, more connections from more replicas
// add contention, not throughput. Production sizes replicas x pool_max_conns the same way
// (docs/scale.md).
func shareConnections(dbURL string, n int) string {
	return dbURL + "&pool_max_conns=" + strconv.Itoa(max(1, max(4, runtime.NumCPU())/n))
}

func benchWebhook(b *testing.B, replicas []*receiverReplica) {
	const senders = 16
	t0 := time.Now().UTC().Truncate(time.Second)
	// Notification i: a new alert, a repeat of an earlier one, or the resolution of one.
	bodies := make([][]byte, b.N)
	for i := range bodies {
		site := func(j int) string { return fmt.Sprintf("site%d", j) }
		switch m := i % 10; {
		case m < 4:
			bodies[i] = webhookBody(b, site(i), "firing", t0)
		case m < 6:
			bodies[i] = webhookBody(b, site(i-4), "firing", t0)
		default:
			bodies[i] = webhookBody(b, site(i-6), "resolved", t0)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}, Timeout: time.Minute}
	defer client.CloseIdleConnections()

	runLoad(b, senders, len(replicas), func(i, r int) error {
		resp, err := client.Post(replicas[r].url+"/api/v1/webhook", "application/json", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // drain for keep-alive
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("webhook answered %s", resp.Status)
		}
		return nil
	})
}

// runLoad sends notifications 0..b.N-1 from senders concurrent senders, each to the replica
// (of n) a least-requests balancer picks, with send(notification, replica); it times the
// run and reports its figures (reportRate). A failed send fails the benchmark and stops its
// sender.
func runLoad(b *testing.B, senders, n int, send func(i, replica int) error) {
	latencies := make([]time.Duration, b.N)
	balancer := leastRequests{inFlight: make([]int, n)}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu := time.Now(), machineCPU()
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				began := time.Now()
				r := balancer.pick()
				err := send(i, r)
				balancer.done(r)
				if err != nil {
					b.Error(err)
					return
				}
				latencies[i] = time.Since(began)
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), machineCPU()-cpu
	b.StopTimer()

	reportRate(b, elapsed, cpu, latencies)
}

// reportRate reports the figures scripts/bench-postgres.sh prints: notifications/s over the
// whole run, the p50/p99 latency of one notification, and the machine's CPU time per
// notification (cpu: all processes, the database's included; absent when unknown). The
// rate of a run varies with what else the machine does; the CPU cost varies much less, and
// shows whether replicas add work.
func reportRate(b *testing.B, elapsed, cpu time.Duration, latencies []time.Duration) {
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/notification")
	}
	b.ReportMetric(0, "ns/op") // the figures above are the results
}

// machineCPU is the CPU time the whole machine has spent busy (user, nice, system, irq and
// softirq in /proc/stat), or 0 where there is no /proc/stat.
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	const userHZ = 100 // USER_HZ, the unit of /proc/stat: 100 on every Linux architecture Go supports
	return time.Duration(ticks) * time.Second / userHZ
}

// leastRequests sends each request to the replica with the fewest requests in flight, as a
// load balancer in front of replicas does (HAProxy leastconn, Envoy LEAST_REQUEST).
type leastRequests struct {
	mu       sync.Mutex
	inFlight []int
}

func (l *leastRequests) pick() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	best := 0
	for i, n := range l.inFlight {
		if n < l.inFlight[best] {
			best = i
		}
	}
	l.inFlight[best]++
	return best
}

func (l *leastRequests) done(i int) {
	l.mu.Lock()
	l.inFlight[i]--
	l.mu.Unlock()
}
