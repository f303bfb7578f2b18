package teams

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/notifytest"
)

func TestConfigInvalid(t *testing.T) {
	notifytest.CheckInvalidConfigs[Config](t, map[string]string{
		"missing_url.yml":      "teams: webhook_url or webhook_url_file is required",
		"both_url.yml":         "teams: at most one of webhook_url and webhook_url_file may be set",
		"relative_url.yml":     "teams: webhook_url: scheme must be http or https",
		"unknown_key.yml":      `teams: line 2: unknown key "card_version"`,
		"negative_timeout.yml": "teams: timeout: must not be negative",
	})
}

func TestPayload(t *testing.T) {
	srv := notifytest.NewServer(t, notifytest.Response{Status: http.StatusAccepted})
	n, err := New(&Config{WebhookURL: commoncfg.Secret(srv.URL + "/workflows/abc/triggers/manual/paths/invoke")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	m := notifytest.Message()
	m.Event = notify.EventIncidentResolved
	m.Audience = notify.AudienceTeam
	m.Incident.Drill = true
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	want := `{
	  "type": "message",
	  "attachments": [{
	    "contentType": "application/vnd.microsoft.card.adaptive",
	    "contentUrl": null,
	    "content": {
	      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
	      "type": "AdaptiveCard",
	      "version": "1.4",
	      "body": [
	        {"type": "TextBlock", "text": "Investigating: shop.acme.example is down", "weight": "Bolder", "size": "Medium", "color": "Good", "wrap": true},
	        {"type": "TextBlock", "text": "We have detected an issue affecting your website and are currently investigating. We will provide an update within 30 minutes.", "wrap": true},
	        {"type": "FactSet", "facts": [
	          {"title": "Sites", "value": "shop, blog"},
	          {"title": "State", "value": "investigating"},
	          {"title": "Client", "value": "acme"},
	          {"title": "Severity", "value": "critical"},
	          {"title": "Failure type", "value": "ssl"},
	          {"title": "Owner", "value": "alice"},
	          {"title": "Incident", "value": "inc-42"},
	          {"title": "Drill", "value": "yes: a practice incident"}
	        ]}
	      ],
	      "actions": [{"type": "Action.OpenUrl", "title": "Open incident", "url": "https://siteward.example/incidents/inc-42"}],
	      "msteams": {"width": "Full"}
	    }
	  }]
	}`
	notifytest.AssertJSON(t, reqs[0].Body, want)
}

func TestClassification(t *testing.T) {
	srv := notifytest.NewServer(t,
		notifytest.Response{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"11"}}},
		notifytest.Response{Status: http.StatusBadGateway},
		notifytest.Response{Status: http.StatusBadRequest, Body: `{"error":{"code":"InvalidRequestContent"}}`},
	)
	n, err := New(&Config{WebhookURL: commoncfg.Secret(srv.URL)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	notifytest.CheckAttempts(t, n, []notifytest.Attempt{
		{Retryable: true, After: 11 * time.Second, Err: "teams: unexpected status 429 Too Many Requests"},
		{Retryable: true, Err: "teams: unexpected status 502 Bad Gateway"},
		{Err: `teams: unexpected status 400 Bad Request: "{\"error\":{\"code\":\"InvalidRequestContent\"}}"`},
	})
}
