#!/usr/bin/env bash
# Installs what the tests, benchmarks and demo need on a fresh Debian machine with Go:
# Prometheus (+promtool), Alertmanager (+amtool), blackbox_exporter (differential tests and
# benchmarks), Chromium (browser tests) and the PostgreSQL server (store tests).
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v prometheus-blackbox-exporter >/dev/null || need+=(prometheus-blackbox-exporter)
command -v chromium >/dev/null || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The Debian packages try to start their services; we start our own instances, so keep
# policy-rc.d from starting theirs where the machine has an init system.
$sudo apt-get install -y -q --no-install-recommends "${need[@]}" >&2
