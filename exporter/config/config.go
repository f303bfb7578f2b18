// Package config loads and validates siteward-exporter's configuration: blackbox_exporter's
// module format (accepted unchanged) plus siteward's additions (clients inventory,
// allowed_targets, retries).
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// DefaultSiteModule is the module of a site that names none.
const DefaultSiteModule = "http_2xx"

// MaxRetries bounds `retries`: retries damp flaps, they are not a polling loop.
const MaxRetries = 10

// Config is the whole exporter configuration file.
type Config struct {
	Modules        map[string]Module `yaml:"modules"`
	Clients        []Client          `yaml:"clients,omitempty"`
	AllowedTargets []TargetPattern   `yaml:"allowed_targets,omitempty"`
}

// Module is one probe module, as in blackbox_exporter's `modules:` map, plus siteward's
// `retries` and `retry_delay`.
type Module struct {
	Prober  string        `yaml:"prober,omitempty"`
	Timeout time.Duration `yaml:"timeout,omitempty"`
	HTTP    HTTPProbe     `yaml:"http,omitempty"`
	TCP     TCPProbe      `yaml:"tcp,omitempty"`
	DNS     DNSProbe      `yaml:"dns,omitempty"`

	// Retries is how many more attempts a failed probe gets within one scrape (siteward).
	Retries int `yaml:"retries,omitempty"`
	// RetryDelay is the pause before each retry (siteward).
	RetryDelay time.Duration `yaml:"retry_delay,omitempty"`
}

// Client is one client of the inventory: its sites are probed and served at /sd.
type Client struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels,omitempty"`
	Sites  []Site            `yaml:"sites"`
}

