package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/sqlite"
	"github.com/siteward/siteward/receiver/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "siteward.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen: migrations run once, data survives closing and opening the file again.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "siteward.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		return tx.CreateIncident(ctx, &store.Incident{ID: "i1", Key: "k", Client: "acme", State: store.StateInvestigating})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if inc, err := s.Incident(ctx, "i1"); err != nil || inc.Client != "acme" {
		t.Fatalf("after reopen: %+v, %v", inc, err)
	}
}
