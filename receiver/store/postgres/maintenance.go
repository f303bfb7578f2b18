package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/internal/sqlrow"
)

var _ store.MaintenanceStore = (*Store)(nil)

// AddMaintenance implements store.MaintenanceStore.
func (s *Store) AddMaintenance(ctx context.Context, w store.MaintenanceWindow) error {
	sites, err := json.Marshal(w.Sites)
	if err != nil {
		return fmt.Errorf("encode maintenance sites: %w", err)
	}
	if _, err := s.pool.Exec(ctx,
		`INSERT INTO maintenance (id, client, sites, start_at, end_at, description, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		w.ID, w.Client, string(sites), sqlrow.Nanos(w.Start), sqlrow.Nanos(w.End), w.Description, w.Actor, sqlrow.Nanos(w.CreatedAt)); err != nil {
		return fmt.Errorf("insert maintenance window: %w", err)
	}
	return nil
}

// MaintenanceWindows implements store.MaintenanceStore.
func (s *Store) MaintenanceWindows(ctx context.Context, since time.Time) ([]store.MaintenanceWindow, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+sqlrow.MaintenanceColumns+` FROM maintenance WHERE end_at > $1 ORDER BY start_at, id`, sqlrow.Nanos(since))
	if err != nil {
		return nil, fmt.Errorf("query maintenance windows: %w", err)
	}
	defer rows.Close()
	var out []store.MaintenanceWindow
	for rows.Next() {
		w, err := sqlrow.ScanMaintenanceWindow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteMaintenance implements store.MaintenanceStore.
func (s *Store) DeleteMaintenance(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM maintenance WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete maintenance window: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}
