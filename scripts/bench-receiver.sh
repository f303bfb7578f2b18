#!/usr/bin/env bash
# Receiver benchmark: sustained Alertmanager webhook notifications per second into the SQLite
# store (40% new alerts, 40% repeats, 20% resolutions) with p50/p99 latency, then a SIGKILL +
# restart durability check. Goal on a 2-core machine: >= 1,000 notifications/s, p99 < 50 ms.
# It runs twice: 4 concurrent senders (an Alertmanager HA pair) and 16 (a busy fleet).
# Tunables: BENCH_RECEIVER_DURATION (default 10s), BENCH_RECEIVER_WORKERS (default "4 16").
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/siteward-receiver ./cmd/siteward-receiver
go build -o bin/benchreceiver ./receiver/internal/benchreceiver
status=0
for workers in ${BENCH_RECEIVER_WORKERS:-4 16}; do
  bin/benchreceiver -binary bin/siteward-receiver -duration "${BENCH_RECEIVER_DURATION:-10s}" -workers "$workers" || status=1
done
exit $status
