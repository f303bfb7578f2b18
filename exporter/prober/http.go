package prober

import (
	"cmp"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/prometheus/client_golang/prometheus"
	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
	"golang.org/x/net/publicsuffix"

	"github.com/siteward/siteward/exporter/config"
)

// maxRedirects is blackbox_exporter's (and net/http's) redirect limit.
const maxRedirects = 10

// userAgent is sent unless the module's headers set one (blackbox_exporter sends its own too).
func userAgent() string {
	return "Siteward-Exporter/" + cmp.Or(version.Version, "dev")
}

// errRedirectsStopped is returned by CheckRedirect; the client then hands back the redirect
// response itself, which is judged like any other.
var errRedirectsStopped = errors.New("don't follow redirects")

// roundTripTrace holds the timings of one HTTP round trip (one per redirect).
type roundTripTrace struct {
	tls           bool
	start         time.Time
	dnsDone       time.Time
	connectDone   time.Time
	gotConn       time.Time
	tlsStart      time.Time
	tlsDone       time.Time
	responseStart time.Time
	end           time.Time
}

// transport records a trace per round trip and, on a redirect to another host, uses a
// round tripper without the first host's TLS server name (as blackbox_exporter does). That
// round tripper is built only when such a redirect happens: most probes never need it.
type transport struct {
	transport          http.RoundTripper
	noServerNameConfig pconfig.HTTPClientConfig
	clientOptions      []pconfig.HTTPClientOption
	noServerName       http.RoundTripper
	firstHost          string
	logger             *slog.Logger

	mu      sync.Mutex
	traces  []*roundTripTrace
	current *roundTripTrace
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.logger.Info("Making HTTP request", "url", req.URL.String(), "host", req.Host)
	trace := &roundTripTrace{tls: req.URL.Scheme == "https"}
	t.mu.Lock()
	t.current = trace
	t.traces = append(t.traces, trace)
	if t.firstHost == "" {
		t.firstHost = req.URL.Host
	}
	sameHost := t.firstHost == req.URL.Host
	t.mu.Unlock()
	if !sameHost {
		t.logger.Info("Address does not match first address, not sending TLS ServerName", "first", t.firstHost, "address", req.URL.Host)
		if t.noServerName == nil {
			rt, err := pconfig.NewRoundTripperFromConfig(t.noServerNameConfig, "http_probe", t.clientOptions...)
			if err != nil {
				return nil, fmt.Errorf("creating HTTP client without ServerName: %w", err)
			}
			t.noServerName = rt
		}
		return t.noServerName.RoundTrip(req)
	}
	return t.transport.RoundTrip(req)
}

// record sets one timestamp of the current round trip under the lock (httptrace hooks may
// run on the transport's dialing goroutines).
func (t *transport) record(set func(*roundTripTrace)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set(t.current)
}

func (t *transport) clientTrace() *httptrace.ClientTrace {
	now := time.Now
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { t.record(func(r *roundTripTrace) { r.start = now() }) },
		DNSDone:  func(httptrace.DNSDoneInfo) { t.record(func(r *roundTripTrace) { r.dnsDone = now() }) },
		ConnectStart: func(_, _ string) {
			t.record(func(r *roundTripTrace) {
				// No DNS resolution: the URL already holds the resolved IP.
				if r.dnsDone.IsZero() {
					r.start = now()
					r.dnsDone = r.start
				}
			})
		},
		ConnectDone:          func(_, _ string, _ error) { t.record(func(r *roundTripTrace) { r.connectDone = now() }) },
		GotConn:              func(httptrace.GotConnInfo) { t.record(func(r *roundTripTrace) { r.gotConn = now() }) },
		TLSHandshakeStart:    func() { t.record(func(r *roundTripTrace) { r.tlsStart = now() }) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { t.record(func(r *roundTripTrace) { r.tlsDone = now() }) },
		GotFirstResponseByte: func() { t.record(func(r *roundTripTrace) { r.responseStart = now() }) },
	}
}

