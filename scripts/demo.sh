#!/usr/bin/env bash
# `make demo` (after `make build`): the whole siteward pipeline on this machine, with demo sites
# you can break. Starts siteward-demosite, siteward-exporter, siteward-receiver (SQLite, log
# channel), Prometheus and Alertmanager with the repository's prometheus.yml, rules/ and
# alertmanager.yml, waits until each is ready, prints the URLs and stops everything on Ctrl-C.
# State and logs go to .demo/ (removed at the next start).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
run="$repo/.demo"
bin="$repo/bin"

# Ports: the contract ports for the pipeline, 918x for the demo sites, 9153 for their DNS.
demo_port=9180
dns_addr=127.0.0.1:9153
site_port_base=9181

die() { echo "demo: $*" >&2; exit 1; }

for b in siteward-demosite siteward-exporter siteward-receiver; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing: run \`make demo\` (it builds first) or \`make build\`"
done
command -v curl >/dev/null || die "curl is needed to wait for the services (apt-get install curl)"

# Prometheus and Alertmanager from Debian when missing (only these two, not the test tools).
if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "demo: installing prometheus and prometheus-alertmanager" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager >&2
fi

# A port already taken is usually a Debian service started by the package install.
for port in 9090 9093 9096 9115 $demo_port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use (a Debian prometheus/alertmanager/blackbox service? try: sudo systemctl stop prometheus prometheus-alertmanager prometheus-blackbox-exporter)"
  fi
done

rm -rf "$run"
mkdir -p "$run"

pids=()
names=()
stop_all() {
  trap - INT TERM EXIT
  echo >&2
  echo "demo: stopping" >&2
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[$i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  echo "demo: stopped; logs and data are in .demo/" >&2
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# start NAME COMMAND...: runs COMMAND in the background, logging to .demo/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$run/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# wait_ready NAME URL: polls URL until it answers 2xx; fails if the process died.
wait_ready() {
  local name=$1 url=$2 i pid=${pids[${#pids[@]} - 1]}
  for ((i = 0; i < 240; i++)); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      echo "demo: $name ready" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$run/$name.log" >&2
      die "$name exited; see .demo/$name.log"
    fi
    sleep 0.25
  done
  tail -n 20 "$run/$name.log" >&2
  die "$name not ready at $url after 60s; see .demo/$name.log"
}

# The webhook bearer token, where alertmanager.yml reads it (credentials_file; a relative path
# is relative to alertmanager.yml's directory, the repository).
token_file=$(sed -n 's/^[[:space:]]*credentials_file:[[:space:]]*["'\'']\{0,1\}\([^"'\'' #]*\).*/\1/p' alertmanager.yml | head -n 1)
if [ -n "$token_file" ]; then
  case "$token_file" in /*) ;; *) token_file="$repo/$token_file" ;; esac
  if [ ! -s "$token_file" ]; then
    mkdir -p "$(dirname "$token_file")" 2>/dev/null || die "cannot create $(dirname "$token_file") for the webhook token that alertmanager.yml expects; create it (sudo mkdir -p $(dirname "$token_file") && sudo chown $(id -un) $(dirname "$token_file")) and run again"
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$token_file")
    echo "demo: wrote the webhook bearer token to $token_file" >&2
  fi
fi

start demosite "$bin/siteward-demosite" \
  --web.listen-address="127.0.0.1:$demo_port" \
  --dns.listen-address="$dns_addr" \
  --sites.port-base="$site_port_base" \
  --exporter.config-file="$run/exporter.yml"
wait_ready demosite "http://127.0.0.1:$demo_port/-/ready"

start exporter "$bin/siteward-exporter" \
  --config.file="$run/exporter.yml" \
  --web.listen-address=:9115 \
  --dns.resolver="$dns_addr"
wait_ready exporter "http://127.0.0.1:9115/-/ready"

# The receiver with a small config: the log channel (its default, named "log") for the team
# and for both demo clients, so every notice shows in .demo/receiver.log; the webhook token
# Alertmanager sends (it then guards every /api/v1 call); public status pages; and a first
# client notice after one minute so the demo shows it soon.
{
  if [ -n "$token_file" ]; then
    printf 'api:\n  token_files: ["%s"]\n' "$token_file"
  fi
  cat <<'EOF'
timers:
  first_notice_delay: 1m
  resolve_quiet_window: 2m
clients:
  - name: acme
    channels: [log]
    public_status_page: true
  - name: globex
    channels: [log]
    public_status_page: true
EOF
} >"$run/receiver.yml"
start receiver "$bin/siteward-receiver" \
  --config.file="$run/receiver.yml" \
  --storage.path="$run/receiver.db" \
  --web.listen-address=:9096 \
  --prometheus.url=http://localhost:9090
wait_ready receiver "http://127.0.0.1:9096/-/ready"

start alertmanager prometheus-alertmanager \
  --config.file="$repo/alertmanager.yml" \
  --storage.path="$run/alertmanager" \
  --web.listen-address=:9093 \
  --cluster.listen-address=
wait_ready alertmanager "http://127.0.0.1:9093/-/ready"

start prometheus prometheus \
  --config.file="$repo/prometheus.yml" \
  --storage.tsdb.path="$run/prometheus" \
  --web.listen-address=:9090
wait_ready prometheus "http://127.0.0.1:9090/-/ready"

cat <<EOF

siteward demo is running (logs in .demo/*.log). Open:
  Status page       http://localhost:9096/status        (per client: /status/acme, /status/globex)
  Incidents         http://localhost:9096/incidents
  Prometheus        http://localhost:9090/alerts
  Alertmanager      http://localhost:9093
  Exporter targets  http://localhost:9115/sd
  Receiver API      curl -H "Authorization: Bearer \$(cat ${token_file#"$repo/"})" http://localhost:9096/api/v1/incidents
  Demo sites        http://localhost:$demo_port/         (sites, targets and their current mode)

Break a site (modes: 503 404 timeout expired-cert refused dns body), then watch the alert in
Prometheus (about 45 s), the incident and the team notice (.demo/receiver.log), the status page,
and the client's first notice one minute later:
  curl -X POST 'http://localhost:$demo_port/break?site=acme/shop&mode=503'
  curl -X POST 'http://localhost:$demo_port/break?site=globex/www&mode=expired-cert'
Restore one site, or all:
  curl -X POST 'http://localhost:$demo_port/restore?site=acme/shop'
  curl -X POST 'http://localhost:$demo_port/restore'

Press Ctrl-C to stop everything.
EOF

# Wait until Ctrl-C, or until one of the processes dies (then stop the rest).
while true; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "demo: ${names[$i]} exited; see .demo/${names[$i]}.log" >&2
      tail -n 20 "$run/${names[$i]}.log" >&2
      exit 1
    fi
  done
  sleep 1
done
