package config

import (
	"testing"
	"time"
)

func TestMaintenance(t *testing.T) {
	c, err := Parse([]byte(`
maintenance:
  - {client: acme, sites: [shop], start: 2026-11-28T10:00:00Z, end: 2026-11-28T12:00:00Z, description: DB upgrade}
  - {client: globex, start: 2026-11-28T10:00:00Z, end: 2026-11-28T12:00:00Z}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	in := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		client string
		sites  []string
		at     time.Time
		want   bool
	}{
		{"site window", "acme", []string{"shop"}, in, true},
		{"other site", "acme", []string{"blog"}, in, false},
		{"one of two sites", "acme", []string{"shop", "blog"}, in, false},
		{"client without sites: site window is not the client", "acme", nil, in, false},
		{"client window covers every site", "globex", []string{"www", "api"}, in, true},
		{"before", "acme", []string{"shop"}, in.Add(-2 * time.Hour), false},
		{"end is exclusive", "acme", []string{"shop"}, in.Add(time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.InMaintenance(tc.client, tc.sites, tc.at); got != tc.want {
				t.Errorf("InMaintenance = %v, want %v", got, tc.want)
			}
		})
	}
	if m := c.MaintenanceOf("acme", "shop", in); m == nil || m.Description != "DB upgrade" {
		t.Errorf("MaintenanceOf = %+v, want the DB upgrade window", m)
	}
}