// phase names the phase the current round trip was in, for timeout reasons.
func (t *transport) phase() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.current
	switch {
	case r == nil:
		return "connect"
	case !r.start.IsZero() && r.dnsDone.IsZero():
		// The transport was resolving a redirect's host.
		return "resolve"
	case r.connectDone.IsZero():
		return "connect"
	case r.tls && r.tlsDone.IsZero():
		return "tls"
	}
	return "response"
}

// connected reports whether the current round trip got a connection.
func (t *transport) connected() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.current != nil && !t.current.gotConn.IsZero()
}

// byteCounter counts the bytes read through it (probe_http_uncompressed_body_length).
type byteCounter struct {
	io.Reader
	n int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	c.n += int64(n)
	return n, err
}

// ProbeHTTP is the `http` prober: blackbox_exporter's metrics and semantics, plus the failure
// type and reason on result.
func ProbeHTTP(ctx context.Context, target string, module config.Module, registry *prometheus.Registry, result *Result, logger *slog.Logger) (success bool) {
	var (
		durationGaugeVec = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "probe_http_duration_seconds",
			Help: "Duration of http request by phase, summed over all redirects",
		}, []string{"phase"})
		contentLengthGauge          = newGauge("probe_http_content_length", "Length of http content response")
		bodyUncompressedLengthGauge = newGauge("probe_http_uncompressed_body_length", "Length of uncompressed response body")
		redirectsGauge              = newGauge("probe_http_redirects", "The number of redirects")
		isSSLGauge                  = newGauge("probe_http_ssl", "Indicates if SSL was used for the final redirect")
		statusCodeGauge             = newGauge("probe_http_status_code", "Response HTTP status code")
		httpVersionGauge            = newGauge("probe_http_version", "Returns the version of HTTP of the probe response")
		failedDueToRegex            = newFailedDueToRegexGauge()
		lastModified                = newGauge("probe_http_last_modified_timestamp_seconds", "Returns the Last-Modified HTTP response header in unixtime")
	)
	registry.MustRegister(durationGaugeVec, contentLengthGauge, bodyUncompressedLengthGauge,
		redirectsGauge, isSSLGauge, statusCodeGauge, httpVersionGauge, failedDueToRegex)

	httpConfig := module.HTTP
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = "http://" + target
	}
	targetURL, err := url.Parse(target)
	if err != nil {
		logger.Error("Could not parse target URL", "err", err)
		result.Fail(FailureConnect, ReasonConnectError)
		return false
	}
	targetHost, targetPort := targetURL.Hostname(), targetURL.Port()

	origHost := targetURL.Host

	// With a proxy the proxy resolves the name; skip_resolve_phase_with_proxy says so.
	proxied := httpConfig.HTTPClientConfig.ProxyURL.URL != nil
	if !(proxied && httpConfig.SkipResolvePhaseWithProxy) {
		ip, lookupTime, err := chooseProtocol(ctx, httpConfig.IPProtocol, httpConfig.IPProtocolFallback, targetHost, registry, logger)
		durationGaugeVec.WithLabelValues("resolve").Add(lookupTime)
		if err != nil {
			logger.Error("Error resolving address", "err", err)
			result.Fail(Classify(err))
			return false
		}
		// Connect to the resolved IP; the Host header and TLS server name keep the name.
		if targetPort == "" {
			targetURL.Host = ip.String()
			if strings.Contains(ip.String(), ":") {
				targetURL.Host = "[" + ip.String() + "]"
			}
		} else {
			targetURL.Host = net.JoinHostPort(ip.String(), targetPort)
		}
	}

	clientConfig := httpConfig.HTTPClientConfig
	if clientConfig.TLSConfig.ServerName == "" {
		// Verify the certificate for the target's name, or for the Host header when one is
		// configured (the target may be an IP address).
		clientConfig.TLSConfig.ServerName = targetHost
		for name, value := range httpConfig.Headers {
			if textproto.CanonicalMIMEHeaderKey(name) == "Host" {
				clientConfig.TLSConfig.ServerName = value
			}
		}
	}
	clientOptions := []pconfig.HTTPClientOption{pconfig.WithKeepAlivesDisabled(), pconfig.WithNewTLSConfigFunc(newProbeTLSConfig)}
	if resolver := resolverFrom(ctx); resolver != net.DefaultResolver {
		// Names the transport resolves itself (redirects to another host) use the same resolver.
		dialer := &net.Dialer{Resolver: resolver}
		clientOptions = append(clientOptions, pconfig.WithDialContextFunc(dialer.DialContext))
	}
	// Keep-alives off: every probe measures a fresh connection and leaves none behind.
	client, err := pconfig.NewClientFromConfig(clientConfig, "http_probe", clientOptions...)
	if err != nil {
		// What can fail here is reading tls_config's files (CA, certificate, key).
		logger.Error("Error generating HTTP client", "err", err)
		result.Fail(FailureSSL, ReasonTLSHandshakeError)
		return false
	}
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		logger.Error("Error generating cookiejar", "err", err)
		result.Fail(FailureConnect, ReasonConnectError)
		return false
	}
	client.Jar = jar
	clientConfig.TLSConfig.ServerName = ""
	tt := &transport{transport: client.Transport, noServerNameConfig: clientConfig, clientOptions: clientOptions, logger: logger}
	client.Transport = tt

	redirects := 0
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		logger.Info("Received redirect", "location", r.Response.Header.Get("Location"))
		redirects = len(via)
		if redirects > maxRedirects || !httpConfig.HTTPClientConfig.FollowRedirects {
			logger.Info("Not following redirect")
			return errRedirectsStopped
		}
		return nil
	}

	method := httpConfig.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if httpConfig.Body != "" {
		body = strings.NewReader(httpConfig.Body)
	}
	request, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, tt.clientTrace()), method, targetURL.String(), body)
	if err != nil {
		logger.Error("Error creating request", "err", err)
		result.Fail(FailureConnect, ReasonConnectError)
		return false
	}
	request.Host = origHost
	request.Header.Set("User-Agent", userAgent())
	for key, value := range httpConfig.Headers {
		if textproto.CanonicalMIMEHeaderKey(key) == "Host" {
			request.Host = value
			continue
		}
		request.Header.Set(key, value)
	}

	// As in blackbox_exporter, the resolve phase exists only when the prober resolved the name.
	for _, phase := range []string{"connect", "tls", "processing", "transfer"} {
		durationGaugeVec.WithLabelValues(phase)
	}
	var respBodyBytes int64
	resp, err := client.Do(request)
	// With redirects stopped, err is set and resp is the redirect response.
	if err != nil && resp == nil {
		logger.Error("Error for HTTP request", "err", err)
		if RegisterFailedHandshakeMetrics(registry, err) {
			logger.Info("Reported the expiry of the certificate that failed verification")
		}
		failureType, reason := Classify(err)
		switch {
		case failureType == FailureTimeout:
			reason = TimeoutReason(tt.phase())
		case reason == ReasonConnectError && tt.connected():
			failureType, reason = FailureHTTP, ReasonHTTPProtocolError
		}
		result.Fail(failureType, reason)
	} else {
		requestErrored := err != nil
		logger.Info("Received HTTP response", "status_code", resp.StatusCode)
		success = validStatus(resp.StatusCode, httpConfig.ValidStatusCodes)
		if !success {
			logger.Info("Invalid HTTP response status code", "status_code", resp.StatusCode,
				"valid_status_codes", fmt.Sprint(httpConfig.ValidStatusCodes))
			if redirects > maxRedirects {
				result.Fail(FailureHTTP, ReasonTooManyRedirects)
			} else {
				result.Fail(FailureHTTP, ReasonHTTPStatus)
			}
		}

		if success && (len(httpConfig.FailIfHeaderMatchesRegexp) > 0 || len(httpConfig.FailIfHeaderNotMatchesRegexp) > 0) {
			reason, ok := matchHeaders(resp.Header, httpConfig, logger)
			success = ok
			failedDueToRegex.Set(boolToFloat(!ok))
			if !ok {
				result.Fail(FailureContent, reason)
			}
		}

		// As in blackbox_exporter: decompress, then apply body_size_limit and count the bytes,
		// both on the decompressed body.
		if !requestErrored {
			body, err := decompressionReader(httpConfig.Compression, resp.Body)
			if err != nil {
				logger.Error("Failed to get decompressor for HTTP response body", "err", err)
				success = false
				result.Fail(FailureHTTP, ReasonHTTPProtocolError)
				body = resp.Body
			}
			if httpConfig.BodySizeLimit > 0 {
				body = http.MaxBytesReader(nil, io.NopCloser(body), int64(httpConfig.BodySizeLimit))
			}
			counter := &byteCounter{Reader: body}
			if success && (len(httpConfig.FailIfBodyMatchesRegexp) > 0 || len(httpConfig.FailIfBodyNotMatchesRegexp) > 0) {
				reason, ok, err := matchBody(counter, httpConfig, logger)
				success = ok
				failedDueToRegex.Set(boolToFloat(!ok))
				switch {
				case err != nil:
					result.Fail(bodyReadFailure(err))
				case !ok:
					result.Fail(FailureContent, reason)
				}
			}
			if _, err := io.Copy(io.Discard, counter); err != nil {
				logger.Info("Failed to read HTTP response body", "err", err)
				success = false
				result.Fail(bodyReadFailure(err))
			}
			respBodyBytes = counter.n
			resp.Body.Close()
		}

		// The body is read: the round trip ends here.
		tt.record(func(r *roundTripTrace) { r.end = time.Now() })

		if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
			registry.MustRegister(lastModified)
			lastModified.Set(float64(t.Unix()))
		}

		httpVersion, err := strconv.ParseFloat(strings.TrimPrefix(resp.Proto, "HTTP/"), 64)
		if err != nil {
			logger.Error("Error parsing version number from HTTP version", "err", err)
		}
		httpVersionGauge.Set(httpVersion)
		if len(httpConfig.ValidHTTPVersions) > 0 && !containsString(httpConfig.ValidHTTPVersions, resp.Proto) {
			logger.Error("Invalid HTTP version number", "version", resp.Proto)
			success = false
			result.Fail(FailureHTTP, ReasonHTTPVersion)
		}
	}

	if resp == nil {
		resp = &http.Response{}
	}
	tt.mu.Lock()
	defer tt.mu.Unlock()
	for i, trace := range tt.traces {
		logger.Info("Response timings for roundtrip", "roundtrip", i, "start", trace.start,
			"dnsDone", trace.dnsDone, "connectDone", trace.connectDone, "gotConn", trace.gotConn,
			"responseStart", trace.responseStart, "tlsStart", trace.tlsStart, "tlsDone", trace.tlsDone, "end", trace.end)
		// The first round trip's resolve time came from chooseProtocol.
		if i != 0 {
			durationGaugeVec.WithLabelValues("resolve").Add(trace.dnsDone.Sub(trace.start).Seconds())
		}
		if trace.gotConn.IsZero() {
			continue
		}
		if trace.tls {
			durationGaugeVec.WithLabelValues("connect").Add(trace.connectDone.Sub(trace.dnsDone).Seconds())
			durationGaugeVec.WithLabelValues("tls").Add(trace.tlsDone.Sub(trace.tlsStart).Seconds())
		} else {
			durationGaugeVec.WithLabelValues("connect").Add(trace.gotConn.Sub(trace.dnsDone).Seconds())
		}
		if trace.responseStart.IsZero() {
			continue
		}
		durationGaugeVec.WithLabelValues("processing").Add(trace.responseStart.Sub(trace.gotConn).Seconds())
		// A round trip that was redirected or failed has no end.
		if trace.end.IsZero() {
			continue
		}
		durationGaugeVec.WithLabelValues("transfer").Add(trace.end.Sub(trace.responseStart).Seconds())
	}

	if resp.TLS != nil {
		isSSLGauge.Set(1)
		registerTLSMetrics(registry, resp.TLS)
		if httpConfig.FailIfSSL {
			logger.Error("Final request was over SSL")
			success = false
			result.Fail(FailureSSL, ReasonSSLForbidden)
		}
	} else if httpConfig.FailIfNotSSL {
		logger.Error("Final request was not over SSL")
		success = false
		result.Fail(FailureSSL, ReasonSSLRequired)
	}

	statusCodeGauge.Set(float64(resp.StatusCode))
	contentLengthGauge.Set(float64(resp.ContentLength))
	bodyUncompressedLengthGauge.Set(float64(respBodyBytes))
	redirectsGauge.Set(float64(redirects))
	return success
}

