package replicatest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

// TestReplicasShareTheWork: three replicas on one database get a burst of notifications,
// each one delivered to several replicas at once (the two Alertmanagers of an HA pair, plus
// repeats); one replica is killed mid-burst right after a channel accepted a notice and
// before it marked the notice sent. Afterwards there is exactly one incident per key and the
// channel accepted exactly one delivery per notice.
func TestReplicasShareTheWork(t *testing.T) {
	url := pgtest.Database(t)
	channel := newCountingChannel(t)
	notifier := &webhookNotifier{url: channel.URL, client: channel.Client()}
	// Long enough that a live replica never loses a lease mid-delivery on a busy machine.
	const lease = 3 * time.Second

	replicas := []*replica{startReplica(t, "r1", url), startReplica(t, "r2", url), startReplica(t, "r3", url)}
	victim := replicas[2]
	victimSent := make(chan string, 1)
	victimWorker := &worker{r: victim, notifier: notifier, lease: lease, afterSend: func(n store.Notice) {
		select {
		case victimSent <- n.ID:
		default:
		}
		<-victim.ctx.Done() // "crash" between the channel's 200 and CompleteNotice
	}}
	var workers sync.WaitGroup
	workers.Go(victimWorker.run)

	const keys = 30
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	keyName := func(i int) string { return fmt.Sprintf(`client="acme",site="site%02d"`, i) }

	// Phase 1: every key fires; each notification goes to three replicas (HA pair + a
	// repeat), in random order.
	type delivery struct {
		a       alert
		replica int
	}
	var firing []delivery
	for i := range keys {
		for copy := range 3 {
			firing = append(firing, delivery{alert{keyName(i), "firing", t0}, (i + copy) % 3})
		}
	}
	rand.Shuffle(len(firing), func(i, j int) { firing[i], firing[j] = firing[j], firing[i] })

	// send plays Alertmanager: a failed request is retried, at another replica behind the
	// load balancer.
	send := func(d delivery) {
		for try := 0; try < 20; try++ {
			if err := replicas[(d.replica+try)%3].ingest(d.a); err == nil {
				return
			}
		}
		t.Errorf("%s %s: not accepted after 20 tries", d.a.key, d.a.status)
	}
	burst := func(feed func(ch chan<- delivery)) {
		ch := make(chan delivery)
		var senders sync.WaitGroup
		for range 6 {
			senders.Go(func() {
				for d := range ch {
					send(d)
				}
			})
		}
		feed(ch)
		close(ch)
		senders.Wait()
	}

	var victimNotice string
	burst(func(ch chan<- delivery) {
		half := len(firing) / 2
		for _, d := range firing[:half] {
			ch <- d
		}
		// Only the victim's worker runs yet, so it is the one that claims and sends first.
		select {
		case victimNotice = <-victimSent:
		case <-time.After(60 * time.Second):
			t.Fatal("the victim replica delivered nothing")
		}
		victim.kill()
		for _, r := range replicas[:2] {
			w := &worker{r: r, notifier: notifier, lease: lease}
			workers.Go(w.run)
		}
		for _, d := range firing[half:] {
			ch <- d
		}
	})

	live := replicas[0].store
	ctx := context.Background()
	waitForOutbox := func(want int) {
		t.Helper()
		testutil.WaitFor(t, waitTimeout, fmt.Sprintf("%d accepted notices and an empty outbox", want), func() (bool, string) {
			_, accepted := channel.snapshot()
			pending, err := live.PendingNotices(ctx)
			return err == nil && pending == 0 && len(accepted) >= want, fmt.Sprintf("%d accepted, %d pending (error %v)", len(accepted), pending, err)
		})
	}
	waitForOutbox(keys)

	// Phase 2: every other key resolves, again sent to several replicas (the dead one
	// included: those requests fail and are retried elsewhere).
	var resolved []delivery
	for i := 0; i < keys; i += 2 {
		for copy := range 3 {
			resolved = append(resolved, delivery{alert{keyName(i), "resolved", t0}, (i + copy) % 3})
		}
	}
	burst(func(ch chan<- delivery) {
		for _, d := range resolved {
			ch <- d
		}
	})
	waitForOutbox(keys + keys/2)
	for _, r := range replicas {
		r.kill()
	}
	workers.Wait()

	// Exactly one incident per key, in the right state.
	incidents, err := live.Incidents(ctx, store.IncidentFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]*store.Incident{}
	for _, inc := range incidents {
		if prev, dup := byKey[inc.Key]; dup {
			t.Errorf("key %s has two incidents: %s and %s", inc.Key, prev.ID, inc.ID)
		}
		byKey[inc.Key] = inc
	}
	if len(byKey) != keys {
		t.Errorf("%d keys have incidents, want %d", len(byKey), keys)
	}
	want := map[string]notify.Event{}
	for i := range keys {
		inc := byKey[keyName(i)]
		if inc == nil {
			continue
		}
		want[inc.ID+"/"+string(notify.EventIncidentOpened)] = notify.EventIncidentOpened
		wantState := store.StateInvestigating
		if i%2 == 0 {
			wantState = store.StateResolved
			want[inc.ID+"/"+string(notify.EventIncidentResolved)] = notify.EventIncidentResolved
		}
		if inc.State != wantState {
			t.Errorf("%s: state %s, want %s", inc.Key, inc.State, wantState)
		}
		notices, err := live.Notices(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		timeline, err := live.Timeline(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Notices the victim held when it died were taken over: that counts as an attempt,
		// and the incident's timeline says so.
		for _, n := range notices {
			takeovers := 0
			for _, e := range timeline {
				if e.Kind == store.TimelineNoticeRetried && strings.HasPrefix(e.Text, "notice "+n.ID+" to channel "+n.Channel+": ") {
					takeovers++
				}
			}
			if n.Status != store.NoticeSent || n.Attempts != 1+takeovers || takeovers > 1 {
				t.Errorf("notice %s: status %s after %d attempts, %d takeovers on the timeline; want sent after 1 attempt, 2 if taken over once", n.ID, n.Status, n.Attempts, takeovers)
			}
			if n.ID == victimNotice && takeovers != 1 {
				t.Errorf("the victim's notice %s: %d takeovers on the timeline, want 1", n.ID, takeovers)
			}
		}
	}

	// Exactly one accepted delivery per notice. Every notice was POSTed once, except the
	// one the victim sent before dying: another replica re-sent it after the lease expired,
	// with the same idempotency key, and the channel dropped the repeat.
	posts, accepted := channel.snapshot()
	if len(accepted) != len(want) {
		t.Errorf("channel accepted %d notices, want %d", len(accepted), len(want))
	}
	total := 0
	for id, n := range posts {
		total += n
		if _, ok := want[id]; !ok {
			t.Errorf("channel got unexpected notice %s", id)
		}
	}
	for id, ev := range want {
		if accepted[id] != ev {
			t.Errorf("notice %s: accepted %q, want %q", id, accepted[id], ev)
		}
	}
	if posts[victimNotice] != 2 {
		t.Errorf("the victim's notice %s was POSTed %d times, want 2 (its send, then the takeover)", victimNotice, posts[victimNotice])
	}
	if total != len(want)+1 {
		t.Errorf("%d POSTs for %d notices, want %d (one each, plus the victim's repeat)", total, len(want), len(want)+1)
	}
}
