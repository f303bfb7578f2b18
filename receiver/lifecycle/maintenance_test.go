package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/siteward/siteward/receiver/config"
	"github.com/siteward/siteward/receiver/store"
)

func TestMaintenanceWindowSilencesClientNotices(t *testing.T) {
	f := newFixture(t)
	cfg, err := config.Parse([]byte(cfgYAML+`
maintenance:
  - {client: acme, sites: [shop], start: 2026-11-27T11:00:00Z, end: 2026-11-27T13:00:00Z}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	f.svc.SetConfig(cfg)
	ctx := context.Background()
	for _, site := range []string{"shop", "blog"} { // shop is inside the window, blog is not
		if _, err := f.svc.Ingest(ctx, []store.Alert{{Fingerprint: site, Status: "firing", StartsAt: t0,
			Labels: map[string]string{"alertname": "SiteDown", "client": "acme", "site": site, "severity": "critical"}}}); err != nil {
			t.Fatal(err)
		}
	}
	f.advance(20 * time.Minute)
	incs, err := f.store.Incidents(ctx, store.IncidentFilter{Open: true})
	if err != nil {
		t.Fatal(err)
	}
	clientNotices := map[string]int{}
	for _, inc := range incs {
		for _, n := range f.notices(inc.ID) {
			if n.Audience == "client" {
				clientNotices[inc.Sites[0]]++
			}
		}
	}
	if clientNotices["shop"] != 0 || clientNotices["blog"] != 1 {
		t.Errorf("client notices by site = %v, want none for shop (maintenance) and one for blog", clientNotices)
	}
}

func TestMaintenanceWindowFromTheAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.AddMaintenance(ctx, store.MaintenanceWindow{Client: "acme", Start: t0.Add(-time.Hour), End: t0.Add(-time.Minute)}); err == nil {
		t.Error("a window that already ended: want an error")
	}
	w, err := f.svc.AddMaintenance(ctx, store.MaintenanceWindow{Client: "acme", Start: t0.Add(-time.Minute), End: t0.Add(time.Hour), Actor: "erin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Ingest(ctx, []store.Alert{{Fingerprint: "a", Status: "firing", StartsAt: t0,
		Labels: map[string]string{"alertname": "SiteDown", "client": "acme", "site": "shop", "severity": "critical"}}}); err != nil {
		t.Fatal(err)
	}
	f.advance(20 * time.Minute)
	incs, err := f.store.Incidents(ctx, store.IncidentFilter{Open: true})
	if err != nil || len(incs) != 1 {
		t.Fatalf("open incidents: %v %d", err, len(incs))
	}
	for _, n := range f.notices(incs[0].ID) {
		if n.Audience == "client" {
			t.Errorf("client notice %s inside the API's maintenance window", n.Event)
		}
	}
	if err := f.svc.DeleteMaintenance(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if f.svc.InMaintenance(f.svc.Config(), "acme", []string{"shop"}, f.now) {
		t.Error("still in maintenance after deleting the window")
	}
}