func validStatus(code int, valid []int) bool {
	if len(valid) == 0 {
		return code >= 200 && code < 300
	}
	for _, c := range valid {
		if c == code {
			return true
		}
	}
	return false
}

// matchHeaders applies fail_if_header_matches and fail_if_header_not_matches. A missing header
// fails the check it was named in, unless allow_missing.
func matchHeaders(header http.Header, httpConfig config.HTTPProbe, logger *slog.Logger) (Reason, bool) {
	for _, spec := range httpConfig.FailIfHeaderMatchesRegexp {
		values := header.Values(spec.Header)
		if len(values) == 0 {
			if spec.AllowMissing {
				continue
			}
			logger.Error("Missing required header", "header", spec.Header)
			return ReasonHeaderMatchedRegexp, false
		}
		for _, v := range values {
			if spec.Regexp.MatchString(v) {
				logger.Error("Header matched regular expression", "header", spec.Header, "regexp", spec.Regexp.String(), "value_count", len(values))
				return ReasonHeaderMatchedRegexp, false
			}
		}
	}
	for _, spec := range httpConfig.FailIfHeaderNotMatchesRegexp {
		values := header.Values(spec.Header)
		if len(values) == 0 {
			if spec.AllowMissing {
				continue
			}
			logger.Error("Missing required header", "header", spec.Header)
			return ReasonHeaderNotMatchedRegexp, false
		}
		matched := false
		for _, v := range values {
			matched = matched || spec.Regexp.MatchString(v)
		}
		if !matched {
			logger.Error("Header did not match regular expression", "header", spec.Header, "regexp", spec.Regexp.String(), "value_count", len(values))
			return ReasonHeaderNotMatchedRegexp, false
		}
	}
	return "", true
}

