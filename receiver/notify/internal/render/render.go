// Package render holds presentation rules the channels share.
package render

import (
	"strings"

	"github.com/siteward/siteward/receiver/notify"
)

// Fact is one labelled incident field shown under a message's text.
type Fact struct {
	Title, Value string
}

// Facts lists the incident fields a message shows, empty ones left out. A client sees what
// a status page shows (sites, state); the team also sees client, severity, failure type,
// owner, incident ID and whether it is a drill.
func Facts(m *notify.Message) []Fact {
	inc := &m.Incident
	var fs []Fact
	add := func(title, value string) {
		if value != "" {
			fs = append(fs, Fact{title, value})
		}
	}
	add("Sites", strings.Join(inc.Sites, ", "))
	add("State", inc.State)
	if m.Audience == notify.AudienceClient {
		return fs
	}
	add("Client", inc.Client)
	add("Severity", inc.Severity)
	add("Failure type", inc.FailureType)
	add("Owner", inc.Owner)
	add("Incident", inc.ID)
	if inc.Drill {
		add("Drill", "yes: a practice incident")
	}
	return fs
}

// Tone says how an event should look: a problem, progress on an open incident, or
// resolution. Channels map it to their colours.
type Tone int

const (
	ToneProblem Tone = iota
	ToneProgress
	ToneResolved
)

// ToneOf returns the tone of an event.
func ToneOf(e notify.Event) Tone {
	switch e {
	case notify.EventIncidentResolved, notify.EventClientResolved:
		return ToneResolved
	case notify.EventClientUpdate, notify.EventPostmortemDue:
		return ToneProgress
	default:
		return ToneProblem
	}
}
