#!/usr/bin/env bash
# PostgreSQL store benchmark (`make bench` runs it): webhook notifications/s and latency into
# the store on SQLite and on PostgreSQL with 1 and 3 replicas (receiver/replicatest
# BenchmarkIngest), on a private PostgreSQL cluster started here and removed afterwards.
# Goals (issue 7): >= 1,000 notifications/s with p99 < 100 ms on one replica; three replicas
# no slower than one.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/postgres.sh
. scripts/postgres.sh
postgres_start
trap postgres_stop EXIT

N=${BENCH_POSTGRES_NOTIFICATIONS:-5000}
out=$(go test -run '^$' -bench 'BenchmarkIngest' -benchtime "${N}x" -count 1 ./receiver/replicatest/)

echo "store ingest: $N webhook notifications (50% new, 30% repeats, 20% resolutions), 16 concurrent senders, outbox workers running"
printf '%-22s %18s %10s %10s\n' backend notifications/s p50-ms p99-ms
echo "$out" | awk '
  /^BenchmarkIngest\// {
    name = $1; sub(/^BenchmarkIngest\//, "", name); sub(/-[0-9]+$/, "", name)
    rate = p50 = p99 = ""
    for (i = 2; i < NF; i++) {
      if ($(i+1) == "notifications/s") rate = $i
      if ($(i+1) == "p50-ms") p50 = $i
      if ($(i+1) == "p99-ms") p99 = $i
    }
    printf "%-22s %18.0f %10.1f %10.1f\n", name, rate, p50, p99
    found++
  }
  END { if (found != 3) { print "bench-postgres: expected 3 results" > "/dev/stderr"; exit 1 } }'
echo "machine: $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg) (the database, the replicas and the senders share them)"
