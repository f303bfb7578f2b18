#!/usr/bin/env bash
# Receiver benchmark: sustained Alertmanager webhook notifications per second into the SQLite
# store (40% new alerts, 40% repeats, 20% resolutions) with p50/p99 latency, then a SIGKILL +
# restart durability check. Goal on a 2-core machine: >= 1,000 notifications/s, p99 < 50 ms.
# Tunables: BENCH_RECEIVER_DURATION (default 10s), BENCH_RECEIVER_WORKERS (default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/siteward-receiver ./cmd/siteward-receiver
go run ./receiver/internal/benchreceiver \
  -binary bin/siteward-receiver \
  -duration "${BENCH_RECEIVER_DURATION:-10s}" \
  -workers "${BENCH_RECEIVER_WORKERS:-16}"
