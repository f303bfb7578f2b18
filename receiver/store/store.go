// Package store defines the receiver's durable state (incidents, their timeline, the notice
// outbox, timers, deploys, deduplicated alert events) and the Store interface that every
// backend (SQLite, PostgreSQL) implements. The same backend-agnostic suite in
// receiver/storetest runs against each of them.
//
// Rules a backend must keep so several receiver replicas can share one database:
//   - Webhook idempotency comes from unique constraints (Tx.RecordAlertEvents), never from
//     read-then-write.
//   - A state change, its timeline entries, its outbox notices and its timers are written in
//     ONE transaction (Store.Update).
//   - Incident reads inside a transaction lock the incident until commit (PostgreSQL:
//     SELECT ... FOR UPDATE). Creating a second open incident for one key fails with
//     ErrConflict (a partial unique index), and the caller retries the whole transaction.
//   - Outbox notices and timers are CLAIMED with an owner and a lease expiry; an expired lease
//     makes them claimable again, so the work of a crashed replica is picked up by another.
//
// Times are stored with nanosecond precision in UTC; "zero" times mean "not set".
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

var (
	// ErrNotFound: no such incident.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a concurrent transaction won (second open incident for a key, stale
	// incident version). Retry the whole Update.
	ErrConflict = errors.New("conflict with a concurrent change")
	// ErrLeaseLost: the claimed notice or timer is no longer held by this owner.
	ErrLeaseLost = errors.New("lease lost")
)

// State is an incident's status-page state.
type State string

const (
	StateInvestigating State = "investigating"
	StateIdentified    State = "identified"
	StateMonitoring    State = "monitoring"
	StateResolved      State = "resolved"
)

// Valid reports whether s is one of the four states.
func (s State) Valid() bool {
	switch s {
	case StateInvestigating, StateIdentified, StateMonitoring, StateResolved:
		return true
	}
	return false
}

// Alert is the last known state of one alert (by fingerprint) that joined an incident.
type Alert struct {
	Fingerprint string            `json:"fingerprint"`
	Status      string            `json:"status"` // firing | resolved
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"starts_at"`
	EndsAt      time.Time         `json:"ends_at,omitzero"`
}

// Assessment answers the playbook's checklist when the incident opens.
type Assessment struct {
	Sites         []string `json:"sites"`
	FailureType   string   `json:"failure_type"`
	OtherClients  []string `json:"other_clients"` // clients with other open incidents right now
	RecentDeploys []Deploy `json:"recent_deploys"`
	Owner         string   `json:"owner"`
	Runbook       string   `json:"runbook"` // the runbook's title for the failure type
}

// Incident groups the alerts of one incident key. Acknowledgement, owner, severity and drill
// are fields, not states.
type Incident struct {
	ID              string            `json:"id"`
	Key             string            `json:"key"` // e.g. client="acme",site="shop"
	Client          string            `json:"client"`
	Sites           []string          `json:"sites"`
	FailureType     string            `json:"failure_type"`
	Severity        string            `json:"severity"`
	State           State             `json:"state"`
	Drill           bool              `json:"drill"`
	Owner           string            `json:"owner,omitempty"`
	EscalationLevel int               `json:"escalation_level"`
	AcknowledgedAt  time.Time         `json:"acknowledged_at,omitzero"`
	AcknowledgedBy  string            `json:"acknowledged_by,omitempty"`
	RootCause       string            `json:"root_cause,omitempty"`
	Labels          map[string]string `json:"labels"` // the incident-key labels
	Alerts          []Alert           `json:"alerts"`
	Assessment      Assessment        `json:"assessment"`
	StartedAt       time.Time         `json:"started_at"`  // earliest firing alert's startsAt
	DetectedAt      time.Time         `json:"detected_at"` // when the receiver opened it
	UpdatedAt       time.Time         `json:"updated_at"`
	FirstNoticeAt   time.Time         `json:"first_notice_at,omitzero"` // client's first notice enqueued
	RecoveredAt     time.Time         `json:"recovered_at,omitzero"`    // all alerts resolved (monitoring)
	ResolvedAt      time.Time         `json:"resolved_at,omitzero"`
	// Version is incremented by every UpdateIncident; an update carrying a stale version
	// fails with ErrConflict.
	Version int64 `json:"version"`
}

// Open reports whether the incident is not resolved.
func (i *Incident) Open() bool { return i.State != StateResolved }

// TimelineEntry is one line of the response log. Entries are only ever appended.
type TimelineEntry struct {
	ID         int64     `json:"id"` // assigned by the store, increasing per store
	IncidentID string    `json:"incident_id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"` // "system", "alertmanager", a person
	Kind       string    `json:"kind"`  // opened, alert, acknowledged, note, action, next, ...
	Text       string    `json:"text"`
}

// NoticeStatus is the delivery status of an outbox notice.
type NoticeStatus string

const (
	NoticePending NoticeStatus = "pending" // waiting for (another) attempt
	NoticeSent    NoticeStatus = "sent"
	NoticeFailed  NoticeStatus = "failed" // permanently: a channel error retrying cannot fix, or out of attempts
)

// Notice is one message for one channel in the outbox. ID is the idempotency key.
type Notice struct {
	ID            string       `json:"id"`
	IncidentID    string       `json:"incident_id,omitempty"` // empty for notices about no incident (watchdog)
	Channel       string       `json:"channel"`
	Audience      string       `json:"audience"`
	Event         string       `json:"event"`
	Subject       string       `json:"subject"`
	Text          string       `json:"text"`
	Status        NoticeStatus `json:"status"`
	Attempts      int          `json:"attempts"`
	LastError     string       `json:"last_error,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	NextAttemptAt time.Time    `json:"next_attempt_at,omitzero"`
	SentAt        time.Time    `json:"sent_at,omitzero"`
	// Payload is the notify.Incident snapshot (JSON) the channel renders; opaque to the store.
	Payload []byte `json:"-"`
}

