// Package sqlrow holds the row encoding both SQL backends share, so SQLite and PostgreSQL
// read and write the same shapes: times as Unix nanoseconds (0 = not set), an incident as a
// JSON document beside its version, a maintenance window's columns.
package sqlrow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/siteward/siteward/receiver/store"
)

// Scanner is a row of database/sql or pgx.
type Scanner interface {
	Scan(dest ...any) error
}

// Nanos encodes t; the zero time is 0.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos decodes what Nanos encoded, in UTC.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// IncidentColumns are the columns ScanIncident reads, in order.
const IncidentColumns = `data, version`

// ScanIncident decodes a row of IncidentColumns.
func ScanIncident(row Scanner) (*store.Incident, error) {
	var data []byte
	var version int64
	if err := row.Scan(&data, &version); err != nil {
		return nil, err
	}
	inc := &store.Incident{}
	if err := json.Unmarshal(data, inc); err != nil {
		return nil, fmt.Errorf("decode incident: %w", err)
	}
	inc.Version = version
	return inc, nil
}

// MaintenanceColumns are the columns ScanMaintenanceWindow reads, in order.
const MaintenanceColumns = `id, client, sites, start_at, end_at, description, actor, created_at`

// ScanMaintenanceWindow decodes a row of MaintenanceColumns.
func ScanMaintenanceWindow(row Scanner) (store.MaintenanceWindow, error) {
	var w store.MaintenanceWindow
	var sites string
	var start, end, created int64
	if err := row.Scan(&w.ID, &w.Client, &sites, &start, &end, &w.Description, &w.Actor, &created); err != nil {
		return w, fmt.Errorf("scan maintenance window: %w", err)
	}
	if err := json.Unmarshal([]byte(sites), &w.Sites); err != nil {
		return w, fmt.Errorf("decode maintenance sites: %w", err)
	}
	w.Start, w.End, w.CreatedAt = FromNanos(start), FromNanos(end), FromNanos(created)
	return w, nil
}
