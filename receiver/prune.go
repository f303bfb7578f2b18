package receiver

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/receiver/store"
)

// The webhook's deduplication records every alert event it sees. The events of a resolved
// alert are only needed while Alertmanager may still send that alert (an HA peer's copy, a
// late firing that the resolution overtook), so they are deleted some time after the
// resolution; the events of alerts still firing are kept.
const (
	// alertEventRetention is longer than Alertmanager's default --data.retention (120h),
	// after which it has forgotten the alert.
	alertEventRetention = 7 * 24 * time.Hour
	pruneInterval       = time.Hour
	pruneBatch          = 1000 // alerts per statement: a large backlog never holds locks long
)

// alertEventPruner deletes old alert events every pruneInterval. Every replica runs one;
// deleting is idempotent.
type alertEventPruner struct {
	store  store.Store
	pruned prometheus.Counter
	logger *slog.Logger
	now    func() time.Time
}

func newAlertEventPruner(st store.Store, reg prometheus.Registerer, logger *slog.Logger) *alertEventPruner {
	p := &alertEventPruner{store: st, logger: logger, now: time.Now,
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "siteward_alert_events_pruned_total",
			Help: "Recorded alert events deleted once their alert had been resolved for " + alertEventRetention.String() + ".",
		})}
	reg.MustRegister(p.pruned)
	return p
}

func (p *alertEventPruner) run(ctx context.Context) {
	ticker := time.NewTicker(pruneInterval)
	defer ticker.Stop()
	for {
		p.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// prune deletes, batch by batch, every event due for deletion; it returns how many.
func (p *alertEventPruner) prune(ctx context.Context) int {
	before := p.now().Add(-alertEventRetention)
	total := 0
	for {
		n, err := p.store.PruneAlertEvents(ctx, before, pruneBatch)
		if err != nil {
			if ctx.Err() == nil {
				p.logger.Warn("pruning old alert events failed; retrying in an hour", "err", err)
			}
			break
		}
		total += n
		p.pruned.Add(float64(n))
		if n == 0 {
			break
		}
	}
	if total > 0 {
		p.logger.Info("pruned the events of alerts resolved before the retention", "events", total, "resolved_before", before)
	}
	return total
}
