// Package sqlite is the embedded default store: one file, pure Go (modernc.org/sqlite), WAL
// mode, one writer connection (SQLite serialises writers anyway; one connection makes that
// explicit and avoids SQLITE_BUSY), a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/internal/sqlrow"
)

// migrations are applied in order; the database's user_version is the number applied.
// Never edit an applied migration: append a new one.
var migrations = []string{
	`CREATE TABLE incidents (
		id TEXT PRIMARY KEY,
		key TEXT NOT NULL,
		client TEXT NOT NULL,
		state TEXT NOT NULL,
		drill INTEGER NOT NULL,
		started_at INTEGER NOT NULL,
		version INTEGER NOT NULL,
		data TEXT NOT NULL
	);
	CREATE UNIQUE INDEX incidents_one_open_per_key ON incidents(key) WHERE state != 'resolved';
	CREATE INDEX incidents_started ON incidents(started_at);
	CREATE TABLE timeline (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		incident_id TEXT NOT NULL,
		at INTEGER NOT NULL,
		actor TEXT NOT NULL,
		kind TEXT NOT NULL,
		text TEXT NOT NULL
	);
	CREATE INDEX timeline_incident ON timeline(incident_id, id);
	CREATE TABLE notices (
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		channel TEXT NOT NULL,
		audience TEXT NOT NULL,
		event TEXT NOT NULL,
		subject TEXT NOT NULL,
		text TEXT NOT NULL,
		payload BLOB,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		next_attempt_at INTEGER NOT NULL,
		sent_at INTEGER NOT NULL DEFAULT 0,
		lease_owner TEXT NOT NULL DEFAULT '',
		lease_until INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX notices_due ON notices(status, next_attempt_at);
	CREATE INDEX notices_incident ON notices(incident_id, created_at);
	CREATE TABLE timers (
		subject TEXT NOT NULL,
		kind TEXT NOT NULL,
		due_at INTEGER NOT NULL,
		lease_owner TEXT NOT NULL DEFAULT '',
		lease_until INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (subject, kind)
	);
	CREATE INDEX timers_due ON timers(due_at);
	CREATE TABLE deploys (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		client TEXT NOT NULL,
		site TEXT NOT NULL,
		at INTEGER NOT NULL,
		version TEXT NOT NULL,
		description TEXT NOT NULL,
		actor TEXT NOT NULL
	);
	CREATE INDEX deploys_client ON deploys(client, at);
	CREATE TABLE alert_events (
		key TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		starts_at INTEGER NOT NULL,
		status TEXT NOT NULL,
		PRIMARY KEY (key, fingerprint, starts_at, status)
	) WITHOUT ROWID;`,
	// 2: the assessment asks for the clients of open incidents on every new incident.
	`CREATE INDEX incidents_open_clients ON incidents(client, drill) WHERE state != 'resolved';`,
	// 3: maintenance windows recorded through the API (store.MaintenanceStore).
	`CREATE TABLE maintenance (
		id TEXT PRIMARY KEY,
		client TEXT NOT NULL,
		sites TEXT NOT NULL,
		start_at INTEGER NOT NULL,
		end_at INTEGER NOT NULL,
		description TEXT NOT NULL,
		actor TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE INDEX maintenance_end ON maintenance(end_at);`,
	// 4: when each alert event was recorded, so resolved alerts' events can be pruned
	// (store.Store.PruneAlertEvents); events recorded before have 0, the oldest possible.
	`ALTER TABLE alert_events ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX alert_events_resolved ON alert_events(recorded_at) WHERE status = 'resolved';`,
}

// Store is the SQLite backend.
type Store struct {
	w     *sql.DB // exactly one connection: the writer
	r     *sql.DB // readers
	stmts map[string]*sql.Stmt
	// writer is a FIFO turn for the writer connection: goroutines blocked on a channel are
	// served in order, while database/sql hands a freed connection to a random waiter,
	// which made tail latency under concurrent webhooks several times worse.
	writer chan struct{}
}

