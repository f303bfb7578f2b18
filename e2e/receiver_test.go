package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiToken authorises the test's calls to the receiver's API.
const apiToken = "e2e-api-token"

// Receiver timers in the fast tests: short, so the whole lifecycle runs in a minute.
const (
	firstNoticeDelay = 10 * time.Second // the client's first notice waits this long after opening
	resolveAfter     = 4 * time.Second  // quiet window in monitoring before resolved
)

// fastReceiverConfig is the receiver configuration of the fast tests (receiver/config format):
// the log channel for the team and every client, short timers, and the tokens Alertmanager and
// the test use. The on-call rotation is the default one-person rotation.
func fastReceiverConfig(clients ...string) func(dir string) string {
	return func(dir string) string {
		var b strings.Builder
		fmt.Fprintf(&b, `api:
  tokens: [%q, %q]
channels:
  - name: team-log
    log: {}
  - name: client-log
    log: {}
team:
  channels: [team-log]
timers:
  first_notice_delay: %s
  resolve_quiet_window: %s
clients:
`, webhookToken, apiToken, firstNoticeDelay, resolveAfter)
		for _, c := range clients {
			fmt.Fprintf(&b, "  - name: %s\n    public_status_page: true\n    channels: [client-log]\n", c)
		}
		return b.String()
	}
}

// incident is the receiver's JSON view of one incident, decoded loosely so that a missing or
// renamed field fails an assertion with the JSON in the message rather than a decode error.
type incident map[string]any

func (i incident) str(key string) string {
	s, _ := i[key].(string)
	return s
}

func (i incident) id() string {
	switch v := i["id"].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(int64(v))
	}
	return ""
}

// hasSite reports whether the incident covers site (a "sites" list or a "site" field).
func (i incident) hasSite(site string) bool {
	if i.str("site") == site {
		return true
	}
	sites, _ := i["sites"].([]any)
	for _, s := range sites {
		if s == site {
			return true
		}
		if m, ok := s.(map[string]any); ok && (m["site"] == site || m["name"] == site) {
			return true
		}
	}
	return false
}

// time parses an RFC 3339 timestamp field; zero when absent.
func (i incident) time(key string) time.Time {
	ts, _ := time.Parse(time.RFC3339Nano, i.str(key))
	return ts
}

// noticeCreated is when the receiver created the first notice of event for audience.
func (i incident) noticeCreated(event, audience string) time.Time {
	for _, n := range i.notices() {
		if n.event == event && n.audience == audience {
			ts, _ := time.Parse(time.RFC3339Nano, n.createdAt)
			return ts
		}
	}
	return time.Time{}
}

// hasAlert reports whether one of the incident's alerts is named alertname.
func (i incident) hasAlert(alertname string) bool {
	alerts, _ := i["alerts"].([]any)
	for _, a := range alerts {
		m, _ := a.(map[string]any)
		labels, _ := m["labels"].(map[string]any)
		if labels["alertname"] == alertname {
			return true
		}
	}
	return false
}

// otherClients reports whether the assessment lists client among the other clients affected.
func (i incident) otherClients(client string) bool {
	assessment, _ := i["assessment"].(map[string]any)
	others, _ := assessment["other_clients"].([]any)
	for _, o := range others {
		if o == client {
			return true
		}
	}
	return false
}

// notice is one outgoing message as the incident shows it.
type notice struct{ event, audience, status, createdAt string }

func (i incident) notices() []notice {
	list, _ := i["notices"].([]any)
	var out []notice
	for _, n := range list {
		m, _ := n.(map[string]any)
		str := func(k string) string { s, _ := m[k].(string); return s }
		out = append(out, notice{event: str("event"), audience: str("audience"), status: str("status"), createdAt: str("created_at")})
	}
	return out
}

// countNotices counts the incident's notices of event for audience, and those sent.
func (i incident) countNotices(event, audience string) (all, sent int) {
	for _, n := range i.notices() {
		if n.event == event && n.audience == audience {
			all++
			if n.status == "sent" {
				sent++
			}
		}
	}
	return all, sent
}

func (i incident) String() string {
	b, _ := json.Marshal(i)
	return string(b)
}

// incidents lists the client's incidents covering site (the list may be a bare array or
// wrapped in {"incidents": [...]}), each fetched in full by id.
func (p *pipeline) incidents(client, site string) ([]incident, string) {
	code, body := p.api("/api/v1/incidents?client=" + url.QueryEscape(client))
	if code != http.StatusOK {
		return nil, fmt.Sprintf("GET /api/v1/incidents?client=%s: %d %s", client, code, truncate(body))
	}
	var list []incident
	if err := json.Unmarshal(body, &list); err != nil {
		var wrapped struct {
			Incidents []incident `json:"incidents"`
		}
		if err := json.Unmarshal(body, &wrapped); err != nil {
			return nil, fmt.Sprintf("GET /api/v1/incidents: not a list of incidents: %s", truncate(body))
		}
		list = wrapped.Incidents
	}
	var out []incident
	for _, inc := range list {
		if inc.str("client") != client || !inc.hasSite(site) {
			continue
		}
		full, msg := p.incident(inc.id())
		if full == nil {
			return nil, msg
		}
		out = append(out, full)
	}
	return out, fmt.Sprintf("%d incidents for %s/%s: %v", len(out), client, site, out)
}

func (p *pipeline) incident(id string) (incident, string) {
	code, body := p.api("/api/v1/incidents/" + url.PathEscape(id))
	if code != http.StatusOK {
		return nil, fmt.Sprintf("GET /api/v1/incidents/%s: %d %s", id, code, truncate(body))
	}
	var inc incident
	if err := json.Unmarshal(body, &inc); err != nil {
		return nil, fmt.Sprintf("GET /api/v1/incidents/%s: %v: %s", id, err, truncate(body))
	}
	// {"incident": {...}, "timeline": [...], "notices": [...]}: lift the incident's fields.
	if nested, ok := inc["incident"].(map[string]any); ok {
		for k, v := range nested {
			inc[k] = v
		}
	}
	return inc, string(body)
}
