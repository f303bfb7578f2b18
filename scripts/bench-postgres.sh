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
BINDIR=$(mktemp -d)
trap 'postgres_stop; rm -rf "$BINDIR"' EXIT

WEBHOOK_N=${BENCH_WEBHOOK_NOTIFICATIONS:-6000}
STORE_N=${BENCH_STORE_NOTIFICATIONS:-5000}
# Each configuration runs ROUNDS times, interleaved (round k runs all three before round k+1
# starts), and the table shows medians: on a shared machine one run can be 10% off either way,
# and the machine drifts (checkpoints, other work) between runs.
ROUNDS=${BENCH_POSTGRES_ROUNDS:-5}

BIN=$BINDIR/replicatest.test
go test -c -o "$BIN" ./receiver/replicatest/

# table NAME N runs one benchmark and prints, per configuration, the medians of its rounds
# and the range of its rates.
table() {
  local bench=$1 n=$2 out=
  for _ in $(seq "$ROUNDS"); do
    out+=$(cd receiver/replicatest && "$BIN" -test.run '^$' -test.bench "^${bench}\$" -test.benchtime "${n}x")$'\n'
  done
  printf '%-22s %18s %10s %10s %20s   %s\n' backend notifications/s p50-ms p99-ms cpu-ms/notification "rate range over $ROUNDS rounds"
  echo "$out" | awk -v bench="$bench" '
    # median returns the median of a space-separated list and sets lo and hi to its extremes.
    function median(list,    v, k, i, j, t) {
      k = split(list, v, " ")
      for (i = 2; i <= k; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
      lo = v[1]; hi = v[k]
      return k % 2 ? v[(k+1)/2] : (v[k/2] + v[k/2+1]) / 2
    }
    index($1, bench "/") == 1 {
      name = substr($1, length(bench) + 2); sub(/-[0-9]+$/, "", name)
      if (!(name in rate)) order[++names] = name
      for (i = 2; i < NF; i++) {
        if ($(i+1) == "notifications/s") rate[name] = rate[name] " " $i
        if ($(i+1) == "p50-ms") p50[name] = p50[name] " " $i
        if ($(i+1) == "p99-ms") p99[name] = p99[name] " " $i
        if ($(i+1) == "cpu-ms/notification") cpu[name] = cpu[name] " " $i
      }
    }
    END {
      if (names != 3) { print "bench-postgres: expected 3 configurations from " bench > "/dev/stderr"; exit 1 }
      for (i = 1; i <= names; i++) {
        name = order[i]
        m50 = median(p50[name]); m99 = median(p99[name]); c = median(cpu[name]); r = median(rate[name])
        printf "%-22s %18.0f %10.1f %10.1f %20.2f   %.0f-%.0f\n", name, r, m50, m99, c, lo, hi
      }
    }'
}

echo "webhook: $WEBHOOK_N Alertmanager notifications (40% new alerts, 20% repeats, 40% resolutions) to whole receivers, 16 concurrent senders"
table BenchmarkWebhook "$WEBHOOK_N"
echo
echo "store: $STORE_N notifications (50% new, 30% repeats, 20% resolutions) straight into the store, 16 concurrent senders, outbox workers running"
table BenchmarkIngest "$STORE_N"
echo
echo "machine: $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg) (the database, the receivers and the load generator share them;"
echo "cpu-ms/notification is the whole machine's CPU time per notification: equal figures mean replicas add no work)"
