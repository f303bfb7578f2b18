package postmortem

import (
	"fmt"
	"strings"
	"time"
)

// TimeFormat is how every time in a post-mortem is written.
const TimeFormat = "2006-01-02 15:04:05 UTC"

// FormatTime writes t in UTC, or "-" when it is zero.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(TimeFormat)
}

// FormatDuration writes d rounded to the second, or "n/a" when it is zero.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return d.Round(time.Second).String()
}

// FormatRatio writes an availability ratio as a percentage.
func FormatRatio(v float64) string { return fmt.Sprintf("%.3f%%", v*100) }

// Title is the report's heading.
func (r *Report) Title() string {
	t := fmt.Sprintf("Post-mortem: %s", r.Client)
	if len(r.Sites) > 0 {
		t += "/" + strings.Join(r.Sites, ",")
	}
	t += fmt.Sprintf(" %s failure (incident %s)", or(r.FailureType, "unknown"), r.IncidentID)
	if r.Drill {
		t = "DRILL - " + t
	}
	return t
}

// Status is one line: draft, due or published.
func (r *Report) Status(now time.Time) string {
	switch {
	case r.Published:
		return fmt.Sprintf("Published %s by %s", FormatTime(r.PublishedAt), r.PublishedBy)
	case !r.Resolved:
		return "Draft: the incident is still open"
	case r.Overdue(now):
		return fmt.Sprintf("Draft, OVERDUE: was due %s", FormatTime(r.DueAt))
	}
	return fmt.Sprintf("Draft, due %s", FormatTime(r.DueAt))
}

// Measures are the playbook's durations as label/value pairs, in order.
func (r *Report) Measures() [][2]string {
	return [][2]string{
		{"Time to detect", FormatDuration(r.TimeToDetect)},
		{"Time to acknowledge", FormatDuration(r.TimeToAcknowledge)},
		{"Time to first client notice", FormatDuration(r.TimeToFirstNotice)},
		{"Time to recover", FormatDuration(r.TimeToRecover)},
	}
}

// AvailabilityLines describe availability per site, or why it is missing.
func (r *Report) AvailabilityLines() []string {
	if r.Availability == nil {
		return []string{"Availability: not available (Prometheus not configured or not reachable)"}
	}
	var out []string
	for _, s := range r.Sites {
		line := "Availability of " + s + ":"
		if v, ok := r.Availability.During[s]; ok {
			line += " " + FormatRatio(v) + " during the incident"
		} else {
			line += " no data during the incident"
		}
		if v, ok := r.Availability.Days30[s]; ok {
			line += ", " + FormatRatio(v) + " over 30 days"
		}
		out = append(out, line)
	}
	return out
}

// Markdown renders the report. now decides whether it is overdue.
func (r *Report) Markdown(now time.Time) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# %s\n\n", r.Title())
	if r.Drill {
		p("> DRILL: a synthetic incident; no client was affected or notified.\n\n")
	}
	p("Status: %s\n\n", r.Status(now))
	if r.Summary != "" {
		p("## Summary\n\n%s\n\n", r.Summary)
	}

	p("## Timeline\n\n| Time (UTC) | Event |\n|---|---|\n")
	for _, m := range r.Milestones {
		p("| %s | %s |\n", FormatTime(m.At), cell(m.What))
	}
	p("\n")
	for _, m := range r.Measures() {
		p("- %s: %s\n", m[0], m[1])
	}

	p("\n## Impact\n\n")
	p("- Client: %s\n", r.Client)
	p("- Sites: %s\n", or(strings.Join(r.Sites, ", "), "none recorded"))
	p("- Failure type: %s, severity %s\n", or(r.FailureType, "unknown"), or(r.Severity, "unknown"))
	p("- Duration: %s\n", FormatDuration(r.Duration))
	p("- Client notices sent: %d\n", r.Notices)
	for _, l := range r.AvailabilityLines() {
		p("- %s\n", l)
	}

	p("\n## Root cause\n\n")
	if r.RootCauseSuspected {
		p("Suspected (the runbook's likely cause; no responder has confirmed one yet): %s\n", or(r.RootCause, "unknown"))
	} else {
		p("%s\n", r.RootCause)
	}

	p("\n## Response log\n\n")
	if len(r.ResponseLog) == 0 {
		p("No entries.\n")
	}
	for _, e := range r.ResponseLog {
		p("- %s %s (%s): %s\n", FormatTime(e.At), e.Actor, e.Kind, oneLine(e.Text))
	}

	p("\n## Prevention\n\n")
	if len(r.Prevention) == 0 {
		p("No items yet.\n")
	}
	for _, it := range r.Prevention {
		if it.Actor != "" {
			p("- [ ] %s (added by %s)\n", oneLine(it.Text), it.Actor)
		} else {
			p("- [ ] %s\n", oneLine(it.Text))
		}
	}
	return b.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cell escapes a table cell.
func cell(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }
