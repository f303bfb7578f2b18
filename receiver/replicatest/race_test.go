package replicatest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

// TestFiringAndResolvedAtOnce: an alert's firing and resolved notifications reach two
// replicas at the same instant (a flap inside group_interval, an HA peer's late copy). The
// outcome must be one of the serial ones: no incident (resolved first, the firing one is then
// stale) or a resolved incident (firing first). An incident left open by a resolution that did
// not see it being created is the bug this guards against.
func TestFiringAndResolvedAtOnce(t *testing.T) {
	url := pgtest.Database(t)
	a, b := startReplica(t, "r1", url), startReplica(t, "r2", url)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const rounds = 40
	for i := range rounds {
		key := fmt.Sprintf(`client="acme",site="flap%02d"`, i)
		var wg sync.WaitGroup
		for _, job := range []struct {
			r      *replica
			status string
		}{{a, "firing"}, {b, "resolved"}} {
			wg.Go(func() {
				if err := job.r.ingest(alert{key, job.status, t0}); err != nil {
					t.Errorf("%s %s: %v", key, job.status, err)
				}
			})
		}
		wg.Wait()
	}
	incidents, err := a.store.Incidents(context.Background(), store.IncidentFilter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incidents {
		if inc.State != store.StateResolved {
			t.Errorf("%s: incident %s is %s although its only alert resolved", inc.Key, inc.ID, inc.State)
		}
	}
	t.Logf("%d of %d rounds opened (and resolved) an incident", len(incidents), rounds)
}
