package postgres

import (
	"context"
	"testing"

	"github.com/siteward/siteward/receiver/store/postgres/pgtest"
)

func TestPoolSessionSettings(t *testing.T) {
	url := pgtest.Database(t)
	for _, tc := range []struct {
		name, url, param, want string
	}{
		{"default idle transaction timeout", url, "idle_in_transaction_session_timeout", "1min"},
		{"default application name", url, "application_name", "siteward-receiver"},
		{"URL overrides the default", url + "&idle_in_transaction_session_timeout=5000", "idle_in_transaction_session_timeout", "5s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := testPool(t, tc.url)
			var got string
			if err := pool.QueryRow(context.Background(), "SHOW "+tc.param).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s = %q, want %q", tc.param, got, tc.want)
			}
		})
	}
}