// matchBody reads the whole body and applies fail_if_body_matches_regexp and
// fail_if_body_not_matches_regexp. A body that cannot be read is an error, not a mismatch.
func matchBody(r io.Reader, httpConfig config.HTTPProbe, logger *slog.Logger) (Reason, bool, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		logger.Error("Error reading HTTP body", "err", err)
		return "", false, err
	}
	for _, re := range httpConfig.FailIfBodyMatchesRegexp {
		if re.Match(body) {
			logger.Error("Body matched regular expression", "regexp", re.String())
			return ReasonBodyMatchedRegexp, false, nil
		}
	}
	for _, re := range httpConfig.FailIfBodyNotMatchesRegexp {
		if !re.Match(body) {
			logger.Error("Body did not match regular expression", "regexp", re.String())
			return ReasonBodyNotMatchedRegexp, false, nil
		}
	}
	return "", true, nil
}

// bodyReadFailure classifies an error reading the response body: the deadline passing while
// the body trickles in, or anything else wrong with it (over body_size_limit, bad encoding,
// connection cut).
func bodyReadFailure(err error) (FailureType, Reason) {
	if isTimeout(err) {
		return FailureTimeout, ReasonResponseTimeout
	}
	return FailureHTTP, ReasonHTTPProtocolError
}

// decompressionReader decodes the body for the configured `compression` (none by default).
func decompressionReader(compression string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(compression) {
	case "", "identity":
		return r, nil
	case "gzip":
		return gzip.NewReader(r)
	case "deflate":
		return flate.NewReader(r), nil
	case "br":
		return brotli.NewReader(r), nil
	}
	return nil, fmt.Errorf("unsupported compression %q", compression)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func boolToFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
