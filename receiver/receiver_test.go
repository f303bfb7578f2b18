package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siteward/siteward/receiver"
)

// startReceiver runs the receiver in-process on a free port and returns its base URL.
func startReceiver(t *testing.T, configFile string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- receiver.Run(ctx, receiver.Options{
			ConfigFile:    configFile,
			StoragePath:   filepath.Join(t.TempDir(), "siteward.db"),
			ListenAddress: "127.0.0.1:0",
			Logger:        slog.New(slog.DiscardHandler),
			Ready:         func(a string) { addr <- a },
		})
	}()
	select {
	case a := <-addr:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("receiver.Run: %v", err)
			}
		})
		return "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("receiver.Run: %v", err)
	}
	return ""
}

func post(t *testing.T, url, token string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunWithoutConfig(t *testing.T) {
	base := startReceiver(t, "")
	for _, p := range []string{"/-/healthy", "/-/ready", "/api/v1/incidents"} {
		if code, body := get(t, base+p, ""); code != 200 {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
	code, body := get(t, base+"/metrics", "")
	for _, want := range []string{"siteward_receiver_build_info", "siteward_webhook_requests_total", "siteward_outbox_pending 0",
		"siteward_incident_time_to_acknowledge_seconds", "siteward_receiver_config_last_reload_successful 1"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "receiver.yml")
	write := func(s string) {
		if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("api: {tokens: [first]}\n")
	base := startReceiver(t, cfgPath)
	if code, _ := get(t, base+"/api/v1/incidents", "first"); code != 200 {
		t.Fatalf("with token: %d", code)
	}
	write("api: {tokens: [second]}\n")
	if code, _ := post(t, base+"/-/reload", "", nil); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	if code, _ := get(t, base+"/api/v1/incidents", "first"); code != 401 {
		t.Fatalf("old token after reload: %d, want 401", code)
	}
	write("api: {tokenz: [x]}\n")
	if code, _ := post(t, base+"/-/reload", "", nil); code != 500 {
		t.Fatalf("reload of a bad file: %d, want 500", code)
	}
	if code, _ := get(t, base+"/api/v1/incidents", "second"); code != 200 {
		t.Fatalf("a failed reload must keep the previous config: %d", code)
	}
	_, metrics := get(t, base+"/metrics", "")
	if !strings.Contains(metrics, "siteward_receiver_config_last_reload_successful 0") {
		t.Error("failed reload not visible in siteward_receiver_config_last_reload_successful")
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func fmtURL(port int, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", port, path) }
