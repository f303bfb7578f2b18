package config

import (
	"fmt"
	"slices"
	"time"
)

// Maintenance is a planned window for a client (all its sites, or the listed ones): alerts
// inside it do not notify the client, and the status page shows "Under maintenance".
type Maintenance struct {
	ID          string    `yaml:"-" json:"id,omitempty"` // set for windows recorded through the API
	Client      string    `yaml:"client" json:"client"`
	Sites       []string  `yaml:"sites,omitempty" json:"sites,omitempty"` // empty: every site of the client
	Start       time.Time `yaml:"start" json:"start"`                     // RFC 3339
	End         time.Time `yaml:"end" json:"end"`
	Description string    `yaml:"description,omitempty" json:"description,omitempty"`
}

// Active reports whether the window covers client/site at t (site "" matches a window for
// the whole client only).
func (m Maintenance) Active(client, site string, t time.Time) bool {
	if m.Client != client || t.Before(m.Start) || !t.Before(m.End) {
		return false
	}
	return len(m.Sites) == 0 || (site != "" && slices.Contains(m.Sites, site))
}

// InMaintenance reports whether every one of sites of client is inside a maintenance window
// at t (with no sites: whether the whole client is).
func (c *Config) InMaintenance(client string, sites []string, t time.Time) bool {
	covered := func(site string) bool {
		return slices.ContainsFunc(c.Maintenance, func(m Maintenance) bool { return m.Active(client, site, t) })
	}
	if len(sites) == 0 {
		return covered("")
	}
	for _, s := range sites {
		if !covered(s) {
			return false
		}
	}
	return true
}

// MaintenanceOf returns the window covering client/site at t, or nil.
func (c *Config) MaintenanceOf(client, site string, t time.Time) *Maintenance {
	for i := range c.Maintenance {
		if c.Maintenance[i].Active(client, site, t) {
			return &c.Maintenance[i]
		}
	}
	return nil
}

func (c *Config) validateMaintenance() error {
	for i, m := range c.Maintenance {
		key := fmt.Sprintf("maintenance[%d]", i)
		switch {
		case m.Client == "":
			return fmt.Errorf("%s.client: required", key)
		case m.Start.IsZero():
			return fmt.Errorf("%s.start: required (RFC 3339)", key)
		case m.End.IsZero():
			return fmt.Errorf("%s.end: required (RFC 3339)", key)
		case !m.End.After(m.Start):
			return fmt.Errorf("%s.end: must be after start", key)
		}
	}
	return nil
}
