// Package postgres is the receiver's PostgreSQL store, for several receiver replicas sharing
// one database. PostgreSQL is the only coordination point:
//   - webhook deduplication and "one open incident per key" are unique constraints written
//     with INSERT ... ON CONFLICT DO NOTHING, never read-then-write;
//   - incidents read inside a transaction are locked (SELECT ... FOR UPDATE) and updates
//     carry the version they read, so a concurrent change surfaces as store.ErrConflict;
//   - outbox notices and timers are claimed with FOR UPDATE SKIP LOCKED and a lease
//     (lease_owner, lease_until): replicas never claim the same row at once, and the work of
//     a replica that died holding a lease is claimable again once the lease expires;
//   - the schema is migrated at start under an advisory lock (see migrate).
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/siteward/siteward/receiver/store"
	"github.com/siteward/siteward/receiver/store/internal/sqlrow"
)

// Store is the PostgreSQL backend. It is safe for concurrent use, also by several processes.
type Store struct {
	pool *pgxpool.Pool
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.SeenChecker   = (*Store)(nil)
	_ store.OpenClientsTx = (*tx)(nil)
	_ store.AssessTx      = (*tx)(nil)
)

// Open connects to the database at url (postgres://user:password@host:port/db?sslmode=...;
// pool settings such as pool_max_conns=20 may be added), applies pending migrations and
// returns the store. It fails when the database cannot be reached.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	pool, err := newPool(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool, migrations, logger); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate PostgreSQL schema: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers (/-/ready).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping PostgreSQL: %w", err)
	}
	return nil
}

// Update runs fn in one transaction (READ COMMITTED; row locks and version checks give the
// isolation the lifecycle needs) and commits when fn returns nil.
//
// Round trips are what a transaction costs here, so tx saves them: BEGIN goes out with the
// first statement, and writes are queued and sent with the next read or with the COMMIT.
// A write's error (ErrConflict included) therefore surfaces from a later call of fn or from
// Update itself; either way the transaction is rolled back and Update returns it.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Release discards a connection left inside a transaction (rollback failed).
	defer conn.Release()
	t := &tx{conn: conn}
	if err := fn(t); err != nil {
		t.rollback(ctx)
		return err
	}
	if !t.begun && len(t.pending.QueuedQueries) == 0 {
		return nil // fn neither read nor wrote
	}
	var b pgx.Batch
	b.Queue(`COMMIT`)
	if err := t.send(ctx, &b); err != nil {
		t.rollback(ctx)
		return fmt.Errorf("commit transaction: %w", conflict(err))
	}
	return nil
}

// querier is what *pgxpool.Pool and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// conflict marks errors that a retry of the whole transaction can fix as store.ErrConflict:
// unique violations (a concurrent transaction created the same thing), serialization
// failures and deadlocks. Other errors are returned unchanged.
func conflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return err // marked already
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", "40001", "40P01": // unique_violation, serialization_failure, deadlock_detected
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		}
	}
	return err
}

// tx is one transaction on one pooled connection (see Update).
type tx struct {
	conn    *pgxpool.Conn
	begun   bool      // BEGIN was sent
	pending pgx.Batch // writes not sent yet; their callbacks turn results into errors
	// openByKey holds the open incidents (nil: none) of the keys RecordAlertEvents read
	// ahead, locked, for the next OpenIncidentByKey of each key.
	openByKey map[string]*store.Incident
	// timerIncident is the incident TakeTimer read ahead, locked, for the next Incident call
	// with its ID (nil: none read, or it does not exist).
	timerIncident *store.Incident
}

// send sends the pending writes, then b's statements (b may be nil), in one round trip,
// preceded by BEGIN on the first call, and runs the statements' callbacks in order. A
// failed statement aborts the transaction: its error is returned and later ones are skipped.
func (t *tx) send(ctx context.Context, b *pgx.Batch) error {
	var all pgx.Batch
	if !t.begun {
		all.Queue(`BEGIN`)
		t.begun = true
	}
	all.QueuedQueries = append(all.QueuedQueries, t.pending.QueuedQueries...)
	if b != nil {
		all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	}
	t.pending = pgx.Batch{}
	return t.conn.SendBatch(ctx, &all).Close()
}

