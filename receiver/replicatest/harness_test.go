package replicatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres"
)

// This file is a small stand-in for the receiver around the store: ingest does what the
// webhook handler does to the store (deduplicate, open or resolve the incident, enqueue its
// notices in the same transaction), and deliver is an outbox worker (claim with a lease, send,
// mark sent). The tests exercise the store's multi-replica guarantees through them.

// replica is one receiver process: its own connection pool, its own lifetime.
type replica struct {
	name  string
	store store.Store
	ctx   context.Context
	kill  context.CancelFunc
}

var errReplicaDown = errors.New("replica is down")

// startReplica opens a PostgreSQL store on url for a new replica.
func startReplica(tb testing.TB, name, url string) *replica {
	tb.Helper()
	s, err := postgres.Open(context.Background(), url, promslog.NewNopLogger())
	if err != nil {
		tb.Fatal(err)
	}
	return newReplica(tb, name, s)
}

// newReplica runs a replica on s; s is closed when the test ends.
func newReplica(tb testing.TB, name string, s store.Store) *replica {
	tb.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return &replica{name: name, store: s, ctx: ctx, kill: cancel}
}

// alert is one alert of a webhook notification.
type alert struct {
	key      string // incident key; also the alert fingerprint (one alert per key here)
	status   string // firing | resolved
	startsAt time.Time
}

// ingest stores one alert as the webhook handler would and retries the transaction on
// store.ErrConflict. An error means the webhook would answer 5xx and Alertmanager retry.
func (r *replica) ingest(a alert) error {
	if r.ctx.Err() != nil {
		return errReplicaDown
	}
	for attempt := 0; ; attempt++ {
		err := r.store.Update(r.ctx, func(tx store.Tx) error { return applyAlert(r.ctx, tx, a) })
		if !errors.Is(err, store.ErrConflict) || attempt == 10 {
			return err
		}
	}
}

func applyAlert(ctx context.Context, tx store.Tx, a alert) error {
	fresh, err := tx.RecordAlertEvents(ctx, []store.AlertEvent{{
		Key:   a.key,
		Alert: store.Alert{Fingerprint: a.key, Status: a.status, StartsAt: a.startsAt},
	}})
	if err != nil || len(fresh) == 0 {
		return err // a duplicate changes nothing
	}
	inc, err := tx.OpenIncidentByKey(ctx, a.key)
	if err != nil {
		return err
	}
	now := time.Now()
	switch {
	case a.status == "firing" && inc == nil:
		inc = &store.Incident{
			ID: randomID(), Key: a.key, Client: "acme", Sites: []string{a.key}, State: store.StateInvestigating,
			Severity: "critical", StartedAt: a.startsAt, UpdatedAt: now,
		}
		if err := tx.CreateIncident(ctx, inc); err != nil {
			return err
		}
		return tx.EnqueueNotices(ctx, notice(inc, notify.EventIncidentOpened, now))
	case a.status == "resolved" && inc != nil:
		inc.State, inc.ResolvedAt, inc.UpdatedAt = store.StateResolved, now, now
		if err := tx.UpdateIncident(ctx, inc); err != nil {
			return err
		}
		return tx.EnqueueNotices(ctx, notice(inc, notify.EventIncidentResolved, now))
	}
	return nil
}

// notice builds the outbox row; its ID (the idempotency key) is derived from the incident and
// the event, so it is the same whichever replica writes it.
func notice(inc *store.Incident, ev notify.Event, now time.Time) store.Notice {
	return store.Notice{
		ID: inc.ID + "/" + string(ev), IncidentID: inc.ID, Channel: "team-webhook", Audience: string(notify.AudienceTeam),
		Event: string(ev), Subject: string(ev) + " " + inc.Key, CreatedAt: now,
	}
}

func randomID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// worker is an outbox worker of one replica.
type worker struct {
	r        *replica
	notifier notify.Notifier
	lease    time.Duration
	// afterSend, when set, runs after the channel accepted a notice and before it is marked
	// sent: the place where a crash hurts most.
	afterSend func(n store.Notice)
}

// run claims and delivers due notices until the replica dies.
func (w *worker) run() {
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		claimed, err := w.r.store.ClaimNotices(w.r.ctx, w.r.name, time.Now(), w.lease, 5, 10)
		if err == nil {
			for _, n := range claimed {
				w.deliver(n)
			}
		}
		if len(claimed) > 0 && err == nil {
			continue
		}
		select {
		case <-w.r.ctx.Done():
			return
		case <-poll.C:
		}
	}
}

func (w *worker) deliver(n store.Notice) {
	ctx := w.r.ctx
	msg := &notify.Message{ID: n.ID, Event: notify.Event(n.Event), Audience: notify.Audience(n.Audience), Subject: n.Subject, CreatedAt: n.CreatedAt}
	if err := w.notifier.Notify(ctx, msg); err != nil {
		if ctx.Err() == nil {
			// The lease is released with a short backoff; any replica retries.
			_ = w.r.store.RetryNotice(ctx, n.ID, w.r.name, err.Error(), time.Now().Add(50*time.Millisecond))
		}
		return
	}
	if w.afterSend != nil {
		w.afterSend(n)
	}
	if ctx.Err() != nil {
		return // killed: the notice stays claimed until the lease expires
	}
	// ErrLeaseLost would mean another replica took over; the idempotency key covers it.
	_ = w.r.store.CompleteNotices(ctx, w.r.name, time.Now(), []string{n.ID})
}

// webhookNotifier posts a message as JSON with its ID in an Idempotency-Key header.
type webhookNotifier struct {
	url    string
	client *http.Client
}

func (n *webhookNotifier) Notify(ctx context.Context, m *notify.Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", m.ID)
	resp, err := n.client.Do(req)
	if err != nil {
		return notify.Retryable(err, 0)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // drain for connection reuse
	if resp.StatusCode/100 != 2 {
		return notify.Retryable(fmt.Errorf("channel answered %s", resp.Status), 0)
	}
	return nil
}

// countingChannel is the local channel server: it accepts every POST, drops repeats of an
// Idempotency-Key as a channel supporting it does, and counts both.
type countingChannel struct {
	*httptest.Server
	mu       sync.Mutex
	posts    map[string]int          // Idempotency-Key -> POSTs received
	accepted map[string]notify.Event // Idempotency-Key -> first accepted message's event
}

func newCountingChannel(t *testing.T) *countingChannel {
	c := &countingChannel{posts: map[string]int{}, accepted: map[string]notify.Event{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		key := r.Header.Get("Idempotency-Key")
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || key == "" || key != m.ID {
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.posts[key]++
		if _, seen := c.accepted[key]; !seen {
			c.accepted[key] = m.Event
		}
		c.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *countingChannel) snapshot() (posts map[string]int, accepted map[string]notify.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	posts, accepted = map[string]int{}, map[string]notify.Event{}
	for k, v := range c.posts {
		posts[k] = v
	}
	for k, v := range c.accepted {
		accepted[k] = v
	}
	return posts, accepted
}

// waitTimeout bounds the tests' waits for a condition generously: it catches a hang, it is
// not a speed check.
const waitTimeout = 60 * time.Second
