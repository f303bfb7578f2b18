package outbox_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/notify/webhook"
	"github.com/siteward/siteward/receiver/outbox"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/sqlite"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// channelServer answers with the queued status codes, then 200; it records delivery IDs.
type channelServer struct {
	mu         sync.Mutex
	codes      []int
	retryAfter string
	deliveries []string
}

func (c *channelServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deliveries = append(c.deliveries, r.Header.Get(webhook.HeaderDelivery))
	if len(c.codes) > 0 {
		code := c.codes[0]
		c.codes = c.codes[1:]
		if c.retryAfter != "" {
			w.Header().Set("Retry-After", c.retryAfter)
		}
		w.WriteHeader(code)
		return
	}
	w.WriteHeader(http.StatusOK)
}

type fixture struct {
	store   store.Store
	sender  *outbox.Sender
	metrics *outbox.Metrics
	now     time.Time
}

func newFixture(t *testing.T, srv *httptest.Server, cfg config.Outbox) *fixture {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n, err := webhook.New(&webhook.Config{URL: commoncfg.Secret(srv.URL)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, now: t0, metrics: outbox.NewMetrics(prometheus.NewRegistry())}
	f.sender = &outbox.Sender{
		Store: s, Owner: "test", Metrics: f.metrics, Logger: slog.New(slog.DiscardHandler),
		Channels: func() map[string]outbox.Channel {
			return map[string]outbox.Channel{"hook": {Notifier: n, Kind: "webhook"}}
		},
		Config: func() config.Outbox { return cfg },
		Now:    func() time.Time { return f.now },
	}
	err = s.Update(context.Background(), func(tx store.Tx) error {
		return tx.EnqueueNotices(context.Background(), store.Notice{ID: "n1", IncidentID: "i1", Channel: "hook", Audience: "client",
			Event: "notice.initial", Subject: "s", Text: "We have detected an issue", CreatedAt: t0, Payload: []byte(`{"id":"i1","client":"acme"}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) notice(t *testing.T) store.Notice {
	t.Helper()
	ns, err := f.store.Notices(context.Background(), "i1")
	if err != nil || len(ns) != 1 {
		t.Fatalf("notices = %v, %v", ns, err)
	}
	return ns[0]
}

// A channel that fails for a while then recovers: the notice is retried with backoff,
// honouring Retry-After, and delivered once.
func TestChannelFailsThenRecovers(t *testing.T) {
	ch := &channelServer{codes: []int{503, 429, 502}, retryAfter: "120"}
	srv := httptest.NewServer(ch)
	defer srv.Close()
	cfg := config.Outbox{Lease: time.Minute, MaxAttempts: 10, MinBackoff: 5 * time.Second, MaxBackoff: 10 * time.Minute, Interval: time.Second}
	f := newFixture(t, srv, cfg)
	ctx := context.Background()
	for attempt := 1; attempt <= 3; attempt++ {
		if n, err := f.sender.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("attempt %d: claimed %d, %v", attempt, n, err)
		}
		got := f.notice(t)
		if got.Status != store.NoticePending || got.Attempts != attempt || got.LastError == "" {
			t.Fatalf("after failure %d: %+v", attempt, got)
		}
		// Retry-After: 120 beats the exponential backoff (5s, 10s, 20s).
		if want := f.now.Add(120 * time.Second); !got.NextAttemptAt.Equal(want) {
			t.Fatalf("next attempt at %s, want %s (Retry-After)", got.NextAttemptAt, want)
		}
		f.now = f.now.Add(119 * time.Second)
		if n, _ := f.sender.RunOnce(ctx); n != 0 {
			t.Fatalf("delivered before Retry-After passed")
		}
		f.now = f.now.Add(time.Second)
	}
	if n, err := f.sender.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("final attempt: claimed %d, %v", n, err)
	}
	got := f.notice(t)
	if got.Status != store.NoticeSent || got.Attempts != 4 || !got.SentAt.Equal(f.now) {
		t.Fatalf("after recovery: %+v", got)
	}
	if len(ch.deliveries) != 4 || ch.deliveries[0] != "n1" || ch.deliveries[3] != "n1" {
		t.Fatalf("deliveries = %v, want n1 four times (same idempotency key)", ch.deliveries)
	}
	if v := testutil.ToFloat64(f.metrics.Notices.WithLabelValues("webhook", "client", "retried")); v != 3 {
		t.Errorf("retried = %v, want 3", v)
	}
	if v := testutil.ToFloat64(f.metrics.Notices.WithLabelValues("webhook", "client", "sent")); v != 1 {
		t.Errorf("sent = %v, want 1", v)
	}
	if n, _ := f.sender.RunOnce(ctx); n != 0 {
		t.Fatal("a sent notice was claimed again")
	}
}

func TestPermanentFailureIsVisible(t *testing.T) {
	cases := []struct {
		name        string
		codes       []int
		maxAttempts int
		attempts    int
	}{
		{"4xx retrying cannot fix", []int{400}, 10, 1},
		{"out of attempts", []int{503, 503, 503}, 3, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := &channelServer{codes: tc.codes}
			srv := httptest.NewServer(ch)
			defer srv.Close()
			cfg := config.Outbox{Lease: time.Minute, MaxAttempts: tc.maxAttempts, MinBackoff: time.Second, MaxBackoff: time.Minute, Interval: time.Second}
			f := newFixture(t, srv, cfg)
			for range tc.attempts {
				if n, err := f.sender.RunOnce(context.Background()); err != nil || n != 1 {
					t.Fatalf("claimed %d, %v", n, err)
				}
				f.now = f.now.Add(time.Hour)
			}
			got := f.notice(t)
			if got.Status != store.NoticeFailed || got.Attempts != tc.attempts || got.LastError == "" {
				t.Fatalf("notice = %+v, want failed after %d attempts with the error", got, tc.attempts)
			}
			if v := testutil.ToFloat64(f.metrics.Notices.WithLabelValues("webhook", "client", "failed")); v != 1 {
				t.Errorf("failed = %v, want 1", v)
			}
		})
	}
}

// A notice whose deliveries were all cut off (each replica sending it died) is not sent
// again once the takeover used its last attempt: the sender counts it failed.
func TestGivesUpOnCutOffDeliveries(t *testing.T) {
	ch := &channelServer{}
	srv := httptest.NewServer(ch)
	defer srv.Close()
	cfg := config.Outbox{Lease: time.Minute, MaxAttempts: 2, MinBackoff: time.Second, MaxBackoff: time.Minute, Interval: time.Second}
	f := newFixture(t, srv, cfg)
	for i, dead := range []string{"r1", "r2"} { // both replicas die mid-delivery
		if c, err := f.store.ClaimNotices(context.Background(), dead, f.now.Add(time.Duration(i)*time.Hour), time.Minute, 10, cfg.MaxAttempts); err != nil || len(c) != 1 {
			t.Fatalf("%s claimed %d, %v", dead, len(c), err)
		}
	}
	f.now = f.now.Add(2 * time.Hour)
	if n, err := f.sender.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("claimed %d, %v", n, err)
	}
	if len(ch.deliveries) != 0 {
		t.Errorf("the channel got %d deliveries, want none", len(ch.deliveries))
	}
	if got := f.notice(t); got.Status != store.NoticeFailed || got.LastError != store.GaveUpError("r2", 2) {
		t.Errorf("notice = %+v, want failed with %q", got, store.GaveUpError("r2", 2))
	}
	if v := testutil.ToFloat64(f.metrics.Notices.WithLabelValues("webhook", "client", "failed")); v != 1 {
		t.Errorf("failed = %v, want 1", v)
	}
}

func TestBackoff(t *testing.T) {
	cfg := config.Outbox{MinBackoff: 5 * time.Second, MaxBackoff: time.Minute}
	cases := []struct {
		attempts   int
		retryAfter time.Duration
		want       time.Duration
	}{
		{0, 0, 5 * time.Second},
		{1, 0, 10 * time.Second},
		{3, 0, 40 * time.Second},
		{4, 0, time.Minute},
		{60, 0, time.Minute},
		{0, 30 * time.Second, 30 * time.Second},
	}
	for _, c := range cases {
		if got := outbox.Backoff(cfg, c.attempts, c.retryAfter); got != c.want {
			t.Errorf("Backoff(%d, %s) = %s, want %s", c.attempts, c.retryAfter, got, c.want)
		}
	}
}

// A burst of due timers: different incidents fire concurrently (i1's first timer waits
// for i2's to start), one incident's timers one after the other, in due order.
func TestTimersFireIncidentsConcurrently(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	err = s.Update(ctx, func(tx store.Tx) error {
		for _, tm := range []store.Timer{
			{Subject: "i1", Kind: store.TimerFirstNotice, DueAt: t0},
			{Subject: "i1", Kind: store.TimerUpdate, DueAt: t0.Add(time.Second)},
			{Subject: "i2", Kind: store.TimerEscalation, DueAt: t0.Add(2 * time.Second)},
		} {
			if err := tx.SetTimer(ctx, tm); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	i2Started := make(chan struct{})
	var mu sync.Mutex
	var i1Fired []store.TimerKind
	var i1Running bool
	concurrentI1, sawI2 := false, false
	timers := &outbox.Timers{Store: s, Owner: "test", Lease: time.Minute, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return t0.Add(time.Minute) },
		Fire: func(ctx context.Context, tm store.Timer) error {
			if tm.Subject == "i2" {
				close(i2Started)
				return nil
			}
			mu.Lock()
			concurrentI1 = concurrentI1 || i1Running
			i1Running = true
			mu.Unlock()
			if tm.Kind == store.TimerFirstNotice {
				select {
				case <-i2Started:
					sawI2 = true
				case <-time.After(10 * time.Second): // fails the test instead of hanging it
				}
			}
			mu.Lock()
			i1Fired = append(i1Fired, tm.Kind)
			i1Running = false
			mu.Unlock()
			return nil
		}}
	if n := timers.RunOnce(ctx); n != 3 {
		t.Fatalf("RunOnce fired %d timers, want 3", n)
	}
	if !sawI2 {
		t.Error("i1's first timer never saw i2's start: incidents fire one after the other")
	}
	if concurrentI1 || !slices.Equal(i1Fired, []store.TimerKind{store.TimerFirstNotice, store.TimerUpdate}) {
		t.Errorf("i1 fired %v (overlapping: %v), want first_notice then update, one at a time", i1Fired, concurrentI1)
	}
}
