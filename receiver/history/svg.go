package history

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// Mark is a labelled moment drawn as a vertical line (incident start, recovery).
type Mark struct {
	At    time.Time
	Label string
}

// Chart geometry (SVG user units; the SVG scales to the page width).
const (
	chartWidth  = 720
	panelHeight = 90
	marginLeft  = 56
	marginRight = 12
	gap         = 34
)

var palette = []string{"#1f6feb", "#d97706", "#7c3aed", "#059669", "#db2777"}

// SVG draws the history as two panels, probe success (0..1) and latency, one line per site,
// with the marks as dashed vertical lines. It needs no JavaScript; the text alternative
// (title and desc) says what the chart shows.
func SVG(h *History, marks []Mark) template.HTML {
	height := 2*panelHeight + 2*gap + 20
	span := h.End.Sub(h.Start).Seconds()
	if span <= 0 {
		span = 1
	}
	plotW := float64(chartWidth - marginLeft - marginRight)
	x := func(t time.Time) float64 { return marginLeft + plotW*t.Sub(h.Start).Seconds()/span }
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	var desc []string
	for _, s := range h.Success {
		lowest := 1.0
		for _, pt := range s.Points {
			lowest = min(lowest, pt.V)
		}
		desc = append(desc, fmt.Sprintf("%s: lowest probe success %.0f%%", s.Site, lowest*100))
	}
	if len(desc) == 0 {
		desc = append(desc, "no probe data in this window")
	}
	p(`<svg class="history" viewBox="0 0 %d %d" role="img" aria-labelledby="history-title history-desc" xmlns="http://www.w3.org/2000/svg">`, chartWidth, height)
	p(`<title id="history-title">Status history %s to %s</title>`, h.Start.UTC().Format("2006-01-02 15:04"), h.End.UTC().Format("2006-01-02 15:04 UTC"))
	p(`<desc id="history-desc">%s</desc>`, html.EscapeString(strings.Join(desc, "; ")))

	maxLatency := 0.0
	for _, s := range h.Latency {
		for _, pt := range s.Points {
			maxLatency = max(maxLatency, pt.V)
		}
	}
	if maxLatency == 0 {
		maxLatency = 1
	}
	panels := []struct {
		title  string
		series []Series
		top    float64
		maxV   float64
		format string
	}{
		{"Probe success", h.Success, gap - 14, 1, "%.0f%%"},
		{"Probe duration (s)", h.Latency, gap - 14 + panelHeight + gap, maxLatency, "%.2fs"},
	}
	for pi, pn := range panels {
		top := pn.top + 14
		p(`<text x="%d" y="%.0f" class="panel-title">%s</text>`, marginLeft, pn.top+6, pn.title)
		p(`<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="#f6f8fa" stroke="#d0d7de"/>`, marginLeft, top, plotW, panelHeight)
		top100 := pn.maxV
		if pi == 0 {
			top100 = 100
		}
		p(`<text x="%d" y="%.0f" text-anchor="end" class="axis">%s</text>`, marginLeft-4, top+8, fmt.Sprintf(pn.format, top100))
		p(`<text x="%d" y="%.0f" text-anchor="end" class="axis">%s</text>`, marginLeft-4, top+panelHeight, fmt.Sprintf(pn.format, 0.0))
		for si, s := range pn.series {
			var pts []string
			for _, pt := range s.Points {
				y := top + panelHeight - panelHeight*pt.V/pn.maxV
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(pt.T), y))
			}
			color := palette[si%len(palette)]
			p(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`, color, strings.Join(pts, " "), html.EscapeString(s.Site))
		}
		for _, m := range marks {
			if m.At.Before(h.Start) || m.At.After(h.End) {
				continue
			}
			mx := x(m.At)
			p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#cf222e" stroke-dasharray="4 3"/>`, mx, top, mx, top+panelHeight)
			if pi == 0 {
				// Labels near the right edge go left of their line so they stay inside.
				if mx > chartWidth-marginRight-80 {
					p(`<text x="%.1f" y="%.0f" text-anchor="end" class="mark">%s</text>`, mx-3, top+panelHeight-4, html.EscapeString(m.Label))
				} else {
					p(`<text x="%.1f" y="%.0f" class="mark">%s</text>`, mx+3, top+panelHeight-4, html.EscapeString(m.Label))
				}
			}
		}
	}
	// Legend and time axis.
	ly := float64(height - 6)
	p(`<text x="%d" y="%.0f" class="axis">%s</text>`, marginLeft, ly, h.Start.UTC().Format("15:04"))
	p(`<text x="%d" y="%.0f" text-anchor="end" class="axis">%s UTC</text>`, chartWidth-marginRight, ly, h.End.UTC().Format("15:04"))
	lx := marginLeft + 60
	for si, s := range h.Success {
		p(`<rect x="%d" y="%.0f" width="10" height="10" fill="%s"/><text x="%d" y="%.0f" class="axis">%s</text>`,
			lx, ly-9, palette[si%len(palette)], lx+14, ly, html.EscapeString(s.Site))
		lx += 24 + 8*len(s.Site)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built here; every text is escaped
}
