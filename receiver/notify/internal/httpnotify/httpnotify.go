// Package httpnotify is the HTTP delivery the slack, teams and webhook channels share: one
// JSON POST to a URL kept as a secret, with a timeout and a user agent, and the classification of the answer the outbox
// relies on: 2xx delivered; 429, 5xx and network errors retryable (honouring Retry-After);
// any other status a permanent error that quotes the status and the start of the body.
package httpnotify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/chanconfig"
)

// DefaultTimeout bounds one delivery attempt when a channel sets no timeout.
const DefaultTimeout = 10 * time.Second

// maxErrorBody is how much of a failed response's body an error quotes.
const maxErrorBody = 512

// UserAgent is sent with every request.
func UserAgent() string { return "siteward-receiver/" + version.Version }

// Client posts payloads for one channel.
type Client struct {
	name    string
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

// New builds a client from the channel's http_config (nil means defaults: no auth, system
// TLS roots, proxy from the environment is not used unless configured). name identifies
// the channel in errors.
func New(name string, cfg *commoncfg.HTTPClientConfig, timeout time.Duration) (*Client, error) {
	if cfg == nil {
		cfg = &commoncfg.DefaultHTTPClientConfig
	}
	hc, err := commoncfg.NewClientFromConfig(*cfg, name, commoncfg.WithUserAgent(UserAgent()))
	if err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{name: name, client: hc, timeout: timeout, now: time.Now}, nil
}

// Post sends body to url with the given headers (Content-Type included) and classifies the
// outcome: nil when delivered, a notify.RetryableError when retrying may help, otherwise a
// permanent error.
func (c *Client) Post(ctx context.Context, url string, body []byte, header http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: building request: %w", c.name, redact(err))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", UserAgent())
	resp, err := c.client.Do(req)
	if err != nil {
		// Network errors, timeouts and cancellation: the message may go through later.
		return notify.Retryable(fmt.Errorf("%s: %w", c.name, redact(err)), 0)
	}
	defer resp.Body.Close()
	snippet := readSnippet(resp.Body)
	// Drain a little more so the connection can be reused, without reading an endless body.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s: unexpected status %s%s", c.name, resp.Status, quote(snippet))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return notify.Retryable(err, RetryAfter(resp.Header.Get("Retry-After"), c.now()))
	}
	return err
}

// Endpoint is where a channel posts: a URL given inline or as a file under key, read on every
// delivery so that a rotated file needs no reload, and the channel's Client. Errors start
// with the channel's name.
type Endpoint struct {
	client  *Client
	key     string
	url     commoncfg.Secret
	urlFile string
}

// NewEndpoint checks that the URL can be read and builds the client from http_config.
func NewEndpoint(name, key string, url commoncfg.Secret, urlFile string, httpConfig *commoncfg.HTTPClientConfig, timeout time.Duration) (*Endpoint, error) {
	if _, err := chanconfig.URLSecret(key, url, urlFile); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	client, err := New(name, httpConfig, timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Endpoint{client: client, key: key, url: url, urlFile: urlFile}, nil
}

// PostJSON posts payload as JSON to the endpoint's URL and classifies the outcome like Post.
// header, when not nil, gives the request's extra headers for the encoded body (a signature
// needs the body); Content-Type is set here.
func (e *Endpoint) PostJSON(ctx context.Context, payload any, header func(body []byte) (http.Header, error)) error {
	url, err := chanconfig.URLSecret(e.key, e.url, e.urlFile)
	if err != nil {
		return fmt.Errorf("%s: %w", e.client.name, err)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("%s: encoding payload: %w", e.client.name, err)
	}
	h := http.Header{}
	if header != nil {
		if h, err = header(body); err != nil {
			return fmt.Errorf("%s: %w", e.client.name, err)
		}
	}
	h.Set("Content-Type", "application/json")
	return e.client.Post(ctx, url, body, h)
}

// redact drops the URL from a *url.Error: webhook URLs of Slack, Teams and others carry
// their secret in the path, and errors end up in logs and on the incident page.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("POST: %w", ue.Err)
	}
	return err
}

func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody+1))
	truncated := len(b) > maxErrorBody
	if truncated {
		b = b[:maxErrorBody]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	s := strings.TrimSpace(string(b))
	if truncated {
		s += "..."
	}
	return s
}

func quote(s string) string {
	if s == "" {
		return ""
	}
	return ": " + strconv.Quote(s)
}

// RetryAfter parses a Retry-After header value: delay seconds or an HTTP date. It returns
// zero when the value is absent, malformed or in the past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d.Round(time.Second), maxRetryAfter)
		}
	}
	return 0
}

// maxRetryAfter caps an absurd Retry-After so one channel cannot park a notice for days.
const maxRetryAfter = time.Hour