// flush sends the pending writes (and BEGIN), for reads that go through a querier.
func (t *tx) flush(ctx context.Context) error {
	if err := t.send(ctx, nil); err != nil {
		return conflict(err)
	}
	return nil
}

// queue adds a write to the pending batch. Its error is wrapped with what; check, if not
// nil, judges its command tag (rows affected).
func (t *tx) queue(what string, check func(pgconn.CommandTag) error, sql string, args ...any) {
	t.pending.Queue(sql, args...).Fn = func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("%s: %w", what, conflict(err))
		}
		if check != nil {
			return check(tag)
		}
		return nil
	}
}

// rollback ends a transaction fn gave up or that failed. When even that fails, the
// connection is still inside the transaction and Release discards it.
func (t *tx) rollback(ctx context.Context) {
	if t.begun && t.conn.Conn().PgConn().TxStatus() != 'I' {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = t.conn.Exec(rctx, `ROLLBACK`)
	}
}

// keyLockClass is the first half of the two-part advisory lock keys that serialise the
// transactions recording alerts of one incident key (the second half is the key's hash).
// Two-part keys never collide with the one-part migration lock.
const keyLockClass = 1

// RecordAlertEvents inserts each event with ON CONFLICT DO NOTHING and, for a firing event,
// checks in the same statement whether its resolution was already recorded. All statements
// go to the server in one batch, one round trip (with the transaction's BEGIN: it is the
// webhook's first statement); each sees the events inserted before it.
//
// The same batch reads ahead, and locks, the open incident of each key, which the webhook
// asks for next (OpenIncidentByKey).
//
// It first takes a transaction-scoped advisory lock per incident key, so transactions that
// record alerts of one key run one after the other, as on SQLite. Without it, a firing and a
// resolved notification of a new alert arriving at two replicas at once would each miss the
// other's uncommitted work: the firing one opens an incident the resolved one never sees.
//
// Locks are taken, and events inserted, in (key, fingerprint, starts_at) order, so two
// replicas recording the same alerts listed in different orders (an HA pair's notifications
// for one group) cannot deadlock. Events of one alert keep their relative order, which the
// "resolved overtook firing" rule depends on.
func (t *tx) RecordAlertEvents(ctx context.Context, events []store.AlertEvent) ([]store.AlertEvent, error) {
	if len(events) == 0 {
		return nil, nil
	}
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ea, eb := events[a], events[b]
		if c := strings.Compare(ea.Key, eb.Key); c != 0 {
			return c
		}
		if c := strings.Compare(ea.Alert.Fingerprint, eb.Alert.Fingerprint); c != 0 {
			return c
		}
		return ea.Alert.StartsAt.Compare(eb.Alert.StartsAt)
	})
	const q = `WITH ins AS (
		INSERT INTO alert_events (key, fingerprint, starts_at, status, recorded_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM ins),
	       $4 = 'firing' AND EXISTS (SELECT 1 FROM alert_events
	                                 WHERE key = $1 AND fingerprint = $2 AND starts_at = $3 AND status = 'resolved')`
	var b pgx.Batch
	var keys []string // distinct, sorted: order is sorted by key first
	for _, i := range order {
		if k := events[i].Key; len(keys) == 0 || keys[len(keys)-1] != k {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, keyLockClass, k).Exec(func(pgconn.CommandTag) error { return nil })
	}
	isFresh := make([]bool, len(events))
	now := sqlrow.Nanos(time.Now())
	for _, i := range order {
		ev := events[i]
		b.Queue(q, ev.Key, ev.Alert.Fingerprint, sqlrow.Nanos(ev.Alert.StartsAt), ev.Alert.Status, now).QueryRow(func(row pgx.Row) error {
			var inserted, overtaken bool
			if err := row.Scan(&inserted, &overtaken); err != nil {
				return err
			}
			isFresh[i] = inserted && !overtaken
			return nil
		})
	}
	// The webhook asks next for the open incident of each key: read (and lock) them now,
	// after the key locks, saving a round trip per key.
	open := map[string]*store.Incident{}
	b.Queue(`SELECT `+sqlrow.IncidentColumns+` FROM incidents WHERE key = ANY($1) AND state <> 'resolved' ORDER BY key FOR UPDATE`, keys).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				inc, err := sqlrow.ScanIncident(rows)
				if err != nil {
					return err
				}
				open[inc.Key] = inc
			}
			return rows.Err()
		})
	if err := t.send(ctx, &b); err != nil {
		return nil, fmt.Errorf("record alert events: %w", conflict(err))
	}
	t.openByKey = make(map[string]*store.Incident, len(keys))
	for _, k := range keys {
		t.openByKey[k] = open[k]
	}
	var fresh []store.AlertEvent
	for i, ev := range events {
		if isFresh[i] {
			fresh = append(fresh, ev)
		}
	}
	return fresh, nil
}

