package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"
)

// sectionFile decodes a module file's tcp and dns sections on their own, strictly, so these
// tests do not depend on the rest of the module format.
type sectionFile struct {
	Modules map[string]struct {
		Prober  string    `yaml:"prober"`
		Timeout string    `yaml:"timeout"`
		TCP     *TCPProbe `yaml:"tcp"`
		DNS     *DNSProbe `yaml:"dns"`
	} `yaml:"modules"`
}

func decodeSections(t *testing.T, file string) (sectionFile, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	var f sectionFile
	return f, dec.Decode(&f)
}

func TestTCPSectionValid(t *testing.T) {
	f, err := decodeSections(t, "tcp_good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if m := f.Modules["tcp_connect"]; m.TCP != nil {
		t.Errorf("tcp_connect has a tcp section: %+v", m.TCP)
	}
	smtp := f.Modules["smtp_starttls"].TCP
	if smtp.IPProtocol != "ip4" || smtp.IPProtocolFallback || smtp.SourceIPAddress != "127.0.0.1" {
		t.Errorf("smtp_starttls protocol settings = %q %v %q", smtp.IPProtocol, smtp.IPProtocolFallback, smtp.SourceIPAddress)
	}
	if len(smtp.QueryResponse) != 6 {
		t.Fatalf("smtp_starttls has %d query_response steps, want 6", len(smtp.QueryResponse))
	}
	first := smtp.QueryResponse[0]
	if re := first.ExpectRegexp(); re == nil || re.String() != "^220 ([^ ]+) ESMTP" {
		t.Errorf("step 0 expect regexp = %v", re)
	}
	if len(first.Labels) != 1 || first.Labels[0] != (Label{Name: "mta", Value: "${1}"}) {
		t.Errorf("step 0 labels = %+v", first.Labels)
	}
	if smtp.QueryResponse[2].ExpectRegexp() != nil {
		t.Error("a step without expect has an expect regexp")
	}
	if !smtp.QueryResponse[4].StartTLS || smtp.TLSConfig.ServerName != "mail.acme.example" {
		t.Errorf("starttls step or tls_config not decoded: %+v %+v", smtp.QueryResponse[4], smtp.TLSConfig)
	}
	tlsConnect := f.Modules["tls_connect"].TCP
	if !tlsConnect.TLS || !tlsConnect.IPProtocolFallback || tlsConnect.IPProtocol != "" {
		t.Errorf("tls_connect = %+v, want tls with blackbox's defaults", tlsConnect)
	}
}

func TestTCPDefaults(t *testing.T) {
	s := DefaultTCPProbe
	if !s.IPProtocolFallback {
		t.Error("ip_protocol_fallback defaults to false, want true as in blackbox_exporter")
	}
}

func TestDNSSectionValid(t *testing.T) {
	f, err := decodeSections(t, "dns_good.yml")
	if err != nil {
		t.Fatal(err)
	}
	anyQuery := f.Modules["dns_any"].DNS
	if anyQuery.QueryTypeCode() != dns.TypeANY || anyQuery.QueryClassCode() != dns.ClassINET {
		t.Errorf("defaults: type %d class %d, want ANY IN", anyQuery.QueryTypeCode(), anyQuery.QueryClassCode())
	}
	if !anyQuery.Recursion || !anyQuery.IPProtocolFallback || anyQuery.TransportProtocol != "udp" {
		t.Errorf("defaults: recursion %v fallback %v transport %q, want true true udp", anyQuery.Recursion, anyQuery.IPProtocolFallback, anyQuery.TransportProtocol)
	}
	if rc := anyQuery.ValidRcodeCodes(); len(rc) != 1 || rc[0] != dns.RcodeSuccess {
		t.Errorf("default valid rcodes = %v, want [NOERROR]", rc)
	}

	soa := f.Modules["dns_soa"].DNS
	if soa.QueryTypeCode() != dns.TypeSOA || soa.Recursion || soa.TransportProtocol != "tcp" || soa.IPProtocolFallback {
		t.Errorf("dns_soa = %+v", soa)
	}
	if rc := soa.ValidRcodeCodes(); len(rc) != 2 || rc[0] != dns.RcodeSuccess || rc[1] != dns.RcodeNameError {
		t.Errorf("valid rcodes = %v, want [NOERROR NXDOMAIN]", rc)
	}
	matches, all, notMatches, none := soa.ValidateAnswer.Regexps()
	if len(matches) != 1 || len(all) != 1 || len(notMatches) != 1 || len(none) != 1 || notMatches[0].String() != `acme\.example\.` {
		t.Errorf("answer regexps = %v %v %v %v", matches, all, notMatches, none)
	}
	if _, _, _, none := soa.ValidateAdditional.Regexps(); len(none) != 1 {
		t.Errorf("additional fail_if_none_matches_regexp = %v", none)
	}

	dot := f.Modules["dns_over_tls"].DNS
	if !dot.DNSOverTLS || dot.TLSConfig.ServerName != "dns.acme.example" || dot.QueryTypeCode() != dns.TypeA {
		t.Errorf("dns_over_tls = %+v", dot)
	}
}

