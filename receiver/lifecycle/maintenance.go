package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/incident"
	"github.com/siteward/siteward/receiver/store"
)

// keySites are the sites an incident key names (none when the key has no site label):
// a new incident is inside maintenance when all of them are.
func keySites(keyLabels map[string]string) []string {
	if s := keyLabels["site"]; s != "" {
		return []string{s}
	}
	return nil
}

// Maintenance returns the windows of the config file followed by those recorded through
// the API (as of the last RefreshMaintenance).
func (s *Service) Maintenance(cfg *config.Config) []config.Maintenance {
	out := slices.Clone(cfg.Maintenance)
	if st := s.stored.Load(); st != nil {
		out = append(out, *st...)
	}
	return out
}

// InMaintenance reports whether all sites of client are inside a window at t.
func (s *Service) InMaintenance(cfg *config.Config, client string, sites []string, t time.Time) bool {
	all := config.Config{Maintenance: s.Maintenance(cfg)}
	return all.InMaintenance(client, sites, t)
}

// MaintenanceOf returns the window covering client/site at t, or nil.
func (s *Service) MaintenanceOf(cfg *config.Config, client, site string, t time.Time) *config.Maintenance {
	all := config.Config{Maintenance: s.Maintenance(cfg)}
	return all.MaintenanceOf(client, site, t)
}

// RefreshMaintenance reloads the windows recorded through the API. Replicas call it
// periodically; the one that records a window calls it at once.
func (s *Service) RefreshMaintenance(ctx context.Context) error {
	ms, ok := s.store.(store.MaintenanceStore)
	if !ok {
		return nil
	}
	ws, err := ms.MaintenanceWindows(ctx, s.now().UTC())
	if err != nil {
		return fmt.Errorf("load maintenance windows: %w", err)
	}
	out := make([]config.Maintenance, 0, len(ws))
	for _, w := range ws {
		out = append(out, config.Maintenance{ID: w.ID, Client: w.Client, Sites: w.Sites, Start: w.Start, End: w.End, Description: w.Description})
	}
	s.stored.Store(&out)
	return nil
}

// ErrNoMaintenanceStore: the store cannot record maintenance windows.
var ErrNoMaintenanceStore = fmt.Errorf("%w: this store cannot record maintenance windows; use the config file", incident.ErrInvalid)

// AddMaintenance records a window (client required, end after start and in the future).
func (s *Service) AddMaintenance(ctx context.Context, w store.MaintenanceWindow) (store.MaintenanceWindow, error) {
	ms, ok := s.store.(store.MaintenanceStore)
	if !ok {
		return w, ErrNoMaintenanceStore
	}
	now := s.now().UTC()
	w.Client = strings.TrimSpace(w.Client)
	switch {
	case w.Client == "":
		return w, fmt.Errorf("%w: client is required", incident.ErrInvalid)
	case w.Start.IsZero() || w.End.IsZero():
		return w, fmt.Errorf("%w: start and end are required (RFC 3339)", incident.ErrInvalid)
	case !w.End.After(w.Start):
		return w, fmt.Errorf("%w: end must be after start", incident.ErrInvalid)
	case !w.End.After(now):
		return w, fmt.Errorf("%w: end is in the past", incident.ErrInvalid)
	}
	w.ID, w.CreatedAt, w.Start, w.End = NewID(), now, w.Start.UTC(), w.End.UTC()
	if err := ms.AddMaintenance(ctx, w); err != nil {
		return w, err
	}
	return w, s.RefreshMaintenance(ctx)
}

// DeleteMaintenance removes a window recorded through the API.
func (s *Service) DeleteMaintenance(ctx context.Context, id string) error {
	ms, ok := s.store.(store.MaintenanceStore)
	if !ok {
		return ErrNoMaintenanceStore
	}
	if err := ms.DeleteMaintenance(ctx, id); err != nil {
		return err
	}
	return s.RefreshMaintenance(ctx)
}
