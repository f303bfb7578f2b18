package config

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"

	"github.com/alecthomas/units"
	pconfig "github.com/prometheus/common/config"
)

// DefaultHTTPProbe holds blackbox_exporter's defaults for the `http:` section.
var DefaultHTTPProbe = HTTPProbe{
	IPProtocolFallback: true,
	HTTPClientConfig:   pconfig.DefaultHTTPClientConfig,
}

// HTTPProbe is the `http:` section of a module (blackbox_exporter's keys and defaults).
type HTTPProbe struct {
	// ValidStatusCodes defaults to 2xx.
	ValidStatusCodes             []int                    `yaml:"valid_status_codes,omitempty"`
	ValidHTTPVersions            []string                 `yaml:"valid_http_versions,omitempty"`
	IPProtocol                   string                   `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback           bool                     `yaml:"ip_protocol_fallback,omitempty"`
	SkipResolvePhaseWithProxy    bool                     `yaml:"skip_resolve_phase_with_proxy,omitempty"`
	NoFollowRedirects            *bool                    `yaml:"no_follow_redirects,omitempty"`
	FailIfSSL                    bool                     `yaml:"fail_if_ssl,omitempty"`
	FailIfNotSSL                 bool                     `yaml:"fail_if_not_ssl,omitempty"`
	Method                       string                   `yaml:"method,omitempty"`
	Headers                      map[string]string        `yaml:"headers,omitempty"`
	FailIfBodyMatchesRegexp      []Regexp                 `yaml:"fail_if_body_matches_regexp,omitempty"`
	FailIfBodyNotMatchesRegexp   []Regexp                 `yaml:"fail_if_body_not_matches_regexp,omitempty"`
	FailIfHeaderMatchesRegexp    []HeaderMatch            `yaml:"fail_if_header_matches,omitempty"`
	FailIfHeaderNotMatchesRegexp []HeaderMatch            `yaml:"fail_if_header_not_matches,omitempty"`
	Body                         string                   `yaml:"body,omitempty"`
	HTTPClientConfig             pconfig.HTTPClientConfig `yaml:",inline"`
	Compression                  string                   `yaml:"compression,omitempty"`
	BodySizeLimit                units.Base2Bytes         `yaml:"body_size_limit,omitempty"`
}

// HeaderMatch is one entry of fail_if_header_matches / fail_if_header_not_matches.
type HeaderMatch struct {
	Header       string `yaml:"header,omitempty"`
	Regexp       Regexp `yaml:"regexp,omitempty"`
	AllowMissing bool   `yaml:"allow_missing,omitempty"`
}

// Regexp is a regular expression compiled when the configuration is loaded, so a bad one is a
// configuration error rather than a failing probe.
type Regexp struct {
	*regexp.Regexp
	original string
}

// NewRegexp compiles s.
func NewRegexp(s string) (Regexp, error) {
	re, err := regexp.Compile(s)
	return Regexp{Regexp: re, original: s}, err
}

// UnmarshalYAML compiles the expression.
func (re *Regexp) UnmarshalYAML(decode func(any) error) error {
	var s string
	if err := decode(&s); err != nil {
		return err
	}
	compiled, err := NewRegexp(s)
	if err != nil {
		return fmt.Errorf("invalid regular expression %q: %w", s, err)
	}
	*re = compiled
	return nil
}

// MarshalYAML prints the expression as written.
func (re Regexp) MarshalYAML() (any, error) { return re.original, nil }

// String returns the expression as written.
func (re Regexp) String() string { return re.original }

// supportedCompressions are the `compression` values the http prober can decode.
var supportedCompressions = []string{"", "br", "gzip", "deflate", "identity"}

// UnmarshalYAML applies blackbox_exporter's defaults, then validates each key.
func (s *HTTPProbe) UnmarshalYAML(decode func(any) error) error {
	*s = DefaultHTTPProbe
	type plain HTTPProbe
	if err := decode((*plain)(s)); err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

func (s *HTTPProbe) validate() error {
	// body_size_limit 0 means no limit; blackbox maps negative values to "no limit" too.
	if s.BodySizeLimit < 0 || s.BodySizeLimit == math.MaxInt64 {
		s.BodySizeLimit = math.MaxInt64 - 1
	}
	if err := s.HTTPClientConfig.Validate(); err != nil {
		return err
	}
	if s.NoFollowRedirects != nil {
		s.HTTPClientConfig.FollowRedirects = !*s.NoFollowRedirects
	}
	switch s.IPProtocol {
	case "", "ip4", "ip6":
	default:
		return fmt.Errorf("preferred_ip_protocol: must be ip4 or ip6, got %q", s.IPProtocol)
	}
	for _, code := range s.ValidStatusCodes {
		if code < 100 || code > 599 {
			return fmt.Errorf("valid_status_codes: %d is not an HTTP status code", code)
		}
	}
	for _, v := range s.ValidHTTPVersions {
		if !strings.HasPrefix(v, "HTTP/") {
			return fmt.Errorf("valid_http_versions: %q is not an HTTP version (like HTTP/1.1 or HTTP/2.0)", v)
		}
	}
	if s.Method != "" && strings.ContainsAny(s.Method, " \t\r\n") {
		return fmt.Errorf("method: %q is not an HTTP method", s.Method)
	}
	if s.FailIfSSL && s.FailIfNotSSL {
		return errors.New("fail_if_ssl and fail_if_not_ssl: at most one may be set")
	}
	for key, value := range s.Headers {
		if http.CanonicalHeaderKey(key) == "Accept-Encoding" && !acceptEncodingMatches(s.Compression, value) {
			return fmt.Errorf("headers: %q: %q conflicts with compression %q", key, value, s.Compression)
		}
	}
	found := false
	for _, c := range supportedCompressions {
		found = found || strings.EqualFold(s.Compression, c)
	}
	if !found {
		return fmt.Errorf("compression: unsupported %q (one of br, gzip, deflate, identity)", s.Compression)
	}
	for _, list := range []struct {
		key     string
		matches []HeaderMatch
	}{{"fail_if_header_matches", s.FailIfHeaderMatchesRegexp}, {"fail_if_header_not_matches", s.FailIfHeaderNotMatchesRegexp}} {
		for i, m := range list.matches {
			if m.Header == "" {
				return fmt.Errorf("%s[%d]: header: missing", list.key, i)
			}
			if m.Regexp.Regexp == nil {
				return fmt.Errorf("%s[%d]: regexp: missing", list.key, i)
			}
		}
	}
	return nil
}

// acceptEncodingMatches reports whether an explicit Accept-Encoding header agrees with the
// compression setting (blackbox_exporter rejects the combination otherwise).
func acceptEncodingMatches(compression, acceptEncoding string) bool {
	if compression == "" {
		return true
	}
	for _, enc := range strings.Split(acceptEncoding, ",") {
		enc, _, _ = strings.Cut(strings.TrimSpace(enc), ";")
		if strings.EqualFold(enc, compression) {
			return true
		}
	}
	return false
}
