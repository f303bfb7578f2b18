// Package notifytest holds what the channel tests share: a recording HTTP endpoint with
// scripted answers, a sample message, strict config decoding and JSON comparison.
package notifytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
)

// Response is one scripted answer.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Request is what the endpoint received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Server is an httptest server that records every request and answers with the scripted
// responses in order, then 200 OK.
type Server struct {
	*httptest.Server
	mu        sync.Mutex
	requests  []Request
	responses []Response
}

// NewServer starts a recording server, closed when the test ends.
func NewServer(t testing.TB, responses ...Response) *Server {
	s := &Server{responses: responses}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	resp := Response{Status: http.StatusOK, Body: "ok"}
	if len(s.responses) > 0 {
		resp, s.responses = s.responses[0], s.responses[1:]
	}
	s.mu.Unlock()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.Status)
	_, _ = io.WriteString(w, resp.Body)
}

// Requests returns a copy of the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Message returns a sample message of an open incident.
func Message() *notify.Message {
	return &notify.Message{
		ID:       "inc-42/notice.initial/1",
		Event:    notify.EventClientInitial,
		Audience: notify.AudienceClient,
		Subject:  "Investigating: shop.acme.example is down",
		Text:     "We have detected an issue affecting your website and are currently investigating. We will provide an update within 30 minutes.",
		Incident: notify.Incident{
			ID:          "inc-42",
			Client:      "acme",
			Sites:       []string{"shop", "blog"},
			FailureType: "ssl",
			Severity:    "critical",
			State:       "investigating",
			Owner:       "alice",
			URL:         "https://siteward.example/incidents/inc-42",
			StartedAt:   time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC),
		},
		CreatedAt: time.Date(2026, 11, 27, 20, 5, 0, 0, time.UTC),
	}
}

// DecodeStrict decodes YAML data into out rejecting unknown keys, as the receiver's config
// loader does.
func DecodeStrict(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(out)
}

// CheckInvalidConfigs decodes each file of testdata/invalid named in want into a new T and
// checks that it fails with an error containing want[file].
func CheckInvalidConfigs[T any](t *testing.T, want map[string]string) {
	t.Helper()
	for file, want := range want {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "invalid", file))
			if err != nil {
				t.Fatal(err)
			}
			var cfg T
			if err := DecodeStrict(data, &cfg); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want it to contain %q", err, want)
			}
		})
	}
}

// AssertJSON fails the test unless got is JSON equal to want (ignoring layout and key order).
func AssertJSON(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.MarshalIndent(g, "", "  ")
	wb, _ := json.MarshalIndent(w, "", "  ")
	if !bytes.Equal(gb, wb) {
		t.Fatalf("payload mismatch\ngot:  %s\nwant: %s", gb, wb)
	}
}

// Attempt is the expected failure of one delivery: its error message and whether (and after
// how long) retrying may help.
type Attempt struct {
	Retryable bool
	After     time.Duration
	Err       string
}

// CheckAttempts sends the sample message through n once per attempt, checking each failure,
// then once more, which must be delivered.
func CheckAttempts(t *testing.T, n notify.Notifier, attempts []Attempt) {
	t.Helper()
	for i, want := range attempts {
		err := n.Notify(context.Background(), Message())
		ok, after := notify.IsRetryable(err)
		if err == nil || ok != want.Retryable || after != want.After || err.Error() != want.Err {
			t.Errorf("attempt %d: %v (retryable %v, after %v); want %q (retryable %v, after %v)",
				i+1, err, ok, after, want.Err, want.Retryable, want.After)
		}
	}
	if err := n.Notify(context.Background(), Message()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}