func (t *tx) OpenIncidentByKey(ctx context.Context, key string) (*store.Incident, error) {
	if inc, ok := t.openByKey[key]; ok {
		delete(t.openByKey, key) // read ahead for one use: later calls see later writes
		return inc, nil
	}
	inc, err := t.incident(ctx, `SELECT `+sqlrow.IncidentColumns+` FROM incidents WHERE key = $1 AND state <> 'resolved' FOR UPDATE`, key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open incident for %s: %w", key, conflict(err))
	}
	return inc, nil
}

func (t *tx) Incident(ctx context.Context, id string) (*store.Incident, error) {
	if inc := t.timerIncident; inc != nil && inc.ID == id {
		t.timerIncident = nil // read ahead for one use: later calls see later writes
		return inc, nil
	}
	inc, err := t.incident(ctx, `SELECT `+sqlrow.IncidentColumns+` FROM incidents WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("incident %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("incident %s: %w", id, conflict(err))
	}
	return inc, nil
}

// incident runs a one-incident query after the pending writes, in one round trip.
func (t *tx) incident(ctx context.Context, query string, args ...any) (*store.Incident, error) {
	var inc *store.Incident
	var b pgx.Batch
	b.Queue(query, args...).QueryRow(func(row pgx.Row) error {
		var err error
		inc, err = sqlrow.ScanIncident(row)
		return err
	})
	if err := t.send(ctx, &b); err != nil {
		return nil, err
	}
	return inc, nil
}

func getIncident(ctx context.Context, q querier, id, lock string) (*store.Incident, error) {
	inc, err := sqlrow.ScanIncident(q.QueryRow(ctx, `SELECT `+sqlrow.IncidentColumns+` FROM incidents WHERE id = $1`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("incident %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("incident %s: %w", id, conflict(err))
	}
	return inc, nil
}

func (t *tx) OpenIncidents(ctx context.Context) ([]*store.Incident, error) {
	if err := t.flush(ctx); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return listIncidents(ctx, t.conn, store.IncidentFilter{Open: true, Limit: -1})
}

func listIncidents(ctx context.Context, q querier, f store.IncidentFilter) ([]*store.Incident, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.State != "" {
		where = append(where, "state = "+arg(string(f.State)))
	}
	if f.Open {
		where = append(where, "state <> 'resolved'")
	}
	if f.Client != "" {
		where = append(where, "client = "+arg(f.Client))
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
		query += " LIMIT " + arg(f.Limit)
	}
	rows, err := q.Query(ctx, query, args...)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// OpenClients returns the distinct clients of open, non-drill incidents, sorted, from the
// incidents_open_clients partial index: no incident is decoded.
func (t *tx) OpenClients(ctx context.Context) ([]string, error) {
	var clients []string
	var b pgx.Batch
	queueOpenClients(&b, &clients)
	if err := t.send(ctx, &b); err != nil {
		return nil, fmt.Errorf("clients with open incidents: %w", conflict(err))
	}
	return clients, nil
}

// queueOpenClients queues a loose index scan: each step jumps to the next client in the
// incidents_open_clients index, so the cost grows with the number of distinct clients, not
// with the number of open incidents (a plain DISTINCT reads every index entry, and a large
// outage of one client has many).
func queueOpenClients(b *pgx.Batch, clients *[]string) {
	b.Queue(`WITH RECURSIVE c(client) AS (
			(SELECT client FROM incidents WHERE state <> 'resolved' AND NOT drill ORDER BY client LIMIT 1)
			UNION ALL
			SELECT (SELECT i.client FROM incidents i WHERE i.state <> 'resolved' AND NOT i.drill AND i.client > c.client ORDER BY i.client LIMIT 1)
			FROM c WHERE c.client IS NOT NULL)
		SELECT client FROM c WHERE client IS NOT NULL`).Query(func(rows pgx.Rows) error {
		var err error
		*clients, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
}

// OpenClientsAndDeploys is OpenClients and Deploys in one round trip.
func (t *tx) OpenClientsAndDeploys(ctx context.Context, client string, since time.Time) ([]string, []store.Deploy, error) {
	var clients []string
	var deploys []store.Deploy
	var b pgx.Batch
	queueOpenClients(&b, &clients)
	queueDeploys(&b, client, since, &deploys)
	if err := t.send(ctx, &b); err != nil {
		return nil, nil, fmt.Errorf("clients with open incidents, deploys: %w", conflict(err))
	}
	return clients, deploys, nil
}

// CreateIncident uses ON CONFLICT DO NOTHING rather than letting the unique index raise: an
// error would abort the whole transaction, while "no row inserted" leaves the caller free
// to handle store.ErrConflict as it likes.
func (t *tx) CreateIncident(ctx context.Context, inc *store.Incident) error {
	delete(t.openByKey, inc.Key)
	created := *inc
	created.Version = 1
	data, err := json.Marshal(&created)
	if err != nil {
		return fmt.Errorf("encode incident: %w", err)
	}
	t.queue("create incident "+inc.ID, func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("create incident %s for %s (the key has an open incident, or the ID exists): %w", created.ID, created.Key, store.ErrConflict)
		}
		return nil
	}, `INSERT INTO incidents (id, key, client, state, drill, started_at, version, data)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		created.ID, created.Key, created.Client, string(created.State), created.Drill, sqlrow.Nanos(created.StartedAt), created.Version, string(data))
	inc.Version = 1 // if the insert fails, so does the transaction
	return nil
}

