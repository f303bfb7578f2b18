package receiver

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/receiver/store"
)

// lifecycleMetrics observes committed transitions (lifecycle.Observer). Durations are
// measured from detection (the receiver opening the incident).
type lifecycleMetrics struct {
	toAck, toFirstNotice, toResolve *prometheus.HistogramVec
	watchdogLastSeen                prometheus.Gauge
}

var incidentBuckets = []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400}

func newLifecycleMetrics(reg prometheus.Registerer) *lifecycleMetrics {
	h := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: incidentBuckets}, []string{"drill"})
	}
	m := &lifecycleMetrics{
		toAck:         h("siteward_incident_time_to_acknowledge_seconds", "Time from detection to the first acknowledgement."),
		toFirstNotice: h("siteward_incident_time_to_first_notice_seconds", "Time from detection to the client's first notice."),
		toResolve:     h("siteward_incident_time_to_resolve_seconds", "Time from detection to resolution."),
		watchdogLastSeen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "siteward_watchdog_last_seen_timestamp_seconds",
			Help: "When this receiver last recorded a Watchdog heartbeat (Unix seconds).",
		}),
	}
	for _, drill := range []string{"false", "true"} {
		m.toAck.WithLabelValues(drill)
		m.toFirstNotice.WithLabelValues(drill)
		m.toResolve.WithLabelValues(drill)
	}
	reg.MustRegister(m.toAck, m.toFirstNotice, m.toResolve, m.watchdogLastSeen)
	return m
}

func (m *lifecycleMetrics) Transition(before, after *store.Incident) {
	if after == nil {
		return
	}
	var was store.Incident
	if before != nil {
		was = *before
	}
	drill := strconv.FormatBool(after.Drill)
	if was.AcknowledgedAt.IsZero() && !after.AcknowledgedAt.IsZero() {
		m.toAck.WithLabelValues(drill).Observe(after.AcknowledgedAt.Sub(after.DetectedAt).Seconds())
	}
	if was.FirstNoticeAt.IsZero() && !after.FirstNoticeAt.IsZero() {
		m.toFirstNotice.WithLabelValues(drill).Observe(after.FirstNoticeAt.Sub(after.DetectedAt).Seconds())
	}
	if was.ResolvedAt.IsZero() && !after.ResolvedAt.IsZero() {
		m.toResolve.WithLabelValues(drill).Observe(after.ResolvedAt.Sub(after.DetectedAt).Seconds())
	}
}

func (m *lifecycleMetrics) Heartbeat(at time.Time) {
	m.watchdogLastSeen.Set(float64(at.UnixNano()) / 1e9)
}

// storeCollector reads gauges from the store at scrape time, so they are right whichever
// replica changed the data.
type storeCollector struct {
	store   store.Store
	logger  *slog.Logger
	open    *prometheus.Desc
	pending *prometheus.Desc
}

func newStoreCollector(s store.Store, logger *slog.Logger) *storeCollector {
	return &storeCollector{
		store: s, logger: logger,
		open:    prometheus.NewDesc("siteward_incidents_open", "Incidents not resolved, by client, severity and drill.", []string{"client", "severity", "drill"}, nil),
		pending: prometheus.NewDesc("siteward_outbox_pending", "Notices waiting for delivery (the outbox backlog).", nil, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.pending
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	incs, err := c.store.Incidents(ctx, store.IncidentFilter{Open: true, Limit: -1})
	if err != nil {
		c.logger.Warn("metrics: listing open incidents failed", "err", err)
		ch <- prometheus.NewInvalidMetric(c.open, err)
	} else {
		type key struct{ client, severity, drill string }
		counts := map[key]int{}
		for _, i := range incs {
			counts[key{i.Client, i.Severity, strconv.FormatBool(i.Drill)}]++
		}
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(n), k.client, k.severity, k.drill)
		}
	}
	n, err := c.store.PendingNotices(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pending, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
}