func TestDNSDefaults(t *testing.T) {
	s := DefaultDNSProbe
	if !s.Recursion || !s.IPProtocolFallback || s.TransportProtocol != "udp" {
		t.Errorf("defaults = %+v, want recursion, fallback, udp", s)
	}
}

// sectionErrorCases holds one testdata file per invalid tcp or dns section.
var sectionErrorCases = []struct {
	file string
	want string // the error must contain this: the key, and what is wrong with it
}{
	{"tcp_bad_regexp.yml", `tcp.query_response[0].expect: invalid regexp "^SSH-2.0-(["`},
	{"tcp_unknown_key.yml", "field query_respons not found"},
	{"tcp_unknown_step_key.yml", "field sendd not found"},
	{"tcp_bad_ip_protocol.yml", `tcp.preferred_ip_protocol: "ipv4" is not one of ip4, ip6`},
	{"tcp_bad_source_ip.yml", `tcp.source_ip_address: "localhost" is not an IP address`},
	{"tcp_labels_without_expect.yml", "tcp.query_response[0].labels: needs an expect"},
	{"tcp_bad_label_name.yml", `tcp.query_response[0].labels[0].name: invalid label name "ssh-version"`},
	{"tcp_two_label_steps.yml", "tcp.query_response[1].labels: only one step may have labels"},
	{"tcp_tls_ca_twice.yml", "tcp.tls_config: at most one of ca, ca_file"},
	{"tcp_tls_not_bool.yml", "cannot unmarshal !!str `sometimes` into bool"},
	{"dns_missing_query_name.yml", "dns.query_name: must be set"},
	{"dns_bad_query_type.yml", `dns.query_type: "AAAAA" is not a DNS record type`},
	{"dns_bad_query_class.yml", `dns.query_class: "INTERNET" is not a DNS class`},
	{"dns_bad_rcode.yml", `dns.valid_rcodes[1]: "NOTFOUND" is not a DNS rcode`},
	{"dns_bad_transport.yml", `dns.transport_protocol: "quic" is not one of udp, tcp`},
	{"dns_over_tls_udp.yml", "dns.dns_over_tls: needs transport_protocol: tcp"},
	{"dns_tls_ca_twice.yml", "dns.tls_config: at most one of ca, ca_file"},
	{"dns_bad_answer_regexp.yml", `dns.validate_answer_rrs.fail_if_not_matches_regexp[0]: invalid regexp`},
	{"dns_bad_additional_regexp.yml", `dns.validate_additional_rrs.fail_if_all_match_regexp[0]: invalid regexp "*"`},
	{"dns_unknown_key.yml", "field query_typ not found"},
	{"dns_unknown_validator_key.yml", "field fail_if_matches not found"},
	{"dns_bad_ip_protocol.yml", `dns.preferred_ip_protocol: "ip5" is not one of ip4, ip6`},
}

func TestTCPAndDNSSectionErrors(t *testing.T) {
	for _, tc := range sectionErrorCases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := decodeSections(t, tc.file)
			if err == nil {
				t.Fatal("decoded without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestTCPAndDNSTestdataCovered makes sure every invalid tcp_*/dns_* testdata file is in the table.
func TestTCPAndDNSTestdataCovered(t *testing.T) {
	var files []string
	for _, pattern := range []string{"testdata/tcp_*.yml", "testdata/dns_*.yml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	covered := map[string]bool{"tcp_good.yml": true, "dns_good.yml": true}
	for _, tc := range sectionErrorCases {
		covered[tc.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s is not in sectionErrorCases", f)
		}
	}
}
