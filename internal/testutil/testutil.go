// Package testutil holds helpers shared by tests that use real external programs
// (promtool, prometheus, alertmanager, blackbox_exporter, chromium, PostgreSQL).
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// RequireTools reports whether a missing external tool must fail the test rather than skip it.
// `make test` sets SITEWARD_REQUIRE_TOOLS=1, so nothing is silently skipped in CI.
func RequireTools() bool { return os.Getenv("SITEWARD_REQUIRE_TOOLS") == "1" }

// LookPath finds an external program by trying each name in turn. When none is found the test
// fails under `make test` and is skipped otherwise (a plain `go test ./...` on a laptop).
func LookPath(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if RequireTools() {
		t.Fatalf("required tool not found in PATH: %v (scripts/install-deps.sh installs it)", names)
	}
	t.Skipf("tool not found in PATH: %v (run `make test` to install it)", names)
	return ""
}

// PostgresURL returns the URL of the private PostgreSQL cluster started by scripts/test.sh,
// failing under `make test` and skipping otherwise when there is none.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("SITEWARD_TEST_POSTGRES_URL")
	if u == "" {
		if RequireTools() {
			t.Fatal("SITEWARD_TEST_POSTGRES_URL is not set (scripts/test.sh starts a cluster)")
		}
		t.Skip("SITEWARD_TEST_POSTGRES_URL is not set; run `make test`")
	}
	return u
}

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// BuildBinary builds ./cmd/<name> once per test process into a temporary directory and
// returns the path of the binary.
func BuildBinary(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[name]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "siteward-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, b)
	}
	buildCache[name] = out
	return out
}
