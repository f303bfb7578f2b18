package config

import (
	"fmt"
	"regexp"

	"github.com/miekg/dns"
	promconfig "github.com/prometheus/common/config"
)

// DefaultDNSProbe holds blackbox_exporter's defaults for the `dns:` section.
var DefaultDNSProbe = DNSProbe{
	IPProtocolFallback: true,
	Recursion:          true,
	TransportProtocol:  "udp",
}

// DNSProbe is the `dns:` section of a module (blackbox_exporter's keys and defaults).
type DNSProbe struct {
	IPProtocol         string               `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool                 `yaml:"ip_protocol_fallback,omitempty"`
	DNSOverTLS         bool                 `yaml:"dns_over_tls,omitempty"`
	TLSConfig          promconfig.TLSConfig `yaml:"tls_config,omitempty"`
	SourceIPAddress    string               `yaml:"source_ip_address,omitempty"`
	TransportProtocol  string               `yaml:"transport_protocol,omitempty"` // udp (default) or tcp
	QueryClass         string               `yaml:"query_class,omitempty"`        // default IN
	QueryName          string               `yaml:"query_name,omitempty"`
	QueryType          string               `yaml:"query_type,omitempty"` // default ANY
	Recursion          bool                 `yaml:"recursion_desired"`    // default true
	ValidRcodes        []string             `yaml:"valid_rcodes,omitempty"`
	ValidateAnswer     DNSRRValidator       `yaml:"validate_answer_rrs,omitempty"`
	ValidateAuthority  DNSRRValidator       `yaml:"validate_authority_rrs,omitempty"`
	ValidateAdditional DNSRRValidator       `yaml:"validate_additional_rrs,omitempty"`

	// Parsed forms of the strings above, set by UnmarshalYAML.
	qclass, qtype uint16
	rcodes        []int
}

// DNSRRValidator holds the regexps one section of a DNS answer is checked against; each is
// matched against a record's zone-file text ("shop.acme.test.\t60\tIN\tA\t127.0.0.1").
type DNSRRValidator struct {
	FailIfMatchesRegexp     []string `yaml:"fail_if_matches_regexp,omitempty"`
	FailIfAllMatchRegexp    []string `yaml:"fail_if_all_match_regexp,omitempty"`
	FailIfNotMatchesRegexp  []string `yaml:"fail_if_not_matches_regexp,omitempty"`
	FailIfNoneMatchesRegexp []string `yaml:"fail_if_none_matches_regexp,omitempty"`

	failIfMatches, failIfAllMatch, failIfNotMatches, failIfNoneMatches []*regexp.Regexp
}

// UnmarshalYAML applies blackbox_exporter's defaults and validates the section, so that a
// module that could never probe (unknown query type, rcode, transport) fails at load time.
func (s *DNSProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*s = DefaultDNSProbe
	type plain DNSProbe
	if err := unmarshal((*plain)(s)); err != nil {
		return nestedError("dns", err)
	}
	return s.Validate()
}

// Validate checks the section and parses its query class, type, rcodes and regexps.
// UnmarshalYAML calls it; a section built in Go must call it before it is probed.
func (s *DNSProbe) Validate() error {
	if s.QueryName == "" {
		return fmt.Errorf("dns.query_name: must be set")
	}
	if err := validateIPProtocol(s.IPProtocol); err != nil {
		return fmt.Errorf("dns.%w", err)
	}
	if err := validateSourceIP(s.SourceIPAddress); err != nil {
		return fmt.Errorf("dns.%w", err)
	}
	if err := s.TLSConfig.Validate(); err != nil { // for sections built in Go
		return fmt.Errorf("dns.tls_config: %w", err)
	}
	switch s.TransportProtocol {
	case "udp", "tcp":
	case "":
		s.TransportProtocol = "udp"
	default:
		return fmt.Errorf("dns.transport_protocol: %q is not one of udp, tcp", s.TransportProtocol)
	}
	if s.DNSOverTLS && s.TransportProtocol != "tcp" {
		return fmt.Errorf("dns.dns_over_tls: needs transport_protocol: tcp")
	}
	s.qclass = dns.ClassINET
	if s.QueryClass != "" {
		c, ok := dns.StringToClass[s.QueryClass]
		if !ok {
			return fmt.Errorf("dns.query_class: %q is not a DNS class (IN, CH, HS, ANY, ...)", s.QueryClass)
		}
		s.qclass = c
	}
	s.qtype = dns.TypeANY
	if s.QueryType != "" {
		t, ok := dns.StringToType[s.QueryType]
		if !ok {
			return fmt.Errorf("dns.query_type: %q is not a DNS record type (A, AAAA, MX, SOA, ...)", s.QueryType)
		}
		s.qtype = t
	}
	s.rcodes = nil
	for i, name := range s.ValidRcodes {
		rc, ok := dns.StringToRcode[name]
		if !ok {
			return fmt.Errorf("dns.valid_rcodes[%d]: %q is not a DNS rcode (NOERROR, NXDOMAIN, SERVFAIL, ...)", i, name)
		}
		s.rcodes = append(s.rcodes, rc)
	}
	if s.ValidRcodes == nil {
		s.rcodes = []int{dns.RcodeSuccess}
	}
	for _, v := range []struct {
		key string
		v   *DNSRRValidator
	}{
		{"validate_answer_rrs", &s.ValidateAnswer},
		{"validate_authority_rrs", &s.ValidateAuthority},
		{"validate_additional_rrs", &s.ValidateAdditional},
	} {
		if err := v.v.compile(); err != nil {
			return fmt.Errorf("dns.%s.%w", v.key, err)
		}
	}
	return nil
}

// QueryClassCode, QueryTypeCode and ValidRcodeCodes return the parsed query_class (default
// IN), query_type (default ANY) and valid_rcodes (default NOERROR).
func (s *DNSProbe) QueryClassCode() uint16 { return orDefault(s.qclass, dns.ClassINET) }

// QueryTypeCode returns the parsed query_type (default ANY).
func (s *DNSProbe) QueryTypeCode() uint16 { return orDefault(s.qtype, dns.TypeANY) }

// ValidRcodeCodes returns the parsed valid_rcodes (default NOERROR).
func (s *DNSProbe) ValidRcodeCodes() []int {
	if s.rcodes == nil {
		return []int{dns.RcodeSuccess}
	}
	return s.rcodes
}

func orDefault(v, def uint16) uint16 {
	if v == 0 {
		return def
	}
	return v
}

func (v *DNSRRValidator) compile() error {
	for _, set := range []struct {
		key  string
		src  []string
		dest *[]*regexp.Regexp
	}{
		{"fail_if_matches_regexp", v.FailIfMatchesRegexp, &v.failIfMatches},
		{"fail_if_all_match_regexp", v.FailIfAllMatchRegexp, &v.failIfAllMatch},
		{"fail_if_not_matches_regexp", v.FailIfNotMatchesRegexp, &v.failIfNotMatches},
		{"fail_if_none_matches_regexp", v.FailIfNoneMatchesRegexp, &v.failIfNoneMatches},
	} {
		*set.dest = nil
		for i, expr := range set.src {
			re, err := regexp.Compile(expr)
			if err != nil {
				return fmt.Errorf("%s[%d]: invalid regexp %q: %w", set.key, i, expr, err)
			}
			*set.dest = append(*set.dest, re)
		}
	}
	return nil
}

// Regexps returns the compiled regexps of the four checks, in the order of the keys
// fail_if_matches_regexp, fail_if_all_match_regexp, fail_if_not_matches_regexp,
// fail_if_none_matches_regexp.
func (v *DNSRRValidator) Regexps() (matches, allMatch, notMatches, noneMatches []*regexp.Regexp) {
	return v.failIfMatches, v.failIfAllMatch, v.failIfNotMatches, v.failIfNoneMatches
}
