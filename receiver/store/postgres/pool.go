package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultConnectTimeout bounds one connection attempt when the URL sets no connect_timeout,
// so that a database outage turns into a prompt error (a 5xx to Alertmanager) rather than a
// request hanging on TCP retransmissions.
const defaultConnectTimeout = 5 * time.Second

// defaultRuntimeParams are session settings used unless the URL sets them.
var defaultRuntimeParams = map[string]string{
	"application_name": "siteward-receiver",
	// A replica that froze or lost the network in the middle of a transaction would hold its
	// locks (an incident, an incident key) until TCP gives up, hours later, and every other
	// replica's webhooks for that incident would wait. The server ends such a session after a
	// minute instead; the lifecycle's transactions take milliseconds.
	"idle_in_transaction_session_timeout": "60000", // ms
}

// newPool parses url and connects, failing when the database does not answer a ping.
// The URL is anything pgx accepts (postgres://user:pass@host:5432/db?sslmode=verify-full or
// key=value pairs); pool settings such as pool_max_conns go in the URL too.
func newPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, fmt.Errorf("parse PostgreSQL URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// Idle connections are checked often, so that after a database restart the pool drops
	// dead connections before requests trip over them.
	cfg.HealthCheckPeriod = 10 * time.Second
	for param, value := range defaultRuntimeParams {
		if _, set := cfg.ConnConfig.RuntimeParams[param]; !set {
			cfg.ConnConfig.RuntimeParams[param] = value
		}
	}

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
