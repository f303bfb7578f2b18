// Package history reads a site's status history from Prometheus (probe success, latency,
// failure reasons, availability) with client_golang's API client, for the incident pages,
// the post-mortem and the status page's 90-day uptime bars. Every method returns an error
// when Prometheus is not reachable; callers show "history unavailable" and carry on.
package history

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/siteward/siteward/receiver/postmortem"
)

// queryTimeout bounds each query so a slow Prometheus does not hold a page.
const queryTimeout = 5 * time.Second

// Point is one sample.
type Point struct {
	T time.Time
	V float64
}

// Series is one site's samples.
type Series struct {
	Site   string
	Points []Point
}

// History of an incident's sites around the incident.
type History struct {
	Start, End time.Time
	Success    []Series // average probe_success (0..1) across probe locations
	Latency    []Series // average probe_duration_seconds
	// Reasons are the probe_failure_info reasons seen in the window, per site.
	Reasons map[string][]string
}

// Client queries one Prometheus server.
type Client struct {
	api v1.API
	url string
}

// New returns a client for the Prometheus server at url (e.g. http://localhost:9090).
func New(url string) (*Client, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", url, err)
	}
	return &Client{api: v1.NewAPI(c), url: url}, nil
}

// URL is the server's address.
func (c *Client) URL() string { return c.url }

// selector matches the probe series of a client's sites.
func selector(metric, client string, sites []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s{client=%s", metric, strconv.Quote(client))
	if len(sites) > 0 {
		quoted := make([]string, len(sites))
		for i, s := range sites {
			quoted[i] = regexp.QuoteMeta(s)
		}
		fmt.Fprintf(&b, ",site=~%s", strconv.Quote(strings.Join(quoted, "|")))
	}
	b.WriteString("}")
	return b.String()
}

func (c *Client) rangeQuery(ctx context.Context, q string, r v1.Range) (model.Matrix, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	v, _, _, err := c.api.QueryRange(ctx, q, r)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %s: %w", q, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("prometheus query %s: want a matrix, got %s", q, v.Type())
	}
	return m, nil
}

func (c *Client) instantQuery(ctx context.Context, q string, at time.Time) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	v, _, _, err := c.api.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %s: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus query %s: want a vector, got %s", q, v.Type())
	}
	return vec, nil
}

func toSeries(m model.Matrix) []Series {
	out := make([]Series, 0, len(m))
	for _, s := range m {
		ser := Series{Site: string(s.Metric["site"])}
		for _, p := range s.Values {
			ser.Points = append(ser.Points, Point{T: p.Timestamp.Time().UTC(), V: float64(p.Value)})
		}
		out = append(out, ser)
	}
	slices.SortFunc(out, func(a, b Series) int { return strings.Compare(a.Site, b.Site) })
	return out
}

// chartPoints is about how many points a chart gets.
const chartPoints = 120

// Around returns the history of client's sites between start and end.
func (c *Client) Around(ctx context.Context, client string, sites []string, start, end time.Time) (*History, error) {
	step := max(end.Sub(start)/chartPoints, 15*time.Second).Round(time.Second)
	r := v1.Range{Start: start, End: end, Step: step}
	h := &History{Start: start, End: end, Reasons: map[string][]string{}}
	m, err := c.rangeQuery(ctx, "avg by (site) ("+selector("probe_success", client, sites)+")", r)
	if err != nil {
		return nil, err
	}
	h.Success = toSeries(m)
	if m, err = c.rangeQuery(ctx, "avg by (site) ("+selector("probe_duration_seconds", client, sites)+")", r); err != nil {
		return nil, err
	}
	h.Latency = toSeries(m)
	window := fmt.Sprintf("%ds", int(end.Sub(start).Seconds())+1)
	vec, err := c.instantQuery(ctx, "count by (site, reason) (count_over_time("+selector("probe_failure_info", client, sites)+"["+window+"]))", end)
	if err != nil {
		return nil, err
	}
	for _, s := range vec {
		site := string(s.Metric["site"])
		h.Reasons[site] = append(h.Reasons[site], string(s.Metric["reason"]))
	}
	for _, rs := range h.Reasons {
		slices.Sort(rs)
	}
	return h, nil
}

