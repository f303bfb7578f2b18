// Package config is the receiver's configuration file. Every key is optional: with no file at
// all the receiver logs every notice (the log channel), uses the default runbooks and
// templates and a one-person rotation. Decoding is strict (unknown keys are errors naming the
// key); validation errors name the key path, e.g. `clients[1].channels: unknown channel "x"`.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify/channels"
)

// MaxFirstNoticeDelay is the playbook's limit: a client hears from us within 15 minutes.
const MaxFirstNoticeDelay = 15 * time.Minute

// Config is the whole file.
type Config struct {
	// IncidentKeyLabels are the alert labels that make one incident (default client, site).
	IncidentKeyLabels []string           `yaml:"incident_key_labels,omitempty"`
	Channels          []channels.Config  `yaml:"channels,omitempty"`
	Team              Team               `yaml:"team,omitempty"`
	Clients           []Client           `yaml:"clients,omitempty"`
	OnCall            OnCall             `yaml:"oncall,omitempty"`
	Timers            Timers             `yaml:"timers,omitempty"`
	Templates         Templates          `yaml:"templates,omitempty"`
	Runbooks          map[string]Runbook `yaml:"runbooks,omitempty"`
	API               API                `yaml:"api,omitempty"`
	Outbox            Outbox             `yaml:"outbox,omitempty"`
	Maintenance       []Maintenance      `yaml:"maintenance,omitempty"`
}

// Team is the responders' side.
type Team struct {
	// Channels get every team notice (default: the log channel).
	Channels []string `yaml:"channels,omitempty"`
}

// Contact is a person at a client.
type Contact struct {
	Name  string `yaml:"name,omitempty"`
	Email string `yaml:"email,omitempty"`
	Phone string `yaml:"phone,omitempty"`
}

// Client is one client; Name matches the `client` alert label.
type Client struct {
	Name             string    `yaml:"name"`
	Contacts         []Contact `yaml:"contacts,omitempty"`
	Channels         []string  `yaml:"channels,omitempty"`
	PublicStatusPage bool      `yaml:"public_status_page,omitempty"`
	Templates        Templates `yaml:"templates,omitempty"`
	// Sites are listed on the status page even before they had an incident.
	Sites []string `yaml:"sites,omitempty"`
}

// OnCall holds the rotations and the escalation policy.
type OnCall struct {
	Rotations []Rotation `yaml:"rotations,omitempty"`
	// Escalation levels, first is level 0: the owner comes from its rotation; when the
	// incident is not acknowledged within Timeout, the next level's on-call person is paged.
	Escalation []EscalationLevel `yaml:"escalation,omitempty"`
}

// Rotation hands over every Period at Handoff (HH:MM in TimeZone), members in turn.
type Rotation struct {
	Name      string        `yaml:"name"`
	Members   []string      `yaml:"members"`
	Start     string        `yaml:"start,omitempty"`   // date YYYY-MM-DD the first member starts (default 2024-01-01)
	Handoff   string        `yaml:"handoff,omitempty"` // HH:MM, default 09:00
	TimeZone  string        `yaml:"time_zone,omitempty"`
	Period    time.Duration `yaml:"period,omitempty"` // default 168h (weekly)
	Overrides []Override    `yaml:"overrides,omitempty"`

	Location *time.Location `yaml:"-"`
	StartAt  time.Time      `yaml:"-"` // first handoff, in Location
}

// Override puts Member on call between Start and End (RFC 3339).
type Override struct {
	Member string    `yaml:"member"`
	Start  time.Time `yaml:"start"`
	End    time.Time `yaml:"end"`
}

// EscalationLevel pages a rotation and waits Timeout for an acknowledgement.
type EscalationLevel struct {
	Rotation string        `yaml:"rotation"`
	Timeout  time.Duration `yaml:"timeout,omitempty"` // default timers.escalation_timeout
}

// Timers of the lifecycle.
type Timers struct {
	FirstNoticeDelay   time.Duration `yaml:"first_notice_delay,omitempty"`   // default 5m, at most 15m
	UpdateInterval     time.Duration `yaml:"update_interval,omitempty"`      // default 30m
	ResolveQuietWindow time.Duration `yaml:"resolve_quiet_window,omitempty"` // default 10m
	EscalationTimeout  time.Duration `yaml:"escalation_timeout,omitempty"`   // default 15m
	DeployWindow       time.Duration `yaml:"deploy_window,omitempty"`        // default 2h
	WatchdogTimeout    time.Duration `yaml:"watchdog_timeout,omitempty"`     // default 10m
}

