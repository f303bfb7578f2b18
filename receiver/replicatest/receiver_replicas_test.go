package replicatest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testutil"
	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

// TestReceiverReplicas is the multi-replica test with whole receivers: three
// siteward-receivers on one PostgreSQL get a burst of Alertmanager webhooks, each
// notification sent to several replicas (an HA pair of Alertmanagers, repeats), and one
// replica is killed mid-burst while the team channel holds its deliveries unanswered.
// Afterwards: one incident per key, in the right state, and the channel accepted exactly one
// delivery per notice; the notices the dead replica had sent were re-sent by the others
// after its lease expired, with the same delivery ID, and dropped as repeats.
func TestReceiverReplicas(t *testing.T) {
	dbURL := pgtest.Database(t)
	channel := newDeliveryCounter(t)
	liveConfig := writeConfig(t, channel.URL+"/live")

	// The victim starts alone, so that it is the one that claims and sends the first notices.
	// Its channel requests are held unanswered (see deliveryCounter).
	victim := startReceiver(t, "r3", dbURL, writeConfig(t, channel.URL+"/victim"))
	replicas := []*receiverReplica{nil, nil, victim}
	var mu sync.Mutex // guards replicas: the live ones join mid-burst
	// replicaURL is what a load balancer does: the replica asked for, or the next one up. While
	// none is up (the moment between the kill and the others' start) it waits for one.
	replicaURL := func(i int) string {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
			mu.Lock()
			for j := range 3 {
				if r := replicas[(i+j)%3]; r != nil {
					mu.Unlock()
					return r.url
				}
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // polling for a replica to come up
		}
		return "http://127.0.0.1:1" // nothing is up: the request fails, and send says so
	}

	const sites = 24
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	site := func(i int) string { return fmt.Sprintf("site%02d", i) }
	key := func(i int) string { return fmt.Sprintf(`client="acme",site="%s"`, site(i)) }

	type delivery struct {
		body    []byte
		replica int
	}
	// send plays Alertmanager: a notification is retried until a replica stores it (2xx),
	// at the next replica when one does not answer or answers 5xx.
	client := &http.Client{Timeout: 10 * time.Second}
	send := func(d delivery) {
		for try := range 50 {
			if code := postWebhook(client, replicaURL(d.replica+try), d.body); code/100 == 2 {
				return
			} else if code/100 == 4 {
				t.Errorf("webhook answered %d", code)
				return
			}
		}
		t.Error("a notification was never accepted")
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
	notifications := func(status string, every int) []delivery {
		var ds []delivery
		for i := 0; i < sites; i += every {
			body := webhookBody(t, site(i), status, t0)
			for copy := range 3 { // both Alertmanagers of the pair, and a repeat
				ds = append(ds, delivery{body, (i + copy) % 3})
			}
		}
		rand.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
		return ds
	}

	firing := notifications("firing", 1)
	burst(func(ch chan<- delivery) {
		for _, d := range firing[:len(firing)/3] {
			ch <- d
		}
		select {
		case <-channel.victimSent:
		case <-time.After(60 * time.Second):
			t.Fatal("the victim replica sent nothing")
		}
		// Killed at once (its delivery must not time out first): mid-burst, with deliveries
		// in flight. Then the others start and take over.
		mu.Lock()
		replicas[2] = nil
		mu.Unlock()
		victim.kill(t)
		r1, r2 := startReceiver(t, "r1", dbURL, liveConfig), startReceiver(t, "r2", dbURL, liveConfig)
		mu.Lock()
		replicas[0], replicas[1] = r1, r2
		mu.Unlock()
		for _, d := range firing[len(firing)/3:] {
			ch <- d
		}
	})
	// Every other site recovers; the incidents resolve after the quiet window (a timer).
	burst(func(ch chan<- delivery) {
		for _, d := range notifications("resolved", 2) {
			ch <- d
		}
	})

	live := replicas[0].store
	ctx := context.Background()
	testutil.WaitFor(t, waitTimeout, "resolved incidents and an empty outbox", func() (bool, string) {
		resolved, err := live.Incidents(ctx, store.IncidentFilter{State: store.StateResolved, Limit: 1000})
		if err != nil || len(resolved) != sites/2 {
			return false, fmt.Sprintf("%d of %d incidents resolved (error %v)", len(resolved), sites/2, err)
		}
		pending, err := live.PendingNotices(ctx)
		return err == nil && pending == 0, fmt.Sprintf("%d pending (error %v)", pending, err)
	})

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
	if len(byKey) != sites {
		t.Errorf("%d keys have incidents, want %d", len(byKey), sites)
	}
	// Every notice the store holds, by delivery ID, with its event, and its attempts and
	// timeline entries about taking it over from a replica cut off mid-delivery.
	want := map[string]string{}
	attempts, takeovers := map[string]int{}, map[string]int{}
	for i := range sites {
		inc := byKey[key(i)]
		if inc == nil {
			t.Errorf("no incident for %s", key(i))
			continue
		}
		if wantResolved := i%2 == 0; (inc.State == store.StateResolved) != wantResolved {
			t.Errorf("%s: state %s, want resolved=%v", inc.Key, inc.State, wantResolved)
		}
		notices, err := live.Notices(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		timeline, err := live.Timeline(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		events := map[string]int{}
		for _, n := range notices {
			attempts[n.ID] = n.Attempts
			for _, e := range timeline {
				if e.Kind == store.TimelineNoticeRetried && strings.HasPrefix(e.Text, "notice "+n.ID+" to channel "+n.Channel+": ") {
					takeovers[n.ID]++
				}
			}
			if n.Status != store.NoticeSent {
				t.Errorf("notice %s (%s): %s after %d attempts (%s), want sent", n.ID, n.Event, n.Status, n.Attempts, n.LastError)
			}
			want[n.ID] = n.Event
			events[n.Event]++
		}
		if events[string(notify.EventIncidentOpened)] != 1 {
			t.Errorf("%s: %d incident.opened notices, want 1 (notices: %v)", inc.Key, events[string(notify.EventIncidentOpened)], events)
		}
		if i%2 == 0 && events[string(notify.EventIncidentResolved)] != 1 {
			t.Errorf("%s: %d incident.resolved notices, want 1 (notices: %v)", inc.Key, events[string(notify.EventIncidentResolved)], events)
		}
	}

	posts, accepted, viaVictim := channel.snapshot()
	if len(accepted) != len(want) {
		t.Errorf("channel accepted %d deliveries, the store holds %d notices", len(accepted), len(want))
	}
	for id, ev := range want {
		if accepted[id] != ev {
			t.Errorf("notice %s (%s): channel accepted %q", id, ev, accepted[id])
		}
	}
	if len(viaVictim) == 0 {
		t.Fatal("the victim delivered nothing before it was killed")
	}
	// The incident shows each retry after the kill: a taken-over notice counts the cut-off
	// attempt, and its incident's timeline says so. What the victim POSTed was taken over.
	for id := range want {
		if attempts[id] != 1+takeovers[id] || viaVictim[id] && takeovers[id] != 1 {
			t.Errorf("notice %s: %d attempts, %d %s timeline entries (POSTed by the victim: %v); want 1 attempt more than entries, 1 entry if the victim POSTed it",
				id, attempts[id], takeovers[id], store.TimelineNoticeRetried, viaVictim[id])
		}
	}
	for id, n := range posts {
		if _, ok := want[id]; !ok {
			t.Errorf("channel got delivery %s, which is no notice in the store", id)
		}
		// One POST each; two for what the victim sent: its own, and the takeover's.
		wantPosts := 1
		if viaVictim[id] {
			wantPosts = 2
		}
		if n != wantPosts {
			t.Errorf("delivery %s (%s) POSTed %d times, want %d (via the victim: %v)", id, accepted[id], n, wantPosts, viaVictim[id])
		}
	}
}
