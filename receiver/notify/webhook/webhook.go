// Package webhook is the generic JSON webhook channel. Every message is POSTed as JSON with
//
//	X-Siteward-Event:     the lifecycle event (incident.opened, notice.update, ...)
//	X-Siteward-Delivery:  the message ID, stable across retries (an idempotency key)
//	X-Siteward-Signature: sha256=<hex HMAC-SHA256 of the body with the secret> (with a secret)
//
// The body's `event` is the lifecycle event; `alias` names the same message the way
// monitoring services do: monitor.down when an incident is announced (incident.opened to the
// team, notice.initial to a client) and monitor.recovery when it is resolved
// (incident.resolved, notice.resolved).
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/chanconfig"
	"github.com/siteward/siteward/receiver/notify/internal/httpnotify"
)

// Header names.
const (
	HeaderEvent     = "X-Siteward-Event"
	HeaderDelivery  = "X-Siteward-Delivery"
	HeaderSignature = "X-Siteward-Signature"
)

// Aliases: the names monitoring services give to "down" and "up" notifications.
const (
	AliasDown     = "monitor.down"
	AliasRecovery = "monitor.recovery"
)

// Version is the payload version; it changes only when a field changes meaning or goes away.
const Version = "1"

var lifecycleEvents = []notify.Event{
	notify.EventIncidentOpened, notify.EventIncidentEscalated, notify.EventIncidentReopened,
	notify.EventIncidentResolved, notify.EventClientInitial, notify.EventClientUpdate,
	notify.EventClientResolved, notify.EventPostmortemDue, notify.EventWatchdogMissing,
}

// Alias returns the monitoring-service name of e, or "" when it has none.
func Alias(e notify.Event) string {
	switch e {
	case notify.EventIncidentOpened, notify.EventClientInitial:
		return AliasDown
	case notify.EventIncidentResolved, notify.EventClientResolved:
		return AliasRecovery
	}
	return ""
}

// Config configures the webhook channel.
type Config struct {
	// URL receives the POSTs. A secret, as such URLs often carry a token.
	URL     commoncfg.Secret `yaml:"url,omitempty"`
	URLFile string           `yaml:"url_file,omitempty"`
	// Secret signs each body (X-Siteward-Signature); without one nothing is signed.
	Secret     commoncfg.Secret `yaml:"secret,omitempty"`
	SecretFile string           `yaml:"secret_file,omitempty"`
	// Headers are added to every request (values are secrets: they often hold API keys).
	Headers map[string]commoncfg.Secret `yaml:"headers,omitempty"`
	// Events, when set, limits what is sent: lifecycle events and/or the aliases
	// monitor.down and monitor.recovery. Other messages are skipped (and count as delivered).
	Events []string `yaml:"events,omitempty"`
	// Timeout bounds one delivery attempt (default 10s).
	Timeout    time.Duration               `yaml:"timeout,omitempty"`
	HTTPConfig *commoncfg.HTTPClientConfig `yaml:"http_config,omitempty"`
}

// UnmarshalYAML decodes strictly and validates.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	return chanconfig.Unmarshal("webhook", node, (*plain)(c), c.Validate)
}

// Validate checks the configuration. Errors name the key.
func (c *Config) Validate() error {
	if err := chanconfig.CheckURLSecret("url", c.URL, c.URLFile); err != nil {
		return err
	}
	if err := chanconfig.CheckSecret("secret", c.Secret, c.SecretFile, false); err != nil {
		return err
	}
	for name := range c.Headers {
		if err := checkHeaderName(name); err != nil {
			return fmt.Errorf("headers: %q: %w", name, err)
		}
	}
	for i, e := range c.Events {
		if e != AliasDown && e != AliasRecovery && !slices.Contains(lifecycleEvents, notify.Event(e)) {
			return fmt.Errorf("events[%d]: unknown event %q (known: %s, %s, %s)", i, e, AliasDown, AliasRecovery, joinEvents())
		}
	}
	if c.Timeout < 0 {
		return errors.New("timeout: must not be negative")
	}
	return nil
}