// A claim that takes over a notice whose lease expired while another owner still held it
// (that replica was killed or stopped mid-delivery) counts as an attempt: the notice's
// LastError becomes CutOffError(previous owner) and the incident's timeline gets an entry of
// kind TimelineNoticeRetried with TakeoverTimelineText. The backends build the same texts
// in SQL, so the claim stays one statement; the shared suite checks they match.
const TimelineNoticeRetried = "notice_retried"

// A takeover that uses up a notice's last attempt gives up on it instead: when every delivery
// of a notice was cut off, the notice itself may be what stops the replicas (a channel reply
// that crashes the sender), and retrying it would take down one replica after another. The
// claim marks it failed with GaveUpError and the timeline entry (kind TimelineNoticeFailed)
// GaveUpTimelineText, and returns it so the sender can count it.
const TimelineNoticeFailed = "notice_failed"

// Completed is CompleteNotices' result when it asked for ids and completed done: nil, or
// ErrLeaseLost naming the notices the owner no longer held.
func Completed(ids, done []string) error {
	var lost []string
	for _, id := range ids {
		if !slices.Contains(done, id) {
			lost = append(lost, id)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	return fmt.Errorf("notices %s: %w", strings.Join(lost, ", "), ErrLeaseLost)
}

// CutOffError is a taken-over notice's LastError.
func CutOffError(owner string) string {
	return "delivery by " + owner + " was cut off (lease expired); retrying"
}

// TakeoverTimelineText is the timeline entry of a taken-over notice.
func TakeoverTimelineText(noticeID, channel, owner string) string {
	return "notice " + noticeID + " to channel " + channel + ": retried after replica " + owner + " stopped mid-delivery"
}

// GaveUpError is the LastError of a notice given up at a takeover after attempts attempts.
func GaveUpError(owner string, attempts int) string {
	return fmt.Sprintf("delivery by %s was cut off (lease expired); giving up after %d attempts", owner, attempts)
}

// GaveUpTimelineText is the timeline entry of a notice given up at a takeover.
func GaveUpTimelineText(noticeID, channel, owner string, attempts int) string {
	return fmt.Sprintf("notice %s to channel %s: gave up after %d attempts, the last cut off when replica %s stopped mid-delivery",
		noticeID, channel, attempts, owner)
}

// TimerKind names what a timer does when it fires.
type TimerKind string

const (
	TimerFirstNotice TimerKind = "first_notice" // client's first notice
	TimerUpdate      TimerKind = "update"       // client update while open
	TimerEscalation  TimerKind = "escalation"   // not acknowledged in time
	TimerResolve     TimerKind = "resolve"      // quiet window after recovery ended
	TimerWatchdog    TimerKind = "watchdog"     // heartbeats went silent
)

// Timer is a durable timer, unique per (Subject, Kind). Subject is an incident ID, or a
// fixed name for timers about no incident ("watchdog").
type Timer struct {
	Subject string    `json:"subject"`
	Kind    TimerKind `json:"kind"`
	DueAt   time.Time `json:"due_at"`
}

// Deploy is a recorded deploy for a client (and optionally one site).
type Deploy struct {
	Client      string    `json:"client"`
	Site        string    `json:"site,omitempty"`
	At          time.Time `json:"at"`
	Version     string    `json:"version,omitempty"`
	Description string    `json:"description,omitempty"`
	Actor       string    `json:"actor,omitempty"`
}

// AlertEvent is one alert as seen in one webhook notification, the unit of deduplication:
// (Key, Fingerprint, StartsAt, Status) is unique.
type AlertEvent struct {
	Key   string
	Alert Alert
}

// IncidentFilter selects incidents for Store.Incidents. Zero values match everything.
type IncidentFilter struct {
	State  State
	Client string
	Open   bool // only incidents not resolved
	Limit  int  // 0: the backend's default (100); negative: no limit
}

// Tx is one transaction. All methods act inside it; nothing is visible to others before
// Update returns nil. A backend may send writes later than the call (PostgreSQL queues them
// until the next read or the commit), so a write's error, ErrConflict included, can come
// from a later call or from Update: callers pass errors up, and reads see earlier writes.
type Tx interface {
	// RecordAlertEvents inserts events that were not seen before and returns those that
	// matter: newly inserted ones, minus firing events whose (Key, Fingerprint, StartsAt)
	// was already seen resolved (the resolved notification overtook the firing one).
	// Deduplication is by unique constraint, safe across replicas.
	RecordAlertEvents(ctx context.Context, events []AlertEvent) ([]AlertEvent, error)
	// OpenIncidentByKey returns the open incident of key, or nil, nil; it locks it.
	OpenIncidentByKey(ctx context.Context, key string) (*Incident, error)
	// Incident returns one incident and locks it; ErrNotFound when there is none.
	Incident(ctx context.Context, id string) (*Incident, error)
	// OpenIncidents returns all open incidents (without locking them).
	OpenIncidents(ctx context.Context) ([]*Incident, error)
	// CreateIncident inserts inc (Version becomes 1); ErrConflict when its key already has
	// an open incident.
	CreateIncident(ctx context.Context, inc *Incident) error
	// UpdateIncident writes inc if its Version is the stored one, then increments Version;
	// ErrConflict otherwise.
	UpdateIncident(ctx context.Context, inc *Incident) error
	AppendTimeline(ctx context.Context, entries ...TimelineEntry) error
	Timeline(ctx context.Context, incidentID string) ([]TimelineEntry, error)
	// EnqueueNotices adds notices with status pending, due at NextAttemptAt (CreatedAt when
	// zero). A notice whose ID exists is left alone.
	EnqueueNotices(ctx context.Context, notices ...Notice) error
	// SetTimer creates or moves a timer (and drops any lease on it).
	SetTimer(ctx context.Context, t Timer) error
	// CancelTimers deletes the subject's timers of the given kinds (all kinds when none given).
	CancelTimers(ctx context.Context, subject string, kinds ...TimerKind) error
	// TakeTimer deletes a claimed timer if it is still the one claimed (same DueAt) and
	// reports whether it was: false means it was moved or cancelled meanwhile, so skip it.
	TakeTimer(ctx context.Context, t Timer) (bool, error)
	RecordDeploy(ctx context.Context, d Deploy) error
	// Deploys returns the client's deploys at or after since, newest first.
	Deploys(ctx context.Context, client string, since time.Time) ([]Deploy, error)
}

// OpenClientsTx is an optional fast path of Tx: the distinct clients of open, non-drill
// incidents, sorted. The assessment at open needs only these; without it the lifecycle falls
// back to OpenIncidents, which decodes every open incident. Backends should implement it
// (it is meant to join Tx).
type OpenClientsTx interface {
	OpenClients(ctx context.Context) ([]string, error)
}

// AssessTx is an optional fast path of Tx for the assessment of a new incident: what
// OpenClientsTx.OpenClients and Tx.Deploys return, in one round trip to the database.
type AssessTx interface {
	OpenClientsAndDeploys(ctx context.Context, client string, since time.Time) ([]string, []Deploy, error)
}

// SeenChecker is an optional fast path of Store: whether every event was already recorded,
// answered from a read-only connection. A "yes" is final (events are never deleted), so the
// webhook answers a repeat without taking the writer; a "no" goes through
// Tx.RecordAlertEvents, whose unique constraint decides.
type SeenChecker interface {
	AllAlertEventsSeen(ctx context.Context, events []AlertEvent) (bool, error)
}

// Store is a receiver backend.
type Store interface {
	// Update runs fn in one transaction and commits when it returns nil. Errors are
	// returned unchanged (wrapped), so callers can test for ErrConflict and retry.
	Update(ctx context.Context, fn func(tx Tx) error) error

	// Incident returns one incident; ErrNotFound when there is none.
	Incident(ctx context.Context, id string) (*Incident, error)
	// Incidents returns matching incidents, newest first.
	Incidents(ctx context.Context, f IncidentFilter) ([]*Incident, error)
	// Timeline returns an incident's entries in the order they were appended.
	Timeline(ctx context.Context, incidentID string) ([]TimelineEntry, error)
	// Notices returns an incident's notices in the order they were enqueued.
	Notices(ctx context.Context, incidentID string) ([]Notice, error)

	// ClaimNotices leases up to limit pending notices due at now (whose lease, if any, has
	// expired) to owner until now+lease, oldest due first. Taking over another owner's
	// expired lease counts as an attempt (see CutOffError); when that is attempt maxAttempts,
	// the notice is not leased but failed, and returned with status NoticeFailed (see
	// GaveUpError).
	ClaimNotices(ctx context.Context, owner string, now time.Time, lease time.Duration, limit, maxAttempts int) ([]Notice, error)
	// CompleteNotices marks claimed notices sent (attempts+1) in one write: a sender
	// completes a whole delivered batch at once. The notices owner still holds are completed;
	// if it lost some (another replica took them over), the error wraps ErrLeaseLost and
	// names them.
	CompleteNotices(ctx context.Context, owner string, at time.Time, ids []string) error
	// RetryNotice records a failed attempt (attempts+1) and makes the notice due again at next.
	RetryNotice(ctx context.Context, id, owner string, errText string, next time.Time) error
	// FailNotice records a final failed attempt (attempts+1) and marks the notice failed.
	FailNotice(ctx context.Context, id, owner string, errText string) error
	// PendingNotices counts notices not yet sent or failed (the outbox backlog).
	PendingNotices(ctx context.Context) (int, error)

	// PruneAlertEvents deletes, at most limit alerts at a time, the recorded events of alerts
	// whose resolution was recorded before before (Alertmanager no longer sends those), and
	// returns how many events it deleted. Events of alerts still firing are kept: their
	// repeats must stay duplicates.
	PruneAlertEvents(ctx context.Context, before time.Time, limit int) (int, error)

	// ClaimTimers leases up to limit timers due at now (lease expired or none) to owner.
	// A claimed timer is consumed with Tx.TakeTimer in the transaction that acts on it.
	ClaimTimers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Timer, error)

	// Ping checks the database connection (/-/ready).
	Ping(ctx context.Context) error
	Close() error
}
