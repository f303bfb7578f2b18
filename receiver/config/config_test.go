package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/config"
)

func TestDefaults(t *testing.T) {
	c, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Channels) != 1 || c.Channels[0].Name != "log" || c.Channels[0].Log == nil {
		t.Errorf("default channels = %+v, want the log channel", c.Channels)
	}
	if strings.Join(c.Team.Channels, ",") != "log" || strings.Join(c.IncidentKeyLabels, ",") != "client,site" {
		t.Errorf("team channels %v, key labels %v", c.Team.Channels, c.IncidentKeyLabels)
	}
	if c.Timers.FirstNoticeDelay != 5*time.Minute || c.Timers.UpdateInterval != 30*time.Minute {
		t.Errorf("timers = %+v", c.Timers)
	}
	if !strings.Contains(c.Templates.Initial, "We have detected an issue affecting your website and are currently investigating") &&
		!strings.Contains(c.Templates.Initial, "are currently investigating") {
		t.Errorf("default initial template = %q", c.Templates.Initial)
	}
	for _, ft := range config.FailureTypes {
		rb := c.Runbook(ft)
		if rb.LikelyCause == "" || len(rb.Actions) == 0 || len(rb.Prevention) == 0 || !strings.HasSuffix(rb.URL, "#"+ft) {
			t.Errorf("runbook %s incomplete: %+v", ft, rb)
		}
	}
}

func TestExample(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "receiver.yml")
	if _, err := os.Stat(path); err != nil {
		t.Skip("examples/receiver.yml not written yet")
	}
	if _, err := config.Load(path); err != nil {
		t.Fatalf("examples/receiver.yml: %v", err)
	}
}

func TestFull(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := `
channels:
  - name: team-log
    log: {level: warn}
  - name: acme-log
    log: {}
  - name: team-slack
    slack: {webhook_url_file: slack-url}
team: {channels: [team-log]}
clients:
  - name: acme
    contacts: [{name: Ann, email: ann@acme.example}]
    channels: [acme-log]
    public_status_page: true
    templates:
      initial: "Hello {{.Client}}"
timers: {first_notice_delay: 15m, resolve_quiet_window: 2m}
runbooks:
  http: {likely_cause: "Our PHP workers"}
api:
  tokens: [inline-token]
  token_files: [token]
`
	if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(filepath.Join(dir, "r.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// Relative secret files of channels resolve against the config file's directory.
	if got, want := c.Channels[2].Slack.WebhookURLFile, filepath.Join(dir, "slack-url"); got != want {
		t.Errorf("slack webhook_url_file = %q, want %q", got, want)
	}
	acme := c.Client("acme")
	if acme == nil || !acme.PublicStatusPage || acme.Templates.Initial != "Hello {{.Client}}" || acme.Templates.Update != c.Templates.Update {
		t.Fatalf("client acme = %+v (templates inherit the global ones)", acme)
	}
	if c.Client("beta") != nil {
		t.Error("unknown client found")
	}
	if rb := c.Runbook("http"); rb.LikelyCause != "Our PHP workers" || len(rb.Actions) == 0 {
		t.Errorf("overridden runbook = %+v (other fields keep the defaults)", rb)
	}
	toks, err := c.TokensFromFiles()
	if err != nil || strings.Join(toks, ",") != "inline-token,s3cret-from-file" {
		t.Fatalf("tokens = %v, %v", toks, err)
	}
	// Secrets are never printed.
	out, err := yaml.Marshal(c.API)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "inline-token") {
		t.Errorf("marshalled config shows the token: %s", out)
	}
}

func TestInvalid(t *testing.T) {
	want := map[string]string{
		"first_notice_delay_too_long.bad.yml": "timers.first_notice_delay",
		"unknown_key.bad.yml":                 "chanels",
		"unknown_channel.bad.yml":             `clients[0].channels: unknown channel "nope"`,
		"duplicate_client.bad.yml":            "clients[1].name: duplicate",
		"bad_time_zone.bad.yml":               "oncall.rotations[0].time_zone",
		"maintenance_end_first.bad.yml":       "maintenance[0].end",
		"unknown_rotation.bad.yml":            `oncall.escalation[0].rotation: unknown rotation "q"`,
		"bad_template.bad.yml":                "templates.initial",
		"unknown_runbook.bad.yml":             "runbooks.smtp",
		"two_channel_kinds.bad.yml":           "exactly one of",
		"key_without_client.bad.yml":          "incident_key_labels",
		"bad_handoff.bad.yml":                 "oncall.rotations[0].handoff",
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	if len(files) != len(want) {
		t.Errorf("%d testdata files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := config.Load(f)
			if err == nil {
				t.Fatal("no error")
			}
			if w := want[filepath.Base(f)]; w == "" || !strings.Contains(err.Error(), w) {
				t.Fatalf("error %q does not name %q", err, w)
			}
		})
	}
}
