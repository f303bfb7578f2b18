// Package oncall answers "who is on call at time t": rotations hand over at a local time of
// day in their time zone (so a 09:00 handoff stays at 09:00 across daylight-saving changes),
// and overrides take precedence.
package oncall

import (
	"time"

	"github.com/siteward/siteward/receiver/config"
)

// OnCall returns the member of r on call at t.
func OnCall(r *config.Rotation, t time.Time) string {
	// The most recently added matching override wins.
	for i := len(r.Overrides) - 1; i >= 0; i-- {
		ov := r.Overrides[i]
		if !t.Before(ov.Start) && t.Before(ov.End) {
			return ov.Member
		}
	}
	n := int64(len(r.Members))
	day := 24 * time.Hour
	var shift int64
	if r.Period%day == 0 {
		// Count calendar days in the rotation's zone; dates are compared as UTC midnights so
		// a 23- or 25-hour DST day still counts as one.
		local := t.In(r.Location)
		date := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
		handoffToday := time.Date(local.Year(), local.Month(), local.Day(), r.StartAt.Hour(), r.StartAt.Minute(), 0, 0, r.Location)
		if local.Before(handoffToday) {
			date = date.AddDate(0, 0, -1)
		}
		start := time.Date(r.StartAt.Year(), r.StartAt.Month(), r.StartAt.Day(), 0, 0, 0, 0, time.UTC)
		days := int64(date.Sub(start) / day)
		shift = floorDiv(days, int64(r.Period/day))
	} else {
		shift = floorDiv(int64(t.Sub(r.StartAt)), int64(r.Period))
	}
	return r.Members[((shift%n)+n)%n]
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Owner returns the person to page at escalation level (0 = first); levels beyond the
// configured ones stay at the last.
func Owner(c *config.OnCall, level int, t time.Time) string {
	if len(c.Escalation) == 0 {
		return ""
	}
	level = min(max(level, 0), len(c.Escalation)-1)
	r := c.Rotation(c.Escalation[level].Rotation)
	if r == nil {
		return ""
	}
	return OnCall(r, t)
}
