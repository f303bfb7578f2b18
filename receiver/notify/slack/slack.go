// Package slack is the slack channel (work in progress: configuration accepted, delivery not yet).
package slack

import (
	"context"
	"errors"
	"log/slog"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/chanconfig"
)

// Config configures the slack channel.
type Config struct{}

// UnmarshalYAML decodes strictly.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	p := plain{}
	if err := chanconfig.Decode(node, &p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
}

// Notifier delivers messages on slack.
type Notifier struct{}

// New returns a slack notifier.
func New(cfg *Config, logger *slog.Logger) (*Notifier, error) {
	return nil, errors.New("slack: not implemented yet")
}

// Notify delivers m.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	return errors.New("slack: not implemented yet")
}
