#!/usr/bin/env bash
# The whole test suite: `make test` runs exactly this, and .ci/run runs `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== gofmt" >&2
unformatted=$(gofmt -l $(git ls-files -co --exclude-standard '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt: these files are not formatted:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet" >&2
go vet ./...

# A private PostgreSQL cluster for the PostgreSQL store tests (removed on exit).
# shellcheck source=scripts/postgres.sh
. scripts/postgres.sh
postgres_start
trap postgres_stop EXIT

# Tests that need an external tool (promtool, prometheus, alertmanager, chromium, ...) fail
# instead of skipping when it is missing.
export SITEWARD_REQUIRE_TOOLS=1

# The end-to-end test measures break-to-team-notification time at the shipped defaults;
# `go test` hides the log of passing tests, so it writes the figure here and we print it.
export SITEWARD_E2E_REPORT
SITEWARD_E2E_REPORT=$(mktemp /tmp/siteward-e2e-report.XXXXXX)

echo "== go test -race" >&2
go test -race -count=1 -timeout 40m ./...

if [ -s "$SITEWARD_E2E_REPORT" ]; then
  echo "== end-to-end measurements" >&2
  cat "$SITEWARD_E2E_REPORT" >&2
fi
rm -f "$SITEWARD_E2E_REPORT"