// Site is one probed target of a client.
type Site struct {
	Name   string            `yaml:"name"`
	Target string            `yaml:"target"`
	Module string            `yaml:"module,omitempty"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

// TargetPattern is one `allowed_targets` glob: `*` matches any run of characters (slashes
// included), everything else matches itself.
type TargetPattern struct {
	Pattern string
	re      *regexp.Regexp
}

// supportedProbers are the prober kinds this exporter implements (package prober registers
// the same names).
var supportedProbers = []string{"http", "tcp", "dns"}

// reservedLabels are set by the inventory itself and cannot be overridden by `labels:`.
var reservedLabels = []string{"client", "site", "module", "instance", "job"}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates a configuration. Unknown keys are errors.
func Parse(r io.Reader) (*Config, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	cfg := &Config{}
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("configuration is empty")
		}
		return nil, tidyYAMLError(err)
	}
	return cfg, nil
}

// deferredModule keeps the decoder's callback for one module so that Config can decode the
// modules one by one and name the module in every error. The callback is yaml.v3's own, so
// KnownFields(true) still applies inside the module (yaml.Node.Decode would lose it).
type deferredModule struct{ decode func(any) error }

func (d *deferredModule) UnmarshalYAML(decode func(any) error) error {
	d.decode = decode
	return nil
}

// UnmarshalYAML implements the (strictness-preserving) yaml.v3 obsolete Unmarshaler.
func (c *Config) UnmarshalYAML(decode func(any) error) error {
	var raw struct {
		Modules        map[string]*deferredModule `yaml:"modules"`
		Clients        []Client                   `yaml:"clients,omitempty"`
		AllowedTargets []TargetPattern            `yaml:"allowed_targets,omitempty"`
	}
	if err := decode(&raw); err != nil {
		return err
	}
	names := make([]string, 0, len(raw.Modules))
	for name := range raw.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	modules := make(map[string]Module, len(names))
	for _, name := range names {
		var m Module
		if raw.Modules[name] == nil {
			m = defaultModule()
		} else if err := raw.Modules[name].decode(&m); err != nil {
			err = tidyYAMLError(err)
			if msg := err.Error(); strings.HasSuffix(msg, "unknown key icmp") || strings.HasSuffix(msg, "unknown key grpc") {
				err = fmt.Errorf("%w (siteward-exporter supports the http, tcp and dns probers; remove this module)", err)
			}
			return fmt.Errorf("module %q: %w", name, err)
		}
		if err := m.validate(); err != nil {
			return fmt.Errorf("module %q: %w", name, err)
		}
		modules[name] = m
	}
	*c = Config{Modules: modules, Clients: raw.Clients, AllowedTargets: raw.AllowedTargets}
	return c.validateInventory()
}

// validateInventory checks what crosses sections: unique names, known modules.
func (c *Config) validateInventory() error {
	clientNames := map[string]bool{}
	for i, client := range c.Clients {
		if clientNames[client.Name] {
			return fmt.Errorf("clients[%d]: name: duplicate client %q", i, client.Name)
		}
		clientNames[client.Name] = true
		siteNames := map[string]bool{}
		for j, site := range client.Sites {
			if siteNames[site.Name] {
				return fmt.Errorf("client %q: sites[%d]: name: duplicate site %q", client.Name, j, site.Name)
			}
			siteNames[site.Name] = true
			if _, ok := c.Modules[site.Module]; !ok {
				return fmt.Errorf("client %q: site %q: module: unknown module %q", client.Name, site.Name, site.Module)
			}
		}
	}
	return nil
}

// nestedError places an error from decoding a prober section: yaml's own errors name their
// line already; any other comes from the only nested unmarshaler that validates, tls_config.
func nestedError(section string, err error) error {
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) {
		return err
	}
	return fmt.Errorf("%s.tls_config: %w", section, err)
}

// tidyYAMLError drops yaml.v3's "unmarshal errors:" preamble and its internal type names
// ("in type config.plain"), which mean nothing to someone editing the file.
func tidyYAMLError(err error) error {
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) {
		return err
	}
	msgs := make([]string, len(typeErr.Errors))
	for i, e := range typeErr.Errors {
		if j := strings.Index(e, " in type "); j >= 0 {
			e = e[:j]
		}
		if strings.Contains(e, ": field ") && strings.HasSuffix(e, " not found") {
			e = strings.TrimSuffix(strings.Replace(e, ": field ", ": unknown key ", 1), " not found")
		}
		msgs[i] = e
	}
	return errors.New(strings.Join(msgs, "; "))
}

// defaultModule is a module with every section at blackbox_exporter's defaults, so a module
// without, say, a `tcp:` section still gets them.
func defaultModule() Module {
	return Module{HTTP: DefaultHTTPProbe, TCP: DefaultTCPProbe, DNS: DefaultDNSProbe}
}

// UnmarshalYAML applies blackbox_exporter's defaults, then the file's values.
func (m *Module) UnmarshalYAML(decode func(any) error) error {
	*m = defaultModule()
	type plain Module
	return decode((*plain)(m))
}

func (m *Module) validate() error {
	if m.Prober == "" {
		return errors.New("prober: missing (one of http, tcp, dns)")
	}
	if !slices.Contains(supportedProbers, m.Prober) {
		return fmt.Errorf("prober: unsupported prober %q (siteward-exporter supports http, tcp and dns; remove this module)", m.Prober)
	}
	// A section that is present validated itself; a dns module without one still needs its
	// query_name.
	if m.Prober == "dns" {
		if err := m.DNS.Validate(); err != nil {
			return err
		}
	}
	if m.Timeout < 0 {
		return fmt.Errorf("timeout: must not be negative, got %s", m.Timeout)
	}
	if m.Retries < 0 || m.Retries > MaxRetries {
		return fmt.Errorf("retries: must be between 0 and %d, got %d", MaxRetries, m.Retries)
	}
	if m.RetryDelay < 0 {
		return fmt.Errorf("retry_delay: must not be negative, got %s", m.RetryDelay)
	}
	return nil
}

// UnmarshalYAML applies the default module and checks names and labels.
func (s *Site) UnmarshalYAML(decode func(any) error) error {
	type plain Site
	if err := decode((*plain)(s)); err != nil {
		return err
	}
	if s.Name == "" {
		return errors.New("site: name: missing")
	}
	if s.Target == "" {
		return fmt.Errorf("site %q: target: missing", s.Name)
	}
	if s.Module == "" {
		s.Module = DefaultSiteModule
	}
	if err := validateLabels(s.Labels); err != nil {
		return fmt.Errorf("site %q: labels: %w", s.Name, err)
	}
	return nil
}

// UnmarshalYAML checks the client's name and labels.
func (c *Client) UnmarshalYAML(decode func(any) error) error {
	type plain Client
	if err := decode((*plain)(c)); err != nil {
		return err
	}
	if c.Name == "" {
		return errors.New("client: name: missing")
	}
	if err := validateLabels(c.Labels); err != nil {
		return fmt.Errorf("client %q: labels: %w", c.Name, err)
	}
	return nil
}

func validateLabels(labels map[string]string) error {
	for name := range labels {
		if !model.LabelName(name).IsValidLegacy() || strings.HasPrefix(name, "__") {
			return fmt.Errorf("%q is not a valid label name", name)
		}
		if slices.Contains(reservedLabels, name) {
			return fmt.Errorf("%q is set by siteward and cannot be overridden", name)
		}
	}
	return nil
}

// UnmarshalYAML compiles the glob.
func (p *TargetPattern) UnmarshalYAML(decode func(any) error) error {
	var s string
	if err := decode(&s); err != nil {
		return err
	}
	compiled, err := NewTargetPattern(s)
	if err != nil {
		return err
	}
	*p = compiled
	return nil
}

// MarshalYAML prints the glob as written.
func (p TargetPattern) MarshalYAML() (any, error) { return p.Pattern, nil }

// NewTargetPattern compiles an `allowed_targets` glob.
func NewTargetPattern(pattern string) (TargetPattern, error) {
	if strings.TrimSpace(pattern) == "" {
		return TargetPattern{}, errors.New("allowed_targets: empty pattern")
	}
	parts := strings.Split(pattern, "*")
	for i, part := range parts {
		parts[i] = regexp.QuoteMeta(part)
	}
	re, err := regexp.Compile("^" + strings.Join(parts, ".*") + "$")
	if err != nil {
		return TargetPattern{}, fmt.Errorf("allowed_targets: pattern %q: %w", pattern, err)
	}
	return TargetPattern{Pattern: pattern, re: re}, nil
}

// Match reports whether target matches the glob.
func (p TargetPattern) Match(target string) bool { return p.re != nil && p.re.MatchString(target) }
