package log

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify/internal/notifytest"
)

func TestNotifyLogsEveryField(t *testing.T) {
	var buf bytes.Buffer
	n, err := New(&Config{}, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m := notifytest.Message()
	m.Incident.Drill = true
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	for k, want := range map[string]any{
		"level": "INFO", "msg": "notice", "id": m.ID, "event": "notice.initial", "audience": "client",
		"incident": "inc-42", "client": "acme", "drill": true, "subject": m.Subject, "text": m.Text,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}

func TestLevelFiltered(t *testing.T) {
	var buf bytes.Buffer
	n, err := New(&Config{Level: "debug"}, slog.New(slog.NewTextHandler(&buf, nil))) // handler at info
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("debug notice logged by an info handler: %s", buf.String())
	}
}

func TestConfig(t *testing.T) {
	for in, want := range map[string]string{
		"{}":           "",
		"level: ERROR": "",
		"level: trace": `level: must be one of debug, info, warn, error, got "trace"`,
		"format: json": `line 1: unknown key "format" (known keys: level)`,
	} {
		var cfg Config
		err := yaml.Unmarshal([]byte(in), &cfg)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}
