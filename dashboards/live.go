package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LiveResult is the outcome of one dashboard query run against a Prometheus server.
type LiveResult struct {
	Query
	// Expanded is the expression sent, with the variables substituted.
	Expanded string
	// Series is the number of series (or 1 for a scalar) in the result.
	Series int
	// Err is a query error: the expression does not expand, Prometheus rejects it, or the
	// request fails.
	Err error
}

// RunQueries runs every dashboard query against the Prometheus at promURL (e.g.
// "http://127.0.0.1:9090") as Grafana would: instant queries at now, range queries over the
// last five minutes at a 15 s step. vars gives the variable values (see DefaultVars).
// The end-to-end test uses it: any Err fails, and so does a core query group that returns
// no series.
func RunQueries(ctx context.Context, client *http.Client, promURL string, vars map[string]string) ([]LiveResult, error) {
	qs, err := Queries()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]LiveResult, 0, len(qs))
	for _, q := range qs {
		r := LiveResult{Query: q}
		r.Expanded, r.Err = Expand(q.Expr, vars)
		if r.Err == nil {
			r.Series, r.Err = query(ctx, client, promURL, r.Expanded, q.Instant, now)
		}
		out = append(out, r)
	}
	return out, nil
}

// EmptyCorePanels returns the core panels none of whose queries returned a series.
func EmptyCorePanels(results []LiveResult) []PanelRef {
	series := map[PanelRef]int{}
	var order []PanelRef
	for _, r := range results {
		if !r.Core {
			continue
		}
		ref := PanelRef{r.DashboardUID, r.PanelID}
		if _, seen := series[ref]; !seen {
			order = append(order, ref)
		}
		series[ref] += r.Series
	}
	var empty []PanelRef
	for _, ref := range order {
		if series[ref] == 0 {
			empty = append(empty, ref)
		}
	}
	return empty
}

func query(ctx context.Context, client *http.Client, promURL, expr string, instant bool, now time.Time) (int, error) {
	params := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if instant {
		params.Set("time", formatTime(now))
	} else {
		path = "/api/v1/query_range"
		params.Set("start", formatTime(now.Add(-5*time.Minute)))
		params.Set("end", formatTime(now))
		params.Set("step", "15")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(promURL, "/")+path, strings.NewReader(params.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, fmt.Errorf("reading the response of %s: %w", path, err)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("%s answered %s: %w", path, resp.Status, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", path, r.Error)
	}
	switch r.Data.ResultType {
	case "scalar", "string":
		return 1, nil
	default: // vector, matrix
		var series []json.RawMessage
		if err := json.Unmarshal(r.Data.Result, &series); err != nil {
			return 0, fmt.Errorf("%s: result: %w", path, err)
		}
		return len(series), nil
	}
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}
