// Package channels builds a notify.Notifier from one entry of the receiver's `channels:`
// list. Each entry has a name (used by clients and the team to refer to it) and exactly one
// channel kind:
//
//	channels:
//	  - name: team-slack
//	    slack: {webhook_url_file: /etc/siteward/slack-url}
package channels

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/email"
	"github.com/siteward/siteward/receiver/notify/internal/chanconfig"
	logchannel "github.com/siteward/siteward/receiver/notify/log"
	"github.com/siteward/siteward/receiver/notify/slack"
	"github.com/siteward/siteward/receiver/notify/teams"
	"github.com/siteward/siteward/receiver/notify/webhook"
)

// Kind names, as used for the `channel` label of siteward_notices_total.
const (
	KindSlack   = "slack"
	KindTeams   = "teams"
	KindEmail   = "email"
	KindWebhook = "webhook"
	KindLog     = "log"
)

// Config is one named channel: a name and exactly one kind.
type Config struct {
	Name    string             `yaml:"name"`
	Slack   *slack.Config      `yaml:"slack,omitempty"`
	Teams   *teams.Config      `yaml:"teams,omitempty"`
	Email   *email.Config      `yaml:"email,omitempty"`
	Webhook *webhook.Config    `yaml:"webhook,omitempty"`
	Log     *logchannel.Config `yaml:"log,omitempty"`
}

// Default is the channel a receiver without configured channels uses: the log channel.
func Default() Config {
	return Config{Name: "log", Log: &logchannel.Config{Level: "info"}}
}

// UnmarshalYAML decodes strictly and validates: a name and exactly one kind. Errors say
// which channel (by name or line) and which key is wrong.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	p := plain{}
	where := fmt.Sprintf("channel at line %d", node.Line)
	if name := nameOf(node); name != "" {
		where = fmt.Sprintf("channel %q", name)
	}
	if err := chanconfig.Decode(node, &p); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	*c = Config(p)
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// nameOf returns the value of the `name` key of a mapping node, to name the channel in an
// error even when the rest of it does not decode.
func nameOf(node *yaml.Node) string {
	if node.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == "name" && node.Content[i+1].Kind == yaml.ScalarNode {
			return node.Content[i+1].Value
		}
	}
	return ""
}

// Validate checks that the channel has a name and exactly one kind.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	kinds := c.kinds()
	switch len(kinds) {
	case 0:
		return fmt.Errorf("one of %s is required", strings.Join(allKinds, ", "))
	case 1:
		return nil
	default:
		return fmt.Errorf("exactly one of %s may be set, got %s", strings.Join(allKinds, ", "), strings.Join(kinds, " and "))
	}
}

var allKinds = []string{KindSlack, KindTeams, KindEmail, KindWebhook, KindLog}

func (c *Config) kinds() []string {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{KindSlack, c.Slack != nil},
		{KindTeams, c.Teams != nil},
		{KindEmail, c.Email != nil},
		{KindWebhook, c.Webhook != nil},
		{KindLog, c.Log != nil},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	return kinds
}

// Kind returns the channel's kind (slack, teams, email, webhook or log), or "" when none is
// set. The receiver uses it as the `channel` label of its notice metrics.
func (c *Config) Kind() string {
	if kinds := c.kinds(); len(kinds) == 1 {
		return kinds[0]
	}
	return ""
}

// SetDirectory resolves the channel's relative file paths (secret files, CA files) against
// dir. The receiver calls it with the config file's directory after decoding, as
// Prometheus and Alertmanager do.
func (c *Config) SetDirectory(dir string) {
	switch {
	case c.Slack != nil:
		c.Slack.SetDirectory(dir)
	case c.Teams != nil:
		c.Teams.SetDirectory(dir)
	case c.Email != nil:
		c.Email.SetDirectory(dir)
	case c.Webhook != nil:
		c.Webhook.SetDirectory(dir)
	}
}

// New builds the notifier of cfg. logger is passed to the channel (the log channel writes to
// it; the others log delivery details at debug level).
func New(cfg Config, logger *slog.Logger) (notify.Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("channel %q: %w", cfg.Name, err)
	}
	logger = logger.With("channel", cfg.Name, "kind", cfg.Kind())
	var (
		n   notify.Notifier
		err error
	)
	switch {
	case cfg.Slack != nil:
		n, err = slack.New(cfg.Slack, logger)
	case cfg.Teams != nil:
		n, err = teams.New(cfg.Teams, logger)
	case cfg.Email != nil:
		n, err = email.New(cfg.Email, logger)
	case cfg.Webhook != nil:
		n, err = webhook.New(cfg.Webhook, logger)
	case cfg.Log != nil:
		n, err = logchannel.New(cfg.Log, logger)
	}
	if err != nil {
		return nil, fmt.Errorf("channel %q: %w", cfg.Name, err)
	}
	return n, nil
}
