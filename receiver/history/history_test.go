package history_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/history"
	"github.com/siteward/siteward/receiver/history/historytest"
)

// outage: acme/shop fails from down to up (every probe), blog never fails.
func outageSamples(start, down, up, end time.Time) []historytest.Sample {
	failing := func(t time.Time) bool { return !t.Before(down) && t.Before(up) }
	var s []historytest.Sample
	s = append(s, historytest.Samples(`probe_success{client="acme",site="shop"}`, start, end, time.Minute, func(t time.Time) float64 {
		if failing(t) {
			return 0
		}
		return 1
	})...)
	s = append(s, historytest.Samples(`probe_success{client="acme",site="blog"}`, start, end, time.Minute, func(time.Time) float64 { return 1 })...)
	s = append(s, historytest.Samples(`probe_duration_seconds{client="acme",site="shop"}`, start, end, time.Minute, func(t time.Time) float64 {
		if failing(t) {
			return 2.5
		}
		return 0.25
	})...)
	s = append(s, historytest.Samples(`probe_failure_info{client="acme",site="shop",failure_type="http",reason="http_status"}`, down, up.Add(-time.Minute), time.Minute, func(time.Time) float64 { return 1 })...)
	s = append(s, historytest.Samples(`client_site:probe_success:mean30d{client="acme",site="shop"}`, start, end, time.Minute, func(time.Time) float64 { return 0.999 })...)
	return s
}

func TestPrometheusHistory(t *testing.T) {
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	start, down, up := end.Add(-2*time.Hour), end.Add(-80*time.Minute), end.Add(-50*time.Minute)
	url := historytest.Start(t, outageSamples(start, down, up, end))
	c, err := history.New(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	h, err := c.Around(ctx, "acme", []string{"shop"}, down.Add(-20*time.Minute), up.Add(20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Success) != 1 || h.Success[0].Site != "shop" {
		t.Fatalf("success series = %+v, want shop only", h.Success)
	}
	vals := map[float64]bool{}
	for _, p := range h.Success[0].Points {
		vals[p.V] = true
	}
	if !vals[0] || !vals[1] {
		t.Errorf("shop's success should be 1, then 0, then 1 again; values seen: %v", vals)
	}
	if len(h.Latency) != 1 || !slices.ContainsFunc(h.Latency[0].Points, func(p history.Point) bool { return p.V == 2.5 }) {
		t.Errorf("latency series lacks the 2.5s of the outage: %+v", h.Latency)
	}
	if got := h.Reasons["shop"]; !slices.Equal(got, []string{"http_status"}) {
		t.Errorf("failure reasons of shop = %v, want [http_status]", got)
	}

	a, err := c.Availability(ctx, "acme", []string{"shop", "blog"}, down, up.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// The alert fires a few minutes into the outage; the outage began at the first failed probe.
	fired, err := c.Availability(ctx, "acme", []string{"shop"}, down.Add(3*time.Minute), up.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !fired.FirstFailure.Equal(down) {
		t.Errorf("first failed probe = %s, want %s", fired.FirstFailure, down)
	}
	if healthy, err := c.Availability(ctx, "acme", []string{"blog"}, down.Add(3*time.Minute), up); err != nil || !healthy.FirstFailure.IsZero() {
		t.Errorf("first failure of a healthy site = %s, %v; want none", healthy.FirstFailure, err)
	}
	if v, ok := a.During["shop"]; !ok || v != 0 {
		t.Errorf("shop's availability during the outage = %v (present %v), want 0", v, ok)
	}
	if v := a.During["blog"]; v != 1 {
		t.Errorf("blog's availability = %v, want 1", v)
	}
	if v := a.Days30["shop"]; math.Abs(v-0.999) > 1e-9 {
		t.Errorf("shop's 30-day availability = %v, want 0.999 from the recording rule", v)
	}

	days, err := c.DailyUptime(ctx, "acme", 90, end)
	if err != nil {
		t.Fatal(err)
	}
	bar := days["shop"]
	if len(bar) != 90 {
		t.Fatalf("shop's bar has %d days, want 90", len(bar))
	}
	if !slices.ContainsFunc(bar, func(d history.Day) bool { return d.Ratio > 0 && d.Ratio < 1 }) {
		t.Errorf("no day with an uptime between 0 and 1 (the outage day): %v", bar[85:])
	}
	if bar[0].Ratio != -1 {
		t.Errorf("a day without samples = %v, want -1 (no data)", bar[0].Ratio)
	}

	svg := string(history.SVG(h, []history.Mark{{At: down, Label: "started"}}))
	for _, want := range []string{"<svg", `role="img"`, "<polyline", "started", "lowest probe success 0%"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestPrometheusDown(t *testing.T) {
	c, err := history.New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := c.Around(context.Background(), "acme", []string{"shop"}, now.Add(-time.Hour), now); err == nil {
		t.Error("Around against a closed port: want an error")
	}
	if _, err := c.DailyUptime(context.Background(), "acme", 90, now); err == nil {
		t.Error("DailyUptime against a closed port: want an error")
	}
}
