#!/usr/bin/env bash
# `make bench`: runs every scripts/bench-*.sh (exporter, receiver, ...) and prints their figures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
status=0
for b in scripts/bench-*.sh; do
  [ -e "$b" ] || continue
  echo "== $b"
  bash "$b" || status=1
done
exit $status
