package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/store"
)

// RunMaintenance checks a store.MaintenanceStore: windows are listed until they end, in
// start order, with every field kept; deleting one twice reports ErrNotFound.
func RunMaintenance(t *testing.T, s store.MaintenanceStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	windows := []store.MaintenanceWindow{
		{ID: "late", Client: "acme", Start: t0.Add(2 * time.Hour), End: t0.Add(3 * time.Hour), Actor: "bob", CreatedAt: t0},
		{ID: "early", Client: "acme", Sites: []string{"shop", "blog"}, Start: t0, End: t0.Add(time.Hour), Description: "DB upgrade", Actor: "alice", CreatedAt: t0},
	}
	for _, w := range windows {
		if err := s.AddMaintenance(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddMaintenance(ctx, windows[0]); err == nil {
		t.Error("adding a window with an existing ID: want an error")
	}
	got, err := s.MaintenanceWindows(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "early" || got[1].ID != "late" {
		t.Fatalf("windows = %+v, want early then late", got)
	}
	e := got[0]
	if e.Client != "acme" || !slices.Equal(e.Sites, []string{"shop", "blog"}) || !e.Start.Equal(t0) || !e.End.Equal(t0.Add(time.Hour)) ||
		e.Description != "DB upgrade" || e.Actor != "alice" || !e.CreatedAt.Equal(t0) {
		t.Errorf("window read back = %+v, want %+v", e, windows[1])
	}
	if got, _ := s.MaintenanceWindows(ctx, t0.Add(time.Hour)); len(got) != 1 || got[0].ID != "late" {
		t.Errorf("windows ending after the first one's end = %+v, want late only", got)
	}
	if err := s.DeleteMaintenance(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMaintenance(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: err = %v, want ErrNotFound", err)
	}
}
