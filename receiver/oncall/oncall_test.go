package oncall_test

import (
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/oncall"
)

func mustConfig(t *testing.T, y string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(y), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOnCall(t *testing.T) {
	c := mustConfig(t, `
oncall:
  rotations:
    - name: primary
      members: [alice, bob, carol]
      start: 2026-03-23
      handoff: "09:00"
      time_zone: Europe/Berlin
      period: 168h
      overrides:
        - {member: dave, start: 2026-04-01T00:00:00Z, end: 2026-04-02T00:00:00Z}
    - name: daily
      members: [x, y]
      start: 2026-03-28
      handoff: "18:30"
      time_zone: America/New_York
      period: 24h
  escalation:
    - {rotation: primary, timeout: 5m}
    - {rotation: daily}
`)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")
	primary := c.OnCall.Rotation("primary")
	daily := c.OnCall.Rotation("daily")
	cases := []struct {
		name string
		r    *config.Rotation
		at   time.Time
		want string
	}{
		{"first handoff", primary, time.Date(2026, 3, 23, 9, 0, 0, 0, berlin), "alice"},
		{"before first handoff: the last member", primary, time.Date(2026, 3, 23, 8, 59, 0, 0, berlin), "carol"},
		// Europe switches to summer time on 2026-03-29: the handoff stays at 09:00 local.
		{"after DST change, before handoff", primary, time.Date(2026, 3, 30, 8, 59, 0, 0, berlin), "alice"},
		{"after DST change, at handoff", primary, time.Date(2026, 3, 30, 9, 0, 0, 0, berlin), "bob"},
		{"override", primary, time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC), "dave"},
		{"override ended", primary, time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), "bob"},
		{"wraps around", primary, time.Date(2026, 4, 13, 10, 0, 0, 0, berlin), "alice"},
		{"daily, evening handoff", daily, time.Date(2026, 3, 28, 18, 30, 0, 0, ny), "x"},
		{"daily, next morning", daily, time.Date(2026, 3, 29, 7, 0, 0, 0, ny), "x"},
		{"daily, next evening", daily, time.Date(2026, 3, 29, 18, 30, 0, 0, ny), "y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := oncall.OnCall(tc.r, tc.at); got != tc.want {
				t.Errorf("OnCall(%s, %s) = %q, want %q", tc.r.Name, tc.at, got, tc.want)
			}
		})
	}
	at := time.Date(2026, 3, 29, 7, 0, 0, 0, ny)
	if got := oncall.Owner(&c.OnCall, 1, at); got != "x" {
		t.Errorf("Owner(level 1) = %q, want x", got)
	}
	if got := oncall.Owner(&c.OnCall, 7, at); got != "x" {
		t.Errorf("Owner(level past the last) = %q, want the last level's x", got)
	}
	if c.OnCall.Escalation[1].Timeout != 15*time.Minute {
		t.Errorf("escalation timeout default = %s, want timers.escalation_timeout 15m", c.OnCall.Escalation[1].Timeout)
	}
}

func TestDefaultRotation(t *testing.T) {
	c := mustConfig(t, "")
	if got := oncall.Owner(&c.OnCall, 0, time.Now()); got != "on-call" {
		t.Fatalf("default owner = %q, want the one-person rotation's on-call", got)
	}
}
