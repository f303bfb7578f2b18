package prober

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteward/siteward/exporter/config"
)

// ProbeDNS is the `dns` prober: one query to the DNS server given as target ("host" or
// "host:port"), checked against valid_rcodes and the validate_*_rrs regexps. Its metrics are
// blackbox_exporter's probe_dns_* family.
func ProbeDNS(ctx context.Context, target string, module config.Module, registry *prometheus.Registry, result *Result, logger *slog.Logger) bool {
	durations := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_dns_duration_seconds",
		Help: "Duration of DNS request by phase",
	}, []string{"phase"})
	answerRRs := newGauge("probe_dns_answer_rrs", "Returns number of entries in the answer resource record list")
	authorityRRs := newGauge("probe_dns_authority_rrs", "Returns number of entries in the authority resource record list")
	additionalRRs := newGauge("probe_dns_additional_rrs", "Returns number of entries in the additional resource record list")
	querySucceeded := newGauge("probe_dns_query_succeeded", "Displays whether or not the query was executed successfully")
	for _, phase := range []string{"resolve", "connect", "request"} {
		durations.WithLabelValues(phase)
	}
	registry.MustRegister(durations, answerRRs, authorityRRs, additionalRRs, querySucceeded)

	probe := &module.DNS
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		// The target is a bare host: use the protocol's default port.
		host, port = target, "53"
		if probe.DNSOverTLS {
			port = "853"
		}
	}
	ip, lookupTime, err := chooseProtocol(ctx, probe.IPProtocol, probe.IPProtocolFallback, host, registry, logger)
	durations.WithLabelValues("resolve").Add(lookupTime)
	if err != nil {
		logger.Error("Error resolving address", "err", err)
		failWith(result, err, "resolve")
		return false
	}
	server := net.JoinHostPort(ip.String(), port)

	transport := probe.TransportProtocol
	if transport == "" {
		transport = "udp"
	}
	client := &dns.Client{Net: transport + "4"}
	if ip.IP.To4() == nil {
		client.Net = transport + "6"
	}
	if probe.DNSOverTLS {
		tlsConfig, err := newConnTLSConfig(ctx, &probe.TLSConfig, host)
		if err != nil {
			logger.Error("Failed to create TLS configuration", "err", err)
			result.Fail(FailureSSL, ReasonTLSHandshakeError)
			return false
		}
		client.Net += "-tls"
		client.TLSConfig = tlsConfig
	}
	if probe.SourceIPAddress != "" {
		srcIP := net.ParseIP(probe.SourceIPAddress) // validated when the config was loaded
		logger.Info("Using local address", "srcIP", srcIP)
		client.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: srcIP}}
		if transport == "tcp" {
			client.Dialer.LocalAddr = &net.TCPAddr{IP: srcIP}
		}
	}

	qtype, qclass := probe.QueryTypeCode(), probe.QueryClassCode()
	msg := new(dns.Msg)
	msg.Id = dns.Id()
	msg.RecursionDesired = probe.Recursion
	msg.Question = []dns.Question{{Name: dns.Fqdn(probe.QueryName), Qtype: qtype, Qclass: qclass}}

	logger.Info("Making DNS query", "target", server, "dial_protocol", client.Net, "query", probe.QueryName,
		"type", dns.TypeToString[qtype], "class", dns.ClassToString[qclass])
	if deadline, ok := ctx.Deadline(); ok {
		client.Timeout = time.Until(deadline)
	}
	requestStart := time.Now()
	response, rtt, err := client.ExchangeContext(ctx, msg, server)
	// rtt covers the exchange after the connection is set up; the rest of the time was spent
	// connecting.
	durations.WithLabelValues("connect").Set((time.Since(requestStart) - rtt).Seconds())
	durations.WithLabelValues("request").Set(rtt.Seconds())
	if err != nil {
		logger.Error("Error while sending a DNS query", "err", err)
		failDNSExchange(result, err)
		return false
	}
	logger.Info("Got response", "response", response)

	answerRRs.Set(float64(len(response.Answer)))
	authorityRRs.Set(float64(len(response.Ns)))
	additionalRRs.Set(float64(len(response.Extra)))
	querySucceeded.Set(1)

	if qtype == dns.TypeSOA {
		serial := newGauge("probe_dns_serial", "Returns the serial number of the zone")
		registry.MustRegister(serial)
		for _, rr := range response.Answer {
			if soa, ok := rr.(*dns.SOA); ok {
				serial.Set(float64(soa.Serial))
			}
		}
	}

	if !validRcode(response.Rcode, probe.ValidRcodeCodes(), logger) {
		result.Fail(FailureDNS, rcodeReason(response.Rcode))
		return false
	}
	for _, section := range []struct {
		name      string
		rrs       []dns.RR
		validator *config.DNSRRValidator
	}{
		{"Answer", response.Answer, &probe.ValidateAnswer},
		{"Authority", response.Ns, &probe.ValidateAuthority},
		{"Additional", response.Extra, &probe.ValidateAdditional},
	} {
		logger.Info("Validating RRs", "section", section.name)
		if !validRRs(section.rrs, section.validator, logger) {
			logger.Error("RRs validation failed", "section", section.name)
			result.Fail(FailureDNS, ReasonDNSAnswerMismatch)
			return false
		}
	}
	return true
}

