// Package email is the email channel: SMTP with STARTTLS (required, opportunistic or none)
// and AUTH PLAIN or LOGIN. Each message is a text/plain mail, or multipart/alternative with
// an HTML part, with a Message-ID derived from the notice's ID, so a mail that is retried
// after an unclear failure can be recognised as the same mail.
package email

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/chanconfig"
	"github.com/siteward/siteward/receiver/notify/internal/render"
)

// STARTTLS modes.
const (
	StartTLSRequired      = "required"      // fail unless the server offers STARTTLS (default)
	StartTLSOpportunistic = "opportunistic" // use STARTTLS when offered, else send in clear
	StartTLSNone          = "none"          // never use STARTTLS (a local relay)
)

// DefaultTimeout bounds one SMTP conversation when timeout is not set.
const DefaultTimeout = 30 * time.Second

// Config configures the email channel.
type Config struct {
	// Smarthost is the SMTP server, host:port (587 for submission with STARTTLS).
	Smarthost string `yaml:"smarthost"`
	// Hello is the name sent with EHLO (default "localhost").
	Hello string   `yaml:"hello,omitempty"`
	From  string   `yaml:"from"`
	To    []string `yaml:"to"`
	// StartTLS is required (default), opportunistic or none.
	StartTLS string `yaml:"starttls,omitempty"`
	// ImplicitTLS speaks TLS from the first byte (SMTPS, usually port 465) instead of
	// upgrading with STARTTLS.
	ImplicitTLS bool                `yaml:"implicit_tls,omitempty"`
	TLSConfig   commoncfg.TLSConfig `yaml:"tls_config,omitempty"`
	// AuthUsername enables SMTP AUTH; AuthMechanism picks PLAIN or LOGIN (default: PLAIN
	// when the server offers it, else LOGIN).
	AuthUsername     string           `yaml:"auth_username,omitempty"`
	AuthPassword     commoncfg.Secret `yaml:"auth_password,omitempty"`
	AuthPasswordFile string           `yaml:"auth_password_file,omitempty"`
	AuthIdentity     string           `yaml:"auth_identity,omitempty"`
	AuthMechanism    string           `yaml:"auth_mechanism,omitempty"`
	// HTML adds an HTML part next to the text (multipart/alternative).
	HTML bool `yaml:"html,omitempty"`
	// Timeout bounds one SMTP conversation (default 30s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// UnmarshalYAML decodes strictly, sets defaults and validates.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	return chanconfig.Unmarshal("email", node, (*plain)(c), c.Validate)
}

// Validate sets defaults and checks the configuration. Errors name the key.
func (c *Config) Validate() error {
	if c.Smarthost == "" {
		return errors.New("smarthost is required")
	}
	host, port, err := net.SplitHostPort(c.Smarthost)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("smarthost: %q must be host:port", c.Smarthost)
	}
	if c.Hello == "" {
		c.Hello = "localhost"
	}
	if c.From == "" {
		return errors.New("from is required")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("from: %q: %w", c.From, err)
	}
	if len(c.To) == 0 {
		return errors.New("to: at least one address is required")
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("to[%d]: %q: %w", i, to, err)
		}
	}
	if c.StartTLS == "" {
		c.StartTLS = StartTLSRequired
	}
	if !slices.Contains([]string{StartTLSRequired, StartTLSOpportunistic, StartTLSNone}, c.StartTLS) {
		return fmt.Errorf("starttls: must be required, opportunistic or none, got %q", c.StartTLS)
	}
	if err := c.TLSConfig.Validate(); err != nil {
		return fmt.Errorf("tls_config: %w", err)
	}
	if err := chanconfig.CheckSecret("auth_password", c.AuthPassword, c.AuthPasswordFile, false); err != nil {
		return err
	}
	if c.AuthUsername == "" && (c.AuthPassword != "" || c.AuthPasswordFile != "" || c.AuthIdentity != "" || c.AuthMechanism != "") {
		return errors.New("auth_username is required when other auth_* keys are set")
	}
	c.AuthMechanism = strings.ToUpper(c.AuthMechanism)
	if c.AuthMechanism != "" && c.AuthMechanism != "PLAIN" && c.AuthMechanism != "LOGIN" {
		return fmt.Errorf("auth_mechanism: must be PLAIN or LOGIN, got %q", c.AuthMechanism)
	}
	if c.AuthUsername != "" && !c.ImplicitTLS && c.StartTLS == StartTLSNone && !isLocalhost(host) {
		return errors.New("auth_username: credentials would be sent in clear text: set starttls to required, or use a relay on localhost")
	}
	if c.Timeout < 0 {
		return errors.New("timeout: must not be negative")
	}
	return nil
}

