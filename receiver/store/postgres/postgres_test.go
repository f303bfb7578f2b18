package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/siteward/siteward/internal/testutil"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
	"github.com/siteward/siteward/receiver/storetest"
)

// openTestStore opens a store on a fresh database of the shared test cluster.
func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.Database(t), promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTestStore(t) })
}

func TestOpenErrors(t *testing.T) {
	closedPort := testutil.FreePort(t) // nothing listens on it
	for _, tc := range []struct {
		name, url, want string
	}{
		{"not a URL", "postgres://siteward:s3cret@127.0.0.1:notaport/x", "parse PostgreSQL URL"},
		{"unknown sslmode", "postgres://siteward@127.0.0.1/x?sslmode=sometimes", "parse PostgreSQL URL"},
		{"nothing listening", fmt.Sprintf("postgres://siteward@127.0.0.1:%d/x?sslmode=disable", closedPort), "connect to PostgreSQL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.url, promslog.NewNopLogger())
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("err = %v reveals the password", err)
			}
		})
	}
}

// TestClaimsAcrossReplicas: three stores (three replicas' pools) claim from one outbox and
// one timer table at the same instant, repeatedly. SKIP LOCKED and the lease must hand each
// notice and each timer to exactly one of them.
func TestClaimsAcrossReplicas(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	var stores []*Store
	for range 3 {
		s, err := Open(ctx, url, promslog.NewNopLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const items = 300
	err := stores[0].Update(ctx, func(tx store.Tx) error {
		for i := range items {
			if err := tx.EnqueueNotices(ctx, store.Notice{ID: fmt.Sprintf("n%03d", i), IncidentID: "i1", Channel: "log", CreatedAt: now}); err != nil {
				return err
			}
			if err := tx.SetTimer(ctx, store.Timer{Subject: fmt.Sprintf("i%03d", i), Kind: store.TimerUpdate, DueAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	notices, timers := map[string][]string{}, map[string][]string{}
	var wg sync.WaitGroup
	for r, s := range stores {
		owner := fmt.Sprintf("r%d", r)
		wg.Go(func() {
			for {
				ns, err := s.ClaimNotices(ctx, owner, now, time.Minute, 7, 10)
				if err != nil {
					t.Error(err)
					return
				}
				ts, err := s.ClaimTimers(ctx, owner, now, time.Minute, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ns) == 0 && len(ts) == 0 {
					return
				}
				mu.Lock()
				for _, n := range ns {
					notices[n.ID] = append(notices[n.ID], owner)
				}
				for _, tm := range ts {
					timers[tm.Subject] = append(timers[tm.Subject], owner)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for what, claims := range map[string]map[string][]string{"notice": notices, "timer": timers} {
		if len(claims) != items {
			t.Errorf("%d %ss claimed, want %d", len(claims), what, items)
		}
		for id, owners := range claims {
			if len(owners) != 1 {
				t.Errorf("%s %s claimed by %v, want exactly one owner", what, id, owners)
			}
		}
	}
}

// TestRecordAlertEventsNoDeadlock: replicas record the same alerts, listed in opposite
// orders, at the same instant (an HA pair's notifications for one group). Neither may fail:
// a deadlock would surface as store.ErrConflict after PostgreSQL's deadlock_timeout.
func TestRecordAlertEventsNoDeadlock(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	a, err := Open(ctx, url, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := Open(ctx, url, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	startsAt := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for round := range 20 {
		var events []store.AlertEvent
		for i := range 8 {
			events = append(events, store.AlertEvent{Key: fmt.Sprintf("k%d", round),
				Alert: store.Alert{Fingerprint: fmt.Sprintf("fp%d", i), Status: "firing", StartsAt: startsAt}})
		}
		reversed := slices.Clone(events)
		slices.Reverse(reversed)
		var wg sync.WaitGroup
		fresh := make([]int, 2)
		for i, job := range []struct {
			s      *Store
			events []store.AlertEvent
		}{{a, events}, {b, reversed}} {
			wg.Go(func() {
				err := job.s.Update(ctx, func(tx store.Tx) error {
					got, err := tx.RecordAlertEvents(ctx, job.events)
					fresh[i] = len(got)
					return err
				})
				if err != nil {
					t.Errorf("round %d, replica %d: %v", round, i, err)
				}
			})
		}
		wg.Wait()
		if fresh[0]+fresh[1] != len(events) {
			t.Fatalf("round %d: %d + %d fresh events, want %d in total", round, fresh[0], fresh[1], len(events))
		}
	}
}

// TestTimerAndIncidentLockOrder: one replica fires an incident's timer (TakeTimer, then the
// incident) while another changes the incident and moves its timer (the incident, then
// SetTimer), over and over. Neither may fail with a deadlock.
func TestTimerAndIncidentLockOrder(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	var stores []*Store
	for range 2 {
		s, err := Open(ctx, url, promslog.NewNopLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	due := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	timer := store.Timer{Subject: "i1", Kind: store.TimerUpdate, DueAt: due}
	err := stores[0].Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateIncident(ctx, &store.Incident{ID: "i1", Key: "k", Client: "acme", State: store.StateInvestigating}); err != nil {
			return err
		}
		return tx.SetTimer(ctx, timer)
	})
	if err != nil {
		t.Fatal(err)
	}

	const rounds = 30
	var wg sync.WaitGroup
	wg.Go(func() { // the timer worker
		for range rounds {
			err := stores[0].Update(ctx, func(tx store.Tx) error {
				if _, err := tx.TakeTimer(ctx, timer); err != nil {
					return err
				}
				inc, err := tx.Incident(ctx, "i1")
				if err != nil {
					return err
				}
				inc.Owner = "timer"
				return tx.UpdateIncident(ctx, inc)
			})
			if err != nil {
				t.Errorf("firing the timer: %v", err)
				return
			}
		}
	})
	wg.Go(func() { // a webhook or an API call on the same incident
		for range rounds {
			err := stores[1].Update(ctx, func(tx store.Tx) error {
				inc, err := tx.Incident(ctx, "i1")
				if err != nil {
					return err
				}
				inc.Owner = "api"
				if err := tx.UpdateIncident(ctx, inc); err != nil {
					return err
				}
				return tx.SetTimer(ctx, timer)
			})
			if err != nil {
				t.Errorf("changing the incident: %v", err)
				return
			}
		}
	})
	wg.Wait()
}

// TestOpenConcurrently: replicas starting at the same moment on an empty database all come
// up, and the schema is migrated once.
func TestOpenConcurrently(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	const replicas = 3
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			s, err := Open(ctx, url, promslog.NewNopLogger())
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	pool := testPool(t, url)
	if got := appliedVersions(t, pool); len(got) != len(migrations) {
		t.Errorf("schema_migrations versions %v, want %d steps", got, len(migrations))
	}
}
