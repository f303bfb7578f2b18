// Package slack is the Slack channel: a message posted to an incoming webhook, as text plus
// one attachment coloured by event. Mattermost's incoming webhooks accept the same payload.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/chanconfig"
	"github.com/siteward/siteward/receiver/notify/internal/httpnotify"
	"github.com/siteward/siteward/receiver/notify/internal/render"
)

// Config configures the Slack channel.
type Config struct {
	// WebhookURL is the incoming webhook URL (a secret: it authorises posting).
	WebhookURL     commoncfg.Secret `yaml:"webhook_url,omitempty"`
	WebhookURLFile string           `yaml:"webhook_url_file,omitempty"`
	// Channel, Username, IconEmoji and IconURL override the webhook's defaults where the
	// workspace allows it (legacy webhooks and Mattermost do).
	Channel   string `yaml:"channel,omitempty"`
	Username  string `yaml:"username,omitempty"`
	IconEmoji string `yaml:"icon_emoji,omitempty"`
	IconURL   string `yaml:"icon_url,omitempty"`
	// Timeout bounds one delivery attempt (default 10s).
	Timeout    time.Duration               `yaml:"timeout,omitempty"`
	HTTPConfig *commoncfg.HTTPClientConfig `yaml:"http_config,omitempty"`
}

// UnmarshalYAML decodes strictly, sets defaults and validates.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	return chanconfig.Unmarshal("slack", node, (*plain)(c), c.Validate)
}

// Validate checks the configuration. Errors name the key.
func (c *Config) Validate() error {
	if err := chanconfig.CheckURLSecret("webhook_url", c.WebhookURL, c.WebhookURLFile); err != nil {
		return err
	}
	if c.IconURL != "" {
		if err := chanconfig.CheckURL(c.IconURL); err != nil {
			return fmt.Errorf("icon_url: %w", err)
		}
	}
	if c.IconURL != "" && c.IconEmoji != "" {
		return errors.New("at most one of icon_emoji and icon_url may be set")
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

// Notifier posts messages to a Slack incoming webhook.
type Notifier struct {
	cfg      Config
	endpoint *httpnotify.Endpoint
	logger   *slog.Logger
}

// New returns a Slack notifier.
func New(cfg *Config, logger *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	endpoint, err := httpnotify.NewEndpoint("slack", "webhook_url", cfg.WebhookURL, cfg.WebhookURLFile, cfg.HTTPConfig, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: *cfg, endpoint: endpoint, logger: logger}, nil
}

// Payload is the JSON body posted to the webhook.
type Payload struct {
	Text        string       `json:"text"`
	Channel     string       `json:"channel,omitempty"`
	Username    string       `json:"username,omitempty"`
	IconEmoji   string       `json:"icon_emoji,omitempty"`
	IconURL     string       `json:"icon_url,omitempty"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment is a Slack (and Mattermost) message attachment.
type Attachment struct {
	Color    string   `json:"color"`
	Fallback string   `json:"fallback"`
	Text     string   `json:"text"`
	Fields   []Field  `json:"fields,omitempty"`
	Footer   string   `json:"footer"`
	TS       int64    `json:"ts,omitempty"`
	MrkdwnIn []string `json:"mrkdwn_in"`
}

// Field is one short fact shown in the attachment.
type Field struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// Colours of the attachment's side bar.
const (
	ColorProblem  = "#D32F2F" // something is broken or needs someone
	ColorProgress = "#F2A900" // still open: updates, reminders
	ColorResolved = "#2EB67D"
)

// Color returns the side-bar colour of an event.
func Color(e notify.Event) string {
	switch render.ToneOf(e) {
	case render.ToneResolved:
		return ColorResolved
	case render.ToneProgress:
		return ColorProgress
	default:
		return ColorProblem
	}
}

// BuildPayload renders m as the webhook payload.
func (n *Notifier) BuildPayload(m *notify.Message) Payload {
	title := "*" + escape(m.Subject) + "*"
	if m.Incident.URL != "" {
		title = "*<" + m.Incident.URL + "|" + escape(m.Subject) + ">*"
	}
	footer := "siteward · " + string(m.Event)
	if m.Incident.Drill {
		footer += " · drill"
	}
	var ts int64
	if !m.CreatedAt.IsZero() {
		ts = m.CreatedAt.Unix()
	}
	return Payload{
		Text:      title,
		Channel:   n.cfg.Channel,
		Username:  n.cfg.Username,
		IconEmoji: n.cfg.IconEmoji,
		IconURL:   n.cfg.IconURL,
		Attachments: []Attachment{{
			Color:    Color(m.Event),
			Fallback: m.Subject,
			Text:     escape(m.Text),
			Fields:   fields(m),
			Footer:   footer,
			TS:       ts,
			MrkdwnIn: []string{"text"},
		}},
	}
}

func fields(m *notify.Message) []Field {
	var fs []Field
	for _, f := range render.Facts(m) {
		fs = append(fs, Field{Title: f.Title, Value: escape(f.Value), Short: true})
	}
	return fs
}

// escape escapes the three characters Slack's mrkdwn treats as control characters.
var escape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// Notify posts m. The webhook URL is read on every call, so a rotated URL file needs no
// reload.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if err := n.endpoint.PostJSON(ctx, n.BuildPayload(m), nil); err != nil {
		return err
	}
	n.logger.Debug("notice delivered", "id", m.ID, "event", string(m.Event))
	return nil
}
