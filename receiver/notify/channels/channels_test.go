package channels

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commoncfg "github.com/prometheus/common/config"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/notifytest"
	"github.com/siteward/siteward/receiver/notify/slack"
)

func decodeStrict(t *testing.T, file string, out any) error {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return notifytest.DecodeStrict(b, out)
}

func TestConfigInvalid(t *testing.T) {
	notifytest.CheckInvalidConfigs[Config](t, map[string]string{
		"no_name.yml":         "channel at line 1: name is required",
		"no_kind.yml":         `channel "team": one of slack, teams, email, webhook, log is required`,
		"two_kinds.yml":       `channel "team": exactly one of slack, teams, email, webhook, log may be set, got webhook and log`,
		"unknown_key.yml":     `channel "team": line 3: unknown key "sms"`,
		"log_unknown_key.yml": `line 3: unknown key "lvl"`,
		"log_bad_level.yml":   `level: must be one of debug, info, warn, error, got "loud"`,
	})
}

func TestConfigValidAndNew(t *testing.T) {
	var cfgs []Config
	if err := decodeStrict(t, filepath.Join("testdata", "valid.yml"), &cfgs); err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 {
		t.Fatalf("got %d channels, want 2", len(cfgs))
	}
	if got := cfgs[1].Log.Level; got != "info" {
		t.Errorf("default log level = %q, want info", got)
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, cfg := range cfgs {
		if cfg.Kind() != KindLog {
			t.Errorf("%s: Kind() = %q, want log", cfg.Name, cfg.Kind())
		}
		n, err := New(cfg, logger)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Name, err)
		}
		if err := n.Notify(context.Background(), &notify.Message{ID: "m-" + cfg.Name, Event: notify.EventClientInitial, Subject: "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	for _, want := range []string{"level=WARN msg=notice channel=audit-log kind=log id=m-audit-log", "level=INFO msg=notice channel=plain-log kind=log id=m-plain-log"} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
}

func TestAllKinds(t *testing.T) {
	var cfgs []Config
	if err := decodeStrict(t, filepath.Join("testdata", "all", "channels.yml"), &cfgs); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, cfg := range cfgs {
		kinds = append(kinds, cfg.Kind())
	}
	if got, want := strings.Join(kinds, " "), "slack teams email webhook log"; got != want {
		t.Fatalf("kinds %q, want %q", got, want)
	}
	logger := slog.New(slog.DiscardHandler)
	// The secret files are relative to the config file: before SetDirectory they are not found.
	if _, err := New(cfgs[0], logger); err == nil || !strings.Contains(err.Error(), `channel "team-slack": slack: reading secret`) {
		t.Fatalf("New before SetDirectory: %v", err)
	}
	for _, cfg := range cfgs {
		cfg.SetDirectory(filepath.Join("testdata", "all"))
		if _, err := New(cfg, logger); err != nil {
			t.Errorf("%s: %v", cfg.Name, err)
		}
	}
}

// New returns a working notifier for an HTTP kind too, not only for log.
func TestNewSlackDelivers(t *testing.T) {
	srv := notifytest.NewServer(t)
	n, err := New(Config{Name: "team-slack", Slack: &slack.Config{WebhookURL: commoncfg.Secret(srv.URL)}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Requests()); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
}

func TestDefault(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Kind() != KindLog {
		t.Fatalf("Default().Kind() = %q, want log", cfg.Kind())
	}
	if _, err := New(cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
}

func TestNewInvalid(t *testing.T) {
	if _, err := New(Config{Name: "x"}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), `channel "x": one of`) {
		t.Fatalf("New without kind: got %v", err)
	}
}