// lockWriter waits for the writer's turn; the returned func gives it back.
func (s *Store) lockWriter(ctx context.Context) (func(), error) {
	select {
	case s.writer <- struct{}{}:
		return func() { <-s.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and applies migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create storage directory: %w", err)
		}
	}
	// synchronous=NORMAL in WAL mode survives a process crash (not a power loss) and keeps
	// commits fast; busy_timeout covers another process holding the file briefly.
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(5000)", "foreign_keys(1)", "cache_size(-32000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, writer: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.stmts = make(map[string]*sql.Stmt, len(hotQueries))
	for _, q := range hotQueries {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks the database.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// Update runs fn in one write transaction.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&tx{tx: sqlTx, s: s}); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type tx struct {
	tx *sql.Tx
	s  *Store
}

// hotQueries are prepared once at Open on the writer connection; inside a transaction
// Tx.StmtContext reuses the prepared statement instead of parsing the SQL again (a large
// part of a webhook's cost with modernc.org/sqlite).
const (
	qInsertAlertEvent   = `INSERT INTO alert_events (key, fingerprint, starts_at, status, recorded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	qAlertEventResolved = `SELECT EXISTS (SELECT 1 FROM alert_events WHERE key = ? AND fingerprint = ? AND starts_at = ? AND status = 'resolved')`
	qOpenIncidentByKey  = `SELECT ` + sqlrow.IncidentColumns + ` FROM incidents WHERE key = ? AND state != 'resolved'`
	// A loose index scan: one index seek per distinct client instead of reading every open
	// incident (DISTINCT would), so the cost follows the number of clients, not incidents.
	qOpenClients = `WITH RECURSIVE c(client) AS (
		SELECT (SELECT min(client) FROM incidents WHERE state != 'resolved' AND drill = 0)
		UNION ALL
		SELECT (SELECT min(client) FROM incidents WHERE state != 'resolved' AND drill = 0 AND client > c.client)
		FROM c WHERE c.client IS NOT NULL
	) SELECT client FROM c WHERE client IS NOT NULL`
	qInsertIncident = `INSERT INTO incidents (id, key, client, state, drill, started_at, version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qUpdateIncident = `UPDATE incidents SET state = ?, client = ?, drill = ?, version = ?, data = ? WHERE id = ? AND version = ?`
	qInsertTimeline = `INSERT INTO timeline (incident_id, at, actor, kind, text) VALUES (?, ?, ?, ?, ?)`
	qInsertNotice   = `INSERT INTO notices (id, incident_id, channel, audience, event, subject, text, payload, status, created_at, next_attempt_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (id) DO NOTHING`
	qSetTimer = `INSERT INTO timers (subject, kind, due_at) VALUES (?, ?, ?)
		 ON CONFLICT (subject, kind) DO UPDATE SET due_at = excluded.due_at, lease_owner = '', lease_until = 0`
	qDeleteTimers       = `DELETE FROM timers WHERE subject = ?`
	qDeleteTimersOfKind = `DELETE FROM timers WHERE subject = ? AND kind = ?`
	qTakeTimer          = `DELETE FROM timers WHERE subject = ? AND kind = ? AND due_at = ?`
	qInsertDeploy       = `INSERT INTO deploys (client, site, at, version, description, actor) VALUES (?, ?, ?, ?, ?, ?)`
	qDeploys            = `SELECT client, site, at, version, description, actor FROM deploys WHERE client = ? AND at >= ? ORDER BY at DESC, id DESC`
)

var hotQueries = []string{qInsertAlertEvent, qAlertEventResolved, qOpenIncidentByKey, qOpenClients, qInsertIncident, qUpdateIncident, qInsertTimeline, qInsertNotice, qSetTimer, qDeleteTimers, qDeleteTimersOfKind, qTakeTimer, qInsertDeploy, qDeploys}

func (t *tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st, ok := t.s.stmts[q]; ok {
		return t.tx.StmtContext(ctx, st)
	}
	return nil
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func (t *tx) RecordAlertEvents(ctx context.Context, events []store.AlertEvent) ([]store.AlertEvent, error) {
	var fresh []store.AlertEvent
	now := sqlrow.Nanos(time.Now())
	for _, ev := range events {
		res, err := t.ExecContext(ctx,
			qInsertAlertEvent,
			ev.Key, ev.Alert.Fingerprint, sqlrow.Nanos(ev.Alert.StartsAt), ev.Alert.Status, now)
		if err != nil {
			return nil, fmt.Errorf("record alert event: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		if ev.Alert.Status == "firing" {
			var overtaken bool
			err := t.QueryRowContext(ctx,
				qAlertEventResolved,
				ev.Key, ev.Alert.Fingerprint, sqlrow.Nanos(ev.Alert.StartsAt)).Scan(&overtaken)
			if err != nil {
				return nil, fmt.Errorf("record alert event: %w", err)
			}
			if overtaken {
				continue
			}
		}
		fresh = append(fresh, ev)
	}
	return fresh, nil
}

func (t *tx) OpenIncidentByKey(ctx context.Context, key string) (*store.Incident, error) {
	inc, err := sqlrow.ScanIncident(t.QueryRowContext(ctx,
		qOpenIncidentByKey, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open incident for %s: %w", key, err)
	}
	return inc, nil
}

func (t *tx) Incident(ctx context.Context, id string) (*store.Incident, error) {
	return getIncident(ctx, t, id)
}

func getIncident(ctx context.Context, q querier, id string) (*store.Incident, error) {
	inc, err := sqlrow.ScanIncident(q.QueryRowContext(ctx, `SELECT `+sqlrow.IncidentColumns+` FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("incident %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("incident %s: %w", id, err)
	}
	return inc, nil
}

func (t *tx) OpenIncidents(ctx context.Context) ([]*store.Incident, error) {
	return listIncidents(ctx, t, store.IncidentFilter{Open: true, Limit: -1})
}

func listIncidents(ctx context.Context, q querier, f store.IncidentFilter) ([]*store.Incident, error) {
	var where []string
	var args []any
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, string(f.State))
	}
	if f.Open {
		where = append(where, "state != 'resolved'")
	}
	if f.Client != "" {
		where = append(where, "client = ?")
		args = append(args, f.Client)
	}
	query := `SELECT ` + sqlrow.IncidentColumns + ` FROM incidents`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY started_at DESC, id DESC"
	switch {
	case f.Limit == 0:
		query += " LIMIT 100"
	case f.Limit > 0:
		query += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	defer rows.Close()
	var out []*store.Incident
	for rows.Next() {
		inc, err := sqlrow.ScanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("list incidents: %w", err)
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

// OpenClients implements store.OpenClientsTx.
func (t *tx) OpenClients(ctx context.Context) ([]string, error) {
	rows, err := t.QueryContext(ctx, qOpenClients)
	if err != nil {
		return nil, fmt.Errorf("open clients: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("open clients: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) CreateIncident(ctx context.Context, inc *store.Incident) error {
	inc.Version = 1
	data, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("encode incident: %w", err)
	}
	_, err = t.ExecContext(ctx,
		qInsertIncident,
		inc.ID, inc.Key, inc.Client, string(inc.State), inc.Drill, sqlrow.Nanos(inc.StartedAt), inc.Version, data)
	if isUniqueViolation(err) {
		return fmt.Errorf("create incident for %s: %w", inc.Key, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create incident: %w", err)
	}
	return nil
}

func (t *tx) UpdateIncident(ctx context.Context, inc *store.Incident) error {
	next := *inc
	next.Version++
	data, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("encode incident: %w", err)
	}
	res, err := t.ExecContext(ctx,
		qUpdateIncident,
		string(next.State), next.Client, next.Drill, next.Version, data, inc.ID, inc.Version)
	if isUniqueViolation(err) {
		return fmt.Errorf("update incident %s: %w", inc.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update incident %s: %w", inc.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update incident %s (version %d): %w", inc.ID, inc.Version, store.ErrConflict)
	}
	inc.Version = next.Version
	return nil
}

func (t *tx) AppendTimeline(ctx context.Context, entries ...store.TimelineEntry) error {
	for _, e := range entries {
		if _, err := t.ExecContext(ctx,
			qInsertTimeline,
			e.IncidentID, sqlrow.Nanos(e.At), e.Actor, e.Kind, e.Text); err != nil {
			return fmt.Errorf("append timeline: %w", err)
		}
	}
	return nil
}

func (t *tx) Timeline(ctx context.Context, incidentID string) ([]store.TimelineEntry, error) {
	return timeline(ctx, t, incidentID)
}

func timeline(ctx context.Context, q querier, incidentID string) ([]store.TimelineEntry, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT id, incident_id, at, actor, kind, text FROM timeline WHERE incident_id = ? ORDER BY id`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	defer rows.Close()
	var out []store.TimelineEntry
	for rows.Next() {
		var e store.TimelineEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.IncidentID, &at, &e.Actor, &e.Kind, &e.Text); err != nil {
			return nil, fmt.Errorf("timeline: %w", err)
		}
		e.At = sqlrow.FromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *tx) EnqueueNotices(ctx context.Context, notices ...store.Notice) error {
	for _, n := range notices {
		due := n.NextAttemptAt
		if due.IsZero() {
			due = n.CreatedAt
		}
		if _, err := t.ExecContext(ctx,
			qInsertNotice,
			n.ID, n.IncidentID, n.Channel, n.Audience, n.Event, n.Subject, n.Text, n.Payload, sqlrow.Nanos(n.CreatedAt), sqlrow.Nanos(due)); err != nil {
			return fmt.Errorf("enqueue notice: %w", err)
		}
	}
	return nil
}

func (t *tx) SetTimer(ctx context.Context, tm store.Timer) error {
	if _, err := t.ExecContext(ctx,
		qSetTimer,
		tm.Subject, string(tm.Kind), sqlrow.Nanos(tm.DueAt)); err != nil {
		return fmt.Errorf("set timer: %w", err)
	}
	return nil
}

func (t *tx) CancelTimers(ctx context.Context, subject string, kinds ...store.TimerKind) error {
	if len(kinds) == 0 {
		if _, err := t.ExecContext(ctx, qDeleteTimers, subject); err != nil {
			return fmt.Errorf("cancel timers: %w", err)
		}
		return nil
	}
	for _, k := range kinds {
		if _, err := t.ExecContext(ctx, qDeleteTimersOfKind, subject, string(k)); err != nil {
			return fmt.Errorf("cancel timers: %w", err)
		}
	}
	return nil
}

func (t *tx) TakeTimer(ctx context.Context, tm store.Timer) (bool, error) {
	res, err := t.ExecContext(ctx, qTakeTimer,
		tm.Subject, string(tm.Kind), sqlrow.Nanos(tm.DueAt))
	if err != nil {
		return false, fmt.Errorf("take timer: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *tx) RecordDeploy(ctx context.Context, d store.Deploy) error {
	if _, err := t.ExecContext(ctx,
		qInsertDeploy,
		d.Client, d.Site, sqlrow.Nanos(d.At), d.Version, d.Description, d.Actor); err != nil {
		return fmt.Errorf("record deploy: %w", err)
	}
	return nil
}

func (t *tx) Deploys(ctx context.Context, client string, since time.Time) ([]store.Deploy, error) {
	rows, err := t.QueryContext(ctx,
		qDeploys,
		client, sqlrow.Nanos(since))
	if err != nil {
		return nil, fmt.Errorf("deploys: %w", err)
	}
	defer rows.Close()
	var out []store.Deploy
	for rows.Next() {
		var d store.Deploy
		var at int64
		if err := rows.Scan(&d.Client, &d.Site, &at, &d.Version, &d.Description, &d.Actor); err != nil {
			return nil, fmt.Errorf("deploys: %w", err)
		}
		d.At = sqlrow.FromNanos(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Incident returns one incident.
func (s *Store) Incident(ctx context.Context, id string) (*store.Incident, error) {
	return getIncident(ctx, s.r, id)
}

// Incidents lists incidents, newest first.
func (s *Store) Incidents(ctx context.Context, f store.IncidentFilter) ([]*store.Incident, error) {
	return listIncidents(ctx, s.r, f)
}

// Timeline returns an incident's timeline.
func (s *Store) Timeline(ctx context.Context, incidentID string) ([]store.TimelineEntry, error) {
	return timeline(ctx, s.r, incidentID)
}

const noticeColumns = `id, incident_id, channel, audience, event, subject, text, payload, status, attempts, last_error, created_at, next_attempt_at, sent_at`

func scanNotices(rows *sql.Rows) ([]store.Notice, error) {
	defer rows.Close()
	var out []store.Notice
	for rows.Next() {
		var n store.Notice
		var status string
		var created, next, sent int64
		if err := rows.Scan(&n.ID, &n.IncidentID, &n.Channel, &n.Audience, &n.Event, &n.Subject, &n.Text, &n.Payload,
			&status, &n.Attempts, &n.LastError, &created, &next, &sent); err != nil {
			return nil, fmt.Errorf("notices: %w", err)
		}
		n.Status = store.NoticeStatus(status)
		n.CreatedAt, n.NextAttemptAt, n.SentAt = sqlrow.FromNanos(created), sqlrow.FromNanos(next), sqlrow.FromNanos(sent)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Notices returns an incident's notices, oldest first.
func (s *Store) Notices(ctx context.Context, incidentID string) ([]store.Notice, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+noticeColumns+` FROM notices WHERE incident_id = ? ORDER BY created_at, rowid`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	return scanNotices(rows)
}

// ClaimNotices leases due notices to owner.
func (s *Store) ClaimNotices(ctx context.Context, owner string, now time.Time, lease time.Duration, limit, maxAttempts int) ([]store.Notice, error) {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	// RETURNING shows only new values, so the timeline entries for taken-over leases (see
	// store.CutOffError and store.GaveUpError) are written first, from the same due set: the
	// writer turn keeps it unchanged in between. SET expressions see the old lease_owner.
	const due = `SELECT id FROM notices WHERE status = 'pending' AND next_attempt_at <= ?1 AND lease_until <= ?1
	             ORDER BY next_attempt_at, id LIMIT ?2`
	const giveUp = `(lease_owner <> '' AND attempts + 1 >= ?5)`
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO timeline (incident_id, at, actor, kind, text)
		 SELECT incident_id, ?1, 'system', CASE WHEN `+giveUp+` THEN ?4 ELSE ?3 END,
		        CASE WHEN `+giveUp+`
		             THEN 'notice ' || id || ' to channel ' || channel || ': gave up after ' || (attempts + 1) || ' attempts, the last cut off when replica ' || lease_owner || ' stopped mid-delivery'
		             ELSE 'notice ' || id || ' to channel ' || channel || ': retried after replica ' || lease_owner || ' stopped mid-delivery' END
		 FROM notices WHERE id IN (`+due+`) AND lease_owner <> '' AND incident_id <> ''
		 ORDER BY next_attempt_at, id`,
		sqlrow.Nanos(now), limit, store.TimelineNoticeRetried, store.TimelineNoticeFailed, maxAttempts); err != nil {
		return nil, fmt.Errorf("claim notices: record takeovers: %w", err)
	}
	rows, err := tx.QueryContext(ctx,
		`UPDATE notices SET
		        status = CASE WHEN `+giveUp+` THEN 'failed' ELSE status END,
		        lease_owner = CASE WHEN `+giveUp+` THEN '' ELSE ?3 END,
		        lease_until = CASE WHEN `+giveUp+` THEN 0 ELSE ?4 END,
		        attempts = attempts + CASE WHEN lease_owner <> '' THEN 1 ELSE 0 END,
		        last_error = CASE
		            WHEN `+giveUp+` THEN 'delivery by ' || lease_owner || ' was cut off (lease expired); giving up after ' || (attempts + 1) || ' attempts'
		            WHEN lease_owner <> '' THEN 'delivery by ' || lease_owner || ' was cut off (lease expired); retrying'
		            ELSE last_error END
		 WHERE id IN (`+due+`)
		 RETURNING `+noticeColumns,
		sqlrow.Nanos(now), limit, owner, sqlrow.Nanos(now.Add(lease)), maxAttempts)
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	out, err := scanNotices(rows)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	return out, nil
}

func (s *Store) finishNotice(ctx context.Context, query string, args ...any) error {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("update notice: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return store.ErrLeaseLost
	}
	return nil
}

// CompleteNotices marks claimed notices sent.
func (s *Store) CompleteNotices(ctx context.Context, owner string, at time.Time, ids []string) error {
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("complete notices: %w", err)
	}
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	rows, err := s.w.QueryContext(ctx,
		`UPDATE notices SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '', lease_owner = '', lease_until = 0
		 WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND status = 'pending'
		 RETURNING id`, sqlrow.Nanos(at), string(list), owner)
	if err != nil {
		return fmt.Errorf("complete notices: %w", err)
	}
	defer rows.Close()
	var done []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("complete notices: %w", err)
		}
		done = append(done, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("complete notices: %w", err)
	}
	return store.Completed(ids, done)
}

// RetryNotice records a failed attempt and schedules the next.
func (s *Store) RetryNotice(ctx context.Context, id, owner, errText string, next time.Time) error {
	return s.finishNotice(ctx,
		`UPDATE notices SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_owner = '', lease_until = 0
		 WHERE id = ? AND lease_owner = ? AND status = 'pending'`, errText, sqlrow.Nanos(next), id, owner)
}

// FailNotice marks a claimed notice permanently failed.
func (s *Store) FailNotice(ctx context.Context, id, owner, errText string) error {
	return s.finishNotice(ctx,
		`UPDATE notices SET status = 'failed', attempts = attempts + 1, last_error = ?, lease_owner = '', lease_until = 0
		 WHERE id = ? AND lease_owner = ? AND status = 'pending'`, errText, id, owner)
}

// AllAlertEventsSeen implements store.SeenChecker on the reader pool.
func (s *Store) AllAlertEventsSeen(ctx context.Context, events []store.AlertEvent) (bool, error) {
	for _, ev := range events {
		var seen bool
		if err := s.r.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM alert_events WHERE key = ? AND fingerprint = ? AND starts_at = ? AND status = ?)`,
			ev.Key, ev.Alert.Fingerprint, sqlrow.Nanos(ev.Alert.StartsAt), ev.Alert.Status).Scan(&seen); err != nil {
			return false, fmt.Errorf("alert events seen: %w", err)
		}
		if !seen {
			return false, nil
		}
	}
	return true, nil
}

// PendingNotices counts the outbox backlog.
func (s *Store) PendingNotices(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM notices WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending notices: %w", err)
	}
	return n, nil
}

// PruneAlertEvents deletes the events of alerts resolved before before, limit alerts at a
// time.
func (s *Store) PruneAlertEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	res, err := s.w.ExecContext(ctx,
		`DELETE FROM alert_events WHERE (key, fingerprint, starts_at) IN (
			SELECT key, fingerprint, starts_at FROM alert_events WHERE status = 'resolved' AND recorded_at < ? LIMIT ?)`,
		sqlrow.Nanos(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune alert events: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ClaimTimers leases due timers to owner.
func (s *Store) ClaimTimers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Timer, error) {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rows, err := s.w.QueryContext(ctx,
		`UPDATE timers SET lease_owner = ?, lease_until = ?
		 WHERE (subject, kind) IN (SELECT subject, kind FROM timers WHERE due_at <= ? AND lease_until <= ? ORDER BY due_at LIMIT ?)
		 RETURNING subject, kind, due_at`,
		owner, sqlrow.Nanos(now.Add(lease)), sqlrow.Nanos(now), sqlrow.Nanos(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	defer rows.Close()
	var out []store.Timer
	for rows.Next() {
		var tm store.Timer
		var kind string
		var due int64
		if err := rows.Scan(&tm.Subject, &kind, &due); err != nil {
			return nil, fmt.Errorf("claim timers: %w", err)
		}
		tm.Kind, tm.DueAt = store.TimerKind(kind), sqlrow.FromNanos(due)
		out = append(out, tm)
	}
	return out, rows.Err()
}
