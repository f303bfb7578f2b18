package exporter

import "github.com/siteward/siteward/exporter/config"

// targetAllowed is the SSRF guard: /probe only probes a target that is a site of the clients
// inventory (compared exactly) or matched by an allowed_targets pattern. Without it anyone who
// can reach the exporter can make it fetch internal URLs.
func targetAllowed(cfg *config.Config, target string) bool {
	for _, client := range cfg.Clients {
		for _, site := range client.Sites {
			if site.Target == target {
				return true
			}
		}
	}
	for _, pattern := range cfg.AllowedTargets {
		if pattern.Match(target) {
			return true
		}
	}
	return false
}
