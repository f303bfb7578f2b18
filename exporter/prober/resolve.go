package prober

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrNoAddress is returned by chooseProtocol when the name resolved, but to no address of a
// usable IP protocol (classified as dns/dns_no_address).
var ErrNoAddress = errors.New("unable to find ip; no fallback")

type resolverKey struct{}

// WithResolver returns a context whose probes resolve names with r instead of the system
// resolver (the exporter's --dns.resolver flag, and tests with a local DNS server).
func WithResolver(ctx context.Context, r *net.Resolver) context.Context {
	return context.WithValue(ctx, resolverKey{}, r)
}

// resolverFrom returns the resolver put into ctx by WithResolver, or net.DefaultResolver.
func resolverFrom(ctx context.Context) *net.Resolver {
	if r, ok := ctx.Value(resolverKey{}).(*net.Resolver); ok && r != nil {
		return r
	}
	return net.DefaultResolver
}

// NewResolver returns a resolver that sends every query to the DNS server at addr
// (HOST:PORT), over UDP or TCP as the Go resolver chooses.
func NewResolver(addr string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

var protocolToGauge = map[string]float64{"ip4": 4, "ip6": 6}

// chooseProtocol resolves target to one IP address the way blackbox_exporter does: prefer
// ipProtocol ("ip4" or "ip6", default ip6) and, when fallback is set, accept the other one.
// It registers probe_ip_protocol, probe_ip_addr_hash and probe_dns_lookup_time_seconds and
// returns the lookup time in seconds.
func chooseProtocol(ctx context.Context, ipProtocol string, fallback bool, target string, registry *prometheus.Registry, logger *slog.Logger) (ip *net.IPAddr, lookupTime float64, err error) {
	probeDNSLookupTimeSeconds := newGauge("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds")
	probeIPProtocolGauge := newGauge("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6")
	probeIPAddrHash := newGauge("probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to detect if the IP address changes.")
	registry.MustRegister(probeIPProtocolGauge, probeDNSLookupTimeSeconds, probeIPAddrHash)

	fallbackProtocol := "ip4"
	if ipProtocol == "ip4" {
		fallbackProtocol = "ip6"
	} else {
		ipProtocol = "ip6"
	}

	logger.Info("Resolving target address", "host", target, "ip_protocol", ipProtocol)
	resolveStart := time.Now()
	// As in blackbox_exporter, the lookup time is recorded even when the lookup fails.
	defer func() {
		lookupTime = time.Since(resolveStart).Seconds()
		probeDNSLookupTimeSeconds.Add(lookupTime)
	}()

	resolver := resolverFrom(ctx)
	if !fallback {
		ips, err := resolver.LookupIP(ctx, ipProtocol, target)
		if err == nil && len(ips) > 0 {
			logger.Info("Resolved target address", "host", target, "ip", ips[0].String())
			probeIPProtocolGauge.Set(protocolToGauge[ipProtocol])
			probeIPAddrHash.Set(ipHash(ips[0]))
			return &net.IPAddr{IP: ips[0]}, 0, nil
		}
		if err == nil || nameExists(ctx, resolver, err, target) {
			// Go reports "no such host" for a name without records of this protocol too;
			// tell that apart from a name that does not exist.
			err = fmt.Errorf("%s has no %s address: %w", target, ipProtocol, ErrNoAddress)
		}
		logger.Error("Resolution with IP protocol failed", "host", target, "ip_protocol", ipProtocol, "err", err)
		return nil, 0, err
	}

	ips, err := resolver.LookupIPAddr(ctx, target)
	if err != nil {
		logger.Error("Resolution with IP protocol failed", "host", target, "err", err)
		return nil, 0, err
	}

	var fallbackIP *net.IPAddr
	for _, addr := range ips {
		isIP4 := addr.IP.To4() != nil
		if isIP4 == (ipProtocol == "ip4") {
			logger.Info("Resolved target address", "host", target, "ip", addr.String())
			probeIPProtocolGauge.Set(protocolToGauge[ipProtocol])
			probeIPAddrHash.Set(ipHash(addr.IP))
			return &addr, 0, nil
		}
		fallbackIP = &addr
	}
	if fallbackIP == nil {
		logger.Error("Resolution with IP protocol failed", "host", target, "err", ErrNoAddress)
		return nil, 0, fmt.Errorf("%s: %w", target, ErrNoAddress)
	}
	probeIPProtocolGauge.Set(protocolToGauge[fallbackProtocol])
	probeIPAddrHash.Set(ipHash(fallbackIP.IP))
	logger.Info("Resolved target address", "host", target, "ip", fallbackIP.String())
	return fallbackIP, 0, nil
}

// nameExists reports, after a lookup for one IP protocol failed with "not found", whether the
// name has addresses of any protocol. It costs a second lookup, on failure only.
func nameExists(ctx context.Context, resolver *net.Resolver, err error, target string) bool {
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		return false
	}
	addrs, lookupErr := resolver.LookupIPAddr(ctx, target)
	return lookupErr == nil && len(addrs) > 0
}

// ipHash hashes the address in its shortest form (4 bytes for IPv4) whatever form the
// resolver returned, so the value is stable and equals blackbox_exporter's.
func ipHash(ip net.IP) float64 {
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	h := fnv.New32a()
	h.Write(ip)
	return float64(h.Sum32())
}
