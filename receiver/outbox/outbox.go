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

// RunOnce claims one batch of due notices, delivers them concurrently and records the
// results; it returns how many it claimed.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	cfg := s.Config()
	notices, err := s.Store.ClaimNotices(ctx, s.Owner, s.now(), cfg.Lease, batch, cfg.MaxAttempts)
	if err != nil {
		return 0, err
	}
	chans := s.Channels()
	errs := make([]error, len(notices))
	var wg sync.WaitGroup
	for i, n := range notices {
		if n.Status == store.NoticeFailed {
			errs[i] = errors.New(n.LastError) // given up by the claim (store.GaveUpError)
			continue
		}
		wg.Go(func() { errs[i] = s.deliver(ctx, cfg, chans[n.Channel], n) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return len(notices), nil // shutting down: the leases expire and other attempts follow
	}
	s.record(ctx, cfg, chans, notices, errs)
	return len(notices), nil
}

// deliver sends one notice on ch (nil: the channel is not configured).
func (s *Sender) deliver(ctx context.Context, cfg config.Outbox, ch Channel, n store.Notice) error {
	if ch.Notifier == nil {
		// The channel was removed by a reload: keep the notice (retryable) so re-adding the
		// channel delivers it, and make it visible.
		return notify.Retryable(errors.New("channel "+n.Channel+" is not configured"), 0)
	}
	msg := &notify.Message{ID: n.ID, Event: notify.Event(n.Event), Audience: notify.Audience(n.Audience),
		Subject: n.Subject, Text: n.Text, CreatedAt: n.CreatedAt}
	if len(n.Payload) > 0 {
		if err := json.Unmarshal(n.Payload, &msg.Incident); err != nil {
			s.Logger.Warn("outbox: undecodable incident payload", "notice", n.ID, "err", err)
		}
	}
	// Half the lease: a delivery must end well before another replica may claim it.
	dctx, cancel := context.WithTimeout(ctx, cfg.Lease/2)
	defer cancel()
	return ch.Notifier.Notify(dctx, msg)
}

// record stores the results of one batch (errs[i] is notices[i]'s): the sent notices in one
// write, each failure with its retry or its end.
func (s *Sender) record(ctx context.Context, cfg config.Outbox, chans map[string]Channel, notices []store.Notice, errs []error) {
	results := make([]string, len(notices))
	var sent []string
	for i, n := range notices {
		logger := s.Logger.With("notice", n.ID, "incident", n.IncidentID, "channel", n.Channel, "event", n.Event)
		var serr error
		switch retryable, retryAfter := notify.IsRetryable(errs[i]); {
		case n.Status == store.NoticeFailed:
			results[i] = "failed"
			logger.Error("outbox: gave up on a notice: every delivery was cut off, so the notice itself may stop the replicas",
				"attempts", n.Attempts, "err", n.LastError)
		case errs[i] == nil:
			results[i] = "sent"
			sent = append(sent, n.ID)
		case retryable && n.Attempts+1 < cfg.MaxAttempts:
			results[i] = "retried"
			next := s.now().Add(Backoff(cfg, n.Attempts, retryAfter)).UTC()
			logger.Warn("outbox: delivery failed, will retry", "attempt", n.Attempts+1, "next", next, "err", errs[i])
			serr = s.Store.RetryNotice(ctx, n.ID, s.Owner, errs[i].Error(), next)
		default:
			results[i] = "failed"
			logger.Error("outbox: delivery failed permanently", "attempts", n.Attempts+1, "err", errs[i])
			serr = s.Store.FailNotice(ctx, n.ID, s.Owner, errs[i].Error())
		}
		if serr != nil {
			logger.Error("outbox: recording the delivery result failed", "result", results[i], "err", serr)
		}
	}
	if len(sent) > 0 {
		if err := s.Store.CompleteNotices(ctx, s.Owner, s.now().UTC(), sent); err != nil {
			// Lost leases mean another replica took over (it delivers again, with the same
			// idempotency key); anything else leaves the leases to expire and the same.
			s.Logger.Error("outbox: recording sent notices failed", "notices", len(sent), "err", err)
		}
	}
	for i, n := range notices {
		kind := chans[n.Channel].Kind
		if kind == "" {
			kind = "unknown"
		}
		s.Metrics.Notices.WithLabelValues(kind, n.Audience, results[i]).Inc()
		if s.OnResult != nil {
			s.OnResult(n, results[i], errs[i])
		}
	}
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
	// Timers of different subjects (incidents) fire concurrently, as a burst of them is due
	// together after a wide outage; one subject's fire in due order, as each changes it.
	bySubject := map[string][]store.Timer{}
	for _, tm := range timers {
		bySubject[tm.Subject] = append(bySubject[tm.Subject], tm)
	}
	var wg sync.WaitGroup
	for _, due := range bySubject {
		wg.Go(func() {
			for _, tm := range due {
				// On error the lease expires and the timer is fired again.
				if err := t.Fire(ctx, tm); err != nil && ctx.Err() == nil {
					t.Logger.Error("timers: firing failed", "subject", tm.Subject, "kind", tm.Kind, "err", err)
				}
			}
		})
	}
	wg.Wait()
	return len(timers)
}
