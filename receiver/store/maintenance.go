package store

import (
	"context"
	"time"
)

// MaintenanceWindow is a planned maintenance of a client (all its sites, or the listed
// ones), recorded through the API. Windows in the config file are not stored.
type MaintenanceWindow struct {
	ID          string    `json:"id"`
	Client      string    `json:"client"`
	Sites       []string  `json:"sites,omitempty"` // empty: every site of the client
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Description string    `json:"description,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// MaintenanceStore holds maintenance windows. Both shipped backends implement it; it is a
// separate interface so a Store without it still works (windows then come from the config
// file only).
type MaintenanceStore interface {
	// AddMaintenance stores w; its ID must be new.
	AddMaintenance(ctx context.Context, w MaintenanceWindow) error
	// MaintenanceWindows returns the windows that end after since, by start.
	MaintenanceWindows(ctx context.Context, since time.Time) ([]MaintenanceWindow, error)
	// DeleteMaintenance removes a window; ErrNotFound when there is none.
	DeleteMaintenance(ctx context.Context, id string) error
}
