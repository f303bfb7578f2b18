package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// migration is one step of the schema. Steps are applied in Version order, each once, and are
// never edited after release: a change to the schema is a new step at the end of the list.
type migration struct {
	Version int
	Name    string
	SQL     string
}

// migrationLockKey is the pg_advisory_xact_lock key that serialises schema migrations: two
// replicas starting at once take turns, and the second one finds the work done.
// (The value is arbitrary but fixed: "siteward" in ASCII.)
const migrationLockKey int64 = 0x7369746577617264

// migrate brings the database schema up to date with list, inside one transaction that holds
// the migration advisory lock. Either every pending step is applied or none is.
func migrate(ctx context.Context, pool *pgxpool.Pool, list []migration, logger *slog.Logger) error {
	if err := checkMigrations(list); err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin migration transaction: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := 0
	if len(list) > 0 {
		latest = list[len(list)-1].Version
	}
	if current > latest {
		// A newer binary migrated this database; running old code against it could corrupt it.
		return fmt.Errorf("database schema version %d is newer than this binary's %d: upgrade siteward-receiver", current, latest)
	}
	for _, m := range list {
		if m.Version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("apply migration %d (%s): %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			return fmt.Errorf("record migration %d (%s): %w", m.Version, m.Name, err)
		}
		logger.Info("applied database migration", "version", m.Version, "name", m.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}

// checkMigrations rejects a list whose versions are not strictly increasing from 1.
func checkMigrations(list []migration) error {
	for i, m := range list {
		if m.Version != i+1 {
			return fmt.Errorf("migration %q has version %d, want %d (versions must be 1, 2, 3, ...)", m.Name, m.Version, i+1)
		}
		if m.SQL == "" {
			return fmt.Errorf("migration %d (%s) has no SQL", m.Version, m.Name)
		}
	}
	return nil
}