func joinEvents() string {
	s := make([]string, len(lifecycleEvents))
	for i, e := range lifecycleEvents {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func checkHeaderName(name string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for _, r := range name {
		// RFC 9110 token characters.
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return errors.New("not a valid header name")
		}
	}
	canonical := http.CanonicalHeaderKey(name)
	if strings.HasPrefix(canonical, "X-Siteward-") || slices.Contains([]string{"Content-Type", "Content-Length", "Host", "User-Agent"}, canonical) {
		return errors.New("set by siteward, cannot be overridden")
	}
	return nil
}

// SetDirectory resolves relative file paths against dir (the config file's directory).
func (c *Config) SetDirectory(dir string) {
	c.URLFile = commoncfg.JoinDir(dir, c.URLFile)
	c.SecretFile = commoncfg.JoinDir(dir, c.SecretFile)
	if c.HTTPConfig != nil {
		c.HTTPConfig.SetDirectory(dir)
	}
}

// Payload is the JSON body.
type Payload struct {
	Version   string          `json:"version"`
	ID        string          `json:"id"`
	Event     notify.Event    `json:"event"`
	Alias     string          `json:"alias,omitempty"`
	Audience  notify.Audience `json:"audience"`
	Subject   string          `json:"subject"`
	Text      string          `json:"text"`
	CreatedAt time.Time       `json:"created_at"`
	Incident  notify.Incident `json:"incident"`
}

// BuildPayload renders m as the webhook body.
func BuildPayload(m *notify.Message) Payload {
	inc := m.Incident
	if inc.Sites == nil {
		inc.Sites = []string{} // an empty list, not null, for consumers in strict languages
	}
	return Payload{
		Version:   Version,
		ID:        m.ID,
		Event:     m.Event,
		Alias:     Alias(m.Event),
		Audience:  m.Audience,
		Subject:   m.Subject,
		Text:      m.Text,
		CreatedAt: m.CreatedAt.UTC(),
		Incident:  inc,
	}
}

// Sign returns the X-Siteward-Signature value of body: "sha256=" and the hex HMAC-SHA256.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature (an X-Siteward-Signature value) signs body with secret,
// comparing in constant time. Receivers of the webhook written in Go can use it as is.
func Verify(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// Notifier posts messages to a webhook.
type Notifier struct {
	cfg      Config
	endpoint *httpnotify.Endpoint
	logger   *slog.Logger
}

// New returns a webhook notifier.
func New(cfg *Config, logger *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if cfg.SecretFile != "" {
		if _, err := chanconfig.ReadSecret("", cfg.SecretFile); err != nil {
			return nil, fmt.Errorf("webhook: secret_file: %w", err)
		}
	}
	endpoint, err := httpnotify.NewEndpoint("webhook", "url", cfg.URL, cfg.URLFile, cfg.HTTPConfig, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: *cfg, endpoint: endpoint, logger: logger}, nil
}

func (n *Notifier) wants(m *notify.Message) bool {
	if len(n.cfg.Events) == 0 {
		return true
	}
	alias := Alias(m.Event)
	return slices.Contains(n.cfg.Events, string(m.Event)) || alias != "" && slices.Contains(n.cfg.Events, alias)
}

// Notify posts m, signed when a secret is configured. URL and secret are read on every
// call, so rotated files need no reload.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if !n.wants(m) {
		n.logger.Debug("notice skipped: event not in events", "id", m.ID, "event", string(m.Event))
		return nil
	}
	err := n.endpoint.PostJSON(ctx, BuildPayload(m), func(body []byte) (http.Header, error) {
		header := http.Header{}
		for k, v := range n.cfg.Headers {
			header.Set(k, string(v))
		}
		header.Set(HeaderEvent, string(m.Event))
		header.Set(HeaderDelivery, m.ID)
		if n.cfg.Secret != "" || n.cfg.SecretFile != "" {
			secret, err := chanconfig.ReadSecret(n.cfg.Secret, n.cfg.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("secret_file: %w", err)
			}
			header.Set(HeaderSignature, Sign(secret, body))
		}
		return header, nil
	})
	if err != nil {
		return err
	}
	n.logger.Debug("notice delivered", "id", m.ID, "event", string(m.Event))
	return nil
}
