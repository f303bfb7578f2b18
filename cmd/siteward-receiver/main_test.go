package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("timers: {first_notice_delay: 1h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no file", []string{"--config.check"}, 0, "(no config file): config OK (1 channels", ""},
		{"example", []string{"--config.check", "--config.file=../../examples/receiver.yml"}, 0, "config OK (4 channels, 2 clients, 2 rotations)", ""},
		{"invalid", []string{"--config.check", "--config.file=" + bad}, 1, "", "timers.first_notice_delay"},
		{"missing", []string{"--config.check", "--config.file=/nonexistent.yml"}, 1, "", "no such file"},
		{"bad flag", []string{"--no-such-flag"}, 2, "", "unknown long flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("stdout %q (want %q), stderr %q (want %q)", stdout.String(), tc.stdout, stderr.String(), tc.stderr)
			}
		})
	}
}
