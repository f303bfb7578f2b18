package config

import (
	"fmt"
	"net"
	"regexp"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// DefaultTCPProbe holds blackbox_exporter's defaults for the `tcp:` section. A module without
// a `tcp:` key gets these too (the module's UnmarshalYAML starts from them).
var DefaultTCPProbe = TCPProbe{
	IPProtocolFallback: true,
}

// TCPProbe is the `tcp:` section of a module (blackbox_exporter's keys and defaults).
type TCPProbe struct {
	IPProtocol         string               `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool                 `yaml:"ip_protocol_fallback,omitempty"`
	SourceIPAddress    string               `yaml:"source_ip_address,omitempty"`
	QueryResponse      []QueryResponse      `yaml:"query_response,omitempty"`
	TLS                bool                 `yaml:"tls,omitempty"`
	TLSConfig          promconfig.TLSConfig `yaml:"tls_config,omitempty"`
}

// QueryResponse is one step of a tcp probe's dialogue: wait for a line matching Expect, send
// Send (which may use the match's groups, "${1}"), upgrade to TLS when StartTLS is set.
// Labels (blackbox_exporter 0.26) export values taken from the match on probe_expect_info.
type QueryResponse struct {
	Expect   string  `yaml:"expect,omitempty"`
	Labels   []Label `yaml:"labels,omitempty"`
	Send     string  `yaml:"send,omitempty"`
	StartTLS bool    `yaml:"starttls,omitempty"`

	expect *regexp.Regexp // compiled Expect, set by TCPProbe.UnmarshalYAML
}

// Label is one label of probe_expect_info; Value may refer to groups of the step's Expect.
type Label struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// ExpectRegexp returns the compiled Expect, or nil when the step expects nothing.
func (qr *QueryResponse) ExpectRegexp() *regexp.Regexp { return qr.expect }

// UnmarshalYAML applies blackbox_exporter's defaults and validates the section. It uses the
// function form so that the caller's strict decoding (unknown keys are errors) carries over.
func (s *TCPProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*s = DefaultTCPProbe
	type plain TCPProbe
	if err := unmarshal((*plain)(s)); err != nil {
		return nestedError("tcp", err)
	}
	return s.Validate()
}

// Validate checks the section and compiles its regexps. UnmarshalYAML calls it; a section built
// in Go must call it before it is probed.
func (s *TCPProbe) Validate() error {
	if err := validateIPProtocol(s.IPProtocol); err != nil {
		return fmt.Errorf("tcp.%w", err)
	}
	if err := validateSourceIP(s.SourceIPAddress); err != nil {
		return fmt.Errorf("tcp.%w", err)
	}
	if err := s.TLSConfig.Validate(); err != nil { // for sections built in Go
		return fmt.Errorf("tcp.tls_config: %w", err)
	}
	labelled := -1
	for i := range s.QueryResponse {
		qr := &s.QueryResponse[i]
		if qr.Expect != "" {
			re, err := regexp.Compile(qr.Expect)
			if err != nil {
				return fmt.Errorf("tcp.query_response[%d].expect: invalid regexp %q: %w", i, qr.Expect, err)
			}
			qr.expect = re
		}
		if len(qr.Labels) == 0 {
			continue
		}
		if qr.expect == nil {
			return fmt.Errorf("tcp.query_response[%d].labels: needs an expect in the same step to take values from", i)
		}
		// probe_expect_info is one metric per probe; two steps with labels would register it twice.
		if labelled >= 0 {
			return fmt.Errorf("tcp.query_response[%d].labels: only one step may have labels (step %d has them already)", i, labelled)
		}
		labelled = i
		seen := map[string]bool{}
		for j, l := range qr.Labels {
			if !model.LabelName(l.Name).IsValidLegacy() {
				return fmt.Errorf("tcp.query_response[%d].labels[%d].name: invalid label name %q", i, j, l.Name)
			}
			if seen[l.Name] {
				return fmt.Errorf("tcp.query_response[%d].labels[%d].name: duplicate label name %q", i, j, l.Name)
			}
			seen[l.Name] = true
		}
	}
	return nil
}

// validateIPProtocol checks a preferred_ip_protocol value; empty means blackbox's default, ip6.
func validateIPProtocol(p string) error {
	switch p {
	case "", "ip4", "ip6":
		return nil
	}
	return fmt.Errorf("preferred_ip_protocol: %q is not one of ip4, ip6", p)
}

// validateSourceIP checks a source_ip_address value; empty means the system's choice.
func validateSourceIP(ip string) error {
	if ip != "" && net.ParseIP(ip) == nil {
		return fmt.Errorf("source_ip_address: %q is not an IP address", ip)
	}
	return nil
}
