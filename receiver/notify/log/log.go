// Package log is the log channel: it writes every message to the receiver's logger. It is
// the default channel when nothing else is configured, so a receiver without a config file
// still shows every notice it would have sent.
package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/chanconfig"
)

// Config configures the log channel.
type Config struct {
	// Level is the log level of a notice: debug, info (default), warn or error.
	Level string `yaml:"level,omitempty"`
}

// UnmarshalYAML decodes strictly, sets defaults and validates.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	return chanconfig.Unmarshal("log", node, (*plain)(c), c.Validate)
}

// Validate sets defaults and checks the values.
func (c *Config) Validate() error {
	if c.Level == "" {
		c.Level = "info"
	}
	if _, err := parseLevel(c.Level); err != nil {
		return err
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return l, l.UnmarshalText([]byte(s))
	}
	return l, errors.New(`level: must be one of debug, info, warn, error, got "` + s + `"`)
}

// Notifier logs messages.
type Notifier struct {
	logger *slog.Logger
	level  slog.Level
}

// New returns a log notifier writing to logger.
func New(cfg *Config, logger *slog.Logger) (*Notifier, error) {
	c := *cfg
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	level, _ := parseLevel(c.Level)
	return &Notifier{logger: logger, level: level}, nil
}

// Notify logs m; it never fails.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	n.logger.Log(ctx, n.level, "notice",
		"id", m.ID,
		"event", string(m.Event),
		"audience", string(m.Audience),
		"incident", m.Incident.ID,
		"client", m.Incident.Client,
		"drill", m.Incident.Drill,
		"subject", m.Subject,
		"text", m.Text,
	)
	return nil
}
