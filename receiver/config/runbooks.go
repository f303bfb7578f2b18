package config

import (
	"fmt"
	"maps"
	"slices"
)

// FailureTypes are the exporter's failure_type values; each has a runbook.
var FailureTypes = []string{"dns", "connect", "timeout", "ssl", "http", "content"}

// Runbook is what responders do for one failure type (docs/runbooks.md has the same table).
type Runbook struct {
	Title       string   `yaml:"title,omitempty" json:"title,omitempty"`
	URL         string   `yaml:"url,omitempty" json:"url,omitempty"`
	LikelyCause string   `yaml:"likely_cause,omitempty" json:"likely_cause,omitempty"`
	Actions     []string `yaml:"actions,omitempty" json:"actions,omitempty"`
	Prevention  []string `yaml:"prevention,omitempty" json:"prevention,omitempty"`
}

const runbookBase = "https://github.com/siteward/siteward/blob/main/docs/runbooks.md#"

// DefaultRunbooks are seeded with the playbook's table (symptom -> likely cause -> action).
func DefaultRunbooks() map[string]Runbook {
	return map[string]Runbook{
		"http": {
			Title:       "HTTP errors (e.g. 503)",
			LikelyCause: "Server overload or a failing application/backend service.",
			Actions:     []string{"Check the web server and application logs", "Restart the failing services", "Scale resources (CPU, memory, workers) if the server is overloaded", "Roll back a recent deploy if the errors started with it"},
			Prevention:  []string{"Capacity alerts before saturation", "Health checks and automatic restarts", "Load tests before big launches"},
		},
		"ssl": {
			Title:       "SSL/TLS certificate errors",
			LikelyCause: "Expired, not yet valid or mismatched certificate, or an untrusted chain.",
			Actions:     []string{"Check the certificate's expiry and names", "Renew or reissue the certificate", "Install the full chain and reload the web server"},
			Prevention:  []string{"Automatic renewal (ACME) with monitoring of the renewal job", "Certificate expiry alerts at 14 and 3 days"},
		},
		"dns": {
			Title:       "DNS failures",
			LikelyCause: "Misconfigured or missing DNS records, or a failing DNS provider.",
			Actions:     []string{"Query the authoritative servers for the records", "Correct the records", "Verify the TTL and wait for propagation"},
			Prevention:  []string{"DNS changes through review", "Low TTL before planned changes", "Registrar and domain expiry monitoring"},
		},
		"timeout": {
			Title:       "Timeouts",
			LikelyCause: "Network issue between the probe and the site, or a hung server.",
			Actions:     []string{"Check from another location whether the site answers", "Check the server's load and network", "Contact the hosting provider"},
			Prevention:  []string{"Probes from several locations", "Hosting provider status page subscription"},
		},
		"connect": {
			Title:       "Connection failures",
			LikelyCause: "Web server down, firewall change, or the host is unreachable.",
			Actions:     []string{"Check that the web server process runs and listens", "Check firewall and security group changes", "Restart the web server or the host"},
			Prevention:  []string{"Process supervision with automatic restart", "Firewall changes through review"},
		},
		"content": {
			Title:       "Wrong content",
			LikelyCause: "The site answers but shows an error page, a defaced or an empty page.",
			Actions:     []string{"Open the page and compare with the expected content", "Check the latest deploy and the CMS", "Restore the last good version"},
			Prevention:  []string{"Content checks in the deploy pipeline", "Staging review before publishing"},
		},
	}
}

// validateRunbooks merges configured runbooks over the defaults; a configured runbook
// replaces the fields it sets.
func validateRunbooks(configured map[string]Runbook) (map[string]Runbook, error) {
	out := DefaultRunbooks()
	for _, ft := range slices.Sorted(maps.Keys(configured)) {
		rb := configured[ft]
		if !slices.Contains(FailureTypes, ft) && ft != "default" {
			return nil, fmt.Errorf("runbooks.%s: unknown failure type (one of %v or default)", ft, FailureTypes)
		}
		base := out[ft]
		if rb.Title != "" {
			base.Title = rb.Title
		}
		if rb.URL != "" {
			base.URL = rb.URL
		}
		if rb.LikelyCause != "" {
			base.LikelyCause = rb.LikelyCause
		}
		if rb.Actions != nil {
			base.Actions = rb.Actions
		}
		if rb.Prevention != nil {
			base.Prevention = rb.Prevention
		}
		out[ft] = base
	}
	for ft, rb := range out {
		if rb.URL == "" {
			rb.URL = runbookBase + ft
			out[ft] = rb
		}
	}
	return out, nil
}

// Runbook returns the runbook of a failure type, or a generic one for an unknown type.
func (c *Config) Runbook(failureType string) Runbook {
	if rb, ok := c.Runbooks[failureType]; ok {
		return rb
	}
	if rb, ok := c.Runbooks["default"]; ok {
		return rb
	}
	return Runbook{
		Title:       "Unclassified failure",
		URL:         runbookBase[:len(runbookBase)-1],
		LikelyCause: "Unknown: the alert carries no known failure_type.",
		Actions:     []string{"Open the site and the probe's debug output", "Classify the failure and follow its runbook"},
	}
}