func (t *tx) UpdateIncident(ctx context.Context, inc *store.Incident) error {
	delete(t.openByKey, inc.Key)
	t.timerIncident = nil
	next := *inc
	next.Version++
	data, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("encode incident: %w", err)
	}
	// Re-opening (state leaves resolved) may hit the one-open-per-key index: conflict().
	id, version := inc.ID, inc.Version
	t.queue("update incident "+id, func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("update incident %s (version %d): %w", id, version, store.ErrConflict)
		}
		return nil
	}, `UPDATE incidents SET state = $1, client = $2, drill = $3, version = $4, data = $5 WHERE id = $6 AND version = $7`,
		string(next.State), next.Client, next.Drill, next.Version, string(data), id, version)
	inc.Version = next.Version // if the update fails, so does the transaction
	return nil
}

func (t *tx) AppendTimeline(ctx context.Context, entries ...store.TimelineEntry) error {
	if len(entries) == 0 {
		return nil
	}
	// One statement per entry, queued: statements run in order, so the bigserial IDs follow
	// the order of entries.
	for _, e := range entries {
		t.queue("append timeline", nil, `INSERT INTO timeline (incident_id, at, actor, kind, text) VALUES ($1, $2, $3, $4, $5)`,
			e.IncidentID, sqlrow.Nanos(e.At), e.Actor, e.Kind, e.Text)
	}
	return nil
}

func (t *tx) Timeline(ctx context.Context, incidentID string) ([]store.TimelineEntry, error) {
	if err := t.flush(ctx); err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return timeline(ctx, t.conn, incidentID)
}

func timeline(ctx context.Context, q querier, incidentID string) ([]store.TimelineEntry, error) {
	rows, err := q.Query(ctx,
		`SELECT id, incident_id, at, actor, kind, text FROM timeline WHERE incident_id = $1 ORDER BY id`, incidentID)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return out, nil
}

func (t *tx) EnqueueNotices(ctx context.Context, notices ...store.Notice) error {
	if len(notices) == 0 {
		return nil
	}
	// Queued in order, so seq follows the order of notices.
	for _, n := range notices {
		due := n.NextAttemptAt
		if due.IsZero() {
			due = n.CreatedAt
		}
		// ON CONFLICT (id): the ID is the idempotency key, a notice is enqueued once.
		t.queue("enqueue notices", nil, `INSERT INTO notices (id, incident_id, channel, audience, event, subject, text, payload, status, created_at, next_attempt_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10) ON CONFLICT (id) DO NOTHING`,
			n.ID, n.IncidentID, n.Channel, n.Audience, n.Event, n.Subject, n.Text, n.Payload, sqlrow.Nanos(n.CreatedAt), sqlrow.Nanos(due))
	}
	return nil
}

