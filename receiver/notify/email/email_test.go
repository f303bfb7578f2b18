package email

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/internal/testutil"
	"github.com/siteward/siteward/receiver/notify"
	"github.com/siteward/siteward/receiver/notify/internal/notifytest"
)

func TestConfigInvalid(t *testing.T) {
	notifytest.CheckInvalidConfigs[Config](t, map[string]string{
		"missing_smarthost.yml": "email: smarthost is required",
		"smarthost_no_port.yml": `email: smarthost: "smtp.example.org" must be host:port`,
		"missing_from.yml":      "email: from is required",
		"bad_from.yml":          `email: from: "not an address"`,
		"missing_to.yml":        "email: to: at least one address is required",
		"bad_to.yml":            `email: to[1]: "ops@"`,
		"bad_starttls.yml":      `email: starttls: must be required, opportunistic or none, got "always"`,
		"both_passwords.yml":    "email: at most one of auth_password and auth_password_file may be set",
		"password_no_user.yml":  "email: auth_username is required when other auth_* keys are set",
		"bad_mechanism.yml":     `email: auth_mechanism: must be PLAIN or LOGIN, got "CRAM-MD5"`,
		"auth_in_clear.yml":     "email: auth_username: credentials would be sent in clear text",
		"unknown_key.yml":       `email: line 4: unknown key "subject"`,
		"unknown_tls_key.yml":   `email: line 5: unknown key "verify" in tls_config`,
	})
}

func TestConfigDefaultsAndSecret(t *testing.T) {
	var cfg Config
	err := yaml.Unmarshal([]byte("smarthost: smtp.example.org:587\nfrom: siteward@example.org\nto: [ops@example.org]\nauth_username: siteward\nauth_password: HUNTER2\n"), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StartTLS != StartTLSRequired || cfg.Hello != "localhost" {
		t.Errorf("defaults: starttls %q, hello %q", cfg.StartTLS, cfg.Hello)
	}
	out, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "HUNTER2") {
		t.Errorf("marshalled config exposes the password:\n%s", out)
	}
}

func TestNewMissingPasswordFile(t *testing.T) {
	_, err := New(&Config{Smarthost: "localhost:25", From: "a@example.org", To: []string{"b@example.org"},
		AuthUsername: "u", AuthPasswordFile: filepath.Join(t.TempDir(), "nope")}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "email: auth_password_file: reading secret") {
		t.Fatalf("got %v", err)
	}
}

