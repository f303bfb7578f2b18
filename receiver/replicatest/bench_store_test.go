package replicatest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/outbox"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
	"github.com/siteward/siteward/receiver/store/sqlite"
)

// BenchmarkIngest measures webhook notifications stored per second, and their latency, on
// SQLite and on PostgreSQL with one and three replicas. Each notification is one store
// transaction as the webhook handler makes it (deduplicate, open or resolve the incident,
// enqueue its notice); a mix of new alerts (50%), repeats (30%) and resolutions (20%),
// sent by 16 concurrent senders (Alertmanager sends groups concurrently) spread over the
// replicas by a least-requests balancer, while every replica's outbox sender (the receiver's, woken by each
// commit as in the receiver) delivers the notices.
// It isolates the store from HTTP and the lifecycle (compare BenchmarkWebhook).
// scripts/bench-postgres.sh runs it; it needs SITEWARD_TEST_POSTGRES_URL for PostgreSQL.
func BenchmarkIngest(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "siteward.db"))
		if err != nil {
			b.Fatal(err)
		}
		benchIngest(b, []*replica{newReplica(b, "r1", s)})
	})
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("postgres-%d-replicas", n), func(b *testing.B) {
			url := shareConnections(pgtest.Database(b), n)
			var replicas []*replica
			for i := range n {
				replicas = append(replicas, startReplica(b, fmt.Sprintf("r%d", i+1), url))
			}
			benchIngest(b, replicas)
		})
	}
}

// nopNotifier accepts everything, so the figures are the store's.
type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, *notify.Message) error { return nil }

func benchIngest(b *testing.B, replicas []*replica) {
	const senders = 16
	t0 := time.Now()
	// Notification i: new alert, repeat of an earlier one, or resolution of an earlier one.
	alerts := make([]alert, b.N)
	for i := range alerts {
		key := func(j int) string { return fmt.Sprintf(`client="c%d",site="s%d"`, j%50, j) }
		switch m := i % 10; {
		case m < 5:
			alerts[i] = alert{key(i), "firing", t0}
		case m < 8:
			alerts[i] = alert{key(i - 5), "firing", t0}
		default:
			alerts[i] = alert{key(i - 8), "resolved", t0}
		}
	}

	cfg, err := config.Parse(nil, "")
	if err != nil {
		b.Fatal(err)
	}
	channels := map[string]outbox.Channel{"team-webhook": {Notifier: nopNotifier{}, Kind: "webhook"}}
	wakes := make([]chan struct{}, len(replicas))
	var workers sync.WaitGroup
	for i, r := range replicas {
		wakes[i] = make(chan struct{}, 1)
		sender := &outbox.Sender{Store: r.store, Owner: r.name, Wake: wakes[i],
			Metrics: outbox.NewMetrics(nil), Logger: slog.New(slog.DiscardHandler),
			Channels: func() map[string]outbox.Channel { return channels },
			Config:   func() config.Outbox { return cfg.Outbox }}
		workers.Go(func() { sender.Run(r.ctx) })
	}
	defer func() {
		for _, r := range replicas {
			r.kill()
		}
		workers.Wait()
	}()

	runLoad(b, senders, len(replicas), func(i, r int) error {
		if err := replicas[r].ingest(alerts[i]); err != nil {
			return err
		}
		select {
		case wakes[r] <- struct{}{}:
		default: // a wake-up is pending already
		}
		return nil
	})
}