func (t *tx) SetTimer(ctx context.Context, tm store.Timer) error {
	t.queue("set timer", nil, `INSERT INTO timers (subject, kind, due_at) VALUES ($1, $2, $3)
		 ON CONFLICT (subject, kind) DO UPDATE SET due_at = excluded.due_at, lease_owner = '', lease_until = 0`,
		tm.Subject, string(tm.Kind), sqlrow.Nanos(tm.DueAt))
	return nil
}

func (t *tx) CancelTimers(ctx context.Context, subject string, kinds ...store.TimerKind) error {
	if len(kinds) == 0 {
		t.queue("cancel timers", nil, `DELETE FROM timers WHERE subject = $1`, subject)
		return nil
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	t.queue("cancel timers", nil, `DELETE FROM timers WHERE subject = $1 AND kind = ANY($2)`, subject, names)
	return nil
}

// TakeTimer first locks the timer's incident (when the subject is one), then the timer. The
// lifecycle changes an incident and then its timers; firing a timer in the opposite order
// would let the two deadlock. The lock reads the incident, which the lifecycle asks for next.
// Both statements go after the pending writes, in one round trip, executed in order.
func (t *tx) TakeTimer(ctx context.Context, tm store.Timer) (bool, error) {
	var taken bool
	var b pgx.Batch
	t.timerIncident = nil
	b.Queue(`SELECT `+sqlrow.IncidentColumns+` FROM incidents WHERE id = $1 FOR UPDATE`, tm.Subject).Query(func(rows pgx.Rows) error {
		incs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Incident, error) { return sqlrow.ScanIncident(row) })
		if len(incs) == 1 {
			t.timerIncident = incs[0]
		}
		return err
	})
	b.Queue(`DELETE FROM timers WHERE subject = $1 AND kind = $2 AND due_at = $3`, tm.Subject, string(tm.Kind), sqlrow.Nanos(tm.DueAt)).
		Exec(func(tag pgconn.CommandTag) error {
			taken = tag.RowsAffected() == 1
			return nil
		})
	if err := t.send(ctx, &b); err != nil {
		return false, fmt.Errorf("take timer %s/%s: %w", tm.Subject, tm.Kind, conflict(err))
	}
	return taken, nil
}

func (t *tx) RecordDeploy(ctx context.Context, d store.Deploy) error {
	t.queue("record deploy", nil, `INSERT INTO deploys (client, site, at, version, description, actor) VALUES ($1, $2, $3, $4, $5, $6)`,
		d.Client, d.Site, sqlrow.Nanos(d.At), d.Version, d.Description, d.Actor)
	return nil
}

func (t *tx) Deploys(ctx context.Context, client string, since time.Time) ([]store.Deploy, error) {
	var out []store.Deploy
	var b pgx.Batch
	queueDeploys(&b, client, since, &out)
	if err := t.send(ctx, &b); err != nil {
		return nil, fmt.Errorf("deploys: %w", conflict(err))
	}
	return out, nil
}

func queueDeploys(b *pgx.Batch, client string, since time.Time, out *[]store.Deploy) {
	b.Queue(`SELECT client, site, at, version, description, actor FROM deploys WHERE client = $1 AND at >= $2 ORDER BY at DESC, id DESC`,
		client, sqlrow.Nanos(since)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var d store.Deploy
			var at int64
			if err := rows.Scan(&d.Client, &d.Site, &at, &d.Version, &d.Description, &d.Actor); err != nil {
				return err
			}
			d.At = sqlrow.FromNanos(at)
			*out = append(*out, d)
		}
		return rows.Err()
	})
}

// Incident returns one incident.
func (s *Store) Incident(ctx context.Context, id string) (*store.Incident, error) {
	return getIncident(ctx, s.pool, id, "")
}

// Incidents lists incidents, newest first.
func (s *Store) Incidents(ctx context.Context, f store.IncidentFilter) ([]*store.Incident, error) {
	return listIncidents(ctx, s.pool, f)
}

