package httpnotify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/notifytest"
)

func TestPostClassification(t *testing.T) {
	long := strings.Repeat("x", 2000)
	for _, tc := range []struct {
		name       string
		resp       notifytest.Response
		wantErr    string // "" = delivered
		retryable  bool
		retryAfter time.Duration
	}{
		{name: "200", resp: notifytest.Response{Status: 200}},
		{name: "202 (Teams workflows)", resp: notifytest.Response{Status: 202}},
		{name: "204", resp: notifytest.Response{Status: 204}},
		{name: "429 with seconds", resp: notifytest.Response{Status: 429, Header: http.Header{"Retry-After": {"7"}}, Body: "rate_limited"},
			wantErr: `test: unexpected status 429 Too Many Requests: "rate_limited"`, retryable: true, retryAfter: 7 * time.Second},
		{name: "429 without header", resp: notifytest.Response{Status: 429}, wantErr: "unexpected status 429", retryable: true},
		{name: "503 with seconds", resp: notifytest.Response{Status: 503, Header: http.Header{"Retry-After": {"120"}}},
			wantErr: "unexpected status 503 Service Unavailable", retryable: true, retryAfter: 2 * time.Minute},
		{name: "500", resp: notifytest.Response{Status: 500, Body: "boom"}, wantErr: `unexpected status 500 Internal Server Error: "boom"`, retryable: true},
		{name: "400 permanent", resp: notifytest.Response{Status: 400, Body: "invalid_payload"},
			wantErr: `test: unexpected status 400 Bad Request: "invalid_payload"`},
		{name: "404 permanent", resp: notifytest.Response{Status: 404, Body: "no_service"}, wantErr: `404 Not Found: "no_service"`},
		{name: "403 long body truncated", resp: notifytest.Response{Status: 403, Body: long},
			wantErr: `403 Forbidden: "` + strings.Repeat("x", maxErrorBody) + `..."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := notifytest.NewServer(t, tc.resp)
			c, err := New("test", nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Post(context.Background(), srv.URL+"/hook", []byte(`{"a":1}`), http.Header{"Content-Type": {"application/json"}})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want delivered, got %v", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				if len(err.Error()) > maxErrorBody+200 {
					t.Errorf("error is %d bytes long, want it bounded", len(err.Error()))
				}
			}
			retryable, after := notify.IsRetryable(err)
			if retryable != tc.retryable || after != tc.retryAfter {
				t.Errorf("IsRetryable = %v, %v; want %v, %v", retryable, after, tc.retryable, tc.retryAfter)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/hook" || string(r.Body) != `{"a":1}` {
				t.Errorf("request %s %s %q", r.Method, r.Path, r.Body)
			}
			if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "siteward-receiver/") {
				t.Errorf("User-Agent = %q", ua)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestPostNetworkErrorIsRetryableAndHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T000/B000/SECRETTOKEN"
	srv.Close() // nothing listens any more: connection refused
	c, err := New("slack", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Post(context.Background(), url, nil, nil)
	if ok, _ := notify.IsRetryable(err); !ok {
		t.Fatalf("want retryable, got %v", err)
	}
	if strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Errorf("error leaks the webhook URL: %v", err)
	}
}

func TestPostTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New("test", nil, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Post(context.Background(), srv.URL, nil, nil)
	if ok, _ := notify.IsRetryable(err); !ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want retryable deadline error, got %v", err)
	}
}

func TestPostWithHTTPConfig(t *testing.T) {
	srv := notifytest.NewServer(t)
	cfg := commoncfg.DefaultHTTPClientConfig
	cfg.Authorization = &commoncfg.Authorization{Type: "Bearer", Credentials: "tok"}
	c, err := New("test", &cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Post(context.Background(), srv.URL, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[0].Header.Get("Authorization"); got != "Bearer tok" {
		t.Fatalf("Authorization = %q, want Bearer tok", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"999999999", time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
	} {
		if got := RetryAfter(tc.in, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestEndpoint: the URL is read from its file on every post, the body is the JSON payload
// with the extra headers, and errors name the channel without quoting the URL.
func TestEndpoint(t *testing.T) {
	srv := notifytest.NewServer(t)
	urlFile := filepath.Join(t.TempDir(), "url")
	writeURL := func(path string) {
		t.Helper()
		if err := os.WriteFile(urlFile, []byte(srv.URL+path+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeURL("/first")
	e, err := NewEndpoint("test", "webhook_url", "", urlFile, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(body []byte) (http.Header, error) {
		return http.Header{"X-Length": {strconv.Itoa(len(body))}}, nil
	}
	if err := e.PostJSON(context.Background(), map[string]string{"a": "b"}, signed); err != nil {
		t.Fatal(err)
	}
	writeURL("/rotated")
	if err := e.PostJSON(context.Background(), []int{1}, nil); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, want := range []struct{ path, body, length string }{{"/first", `{"a":"b"}`, "9"}, {"/rotated", "[1]", ""}} {
		r := reqs[i]
		if r.Path != want.path || string(r.Body) != want.body || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Length") != want.length {
			t.Errorf("request %d: %s %q Content-Type %q X-Length %q, want %s %q application/json %q",
				i, r.Path, r.Body, r.Header.Get("Content-Type"), r.Header.Get("X-Length"), want.path, want.body, want.length)
		}
	}

	failing := func([]byte) (http.Header, error) { return nil, errors.New("secret_file: gone") }
	if err := e.PostJSON(context.Background(), 1, failing); err == nil || err.Error() != "test: secret_file: gone" {
		t.Errorf("header error = %v, want %q", err, "test: secret_file: gone")
	}
	if err := e.PostJSON(context.Background(), func() {}, nil); err == nil || !strings.HasPrefix(err.Error(), "test: encoding payload: ") {
		t.Errorf("unencodable payload: %v", err)
	}
	if err := os.WriteFile(urlFile, []byte("ftp://hooks.example.org/secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.PostJSON(context.Background(), 1, nil); err == nil || err.Error() != "test: webhook_url_file: scheme must be http or https" {
		t.Errorf("bad URL file: %v", err)
	}
	if _, err := NewEndpoint("test", "webhook_url", "", filepath.Join(t.TempDir(), "missing"), nil, time.Second); err == nil || !strings.HasPrefix(err.Error(), "test: reading secret: ") {
		t.Errorf("NewEndpoint with a missing URL file: %v", err)
	}
}