// API configures the HTTP API's authentication: when any token is set, every /api/v1 call
// needs `Authorization: Bearer <token>`.
type API struct {
	Tokens     []commoncfg.Secret `yaml:"tokens,omitempty"`
	TokenFiles []string           `yaml:"token_files,omitempty"`
}

// Outbox tunes delivery.
type Outbox struct {
	Lease       time.Duration `yaml:"lease,omitempty"`        // default 1m; a crashed sender's notices are retried after it
	MaxAttempts int           `yaml:"max_attempts,omitempty"` // default 10
	MinBackoff  time.Duration `yaml:"min_backoff,omitempty"`  // default 5s
	MaxBackoff  time.Duration `yaml:"max_backoff,omitempty"`  // default 10m
	Interval    time.Duration `yaml:"interval,omitempty"`     // poll interval, default 1s
}

// Load reads and validates a file; path "" gives the defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		return Parse(nil, "")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates b; relative *_file paths are resolved against dir.
func Parse(b []byte, dir string) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := c.validate(dir); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) validate(dir string) error {
	if len(c.IncidentKeyLabels) == 0 {
		c.IncidentKeyLabels = []string{"client", "site"}
	}
	for i, l := range c.IncidentKeyLabels {
		if l == "" {
			return fmt.Errorf("incident_key_labels[%d]: empty label name", i)
		}
	}
	if !slices.Contains(c.IncidentKeyLabels, "client") {
		return errors.New("incident_key_labels: must include client")
	}

	if len(c.Channels) == 0 {
		c.Channels = []channels.Config{channels.Default()}
	}
	known := map[string]bool{}
	for i, ch := range c.Channels {
		if dir != "" {
			// Relative *_file paths are relative to the config file, as in Alertmanager.
			c.Channels[i].SetDirectory(dir)
		}
		if known[ch.Name] {
			return fmt.Errorf("channels[%d]: duplicate name %q", i, ch.Name)
		}
		known[ch.Name] = true
	}
	checkChannels := func(key string, names []string) error {
		for _, n := range names {
			if !known[n] {
				return fmt.Errorf("%s: unknown channel %q (define it under channels)", key, n)
			}
		}
		return nil
	}
	if len(c.Team.Channels) == 0 {
		c.Team.Channels = []string{c.Channels[0].Name}
	}
	if err := checkChannels("team.channels", c.Team.Channels); err != nil {
		return err
	}

	if err := c.Templates.validate("templates", DefaultTemplates()); err != nil {
		return err
	}
	clients := map[string]bool{}
	for i := range c.Clients {
		cl := &c.Clients[i]
		key := fmt.Sprintf("clients[%d]", i)
		if cl.Name == "" {
			return fmt.Errorf("%s.name: required", key)
		}
		if clients[cl.Name] {
			return fmt.Errorf("%s.name: duplicate client %q", key, cl.Name)
		}
		clients[cl.Name] = true
		if err := checkChannels(key+".channels", cl.Channels); err != nil {
			return err
		}
		if err := cl.Templates.validate(key+".templates", c.Templates); err != nil {
			return err
		}
	}

	if err := c.Timers.validate(); err != nil {
		return err
	}
	if err := c.OnCall.validate(c.Timers.EscalationTimeout); err != nil {
		return err
	}
	rb, err := validateRunbooks(c.Runbooks)
	if err != nil {
		return err
	}
	c.Runbooks = rb
	for i, f := range c.API.TokenFiles {
		if f == "" {
			return fmt.Errorf("api.token_files[%d]: empty path", i)
		}
		if !filepath.IsAbs(f) && dir != "" {
			c.API.TokenFiles[i] = filepath.Join(dir, f)
		}
	}
	for i, tok := range c.API.Tokens {
		if strings.TrimSpace(string(tok)) == "" {
			return fmt.Errorf("api.tokens[%d]: empty token", i)
		}
	}
	if err := c.validateMaintenance(); err != nil {
		return err
	}
	return c.Outbox.validate()
}

