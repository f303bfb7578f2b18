// Package outbox delivers the notices the lifecycle committed, and fires due timers. Both
// workers CLAIM their work in the store with a lease, so several replicas share it and a
// crashed replica's work is picked up after its lease expires. Delivery is at-least-once;
// the notice ID travels as the message's idempotency key so a channel that supports it
// drops the rare duplicate after a crash between sending and recording.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/store"
)

// Channel is a configured channel: its notifier and its kind (the metric label).
type Channel struct {
	Notifier notify.Notifier
	Kind     string
}

// Metrics of delivery.
type Metrics struct {
	Notices *prometheus.CounterVec // siteward_notices_total{channel,audience,result}
}

// NewMetrics registers the delivery metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{Notices: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "siteward_notices_total",
		Help: "Notice delivery attempts by channel kind, audience and result (sent, failed: permanently, retried).",
	}, []string{"channel", "audience", "result"})}
	if reg != nil {
		reg.MustRegister(m.Notices)
	}
	return m
}

// Sender is the delivery worker.
type Sender struct {
	Store    store.Store
	Owner    string                    // this process's lease owner ID
	Channels func() map[string]Channel // current channels by name (reloadable)
	Config   func() config.Outbox      // current settings (reloadable)
	Wake     <-chan struct{}           // new notices were committed
	Metrics  *Metrics
	Logger   *slog.Logger
	Now      func() time.Time                               // default time.Now
	OnResult func(n store.Notice, result string, err error) // optional hook (tests)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// batch is how many notices one claim takes; delivered concurrently.
const batch = 16

// Run delivers until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	for {
		cfg := s.Config()
		n, err := s.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			s.Logger.Error("outbox: claim failed", "err", err)
		}
		if n == batch {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-s.Wake:
			// Let a burst of commits gather so one claim takes them all: each claim is a
			// write, and the writer is what webhooks wait for.
			select {
			case <-ctx.Done():
				return
			case <-time.After(coalesce):
			}
		case <-time.After(cfg.Interval):
		}
	}
}

// coalesce is how long the sender waits after a wake-up before claiming.
const coalesce = 20 * time.Millisecond

// RunOnce claims one batch of due notices and delivers them; it returns how many it claimed.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	cfg := s.Config()
	notices, err := s.Store.ClaimNotices(ctx, s.Owner, s.now(), cfg.Lease, batch)
	if err != nil {
		return 0, err
	}
	chans := s.Channels()
	var wg sync.WaitGroup
	for _, n := range notices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deliver(ctx, cfg, chans, n)
		}()
	}
	wg.Wait()
	return len(notices), nil
}

// Backoff is the delay before attempt number attempts+1: exponential from min, capped at max,
// and never shorter than what the channel asked for (Retry-After).
func Backoff(cfg config.Outbox, attempts int, retryAfter time.Duration) time.Duration {
	d := time.Duration(float64(cfg.MinBackoff) * math.Pow(2, float64(attempts)))
	if d > cfg.MaxBackoff || d <= 0 {
		d = cfg.MaxBackoff
	}
	return max(d, retryAfter)
}

func (s *Sender) deliver(ctx context.Context, cfg config.Outbox, chans map[string]Channel, n store.Notice) {
	logger := s.Logger.With("notice", n.ID, "incident", n.IncidentID, "channel", n.Channel, "event", n.Event)
	ch, ok := chans[n.Channel]
	var err error
	if !ok {
		// The channel was removed by a reload: keep the notice (retryable) so re-adding the
		// channel delivers it, and make it visible.
		err = notify.Retryable(errors.New("channel "+n.Channel+" is not configured"), 0)
	} else {
		msg := &notify.Message{ID: n.ID, Event: notify.Event(n.Event), Audience: notify.Audience(n.Audience),
			Subject: n.Subject, Text: n.Text, CreatedAt: n.CreatedAt}
		if len(n.Payload) > 0 {
			if jerr := json.Unmarshal(n.Payload, &msg.Incident); jerr != nil {
				logger.Warn("outbox: undecodable incident payload", "err", jerr)
			}
		}
		// Half the lease: a delivery must end well before another replica may claim it.
		dctx, cancel := context.WithTimeout(ctx, cfg.Lease/2)
		err = ch.Notifier.Notify(dctx, msg)
		cancel()
	}
	if ctx.Err() != nil {
		return // shutting down: the lease expires and another attempt follows
	}
	kind := ch.Kind
	if kind == "" {
		kind = "unknown"
	}
	var result string
	var serr error
	switch retryable, retryAfter := notify.IsRetryable(err); {
	case err == nil:
		result = "sent"
		serr = s.Store.CompleteNotice(ctx, n.ID, s.Owner, s.now().UTC())
	case retryable && n.Attempts+1 < cfg.MaxAttempts:
		result = "retried"
		next := s.now().Add(Backoff(cfg, n.Attempts, retryAfter)).UTC()
		logger.Warn("outbox: delivery failed, will retry", "attempt", n.Attempts+1, "next", next, "err", err)
		serr = s.Store.RetryNotice(ctx, n.ID, s.Owner, err.Error(), next)
	default:
		result = "failed"
		logger.Error("outbox: delivery failed permanently", "attempts", n.Attempts+1, "err", err)
		serr = s.Store.FailNotice(ctx, n.ID, s.Owner, err.Error())
	}
	if serr != nil {
		logger.Error("outbox: recording the delivery result failed", "result", result, "err", serr)
	}
	s.Metrics.Notices.WithLabelValues(kind, n.Audience, result).Inc()
	if s.OnResult != nil {
		s.OnResult(n, result, err)
	}
}

// Timers fires due timers.
type Timers struct {
	Store    store.Store
	Owner    string
	Lease    time.Duration
	Interval time.Duration
	Fire     func(ctx context.Context, t store.Timer) error
	Logger   *slog.Logger
	Now      func() time.Time
}

// Run fires timers until ctx ends.
func (t *Timers) Run(ctx context.Context) {
	for {
		n := t.RunOnce(ctx)
		if n == batch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(t.Interval):
		}
	}
}

// RunOnce claims and fires one batch of due timers; it returns how many it claimed.
func (t *Timers) RunOnce(ctx context.Context) int {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	timers, err := t.Store.ClaimTimers(ctx, t.Owner, now(), t.Lease, batch)
	if err != nil {
		if ctx.Err() == nil {
			t.Logger.Error("timers: claim failed", "err", err)
		}
		return 0
	}
	for _, tm := range timers {
		// On error the lease expires and the timer is fired again.
		if err := t.Fire(ctx, tm); err != nil && ctx.Err() == nil {
			t.Logger.Error("timers: firing failed", "subject", tm.Subject, "kind", tm.Kind, "err", err)
		}
	}
	return len(timers)
}
