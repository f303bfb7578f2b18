package postgres

import (
	"testing"

	"github.com/siteward/siteward/receiver/storetest"
)

func TestMaintenance(t *testing.T) {
	s := openTestStore(t)
	t.Cleanup(func() { s.Close() })
	storetest.RunMaintenance(t, s)
}
