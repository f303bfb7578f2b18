package exporter

import (
	"encoding/json"
	"net/http"

	"github.com/siteward/siteward/exporter/config"
)

// sdGroup is one target group of Prometheus' HTTP service discovery format.
type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// serveSD serves the clients inventory as Prometheus HTTP SD: one group per site.
func (e *Exporter) serveSD(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "This endpoint requires a GET request.", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(sdGroups(e.Config())); err != nil {
		e.logger.Error("Error writing service discovery response", "err", err)
	}
}

// sdGroups builds the groups in inventory order. Labels: the client's, then the site's (which
// win), then client, site, module and __param_module, which nothing overrides.
func sdGroups(cfg *config.Config) []sdGroup {
	groups := []sdGroup{}
	for _, client := range cfg.Clients {
		for _, site := range client.Sites {
			labels := map[string]string{}
			for k, v := range client.Labels {
				labels[k] = v
			}
			for k, v := range site.Labels {
				labels[k] = v
			}
			labels["client"] = client.Name
			labels["site"] = site.Name
			labels["module"] = site.Module
			labels["__param_module"] = site.Module
			groups = append(groups, sdGroup{Targets: []string{site.Target}, Labels: labels})
		}
	}
	return groups
}
