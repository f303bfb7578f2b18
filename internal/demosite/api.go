package demosite

import (
	"encoding/json"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"
)

// Handler is the control API:
//
//	GET  /                          the sites, their targets and modes (JSON with ?format=json)
//	POST /break?site=NAME&mode=MODE break a site (MODE: see BreakModes)
//	POST /restore[?site=NAME]       restore one site, or all of them
//	GET  /-/healthy, /-/ready       liveness and readiness (for scripts that wait)
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleList)
	mux.HandleFunc("POST /break", func(w http.ResponseWriter, r *http.Request) {
		site, mode := r.URL.Query().Get("site"), Mode(r.URL.Query().Get("mode"))
		if site == "" || mode == "" {
			http.Error(w, fmt.Sprintf("need ?site=NAME&mode=%s", joinModes()), http.StatusBadRequest)
			return
		}
		if err := s.Break(site, mode); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s is now %s\n", site, mode)
	})
	mux.HandleFunc("POST /restore", func(w http.ResponseWriter, r *http.Request) {
		site := r.URL.Query().Get("site")
		if err := s.Restore(site); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if site == "" {
			site = "every site"
		}
		fmt.Fprintf(w, "%s restored\n", site)
	})
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "OK") }
	mux.HandleFunc("GET /-/healthy", ok)
	mux.HandleFunc("GET /-/ready", ok)
	return mux
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	status := s.Status()
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tTARGET\tMODE\tSINCE")
	for _, st := range status {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.Key(), st.Target, st.Mode, st.Since.UTC().Format(time.RFC3339))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nDNS server: %s\nModes: %s\n", s.DNSAddr(), joinModes())
	if len(status) > 0 {
		fmt.Fprintf(w, "Break:   curl -X POST 'http://%s/break?site=%s&mode=503'\n", r.Host, status[0].Key())
		fmt.Fprintf(w, "Restore: curl -X POST 'http://%s/restore?site=%s'\n", r.Host, status[0].Key())
	}
}
