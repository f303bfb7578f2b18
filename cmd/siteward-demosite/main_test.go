package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	exporterconfig "github.com/siteward/siteward/exporter/config"
	"github.com/siteward/siteward/internal/testutil"
)

// The binary writes a CA and an exporter configuration the exporter accepts, serves the
// control API, and stops cleanly on SIGTERM.
func TestBinary(t *testing.T) {
	bin := testutil.BuildBinary(t, "siteward-demosite")
	dir := t.TempDir()
	control := testutil.FreeAddr(t)
	cmd := exec.Command(bin,
		"--web.listen-address="+control,
		"--sites.port-base=0",
		"--dns.listen-address=127.0.0.1:0",
		"--exporter.config-file="+filepath.Join(dir, "exporter.yml"),
		"--exporter.probe-timeout=3s",
	)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("siteward-demosite output:\n%s", out.String())
		}
	})

	testutil.WaitHTTPOK(t, 30*time.Second, "http://"+control+"/-/ready")

	cfg, err := exporterconfig.Load(filepath.Join(dir, "exporter.yml"))
	if err != nil {
		t.Fatalf("the exporter rejects the written config: %v", err)
	}
	m := cfg.Modules["http_2xx"]
	if m.Timeout != 3*time.Second {
		t.Errorf("module timeout = %s, want 3s", m.Timeout)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "demo-ca.pem"))
	if err != nil || !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
		t.Errorf("demo-ca.pem next to the exporter config: %v %q", err, ca)
	}

	resp, err := http.Post("http://"+control+"/break?site=acme/shop&mode=503", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "acme/shop is now 503") {
		t.Errorf("break: %d %s", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("still running 10s after SIGTERM")
	}
}

func TestBadFlags(t *testing.T) {
	bin := testutil.BuildBinary(t, "siteward-demosite")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad listen ip", []string{"--sites.listen-ip=nope"}, `listen IP \"nope\" is not an IP address`},
		{"unknown flag", []string{"--no.such.flag"}, "unknown long flag '--no.such.flag'"},
		{"bad dns address", []string{"--dns.listen-address=nope", "--sites.port-base=0"}, `dns listen address \"nope\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(bin, append(tc.args, "--web.listen-address="+testutil.FreeAddr(t))...).CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0, want an error\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