func (t *Timers) validate() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.FirstNoticeDelay, 5*time.Minute)
	def(&t.UpdateInterval, 30*time.Minute)
	def(&t.ResolveQuietWindow, 10*time.Minute)
	def(&t.EscalationTimeout, 15*time.Minute)
	def(&t.DeployWindow, 2*time.Hour)
	def(&t.WatchdogTimeout, 10*time.Minute)
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"first_notice_delay", t.FirstNoticeDelay}, {"update_interval", t.UpdateInterval},
		{"resolve_quiet_window", t.ResolveQuietWindow}, {"escalation_timeout", t.EscalationTimeout},
		{"deploy_window", t.DeployWindow}, {"watchdog_timeout", t.WatchdogTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("timers.%s: must be positive, got %s", d.key, d.v)
		}
	}
	if t.FirstNoticeDelay > MaxFirstNoticeDelay {
		return fmt.Errorf("timers.first_notice_delay: %s is more than the playbook's %s", t.FirstNoticeDelay, MaxFirstNoticeDelay)
	}
	return nil
}

func (o *Outbox) validate() error {
	if o.Lease == 0 {
		o.Lease = time.Minute
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 10
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 5 * time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	switch {
	case o.Lease < time.Second:
		return fmt.Errorf("outbox.lease: at least 1s, got %s", o.Lease)
	case o.MaxAttempts < 1:
		return fmt.Errorf("outbox.max_attempts: at least 1, got %d", o.MaxAttempts)
	case o.MinBackoff < 0 || o.MaxBackoff < o.MinBackoff:
		return fmt.Errorf("outbox.max_backoff: must be >= min_backoff (%s), got %s", o.MinBackoff, o.MaxBackoff)
	case o.Interval < 0:
		return fmt.Errorf("outbox.interval: must be positive, got %s", o.Interval)
	}
	return nil
}

func (o *OnCall) validate(defaultTimeout time.Duration) error {
	if len(o.Rotations) == 0 {
		o.Rotations = []Rotation{{Name: "default", Members: []string{"on-call"}}}
	}
	names := map[string]bool{}
	for i := range o.Rotations {
		r := &o.Rotations[i]
		key := fmt.Sprintf("oncall.rotations[%d]", i)
		if r.Name == "" {
			return fmt.Errorf("%s.name: required", key)
		}
		if names[r.Name] {
			return fmt.Errorf("%s.name: duplicate rotation %q", key, r.Name)
		}
		names[r.Name] = true
		if len(r.Members) == 0 {
			return fmt.Errorf("%s.members: at least one member required", key)
		}
		loc, err := time.LoadLocation(r.TimeZone)
		if err != nil {
			return fmt.Errorf("%s.time_zone: %w", key, err)
		}
		r.Location = loc
		if r.Handoff == "" {
			r.Handoff = "09:00"
		}
		hm, err := time.Parse("15:04", r.Handoff)
		if err != nil {
			return fmt.Errorf("%s.handoff: want HH:MM, got %q", key, r.Handoff)
		}
		if r.Start == "" {
			r.Start = "2024-01-01"
		}
		day, err := time.ParseInLocation("2006-01-02", r.Start, loc)
		if err != nil {
			return fmt.Errorf("%s.start: want YYYY-MM-DD, got %q", key, r.Start)
		}
		r.StartAt = time.Date(day.Year(), day.Month(), day.Day(), hm.Hour(), hm.Minute(), 0, 0, loc)
		if r.Period == 0 {
			r.Period = 7 * 24 * time.Hour
		}
		if r.Period < time.Hour {
			return fmt.Errorf("%s.period: at least 1h, got %s", key, r.Period)
		}
		for j, ov := range r.Overrides {
			okey := fmt.Sprintf("%s.overrides[%d]", key, j)
			if ov.Member == "" {
				return fmt.Errorf("%s.member: required", okey)
			}
			if ov.Start.IsZero() || ov.End.IsZero() || !ov.End.After(ov.Start) {
				return fmt.Errorf("%s: start and end required, end after start", okey)
			}
		}
	}
	if len(o.Escalation) == 0 {
		o.Escalation = []EscalationLevel{{Rotation: o.Rotations[0].Name}}
	}
	for i := range o.Escalation {
		l := &o.Escalation[i]
		key := fmt.Sprintf("oncall.escalation[%d]", i)
		if !names[l.Rotation] {
			return fmt.Errorf("%s.rotation: unknown rotation %q", key, l.Rotation)
		}
		if l.Timeout == 0 {
			l.Timeout = defaultTimeout
		}
		if l.Timeout < 0 {
			return fmt.Errorf("%s.timeout: must be positive, got %s", key, l.Timeout)
		}
	}
	return nil
}

// Rotation returns the named rotation.
func (o *OnCall) Rotation(name string) *Rotation {
	for i := range o.Rotations {
		if o.Rotations[i].Name == name {
			return &o.Rotations[i]
		}
	}
	return nil
}

// Client returns the named client, or nil for a client the config does not know (its
// incidents notify the team only).
func (c *Config) Client(name string) *Client {
	for i := range c.Clients {
		if c.Clients[i].Name == name {
			return &c.Clients[i]
		}
	}
	return nil
}

// TokensFromFiles reads the token files (re-read on every reload).
func (c *Config) TokensFromFiles() ([]string, error) {
	var out []string
	for _, t := range c.API.Tokens {
		out = append(out, string(t))
	}
	for i, f := range c.API.TokenFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("api.token_files[%d]: %w", i, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("api.token_files[%d]: %s is empty", i, f)
		}
		out = append(out, tok)
	}
	return out, nil
}

