package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/alertmanager/template"

	"github.com/siteward/siteward/receiver/store"
)

// MaxWebhookBytes bounds a webhook body. Alertmanager's max_alerts keeps real ones far below.
const MaxWebhookBytes = 4 << 20

// WebhookMessage is Alertmanager's webhook payload, version 4 (the same fields as
// alertmanager/notify/webhook.Message). Unknown fields are ignored, so newer Alertmanagers
// (notification_reason, routeLabels, ...) are accepted.
type WebhookMessage struct {
	template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// DecodeWebhook decodes and validates one webhook body; the error says what is wrong.
func DecodeWebhook(body []byte) (*WebhookMessage, error) {
	var m WebhookMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("malformed JSON: data after the top-level object")
	}
	if m.Version != "4" {
		return nil, fmt.Errorf("version: want \"4\" (Alertmanager webhook payload version 4), got %q", m.Version)
	}
	if m.Status != "firing" && m.Status != "resolved" {
		return nil, fmt.Errorf("status: want firing or resolved, got %q", m.Status)
	}
	if len(m.Alerts) == 0 {
		return nil, errors.New("alerts: at least one alert required")
	}
	for i, a := range m.Alerts {
		switch {
		case a.Status != "firing" && a.Status != "resolved":
			return nil, fmt.Errorf("alerts[%d].status: want firing or resolved, got %q", i, a.Status)
		case a.Labels["alertname"] == "":
			return nil, fmt.Errorf("alerts[%d].labels.alertname: required", i)
		case a.Fingerprint == "":
			return nil, fmt.Errorf("alerts[%d].fingerprint: required", i)
		case a.StartsAt.IsZero():
			return nil, fmt.Errorf("alerts[%d].startsAt: required", i)
		}
	}
	return &m, nil
}

// StoreAlerts converts the payload's alerts for the lifecycle.
func (m *WebhookMessage) StoreAlerts() []store.Alert {
	out := make([]store.Alert, 0, len(m.Alerts))
	for _, a := range m.Alerts {
		sa := store.Alert{Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt.UTC()}
		if a.Status == "resolved" {
			sa.EndsAt = a.EndsAt.UTC()
		}
		out = append(out, sa)
	}
	return out
}

// ValidationError is a 400.
type validationError struct{ err error }

func (e validationError) Error() string { return e.err.Error() }

func badRequest(format string, args ...any) error {
	return validationError{fmt.Errorf(format, args...)}
}

func trimActor(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "api"
	}
	return s
}
