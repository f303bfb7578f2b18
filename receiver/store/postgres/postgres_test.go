package postgres

import (
	"context"
	"testing"

	"github.com/prometheus/common/promslog"

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
