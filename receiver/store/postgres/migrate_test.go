package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/common/promslog"

	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

// testMigrations are deliberately not idempotent (plain CREATE TABLE, INSERT): running a step
// twice fails, so a runner that lets two replicas both apply it is caught.
var testMigrations = []migration{
	{Version: 1, Name: "widgets", SQL: `CREATE TABLE widgets (id integer PRIMARY KEY, name text NOT NULL)`},
	{Version: 2, Name: "seed widget", SQL: `INSERT INTO widgets VALUES (1, 'first')`},
	{Version: 3, Name: "widget colour", SQL: `ALTER TABLE widgets ADD COLUMN colour text NOT NULL DEFAULT 'red'`},
}

func testPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := newPool(context.Background(), url+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func appliedVersions(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestMigrateConcurrentStart(t *testing.T) {
	url := pgtest.Database(t)
	const replicas = 4
	pools := make([]*pgxpool.Pool, replicas)
	for i := range pools {
		pools[i] = testPool(t, url)
	}
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, pool := range pools {
		wg.Go(func() {
			<-start
			errs[i] = migrate(context.Background(), pool, testMigrations, promslog.NewNopLogger())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	if got := appliedVersions(t, pools[0]); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Errorf("schema_migrations versions = %v, want [1 2 3]", got)
	}
	var n int
	if err := pools[0].QueryRow(context.Background(), "SELECT count(*) FROM widgets").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("widgets rows = %d, want 1 (the seed step ran %d times)", n, n)
	}
}

func TestMigrateAppliesOnlyPendingSteps(t *testing.T) {
	pool := testPool(t, pgtest.Database(t))
	ctx := context.Background()
	logger := promslog.NewNopLogger()
	if err := migrate(ctx, pool, testMigrations[:2], logger); err != nil {
		t.Fatal(err)
	}
	if got := appliedVersions(t, pool); len(got) != 2 {
		t.Fatalf("after the first start: versions %v, want [1 2]", got)
	}
	// A newer binary adds step 3; steps 1 and 2 would fail if they ran again.
	if err := migrate(ctx, pool, testMigrations, logger); err != nil {
		t.Fatal(err)
	}
	var colour string
	if err := pool.QueryRow(ctx, "SELECT colour FROM widgets WHERE id = 1").Scan(&colour); err != nil {
		t.Fatal(err)
	}
	if colour != "red" {
		t.Errorf("colour = %q, want red", colour)
	}
	// Starting again with nothing pending changes nothing.
	if err := migrate(ctx, pool, testMigrations, logger); err != nil {
		t.Fatal(err)
	}
	if got := appliedVersions(t, pool); len(got) != 3 {
		t.Errorf("versions %v, want [1 2 3]", got)
	}
}

func TestMigrateFailedStepRollsBackEverything(t *testing.T) {
	pool := testPool(t, pgtest.Database(t))
	ctx := context.Background()
	broken := []migration{
		testMigrations[0],
		{Version: 2, Name: "typo", SQL: `INSERT INTO widgetz VALUES (1, 'first')`},
	}
	err := migrate(ctx, pool, broken, promslog.NewNopLogger())
	if err == nil || !strings.Contains(err.Error(), "migration 2 (typo)") {
		t.Fatalf("err = %v, want one naming migration 2 (typo)", err)
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('widgets') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("table widgets from step 1 exists after step 2 failed; want the whole run rolled back")
	}
}

func TestMigrateRefusesNewerDatabase(t *testing.T) {
	pool := testPool(t, pgtest.Database(t))
	ctx := context.Background()
	if err := migrate(ctx, pool, testMigrations, promslog.NewNopLogger()); err != nil {
		t.Fatal(err)
	}
	err := migrate(ctx, pool, testMigrations[:1], promslog.NewNopLogger())
	if err == nil || !strings.Contains(err.Error(), "schema version 3 is newer than this binary's 1") {
		t.Fatalf("err = %v, want a refusal naming versions 3 and 1", err)
	}
}

func TestCheckMigrations(t *testing.T) {
	for _, tc := range []struct {
		name string
		list []migration
		want string
	}{
		{"gap", []migration{{Version: 1, Name: "a", SQL: "SELECT 1"}, {Version: 3, Name: "c", SQL: "SELECT 1"}}, `"c" has version 3, want 2`},
		{"not from one", []migration{{Version: 2, Name: "b", SQL: "SELECT 1"}}, `"b" has version 2, want 1`},
		{"empty SQL", []migration{{Version: 1, Name: "a"}}, "migration 1 (a) has no SQL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkMigrations(tc.list)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A database from before migration 4 (alert events without recorded_at) upgrades in place:
// its events count as recorded long ago, so a resolved alert's are pruned at once and a firing
// alert's stay.
func TestUpgradeKeepsAlertEventsPrunable(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	pool := testPool(t, url)
	if err := migrate(ctx, pool, migrations[:3], promslog.NewNopLogger()); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(ctx, `INSERT INTO alert_events (key, fingerprint, starts_at, status)
		VALUES ('k', 'gone', 1, 'firing'), ('k', 'gone', 1, 'resolved'), ('k', 'firing', 1, 'firing')`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.PruneAlertEvents(ctx, time.Unix(1, 0), 100); err != nil || n != 2 {
		t.Fatalf("pruning after the upgrade: %d, %v; want the resolved alert's 2 events", n, err)
	}
	rows, err := pool.Query(ctx, `SELECT fingerprint FROM alert_events`)
	if err != nil {
		t.Fatal(err)
	}
	if left, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(left) != 1 || left[0] != "firing" {
		t.Fatalf("alert events left = %v, %v; want the firing alert's", left, err)
	}
}