// Timeline returns an incident's timeline in the order it was appended.
func (s *Store) Timeline(ctx context.Context, incidentID string) ([]store.TimelineEntry, error) {
	return timeline(ctx, s.pool, incidentID)
}

const noticeColumns = `id, incident_id, channel, audience, event, subject, text, payload, status, attempts, last_error, created_at, next_attempt_at, sent_at`

func scanNotices(rows pgx.Rows) ([]store.Notice, error) {
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	return out, nil
}

// Notices returns an incident's notices in the order they were enqueued.
func (s *Store) Notices(ctx context.Context, incidentID string) ([]store.Notice, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+noticeColumns+` FROM notices WHERE incident_id = $1 ORDER BY created_at, seq`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	return scanNotices(rows)
}

// ClaimNotices leases due notices to owner. FOR UPDATE SKIP LOCKED lets replicas claim at
// the same instant without waiting on or double-claiming each other's rows; the CTE is
// evaluated once, so the LIMIT holds.
//
// A notice still leased to another owner was claimed by a replica that stopped before
// recording the result (killed, or shut down mid-delivery). Taking it over counts as an
// attempt, says so in last_error and on the incident's timeline (the texts of
// store.CutOffError and store.TakeoverTimelineText), or gives up on the notice when that was
// its last attempt (store.GaveUpError, store.GaveUpTimelineText), all in this one statement.
func (s *Store) ClaimNotices(ctx context.Context, owner string, now time.Time, lease time.Duration, limit, maxAttempts int) ([]store.Notice, error) {
	rows, err := s.pool.Query(ctx,
		`WITH due AS (
			SELECT id, lease_owner AS cut_off, lease_owner <> '' AND attempts + 1 >= $6 AS give_up FROM notices
			WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until <= $3
			ORDER BY next_attempt_at, id LIMIT $4
			FOR UPDATE SKIP LOCKED),
		 claimed AS (
			UPDATE notices n SET
				status = CASE WHEN due.give_up THEN 'failed' ELSE n.status END,
				lease_owner = CASE WHEN due.give_up THEN '' ELSE $1 END,
				lease_until = CASE WHEN due.give_up THEN 0 ELSE $2::bigint END,
				attempts = n.attempts + CASE WHEN due.cut_off <> '' THEN 1 ELSE 0 END,
				last_error = CASE
					WHEN due.give_up THEN 'delivery by ' || due.cut_off || ' was cut off (lease expired); giving up after ' || (n.attempts + 1) || ' attempts'
					WHEN due.cut_off <> '' THEN 'delivery by ' || due.cut_off || ' was cut off (lease expired); retrying'
					ELSE n.last_error END
			FROM due WHERE n.id = due.id
			RETURNING `+prefixed("n.", noticeColumns)+`, due.cut_off, due.give_up),
		 logged AS (
			INSERT INTO timeline (incident_id, at, actor, kind, text)
			SELECT incident_id, $3, 'system', CASE WHEN give_up THEN $7 ELSE $5 END,
				CASE WHEN give_up
					THEN 'notice ' || id || ' to channel ' || channel || ': gave up after ' || attempts || ' attempts, the last cut off when replica ' || cut_off || ' stopped mid-delivery'
					ELSE 'notice ' || id || ' to channel ' || channel || ': retried after replica ' || cut_off || ' stopped mid-delivery' END
			FROM claimed WHERE cut_off <> '' AND incident_id <> '' ORDER BY next_attempt_at, id)
		 SELECT `+noticeColumns+` FROM claimed`,
		owner, sqlrow.Nanos(now.Add(lease)), sqlrow.Nanos(now), limit, store.TimelineNoticeRetried, maxAttempts, store.TimelineNoticeFailed)
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	out, err := scanNotices(rows)
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	// RETURNING has no order: restore "oldest due first".
	slices.SortFunc(out, func(a, b store.Notice) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = p + c
	}
	return strings.Join(cols, ", ")
}

// finishNotice runs an update that only applies while owner holds the notice.
func (s *Store) finishNotice(ctx context.Context, id, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("update notice %s: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("notice %s: %w", id, store.ErrLeaseLost)
	}
	return nil
}