// failDNSExchange records why the query to the DNS server failed. A server that does not
// answer in time is a dns_timeout: for a DNS probe, the DNS server is the thing probed.
func failDNSExchange(result *Result, err error) {
	t, r := Classify(err)
	var opErr *net.OpError
	switch {
	case t == FailureTimeout:
		r = ReasonDNSTimeout
	case r == ReasonConnectError && !errors.As(err, &opErr):
		// Not a network error: a malformed or truncated answer, say.
		t, r = FailureDNS, ReasonDNSError
	}
	result.Fail(t, r)
}

// rcodeReason names an unwanted response code.
func rcodeReason(rcode int) Reason {
	switch rcode {
	case dns.RcodeNameError:
		return ReasonDNSNXDomain
	case dns.RcodeServerFailure:
		return ReasonDNSServerFailure
	}
	return ReasonDNSInvalidRcode
}

// validRcode reports whether rcode is one of valid.
func validRcode(rcode int, valid []int, logger *slog.Logger) bool {
	for _, rc := range valid {
		if rcode == rc {
			logger.Info("Rcode is valid", "rcode", rcode, "string_rcode", dns.RcodeToString[rcode])
			return true
		}
	}
	logger.Error("Rcode is not one of the valid rcodes", "rcode", rcode, "string_rcode", dns.RcodeToString[rcode], "valid_rcodes", valid)
	return false
}

// validRRs checks the records of one section of the answer against v, with
// blackbox_exporter's semantics: fail if any record matches a fail_if_matches_regexp, if any
// record misses a fail_if_not_matches_regexp, or if no record matches a
// fail_if_none_matches_regexp (these two also fail on an empty section). Despite its name,
// fail_if_all_match_regexp fails when NOT every record matches; blackbox_exporter has always
// behaved so and modules rely on it, so siteward keeps it (docs/exporter-compat.md).
func validRRs(rrs []dns.RR, v *config.DNSRRValidator, logger *slog.Logger) bool {
	failIfMatches, failIfAllMatch, failIfNotMatches, failIfNoneMatches := v.Regexps()
	if len(rrs) == 0 && len(failIfNotMatches) > 0 {
		logger.Error("fail_if_not_matches_regexp specified but no RRs returned")
		return false
	}
	if len(rrs) == 0 && len(failIfNoneMatches) > 0 {
		logger.Error("fail_if_none_matches_regexp specified but no RRs returned")
		return false
	}
	allMatch, anyMatch := true, false
	for _, rr := range rrs {
		text := rr.String()
		logger.Info("Validating RR", "rr", text)
		if re := firstMatching(failIfMatches, text); re != nil {
			logger.Error("At least one RR matched regexp", "regexp", re, "rr", text)
			return false
		}
		for _, re := range failIfAllMatch {
			if !re.MatchString(text) {
				allMatch = false
			}
		}
		for _, re := range failIfNotMatches {
			if !re.MatchString(text) {
				logger.Error("At least one RR did not match regexp", "regexp", re, "rr", text)
				return false
			}
		}
		if firstMatching(failIfNoneMatches, text) != nil {
			anyMatch = true
		}
	}
	if len(failIfAllMatch) > 0 && !allMatch {
		logger.Error("Not all RRs matched regexp")
		return false
	}
	if len(failIfNoneMatches) > 0 && !anyMatch {
		logger.Error("None of the RRs matched any regexp")
		return false
	}
	return true
}

func firstMatching(res []*regexp.Regexp, s string) *regexp.Regexp {
	for _, re := range res {
		if re.MatchString(s) {
			return re
		}
	}
	return nil
}
