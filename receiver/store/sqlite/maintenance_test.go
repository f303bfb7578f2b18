package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/siteward/siteward/receiver/store/sqlite"
	"github.com/siteward/siteward/receiver/storetest"
)

func TestMaintenance(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "siteward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.RunMaintenance(t, s)
}
