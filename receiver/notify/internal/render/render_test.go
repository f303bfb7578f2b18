package render

import (
	"reflect"
	"testing"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/notifytest"
)

func TestFactsByAudience(t *testing.T) {
	m := notifytest.Message()
	m.Audience = notify.AudienceClient
	if got, want := Facts(m), []Fact{{"Sites", "shop, blog"}, {"State", "investigating"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("client facts %v, want %v", got, want)
	}
	m.Audience = notify.AudienceTeam
	m.Incident.Drill = true
	m.Incident.Owner = ""
	want := []Fact{
		{"Sites", "shop, blog"}, {"State", "investigating"}, {"Client", "acme"}, {"Severity", "critical"},
		{"Failure type", "ssl"}, {"Incident", "inc-42"}, {"Drill", "yes: a practice incident"},
	}
	if got := Facts(m); !reflect.DeepEqual(got, want) {
		t.Errorf("team facts %v, want %v", got, want)
	}
}

func TestToneOf(t *testing.T) {
	for e, want := range map[notify.Event]Tone{
		notify.EventIncidentOpened:    ToneProblem,
		notify.EventIncidentEscalated: ToneProblem,
		notify.EventIncidentReopened:  ToneProblem,
		notify.EventWatchdogMissing:   ToneProblem,
		notify.EventClientInitial:     ToneProblem,
		notify.EventClientUpdate:      ToneProgress,
		notify.EventPostmortemDue:     ToneProgress,
		notify.EventIncidentResolved:  ToneResolved,
		notify.EventClientResolved:    ToneResolved,
	} {
		if got := ToneOf(e); got != want {
			t.Errorf("ToneOf(%s) = %v, want %v", e, got, want)
		}
	}
}
