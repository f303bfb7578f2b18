package email

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteward/siteward/internal/testcerts"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, made for the test.
type testCert struct {
	tls    tls.Certificate
	caFile string // the certificate as PEM, for tls_config.ca_file
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	cert := testcerts.MustSelfSigned(t, testcerts.Options{
		CommonName: "siteward test SMTP",
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:   []string{"localhost"},
	})
	return testCert{tls: cert, caFile: testcerts.MustWritePEM(t, cert.Leaf)}
}

// smtpServer is a small SMTP server speaking EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT,
// DATA, RSET, NOOP and QUIT, enough for net/smtp, recording what it receives.
type smtpServer struct {
	t        *testing.T
	ln       net.Listener
	cert     *tls.Certificate // nil: no STARTTLS offered
	implicit bool             // TLS from the first byte (SMTPS) with cert, no STARTTLS
	authMech []string         // offered AUTH mechanisms; empty: no AUTH
	user     string
	password string
	// rcptReplies are scripted replies to RCPT, used in order, then "250 OK".
	rcptReplies []string

	mu       sync.Mutex
	sessions []*session
	wg       sync.WaitGroup
}

// session is what one connection did.
type session struct {
	Hello    string
	TLS      bool   // STARTTLS done
	AuthMech string // mechanism of a successful AUTH
	AuthUser string
	From     string
	To       []string
	Data     string // the message as received (CRLF, dot-unstuffed)
	MailTLS  bool   // TLS was active when MAIL FROM came
}

func startSMTP(t *testing.T, s *smtpServer) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.implicit {
		ln = tls.NewListener(ln, testcerts.ServerConfig(*s.cert))
	}
	s.t, s.ln = t, ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) Addr() string { return s.ln.Addr().String() }

// Sessions returns the sessions so far. Sessions end before the client's Notify returns
// only up to the client's QUIT, so tests read them after Notify.
func (s *smtpServer) Sessions() []session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]session, len(s.sessions))
	for i, ss := range s.sessions {
		out[i] = *ss
	}
	return out
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	sess := &session{}
	s.mu.Lock()
	s.sessions = append(s.sessions, sess)
	s.mu.Unlock()
	update := func(f func()) { s.mu.Lock(); f(); s.mu.Unlock() }

	tp := textproto.NewConn(conn)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			if err := tp.PrintfLine("%s", l); err != nil {
				return false
			}
		}
		return true
	}
	if !reply("220 test.example ESMTP ready") {
		return
	}
	_, tlsOn := conn.(*tls.Conn)
	update(func() { sess.TLS = tlsOn })
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			update(func() { sess.Hello = arg })
			lines := []string{"250-test.example"}
			if s.cert != nil && !tlsOn {
				lines = append(lines, "250-STARTTLS")
			}
			if len(s.authMech) > 0 {
				lines = append(lines, "250-AUTH "+strings.Join(s.authMech, " "))
			}
			reply(append(lines, "250 8BITMIME")...)
		case "STARTTLS":
			if s.cert == nil || tlsOn {
				reply("502 5.5.1 STARTTLS not available")
				continue
			}
			reply("220 2.0.0 ready to start TLS")
			tc := tls.Server(conn, testcerts.ServerConfig(*s.cert))
			if err := tc.Handshake(); err != nil {
				return // the client rejected our certificate
			}
			conn, tlsOn = tc, true
			tp = textproto.NewConn(tc)
			update(func() { sess.TLS = true })
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			user, pass, ok := s.authenticate(tp, strings.ToUpper(mech), initial)
			if !ok {
				reply("535 5.7.8 authentication failed")
				continue
			}
			if user != s.user || pass != s.password {
				reply("535 5.7.8 authentication credentials invalid")
				continue
			}
			update(func() { sess.AuthMech, sess.AuthUser = strings.ToUpper(mech), user })
			reply("235 2.7.0 authentication successful")
		case "MAIL":
			from := strings.TrimSuffix(strings.TrimPrefix(arg, "FROM:<"), ">")
			if i := strings.Index(from, "> "); i >= 0 { // parameters such as BODY=8BITMIME
				from = from[:i]
			}
			update(func() { sess.From, sess.MailTLS = from, tlsOn })
			reply("250 2.1.0 OK")
		case "RCPT":
			to := strings.TrimSuffix(strings.TrimPrefix(arg, "TO:<"), ">")
			r := "250 2.1.5 OK"
			s.mu.Lock()
			if len(s.rcptReplies) > 0 {
				r, s.rcptReplies = s.rcptReplies[0], s.rcptReplies[1:]
			}
			if strings.HasPrefix(r, "250") {
				sess.To = append(sess.To, to)
			}
			s.mu.Unlock()
			reply(r)
		case "DATA":
			reply("354 end data with <CR><LF>.<CR><LF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			// ReadDotBytes turns CRLF into LF; store the message with CRLF as sent.
			update(func() { sess.Data = strings.ReplaceAll(string(data), "\n", "\r\n") })
			reply("250 2.0.0 OK queued")
		case "RSET", "NOOP":
			reply("250 2.0.0 OK")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 command not recognised")
		}
	}
}

// authenticate runs the AUTH exchange and returns the credentials the client sent.
func (s *smtpServer) authenticate(tp *textproto.Conn, mech, initial string) (user, pass string, ok bool) {
	challenge := func(prompt string) (string, bool) {
		if err := tp.PrintfLine("334 %s", base64.StdEncoding.EncodeToString([]byte(prompt))); err != nil {
			return "", false
		}
		line, err := tp.ReadLine()
		if err != nil || line == "*" {
			return "", false
		}
		b, err := base64.StdEncoding.DecodeString(line)
		return string(b), err == nil
	}
	offered := false
	for _, m := range s.authMech {
		offered = offered || m == mech
	}
	if !offered {
		return "", "", false
	}
	switch mech {
	case "PLAIN":
		resp := initial
		if resp == "" {
			if err := tp.PrintfLine("334 "); err != nil {
				return "", "", false
			}
			line, err := tp.ReadLine()
			if err != nil {
				return "", "", false
			}
			resp = line
		}
		b, err := base64.StdEncoding.DecodeString(resp)
		if err != nil {
			return "", "", false
		}
		parts := strings.Split(string(b), "\x00")
		if len(parts) != 3 {
			return "", "", false
		}
		return parts[1], parts[2], true
	case "LOGIN":
		u, ok1 := challenge("Username:")
		if !ok1 {
			return "", "", false
		}
		p, ok2 := challenge("Password:")
		return u, p, ok2
	}
	return "", "", false
}

// reader wraps a string for net/mail.
func reader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
