package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	pconfig "github.com/prometheus/common/config"

	"github.com/siteward/siteward/exporter/config"
)

// ProbeTCP is the `tcp` prober: connect (with TLS when `tls: true`), then run the
// query_response dialogue. Its metrics are blackbox_exporter's: probe_failed_due_to_regex,
// probe_expect_info, the TLS metrics, and probe_ip_protocol & co. from the resolution.
func ProbeTCP(ctx context.Context, target string, module config.Module, registry *prometheus.Registry, result *Result, logger *slog.Logger) bool {
	failedDueToRegex := newFailedDueToRegexGauge()
	registry.MustRegister(failedDueToRegex)

	host, port, err := net.SplitHostPort(target)
	if err != nil {
		logger.Error("Error splitting target address and port", "err", err)
		result.Fail(FailureConnect, ReasonConnectError)
		return false
	}
	ip, _, err := chooseProtocol(ctx, module.TCP.IPProtocol, module.TCP.IPProtocolFallback, host, registry, logger)
	if err != nil {
		logger.Error("Error resolving address", "err", err)
		failWith(result, err, "resolve")
		return false
	}

	dialer := &net.Dialer{}
	if module.TCP.SourceIPAddress != "" {
		srcIP := net.ParseIP(module.TCP.SourceIPAddress) // validated when the config was loaded
		logger.Info("Using local address", "srcIP", srcIP)
		dialer.LocalAddr = &net.TCPAddr{IP: srcIP}
	}
	network := "tcp4"
	if ip.IP.To4() == nil {
		network = "tcp6"
	}
	logger.Info("Dialing TCP", "address", net.JoinHostPort(ip.String(), port), "tls", module.TCP.TLS)
	conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
	if err != nil {
		logger.Error("Error dialing TCP", "err", err)
		failWith(result, err, "connect")
		return false
	}
	defer func() { conn.Close() }() // conn changes when the connection is upgraded to TLS
	// The deadline bounds every read and write of the dialogue; without one a silent server
	// would hold the probe until the scrape gives up.
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			logger.Error("Error setting deadline", "err", err)
			result.Fail(FailureConnect, ReasonConnectError)
			return false
		}
	}

	// The TLS metrics are registered once per probe: a starttls step after `tls: true` (TLS in
	// TLS) would otherwise register them twice.
	tlsMetricsDone := false
	upgrade := func() bool {
		tlsConn, err := handshakeTLS(ctx, conn, host, module.TCP.TLSConfig, logger)
		if err != nil {
			if !tlsMetricsDone {
				// siteward's addition: the expiry of the certificates the server presented.
				RegisterFailedHandshakeMetrics(registry, err)
			}
			failWith(result, err, "tls")
			return false
		}
		conn = tlsConn
		if !tlsMetricsDone {
			state := tlsConn.ConnectionState()
			registerTLSMetrics(registry, &state)
			tlsMetricsDone = true
		}
		return true
	}
	if module.TCP.TLS && !upgrade() {
		return false
	}
	logger.Info("Successfully dialed")

	scanner := bufio.NewScanner(conn)
	for i, qr := range module.TCP.QueryResponse {
		logger.Info("Processing query response entry", "entry_number", i)
		send := qr.Send
		if re := qr.ExpectRegexp(); re != nil {
			var match []int
			// Read lines until one of them matches the configured regexp.
			for scanner.Scan() {
				logger.Debug("Read line", "line", scanner.Text())
				if match = re.FindSubmatchIndex(scanner.Bytes()); match != nil {
					logger.Info("Regexp matched", "regexp", re, "line", scanner.Text())
					break
				}
			}
			if err := scanner.Err(); err != nil {
				logger.Error("Error reading from connection", "err", err)
				failWith(result, err, "response")
				return false
			}
			if match == nil {
				failedDueToRegex.Set(1)
				logger.Error("Regexp did not match", "regexp", re, "line", scanner.Text())
				result.Fail(FailureContent, ReasonQueryResponseMismatch)
				return false
			}
			failedDueToRegex.Set(0)
			send = string(re.Expand(nil, []byte(send), scanner.Bytes(), match))
			if len(qr.Labels) > 0 {
				registerExpectInfo(registry, qr, scanner.Bytes(), match)
			}
		}
		if send != "" {
			logger.Debug("Sending line", "line", send)
			if _, err := fmt.Fprintf(conn, "%s\n", send); err != nil {
				logger.Error("Failed to send", "err", err)
				failWith(result, err, "response")
				return false
			}
		}
		if qr.StartTLS {
			if !upgrade() {
				return false
			}
			scanner = bufio.NewScanner(conn)
		}
	}
	return true
}

// handshakeTLS runs a TLS client handshake over conn, verifying the certificate against
// serverName unless tls_config names another.
func handshakeTLS(ctx context.Context, conn net.Conn, serverName string, cfg pconfig.TLSConfig, logger *slog.Logger) (*tls.Conn, error) {
	tlsConfig, err := newConnTLSConfig(ctx, &cfg, serverName)
	if err != nil {
		logger.Error("Error creating TLS configuration", "err", err)
		return nil, fmt.Errorf("tls: creating the configuration: %w", err)
	}
	tlsConn := tls.Client(conn, tlsConfig)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		logger.Error("TLS Handshake (client) failed", "err", err)
		return nil, err
	}
	logger.Info("TLS Handshake (client) succeeded")
	return tlsConn, nil
}

// registerExpectInfo registers probe_expect_info with the step's labels, their values
// expanded from the line that matched.
func registerExpectInfo(registry *prometheus.Registry, qr config.QueryResponse, line []byte, match []int) {
	names := make([]string, len(qr.Labels))
	values := make([]string, len(qr.Labels))
	for i, l := range qr.Labels {
		names[i] = l.Name
		values[i] = string(qr.ExpectRegexp().Expand(nil, []byte(l.Value), line, match))
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_expect_info",
		Help: "Explicit content matched",
	}, names)
	registry.MustRegister(info)
	info.WithLabelValues(values...).Set(1)
}

// failWith records err's failure type and reason; a timeout is attributed to phase (see
// TimeoutReason), which the prober knows better than the error does.
func failWith(result *Result, err error, phase string) {
	t, r := Classify(err)
	if t == FailureTimeout {
		r = TimeoutReason(phase)
	}
	result.Fail(t, r)
}
