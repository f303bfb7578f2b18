package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolOptions tune the connection pool. Zero values take the defaults.
type PoolOptions struct {
	// MaxConns caps the connections of one replica (default 10). Size it so that
	// replicas x MaxConns stays below the server's max_connections.
	MaxConns int32
	// ConnectTimeout bounds one connection attempt (default 5s), so that a database outage
	// turns into a prompt error (a 5xx to Alertmanager) rather than a hung request.
	ConnectTimeout time.Duration
}

// newPool parses url (a libpq URL or key=value string, as pgx accepts) and connects, failing
// when the database does not answer a ping.
func newPool(ctx context.Context, url string, opts PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, fmt.Errorf("parse PostgreSQL URL: %w", err)
	}
	cfg.MaxConns = 10
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	if opts.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	// Idle connections are checked often, so that after a database restart the pool drops
	// dead connections before a request trips over them.
	cfg.HealthCheckPeriod = 10 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "siteward-receiver"

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create PostgreSQL pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return pool, nil
}
