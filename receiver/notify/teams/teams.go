// Package teams is the Microsoft Teams channel: an Adaptive Card posted to a Teams workflow
// webhook (Power Automate's "When a Teams webhook request is received" trigger), wrapped in
// the `attachments` envelope those workflows expect.
package teams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/chanconfig"
	"github.com/siteward/siteward/receiver/notify/internal/httpnotify"
	"github.com/siteward/siteward/receiver/notify/internal/render"
)

// Config configures the Teams channel.
type Config struct {
	// WebhookURL is the workflow's HTTP POST URL (a secret: its signature authorises posting).
	WebhookURL     commoncfg.Secret `yaml:"webhook_url,omitempty"`
	WebhookURLFile string           `yaml:"webhook_url_file,omitempty"`
	// Timeout bounds one delivery attempt (default 10s).
	Timeout    time.Duration               `yaml:"timeout,omitempty"`
	HTTPConfig *commoncfg.HTTPClientConfig `yaml:"http_config,omitempty"`
}

// UnmarshalYAML decodes strictly and validates.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	return chanconfig.Unmarshal("teams", node, (*plain)(c), c.Validate)
}

// Validate checks the configuration. Errors name the key.
func (c *Config) Validate() error {
	if err := chanconfig.CheckURLSecret("webhook_url", c.WebhookURL, c.WebhookURLFile); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return errors.New("timeout: must not be negative")
	}
	return nil
}

// SetDirectory resolves relative file paths against dir (the config file's directory).
func (c *Config) SetDirectory(dir string) {
	c.WebhookURLFile = commoncfg.JoinDir(dir, c.WebhookURLFile)
	if c.HTTPConfig != nil {
		c.HTTPConfig.SetDirectory(dir)
	}
}

// Notifier posts Adaptive Cards to a Teams workflow webhook.
type Notifier struct {
	cfg      Config
	endpoint *httpnotify.Endpoint
	logger   *slog.Logger
}

// New returns a Teams notifier.
func New(cfg *Config, logger *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	endpoint, err := httpnotify.NewEndpoint("teams", "webhook_url", cfg.WebhookURL, cfg.WebhookURLFile, cfg.HTTPConfig, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: *cfg, endpoint: endpoint, logger: logger}, nil
}

// Payload is the envelope a Teams workflow webhook accepts.
type Payload struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment carries one Adaptive Card.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card (schema 1.4, the version Teams renders).
type Card struct {
	Schema  string           `json:"$schema"`
	Type    string           `json:"type"`
	Version string           `json:"version"`
	Body    []map[string]any `json:"body"`
	Actions []map[string]any `json:"actions,omitempty"`
	MSTeams map[string]any   `json:"msteams"`
}

// Color returns the Adaptive Card text colour of an event's title.
func Color(e notify.Event) string {
	switch render.ToneOf(e) {
	case render.ToneResolved:
		return "Good"
	case render.ToneProgress:
		return "Warning"
	default:
		return "Attention"
	}
}

// BuildPayload renders m as an Adaptive Card.
func BuildPayload(m *notify.Message) Payload {
	body := []map[string]any{
		{"type": "TextBlock", "text": m.Subject, "weight": "Bolder", "size": "Medium", "color": Color(m.Event), "wrap": true},
		{"type": "TextBlock", "text": m.Text, "wrap": true},
	}
	var facts []map[string]string
	for _, f := range render.Facts(m) {
		facts = append(facts, map[string]string{"title": f.Title, "value": f.Value})
	}
	if len(facts) > 0 {
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	card := Card{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body:    body,
		MSTeams: map[string]any{"width": "Full"},
	}
	if m.Incident.URL != "" {
		card.Actions = []map[string]any{{"type": "Action.OpenUrl", "title": "Open incident", "url": m.Incident.URL}}
	}
	return Payload{
		Type: "message",
		Attachments: []Attachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     card,
		}},
	}
}

// Notify posts m. The webhook URL is read on every call, so a rotated URL file needs no
// reload.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if err := n.endpoint.PostJSON(ctx, BuildPayload(m), nil); err != nil {
		return err
	}
	n.logger.Debug("notice delivered", "id", m.ID, "event", string(m.Event))
	return nil
}
