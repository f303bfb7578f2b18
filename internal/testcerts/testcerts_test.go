package testcerts

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func TestCertificatesVerifyAsDescribed(t *testing.T) {
	now := time.Now()
	ca := MustCA(t, Options{})
	if ca.Cert.Subject.CommonName != DefaultCAName || !ca.Cert.IsCA {
		t.Fatalf("CA = %q (IsCA %v), want %q and a CA", ca.Cert.Subject.CommonName, ca.Cert.IsCA, DefaultCAName)
	}
	otherCA := MustCA(t, Options{CommonName: "other CA"})
	tests := []struct {
		name    string
		cert    tls.Certificate
		roots   *x509.CertPool
		host    string
		wantErr func(error) bool // nil: verifies
	}{
		{name: "valid", cert: ca.MustIssue(t, Options{DNSNames: []string{"a.test"}}), roots: Pool(ca.Cert), host: "a.test"},
		{name: "by IP", cert: ca.MustIssue(t, Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}), roots: Pool(ca.Cert), host: "127.0.0.1"},
		{name: "expired", cert: ca.MustIssue(t, Options{DNSNames: []string{"a.test"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}),
			roots: Pool(ca.Cert), host: "a.test", wantErr: invalidBecause(x509.Expired)},
		{name: "not yet valid", cert: ca.MustIssue(t, Options{DNSNames: []string{"a.test"}, NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}),
			roots: Pool(ca.Cert), host: "a.test", wantErr: invalidBecause(x509.Expired)},
		{name: "wrong name", cert: ca.MustIssue(t, Options{DNSNames: []string{"a.test"}}), roots: Pool(ca.Cert), host: "b.test",
			wantErr: func(err error) bool { return errors.As(err, new(x509.HostnameError)) }},
		{name: "other CA", cert: otherCA.MustIssue(t, Options{DNSNames: []string{"a.test"}}), roots: Pool(ca.Cert), host: "a.test",
			wantErr: func(err error) bool { return errors.As(err, new(x509.UnknownAuthorityError)) }},
		{name: "self-signed, trusted as itself", cert: MustSelfSigned(t, Options{DNSNames: []string{"a.test"}}), host: "a.test"},
		{name: "self-signed, untrusted", cert: MustSelfSigned(t, Options{DNSNames: []string{"a.test"}}), roots: Pool(ca.Cert), host: "a.test",
			wantErr: func(err error) bool { return errors.As(err, new(x509.UnknownAuthorityError)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roots := tc.roots
			if roots == nil {
				roots = Pool(tc.cert.Leaf)
			}
			_, err := tc.cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.host, CurrentTime: now})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("Verify: %v, want success", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Errorf("Verify: %v, want the other error", err)
			}
		})
	}
}

func invalidBecause(reason x509.InvalidReason) func(error) bool {
	return func(err error) bool {
		var invalid x509.CertificateInvalidError
		return errors.As(err, &invalid) && invalid.Reason == reason
	}
}

func TestCommonNameDefaults(t *testing.T) {
	ca := MustCA(t, Options{})
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{DNSNames: []string{"a.test", "b.test"}}, "a.test"},
		{Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, "127.0.0.1"},
		{Options{CommonName: "named", DNSNames: []string{"a.test"}}, "named"},
	} {
		if got := ca.MustIssue(t, tc.opts).Leaf.Subject.CommonName; got != tc.want {
			t.Errorf("CommonName for %+v = %q, want %q", tc.opts, got, tc.want)
		}
	}
}

func TestWritePEMRoundTrips(t *testing.T) {
	ca := MustCA(t, Options{})
	data, err := os.ReadFile(MustWritePEM(t, ca.Cert))
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("file holds %q, want one CERTIFICATE block", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Equal(ca.Cert) {
		t.Error("the written certificate is not the CA's")
	}
}

func TestServerConfigServesTheCertificate(t *testing.T) {
	ca := MustCA(t, Options{})
	cert := ca.MustIssue(t, Options{DNSNames: []string{"a.test"}})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(cert))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: Pool(ca.Cert), ServerName: "a.test"})
	if err != nil {
		t.Fatalf("handshake with the CA's pool: %v", err)
	}
	conn.Close()
}

func TestSubjectOrganization(t *testing.T) {
	ca := MustCA(t, Options{CommonName: "demo CA", Organization: []string{"demo"}})
	if got := ca.Cert.Subject.String(); got != "CN=demo CA,O=demo" {
		t.Errorf("CA subject %q, want CN=demo CA,O=demo", got)
	}
	leaf := ca.MustIssue(t, Options{DNSNames: []string{"a.test"}}).Leaf
	if leaf.Issuer.String() != "CN=demo CA,O=demo" || leaf.Subject.String() != "CN=a.test" {
		t.Errorf("issued certificate: subject %q issuer %q, want CN=a.test by CN=demo CA,O=demo", leaf.Subject, leaf.Issuer)
	}
}