// CompleteNotices marks claimed notices sent.
func (s *Store) CompleteNotices(ctx context.Context, owner string, at time.Time, ids []string) error {
	rows, err := s.pool.Query(ctx,
		`UPDATE notices SET status = 'sent', attempts = attempts + 1, sent_at = $1, last_error = '', lease_owner = '', lease_until = 0
		 WHERE id = ANY($2) AND lease_owner = $3 AND status = 'pending'
		 RETURNING id`, sqlrow.Nanos(at), ids, owner)
	if err != nil {
		return fmt.Errorf("complete notices: %w", err)
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("complete notices: %w", err)
	}
	return store.Completed(ids, done)
}

// RetryNotice records a failed attempt and schedules the next one.
func (s *Store) RetryNotice(ctx context.Context, id, owner, errText string, next time.Time) error {
	return s.finishNotice(ctx, id,
		`UPDATE notices SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, lease_owner = '', lease_until = 0
		 WHERE id = $3 AND lease_owner = $4 AND status = 'pending'`, errText, sqlrow.Nanos(next), id, owner)
}

// FailNotice marks a claimed notice permanently failed.
func (s *Store) FailNotice(ctx context.Context, id, owner, errText string) error {
	return s.finishNotice(ctx, id,
		`UPDATE notices SET status = 'failed', attempts = attempts + 1, last_error = $1, lease_owner = '', lease_until = 0
		 WHERE id = $2 AND lease_owner = $3 AND status = 'pending'`, errText, id, owner)
}

// AllAlertEventsSeen reports whether every event is already recorded, in one query outside
// any transaction, so the webhook answers repeats (most of its traffic) without locking. A
// "no" is not final: Tx.RecordAlertEvents decides.
func (s *Store) AllAlertEventsSeen(ctx context.Context, events []store.AlertEvent) (bool, error) {
	keys := make([]string, len(events))
	fingerprints := make([]string, len(events))
	startsAt := make([]int64, len(events))
	statuses := make([]string, len(events))
	for i, ev := range events {
		keys[i], fingerprints[i], startsAt[i], statuses[i] = ev.Key, ev.Alert.Fingerprint, sqlrow.Nanos(ev.Alert.StartsAt), ev.Alert.Status
	}
	var seen bool
	err := s.pool.QueryRow(ctx,
		`SELECT coalesce(bool_and(EXISTS (
			SELECT 1 FROM alert_events a
			WHERE a.key = e.key AND a.fingerprint = e.fingerprint AND a.starts_at = e.starts_at AND a.status = e.status)), true)
		 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS e(key, fingerprint, starts_at, status)`,
		keys, fingerprints, startsAt, statuses).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("alert events seen: %w", err)
	}
	return seen, nil
}

// PendingNotices counts the outbox backlog.
func (s *Store) PendingNotices(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM notices WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending notices: %w", err)
	}
	return n, nil
}

// PruneAlertEvents deletes the events of alerts resolved before before, limit alerts at a
// time. Replicas pruning at once delete the same rows; the second finds them gone.
func (s *Store) PruneAlertEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx,
		`WITH gone AS (
			SELECT key, fingerprint, starts_at FROM alert_events WHERE status = 'resolved' AND recorded_at < $1 LIMIT $2)
		 DELETE FROM alert_events a USING gone
		 WHERE a.key = gone.key AND a.fingerprint = gone.fingerprint AND a.starts_at = gone.starts_at`,
		sqlrow.Nanos(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune alert events: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ClaimTimers leases due timers to owner, as ClaimNotices does for notices.
func (s *Store) ClaimTimers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Timer, error) {
	rows, err := s.pool.Query(ctx,
		`WITH due AS (
			SELECT subject, kind FROM timers
			WHERE due_at <= $3 AND lease_until <= $3
			ORDER BY due_at, subject, kind LIMIT $4
			FOR UPDATE SKIP LOCKED)
		 UPDATE timers t SET lease_owner = $1, lease_until = $2
		 FROM due WHERE t.subject = due.subject AND t.kind = due.kind
		 RETURNING t.subject, t.kind, t.due_at`,
		owner, sqlrow.Nanos(now.Add(lease)), sqlrow.Nanos(now), limit)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	slices.SortFunc(out, func(a, b store.Timer) int { return a.DueAt.Compare(b.DueAt) })
	return out, nil
}