// SetDirectory resolves relative file paths against dir (the config file's directory).
func (c *Config) SetDirectory(dir string) {
	c.AuthPasswordFile = commoncfg.JoinDir(dir, c.AuthPasswordFile)
	c.TLSConfig.SetDirectory(dir)
}

func isLocalhost(host string) bool {
	return host == "localhost" || net.ParseIP(host).IsLoopback()
}

// Notifier sends messages by SMTP.
type Notifier struct {
	cfg    Config
	host   string
	tls    *tls.Config
	from   *mail.Address
	to     []*mail.Address
	logger *slog.Logger
	now    func() time.Time
}

// New returns an email notifier.
func New(cfg *Config, logger *slog.Logger) (*Notifier, error) {
	c := *cfg
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	if c.AuthPasswordFile != "" {
		if _, err := chanconfig.ReadSecret("", c.AuthPasswordFile); err != nil {
			return nil, fmt.Errorf("email: auth_password_file: %w", err)
		}
	}
	host, _, _ := net.SplitHostPort(c.Smarthost)
	tlsCfg, err := commoncfg.NewTLSConfig(&c.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("email: tls_config: %w", err)
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = host
	}
	from, _ := mail.ParseAddress(c.From)
	n := &Notifier{cfg: c, host: host, tls: tlsCfg, from: from, logger: logger, now: time.Now}
	for _, s := range c.To {
		a, _ := mail.ParseAddress(s)
		n.to = append(n.to, a)
	}
	return n, nil
}

// Notify sends m to every recipient in one SMTP transaction.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	msg, err := n.Render(m)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	timeout := n.cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := n.send(ctx, msg); err != nil {
		return err
	}
	n.logger.Debug("notice delivered", "id", m.ID, "event", string(m.Event), "to", len(n.to))
	return nil
}

func (n *Notifier) send(ctx context.Context, msg []byte) error {
	var (
		d    net.Dialer
		conn net.Conn
		err  error
	)
	if n.cfg.ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: n.tls}).DialContext(ctx, "tcp", n.cfg.Smarthost)
	} else {
		conn, err = d.DialContext(ctx, "tcp", n.cfg.Smarthost)
	}
	if err != nil {
		return classify("connecting", err)
	}
	// The deadline covers the whole conversation; cancelling ctx (shutdown) ends it too.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, n.host)
	if err != nil {
		conn.Close()
		return classify("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(n.cfg.Hello); err != nil {
		return classify("EHLO", err)
	}
	if !n.cfg.ImplicitTLS && n.cfg.StartTLS != StartTLSNone {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(n.tls); err != nil {
				return classify("STARTTLS", err)
			}
		} else if n.cfg.StartTLS == StartTLSRequired {
			return fmt.Errorf("email: %s does not offer STARTTLS (starttls: required)", n.cfg.Smarthost)
		}
	}
	if n.cfg.AuthUsername != "" {
		auth, err := n.auth(c)
		if err != nil {
			return fmt.Errorf("email: %w", err)
		}
		if err := c.Auth(auth); err != nil {
			return classify("AUTH", err)
		}
	}
	if err := c.Mail(n.from.Address); err != nil {
		return classify("MAIL FROM", err)
	}
	for _, to := range n.to {
		if err := c.Rcpt(to.Address); err != nil {
			return classify("RCPT TO <"+to.Address+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return classify("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return classify("DATA", err)
	}
	if err := w.Close(); err != nil {
		return classify("DATA", err)
	}
	// The server accepted the mail; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// auth picks the mechanism: the configured one, else PLAIN when offered, else LOGIN.
func (n *Notifier) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, offered := c.Extension("AUTH")
	if !ok {
		return nil, fmt.Errorf("%s does not offer AUTH (auth_username is set)", n.cfg.Smarthost)
	}
	mechs := strings.Fields(strings.ToUpper(offered))
	mech := n.cfg.AuthMechanism
	if mech == "" {
		switch {
		case slices.Contains(mechs, "PLAIN"):
			mech = "PLAIN"
		case slices.Contains(mechs, "LOGIN"):
			mech = "LOGIN"
		default:
			return nil, fmt.Errorf("%s offers AUTH %s, none of PLAIN, LOGIN", n.cfg.Smarthost, offered)
		}
	} else if !slices.Contains(mechs, mech) {
		return nil, fmt.Errorf("%s does not offer AUTH %s (auth_mechanism), only %s", n.cfg.Smarthost, mech, offered)
	}
	password, err := chanconfig.ReadSecret(n.cfg.AuthPassword, n.cfg.AuthPasswordFile)
	if err != nil {
		return nil, fmt.Errorf("auth_password_file: %w", err)
	}
	if mech == "LOGIN" {
		return &loginAuth{username: n.cfg.AuthUsername, password: password, host: n.host}, nil
	}
	return smtp.PlainAuth(n.cfg.AuthIdentity, n.cfg.AuthUsername, password, n.host), nil
}

// loginAuth is AUTH LOGIN, which net/smtp lacks and some providers still require. Like
// net/smtp's PlainAuth it refuses to send credentials in clear text except to localhost.
type loginAuth struct {
	username, password, host string
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLocalhost(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:", "user name", "username":
		return []byte(a.username), nil
	case "password:", "password":
		return []byte(a.password), nil
	}
	return nil, fmt.Errorf("unexpected AUTH LOGIN challenge %q", fromServer)
}

// classify turns an SMTP failure into a retryable error (4xx replies, network errors,
// timeouts) or a permanent one (5xx replies, certificate and TLS problems, refused
// credentials): retrying cannot fix those, so they fail the delivery visibly.
func classify(step string, err error) error {
	wrapped := fmt.Errorf("email: %s: %w", step, err)
	var reply *textproto.Error
	if errors.As(err, &reply) {
		if reply.Code >= 400 && reply.Code < 500 {
			return notify.Retryable(wrapped, 0)
		}
		return wrapped
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return notify.Retryable(wrapped, 0)
	}
	return wrapped
}

// MessageID returns the Message-ID of a notice: its ID when that is a valid local part,
// else a hash of it, at the sender's domain.
func MessageID(id, from string) string {
	domain := "siteward.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 && at < len(a.Address)-1 {
			domain = a.Address[at+1:]
		}
	}
	local := id
	if !isDotAtom(id) {
		sum := sha256.Sum256([]byte(id))
		local = "siteward." + hex.EncodeToString(sum[:16])
	}
	return "<" + local + "@" + domain + ">"
}

