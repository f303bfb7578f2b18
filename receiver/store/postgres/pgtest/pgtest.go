// Package pgtest gives tests their own PostgreSQL databases: a fresh schema per test in the
// shared cluster that scripts/test.sh starts, or a whole private cluster for tests that stop
// and start the server (the outage test), so they never disturb tests running in parallel.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/siteward/siteward/internal/testutil"
)

// Database gives the test an empty database of its own in the shared test cluster
// (testutil.PostgresURL) and returns its URL. It is a fresh schema, named in the URL's
// search_path, which is much cheaper than CREATE DATABASE; it is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	return createSchema(t, testutil.PostgresURL(t))
}

func createSchema(t testing.TB, clusterURL string) string {
	t.Helper()
	name := "siteward_test_" + randomSuffix(t)
	adminExec(t, clusterURL, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { adminExec(t, clusterURL, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE") })

	u, err := url.Parse(clusterURL)
	if err != nil {
		t.Fatalf("parse test cluster URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// adminExec runs one statement on its own connection.
func adminExec(t testing.TB, clusterURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, clusterURL)
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func randomSuffix(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Cluster is a private PostgreSQL server in a temporary directory, owned by one test.
type Cluster struct {
	// URL connects to the cluster's "postgres" database as the superuser "siteward".
	URL string

	dir    string
	port   int
	bindir string
	asUser []string // runuser prefix when the test runs as root (postgres refuses to)
}

// StartCluster initialises and starts a private cluster on a free loopback port; it is stopped
// and removed when the test ends. It needs the PostgreSQL server binaries (initdb, pg_ctl).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bindir := serverBinDir(t)
	// Not t.TempDir(): its parents are mode 0700, and the server runs as user postgres when
	// the test runs as root.
	dir, err := os.MkdirTemp("", "siteward-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &Cluster{dir: dir, port: testutil.FreePort(t), bindir: bindir}
	if os.Getuid() == 0 {
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v\n%s", dir, err, out)
		}
	}
	c.run(t, "initdb", "-D", c.dataDir(), "-U", "siteward", "--auth=trust", "-E", "UTF8", "--no-sync")
	c.URL = fmt.Sprintf("postgres://siteward@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	c.Start(t)
	t.Cleanup(func() {
		// Immediate: the test is over, nothing needs a clean shutdown.
		if _, err := c.exec("pg_ctl", "-D", c.dataDir(), "-m", "immediate", "stop"); err != nil && c.running() {
			t.Errorf("stop private PostgreSQL: %v", err)
		}
	})
	return c
}

// Database creates an empty database (schema) in the private cluster and returns its URL.
func (c *Cluster) Database(t testing.TB) string {
	t.Helper()
	return createSchema(t, c.URL)
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.dataDir(), "-l", filepath.Join(c.dir, "server.log"), "-w",
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off", c.port, c.dir), "start")
}

// Stop shuts the server down at once (as a crash would), ending every connection.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "stop")
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) running() bool {
	_, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid"))
	return err == nil
}

func (c *Cluster) run(t testing.TB, prog string, args ...string) {
	t.Helper()
	if out, err := c.exec(prog, args...); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		t.Fatalf("%s %s: %v\n%s\nserver.log:\n%s", prog, strings.Join(args, " "), err, out, log)
	}
}

func (c *Cluster) exec(prog string, args ...string) ([]byte, error) {
	argv := append(append([]string{}, c.asUser...), filepath.Join(c.bindir, prog))
	argv = append(argv, args...)
	return exec.Command(argv[0], argv[1:]...).CombinedOutput()
}

// serverBinDir finds the newest /usr/lib/postgresql/<version>/bin (Debian's layout) or, failing
// that, the directory of pg_ctl in PATH.
func serverBinDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorVersion(dirs[i]) < majorVersion(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return filepath.Dir(testutil.LookPath(t, "pg_ctl"))
}

func majorVersion(bindir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return v
}
