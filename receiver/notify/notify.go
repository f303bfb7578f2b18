// Package notify defines what the receiver hands to a channel. Each channel (slack, teams,
// email, webhook, log) lives in its own sub-package with its own Config, as in Alertmanager's
// notify/<name>/ packages; the channels sub-package builds one from configuration.
package notify

import (
	"context"
	"errors"
	"time"
)

// Audience says who a message is for.
type Audience string

const (
	AudienceTeam   Audience = "team"
	AudienceClient Audience = "client"
)

// Event names what happened. Channels may map them to their own vocabulary (the generic
// webhook also sends monitor.down / monitor.recovery).
type Event string

const (
	EventIncidentOpened    Event = "incident.opened"    // team: new incident with assessment and runbook
	EventIncidentEscalated Event = "incident.escalated" // team: not acknowledged in time
	EventIncidentReopened  Event = "incident.reopened"  // team: failed again inside the resolution window
	EventIncidentResolved  Event = "incident.resolved"  // team: incident resolved
	EventClientInitial     Event = "notice.initial"     // client: first notice (investigating)
	EventClientUpdate      Event = "notice.update"      // client: update every 30 minutes while open
	EventClientResolved    Event = "notice.resolved"    // client: resolution notice
	EventPostmortemDue     Event = "postmortem.due"     // team: post-mortem reminder
	EventWatchdogMissing   Event = "watchdog.missing"   // team: the alerting pipeline went silent
)

// Incident is the part of an incident a message carries.
type Incident struct {
	ID          string    `json:"id"`
	Client      string    `json:"client"`
	Sites       []string  `json:"sites"`
	FailureType string    `json:"failure_type"`
	Severity    string    `json:"severity"`
	State       string    `json:"state"`
	Owner       string    `json:"owner,omitempty"`
	Drill       bool      `json:"drill"`
	URL         string    `json:"url,omitempty"`
	StartedAt   time.Time `json:"started_at"`
}

// Message is one outgoing notice. ID is the idempotency key: stable across retries and
// restarts, so a channel that supports it can drop a duplicate.
type Message struct {
	ID        string
	Event     Event
	Audience  Audience
	Subject   string
	Text      string
	Incident  Incident
	CreatedAt time.Time
}

// Notifier delivers a message on one channel. A nil error means the channel accepted it.
type Notifier interface {
	Notify(ctx context.Context, m *Message) error
}

// RetryableError marks a failure that retrying may fix (network error, 429, 5xx).
// RetryAfter is the channel's requested delay (Retry-After), zero when it gave none.
type RetryableError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable wraps err as retryable.
func Retryable(err error, retryAfter time.Duration) error {
	return &RetryableError{Err: err, RetryAfter: retryAfter}
}

// IsRetryable reports whether err is worth retrying and the delay the channel asked for.
// Errors not marked retryable are permanent (a 4xx that retrying cannot fix).
func IsRetryable(err error) (bool, time.Duration) {
	var r *RetryableError
	if errors.As(err, &r) {
		return true, r.RetryAfter
	}
	return false, 0
}