// Availability of client's sites between start and end, and over the 30 days up to end
// (the recording rule client_site:probe_success:mean30d when it exists).
func (c *Client) Availability(ctx context.Context, client string, sites []string, start, end time.Time) (*postmortem.Availability, error) {
	a := &postmortem.Availability{During: map[string]float64{}, Days30: map[string]float64{}}
	if end.After(start) {
		window := fmt.Sprintf("%ds", int(end.Sub(start).Seconds())+1)
		vec, err := c.instantQuery(ctx, "avg by (site) (avg_over_time("+selector("probe_success", client, sites)+"["+window+"]))", end)
		if err != nil {
			return nil, err
		}
		for _, s := range vec {
			a.During[string(s.Metric["site"])] = float64(s.Value)
		}
	}
	vec, err := c.instantQuery(ctx, "avg by (site) ("+selector("client_site:probe_success:mean30d", client, sites)+")", end)
	if err != nil {
		return nil, err
	}
	for _, s := range vec {
		a.Days30[string(s.Metric["site"])] = float64(s.Value)
	}
	if a.FirstFailure, err = c.firstFailure(ctx, client, sites, start); err != nil {
		return nil, err
	}
	return a, nil
}

// firstFailure returns when the run of failed probes still going on at t began (any of the
// sites, any location), to within firstFailureStep; zero when no probe was failing at t.
func (c *Client) firstFailure(ctx context.Context, client string, sites []string, t time.Time) (time.Time, error) {
	r := v1.Range{Start: t.Add(-firstFailureLookback), End: t, Step: firstFailureStep}
	m, err := c.rangeQuery(ctx, "min("+selector("probe_success", client, sites)+")", r)
	if err != nil || len(m) == 0 {
		return time.Time{}, err
	}
	var first time.Time
	for ps, i := m[0].Values, len(m[0].Values)-1; i >= 0 && ps[i].Value == 0; i-- {
		first = ps[i].Timestamp.Time().UTC()
	}
	return first, nil
}

// How far back and how finely firstFailure looks: alerts fire within a few minutes of the
// first failed probe, and probes run every 15 s by default.
const (
	firstFailureLookback = 30 * time.Minute
	firstFailureStep     = 5 * time.Second
)

// Day is one day of a site's uptime bar; Ratio is -1 when there is no data.
type Day struct {
	Date  time.Time
	Ratio float64
}

// DailyUptime returns, per site of client, the share of successful probes for each of the
// days days ending with the day of end (UTC days).
func (c *Client) DailyUptime(ctx context.Context, client string, days int, end time.Time) (map[string][]Day, error) {
	endDay := end.UTC().Truncate(24 * time.Hour).Add(24*time.Hour - time.Second)
	startDay := endDay.Add(-time.Duration(days-1) * 24 * time.Hour)
	m, err := c.rangeQuery(ctx, "avg by (site) (avg_over_time("+selector("probe_success", client, nil)+"[1d]))",
		v1.Range{Start: startDay, End: endDay, Step: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	out := map[string][]Day{}
	for _, s := range toSeries(m) {
		byDay := map[time.Time]float64{}
		for _, p := range s.Points {
			byDay[p.T.Truncate(24*time.Hour)] = p.V
		}
		bar := make([]Day, days)
		for i := range bar {
			d := startDay.Add(time.Duration(i) * 24 * time.Hour).Truncate(24 * time.Hour)
			bar[i] = Day{Date: d, Ratio: -1}
			if v, ok := byDay[d]; ok {
				bar[i].Ratio = v
			}
		}
		out[s.Site] = bar
	}
	return out, nil
}