// Templates are text/template sources of client notices, executed with the data of
// lifecycle.TemplateData. Empty fields inherit (client -> global -> default).
type Templates struct {
	InitialSubject  string `yaml:"initial_subject,omitempty"`
	Initial         string `yaml:"initial,omitempty"`
	UpdateSubject   string `yaml:"update_subject,omitempty"`
	Update          string `yaml:"update,omitempty"`
	ResolvedSubject string `yaml:"resolved_subject,omitempty"`
	Resolved        string `yaml:"resolved,omitempty"`
}

func (t *Templates) fields() []struct {
	key string
	v   *string
} {
	return []struct {
		key string
		v   *string
	}{
		{"initial_subject", &t.InitialSubject}, {"initial", &t.Initial},
		{"update_subject", &t.UpdateSubject}, {"update", &t.Update},
		{"resolved_subject", &t.ResolvedSubject}, {"resolved", &t.Resolved},
	}
}

// validate fills empty fields from parent and checks every template parses.
func (t *Templates) validate(key string, parent Templates) error {
	pf := parent.fields()
	for i, f := range t.fields() {
		if *f.v == "" {
			*f.v = *pf[i].v
		}
		if _, err := template.New(f.key).Funcs(TemplateFuncs).Option("missingkey=error").Parse(*f.v); err != nil {
			return fmt.Errorf("%s.%s: %w", key, f.key, err)
		}
	}
	return nil
}

// TemplateFuncs are the functions notice templates may use.
var TemplateFuncs = template.FuncMap{"join": strings.Join}

// DefaultTemplates follow the playbook's wording.
func DefaultTemplates() Templates {
	return Templates{
		InitialSubject: `[{{.Client}}] Investigating an issue affecting your website`,
		Initial: `We have detected an issue affecting your website{{if .Sites}} ({{join .Sites ", "}}){{end}} and are currently investigating. ` +
			`We will provide an update within {{.UpdateInterval}}.`,
		UpdateSubject: `[{{.Client}}] Update: {{.StatePhrase}}`,
		Update: `Update on the issue affecting your website{{if .Sites}} ({{join .Sites ", "}}){{end}}: {{.StatePhrase}}.` +
			`{{if .Tried}} What we have done: {{.Tried}}.{{end}}{{if .Next}} Next: {{.Next}}.{{end}}` +
			` We will provide another update within {{.UpdateInterval}}.`,
		ResolvedSubject: `[{{.Client}}] Resolved: your website is working normally`,
		Resolved: `The issue affecting your website{{if .Sites}} ({{join .Sites ", "}}){{end}} has been resolved; ` +
			`it is working normally again since {{.RecoveredAt}}. Thank you for your patience. A short report will follow.`,
	}
}
