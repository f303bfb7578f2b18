#!/usr/bin/env bash
# Exporter benchmark (`make bench` runs it): siteward-exporter against Debian's
# prometheus-blackbox-exporter with the same module file and the same loopback HTTP and HTTPS
# targets, one exporter at a time, a fixed number of concurrent /probe requests for a fixed
# time. Prints probes/s, CPU seconds per 1,000 probes (utime+stime of the exporter process),
# peak RSS (VmHWM) and siteward's ratios to blackbox_exporter.
# Goals (issue 2): throughput >= 1.5x blackbox on HTTP, >= 1.0x on HTTPS, no more memory.
# Knobs: BENCH_EXPORTER_CONCURRENCY (default 8), BENCH_EXPORTER_DURATION (default 5s, per round), BENCH_EXPORTER_ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

blackbox=$(command -v prometheus-blackbox-exporter || command -v blackbox_exporter || true)
if [ -z "$blackbox" ]; then
  echo "bench-exporter: prometheus-blackbox-exporter not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
mkdir -p bin
go build -o bin/siteward-exporter ./cmd/siteward-exporter
go build -o bin/benchprobe ./internal/benchprobe

"$blackbox" --version 2>&1 | head -1
bin/benchprobe \
  -blackbox "$blackbox" \
  -siteward bin/siteward-exporter \
  -concurrency "${BENCH_EXPORTER_CONCURRENCY:-8}" \
  -duration "${BENCH_EXPORTER_DURATION:-5s}" \
  -rounds "${BENCH_EXPORTER_ROUNDS:-3}"