// isDotAtom reports whether s is an RFC 5322 dot-atom (what a Message-ID's left part may be).
func isDotAtom(s string) bool {
	if s == "" || len(s) > 200 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)) {
			return false
		}
	}
	return true
}

// headerText removes line breaks so a subject cannot inject headers.
var headerText = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace

// Render builds the whole mail (headers and body, CRLF line ends). The same message renders
// to the same bytes, so a retry sends an identical mail.
func (n *Notifier) Render(m *notify.Message) ([]byte, error) {
	date := m.CreatedAt
	if date.IsZero() {
		date = n.now()
	}
	to := make([]string, len(n.to))
	for i, a := range n.to {
		to[i] = a.String()
	}
	var buf bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	header("From", n.from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", headerText(m.Subject)))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", MessageID(m.ID, n.cfg.From))
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")
	header("X-Siteward-Event", string(m.Event))
	if m.Incident.ID != "" {
		header("X-Siteward-Incident", headerText(m.Incident.ID))
	}
	text := textBody(m)
	if !n.cfg.HTML {
		header("Content-Type", "text/plain; charset=UTF-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, text); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	html, err := htmlBody(m)
	if err != nil {
		return nil, err
	}
	mw := multipart.NewWriter(&buf)
	// A boundary derived from the ID keeps the rendering deterministic.
	sum := sha256.Sum256([]byte(m.ID))
	if err := mw.SetBoundary("siteward-" + hex.EncodeToString(sum[:12])); err != nil {
		return nil, err
	}
	header("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	buf.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", text}, {"text/html", html}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}

func textBody(m *notify.Message) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(m.Text, "\n"))
	b.WriteString("\n")
	if fs := render.Facts(m); len(fs) > 0 {
		b.WriteString("\n")
		for _, f := range fs {
			fmt.Fprintf(&b, "%s: %s\n", f.Title, f.Value)
		}
	}
	if m.Incident.URL != "" {
		fmt.Fprintf(&b, "\n%s\n", m.Incident.URL)
	}
	return b.String()
}

var htmlTemplate = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif">
<h2>{{.Subject}}</h2>
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{if .Facts}}<table>
{{range .Facts}}<tr><th align="left">{{.Title}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{end}}{{if .URL}}<p><a href="{{.URL}}">{{.URL}}</a></p>
{{end}}</body></html>
`))

func htmlBody(m *notify.Message) (string, error) {
	var paragraphs []string
	for p := range strings.SplitSeq(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			paragraphs = append(paragraphs, p)
		}
	}
	var b strings.Builder
	err := htmlTemplate.Execute(&b, map[string]any{
		"Subject":    m.Subject,
		"Paragraphs": paragraphs,
		"Facts":      render.Facts(m),
		"URL":        m.Incident.URL,
	})
	return b.String(), err
}
