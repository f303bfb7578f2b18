#!/usr/bin/env bash
# PostgreSQL benchmark (`make bench` runs it), on a private PostgreSQL cluster started here and
# removed afterwards. Two views (receiver/replicatest):
#   webhook: Alertmanager notifications/s and latency through whole receivers (HTTP, lifecycle,
#            store, outbox): one receiver on SQLite, 1 and 3 replicas on PostgreSQL;
#   store:   the same on the store alone (one transaction per notification, as the webhook
#            handler makes it), which isolates the database from the rest of the receiver.
# Goals (issue 7): >= 1,000 notifications/s with p99 < 100 ms on one replica; three replicas,
# sharing one database connection budget (see shareConnections), no slower than one.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/postgres.sh
. scripts/postgres.sh
postgres_start
trap postgres_stop EXIT

WEBHOOK_N=${BENCH_WEBHOOK_NOTIFICATIONS:-2000}
STORE_N=${BENCH_STORE_NOTIFICATIONS:-5000}

# table NAME runs one benchmark and prints its three results as a table.
table() {
  local bench=$1 n=$2 out
  out=$(go test -run '^$' -bench "^${bench}\$" -benchtime "${n}x" -count 1 ./receiver/replicatest/)
  printf '%-22s %18s %10s %10s\n' backend notifications/s p50-ms p99-ms
  echo "$out" | awk -v bench="$bench" '
    index($1, bench "/") == 1 {
      name = substr($1, length(bench) + 2); sub(/-[0-9]+$/, "", name)
      rate = p50 = p99 = ""
      for (i = 2; i < NF; i++) {
        if ($(i+1) == "notifications/s") rate = $i
        if ($(i+1) == "p50-ms") p50 = $i
        if ($(i+1) == "p99-ms") p99 = $i
      }
      printf "%-22s %18.0f %10.1f %10.1f\n", name, rate, p50, p99
      found++
    }
    END { if (found != 3) { print "bench-postgres: expected 3 results from " bench > "/dev/stderr"; exit 1 } }'
}

echo "webhook: $WEBHOOK_N Alertmanager notifications (40% new alerts, 20% repeats, 40% resolutions) to whole receivers, 16 concurrent senders"
table BenchmarkWebhook "$WEBHOOK_N"
echo
echo "store: $STORE_N notifications (50% new, 30% repeats, 20% resolutions) straight into the store, 16 concurrent senders, outbox workers running"
table BenchmarkIngest "$STORE_N"
echo
echo "machine: $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg) (the database, the receivers and the load generator share them)"