func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	n, err := New(&cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSendSTARTTLSAuthPlainHTML is a whole SMTP conversation: EHLO, STARTTLS with a
// certificate made for the test, AUTH PLAIN, MAIL, two RCPTs, DATA; then the mail the
// server received is parsed and checked.
func TestSendSTARTTLSAuthPlainHTML(t *testing.T) {
	cert := newTestCert(t)
	srv := startSMTP(t, &smtpServer{cert: &cert.tls, authMech: []string{"PLAIN", "LOGIN"}, user: "siteward", password: "s3cret"})
	n := newNotifier(t, Config{
		Smarthost:    srv.Addr(),
		Hello:        "receiver.example.org",
		From:         "Siteward <status@acme.example>",
		To:           []string{"ops@acme.example", "Jörg Müller <joerg@acme.example>"},
		TLSConfig:    commoncfg.TLSConfig{CAFile: cert.caFile},
		AuthUsername: "siteward",
		AuthPassword: "s3cret",
		HTML:         true,
	})
	m := notifytest.Message()
	m.Subject = "Störung: shop.acme.example is down"
	m.Text = "We have detected an issue.\n\n.A line starting with a dot & <markup>."
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	sessions := srv.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("got %d SMTP sessions, want 1", len(sessions))
	}
	s := sessions[0]
	if s.Hello != "receiver.example.org" || !s.TLS || !s.MailTLS || s.AuthMech != "PLAIN" || s.AuthUser != "siteward" {
		t.Errorf("session: hello %q tls %v mail-over-tls %v auth %s/%s", s.Hello, s.TLS, s.MailTLS, s.AuthMech, s.AuthUser)
	}
	if s.From != "status@acme.example" || strings.Join(s.To, ",") != "ops@acme.example,joerg@acme.example" {
		t.Errorf("envelope: from %q to %q", s.From, s.To)
	}

	msg, err := mail.ReadMessage(reader(s.Data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, s.Data)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject %q (%v), want %q", subject, err, m.Subject)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "Jörg Müller" || to[1].Address != "joerg@acme.example" {
		t.Errorf("To %v (%v)", to, err)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || from[0].Name != "Siteward" || from[0].Address != "status@acme.example" {
		t.Errorf("From %v (%v)", from, err)
	}
	if date, err := msg.Header.Date(); err != nil || !date.Equal(m.CreatedAt) {
		t.Errorf("Date %v (%v), want %v", date, err, m.CreatedAt)
	}
	for k, want := range map[string]string{
		"Message-Id":          "<inc-42/notice.initial/1@acme.example>",
		"Mime-Version":        "1.0",
		"Auto-Submitted":      "auto-generated",
		"X-Siteward-Event":    "notice.initial",
		"X-Siteward-Incident": "inc-42",
	} {
		if got := msg.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if cte := p.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("part encoding %q", cte)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		parts[p.Header.Get("Content-Type")] = string(body)
	}
	text := parts["text/plain; charset=UTF-8"]
	for _, want := range []string{
		"We have detected an issue.\r\n\r\n.A line starting with a dot & <markup>.\r\n",
		"Sites: shop, blog\r\n",
		"State: investigating\r\n",
		"https://siteward.example/incidents/inc-42\r\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	// A client notice does not show internal fields.
	if strings.Contains(text, "Owner") || strings.Contains(text, "alice") {
		t.Errorf("client mail shows the owner:\n%s", text)
	}
	html := parts["text/html; charset=UTF-8"]
	for _, want := range []string{
		"<h2>Störung: shop.acme.example is down</h2>",
		"<p>.A line starting with a dot &amp; &lt;markup&gt;.</p>",
		`<a href="https://siteward.example/incidents/inc-42">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
}

func TestSendAuthLoginTextOnly(t *testing.T) {
	cert := newTestCert(t)
	srv := startSMTP(t, &smtpServer{cert: &cert.tls, authMech: []string{"LOGIN"}, user: "bot", password: "pw from file"})
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pw from file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, Config{
		Smarthost: srv.Addr(), From: "siteward@example.org", To: []string{"ops@example.org"},
		TLSConfig: commoncfg.TLSConfig{CAFile: cert.caFile}, AuthUsername: "bot", AuthPasswordFile: pwFile,
	})
	m := notifytest.Message()
	m.Audience = notify.AudienceTeam
	m.Event = notify.EventIncidentOpened
	m.Subject = "Subject\r\nBcc: victim@example.org"
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	s := srv.Sessions()[0]
	if s.AuthMech != "LOGIN" || s.AuthUser != "bot" || !s.MailTLS {
		t.Fatalf("auth %s/%s, tls %v", s.AuthMech, s.AuthUser, s.MailTLS)
	}
	msg, err := mail.ReadMessage(reader(s.Data))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("Subject"); got != "Subject Bcc: victim@example.org" {
		t.Errorf("Subject %q: line break not removed", got)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Error("subject injected a Bcc header")
	}
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Owner: alice", "Severity: critical", "Failure type: ssl", "Client: acme"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("team mail lacks %q:\n%s", want, body)
		}
	}
}

func TestImplicitTLS(t *testing.T) {
	cert := newTestCert(t)
	srv := startSMTP(t, &smtpServer{cert: &cert.tls, implicit: true, authMech: []string{"PLAIN"}, user: "u", password: "p"})
	n := newNotifier(t, Config{Smarthost: srv.Addr(), From: "a@example.org", To: []string{"b@example.org"},
		ImplicitTLS: true, TLSConfig: commoncfg.TLSConfig{CAFile: cert.caFile}, AuthUsername: "u", AuthPassword: "p"})
	if err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	s := srv.Sessions()[0]
	if !s.MailTLS || s.AuthUser != "u" || s.Data == "" {
		t.Fatalf("session %+v", s)
	}
}

func TestStartTLSModes(t *testing.T) {
	noTLS := startSMTP(t, &smtpServer{})
	m := notifytest.Message()

	required := newNotifier(t, Config{Smarthost: noTLS.Addr(), From: "a@example.org", To: []string{"b@example.org"}})
	err := required.Notify(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS (starttls: required)") {
		t.Fatalf("required without STARTTLS: %v", err)
	}
	if ok, _ := notify.IsRetryable(err); ok {
		t.Errorf("missing STARTTLS classified retryable")
	}
	if s := noTLS.Sessions(); len(s) != 1 || s[0].From != "" {
		t.Fatalf("mail sent without TLS: %+v", s)
	}

	for _, mode := range []string{StartTLSOpportunistic, StartTLSNone} {
		n := newNotifier(t, Config{Smarthost: noTLS.Addr(), From: "a@example.org", To: []string{"b@example.org"}, StartTLS: mode})
		if err := n.Notify(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
	if got := len(noTLS.Sessions()); got != 3 {
		t.Fatalf("got %d sessions, want 3", got)
	}
}

func TestUntrustedCertificateIsPermanent(t *testing.T) {
	cert := newTestCert(t)
	srv := startSMTP(t, &smtpServer{cert: &cert.tls})
	n := newNotifier(t, Config{Smarthost: srv.Addr(), From: "a@example.org", To: []string{"b@example.org"}})
	err := n.Notify(context.Background(), notifytest.Message())
	if err == nil || !strings.Contains(err.Error(), "email: STARTTLS: tls: failed to verify certificate") {
		t.Fatalf("got %v", err)
	}
	if ok, _ := notify.IsRetryable(err); ok {
		t.Error("untrusted certificate classified retryable")
	}
}

func TestWrongPasswordIsPermanent(t *testing.T) {
	cert := newTestCert(t)
	srv := startSMTP(t, &smtpServer{cert: &cert.tls, authMech: []string{"PLAIN"}, user: "u", password: "right"})
	n := newNotifier(t, Config{Smarthost: srv.Addr(), From: "a@example.org", To: []string{"b@example.org"},
		TLSConfig: commoncfg.TLSConfig{CAFile: cert.caFile}, AuthUsername: "u", AuthPassword: "wrong"})
	err := n.Notify(context.Background(), notifytest.Message())
	if err == nil || !strings.Contains(err.Error(), `email: AUTH: 535 "5.7.8 authentication credentials invalid"`) {
		t.Fatalf("got %v", err)
	}
	if ok, _ := notify.IsRetryable(err); ok {
		t.Error("535 classified retryable")
	}
}

// A server that answers 451 (try again later) twice, then accepts: two retryable failures,
// nothing delivered by them, then one delivery.
func TestTemporaryFailureThenSuccess(t *testing.T) {
	srv := startSMTP(t, &smtpServer{rcptReplies: []string{"451 4.3.0 mailbox busy", "452 4.2.2 over quota"}})
	n := newNotifier(t, Config{Smarthost: srv.Addr(), From: "a@example.org", To: []string{"b@example.org"}, StartTLS: StartTLSNone})
	m := notifytest.Message()
	for i, want := range []string{`email: RCPT TO <b@example.org>: 451 "4.3.0 mailbox busy"`, `452 "4.2.2 over quota"`} {
		err := n.Notify(context.Background(), m)
		if ok, _ := notify.IsRetryable(err); !ok || !strings.Contains(err.Error(), want) {
			t.Fatalf("attempt %d: %v, want retryable %q", i+1, err, want)
		}
	}
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("attempt 3: %v", err)
	}
	var delivered int
	for _, s := range srv.Sessions() {
		if s.Data != "" {
			delivered++
		}
	}
	if delivered != 1 {
		t.Fatalf("%d mails delivered, want 1", delivered)
	}
}

func TestPermanentRecipientFailure(t *testing.T) {
	srv := startSMTP(t, &smtpServer{rcptReplies: []string{"550 5.1.1 no such user"}})
	n := newNotifier(t, Config{Smarthost: srv.Addr(), From: "a@example.org", To: []string{"gone@example.org"}, StartTLS: StartTLSNone})
	err := n.Notify(context.Background(), notifytest.Message())
	if err == nil || err.Error() != `email: RCPT TO <gone@example.org>: 550 "5.1.1 no such user"` {
		t.Fatalf("got %v", err)
	}
	if ok, _ := notify.IsRetryable(err); ok {
		t.Error("550 classified retryable")
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	n := newNotifier(t, Config{Smarthost: testutil.FreeAddr(t), From: "a@example.org", To: []string{"b@example.org"}})
	err := n.Notify(context.Background(), notifytest.Message())
	if ok, _ := notify.IsRetryable(err); !ok || !strings.Contains(err.Error(), "email: connecting") {
		t.Fatalf("got %v, want retryable connect error", err)
	}
}

// A server that accepts the connection and never greets: the timeout ends the attempt and
// the failure is retryable.
func TestSilentServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	n := newNotifier(t, Config{Smarthost: ln.Addr().String(), From: "a@example.org", To: []string{"b@example.org"}, Timeout: 100 * time.Millisecond})
	err = n.Notify(context.Background(), notifytest.Message())
	if ok, _ := notify.IsRetryable(err); !ok || !strings.Contains(err.Error(), "email: greeting") {
		t.Fatalf("got %v, want retryable greeting timeout", err)
	}
	(<-accepted).Close()
}

func TestRenderIsDeterministic(t *testing.T) {
	n := newNotifier(t, Config{Smarthost: "localhost:25", From: "a@example.org", To: []string{"b@example.org"}, HTML: true})
	m := notifytest.Message()
	a, err := n.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the same message rendered twice differs")
	}
}

func TestMessageID(t *testing.T) {
	for _, tc := range []struct{ id, from, want string }{
		{"inc-42/notice.initial/1", "Siteward <status@acme.example>", "<inc-42/notice.initial/1@acme.example>"},
		{"42", "status@acme.example", "<42@acme.example>"},
		{"42", "not an address", "<42@siteward.invalid>"},
	} {
		if got := MessageID(tc.id, tc.from); got != tc.want {
			t.Errorf("MessageID(%q, %q) = %q, want %q", tc.id, tc.from, got, tc.want)
		}
	}
	// IDs that are not a valid local part are hashed: stable, distinct, valid.
	seen := map[string]string{}
	for _, id := range []string{"n 1", "n 2", "..", ".a", "a..b", "ü", "<x>"} {
		got := MessageID(id, "status@acme.example")
		if got != MessageID(id, "status@acme.example") || !strings.HasPrefix(got, "<siteward.") || !strings.HasSuffix(got, "@acme.example>") {
			t.Errorf("MessageID(%q) = %q", id, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("MessageID(%q) = MessageID(%q) = %q", id, prev, got)
		}
		seen[got] = id
	}
}
