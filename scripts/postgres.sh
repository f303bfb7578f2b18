# Sourced by scripts/test.sh and scripts/bench.sh: starts a throwaway PostgreSQL cluster in a
# temporary directory on a free loopback port and exports SITEWARD_TEST_POSTGRES_URL.
postgres_start() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  PG_DIR=$(mktemp -d /tmp/siteward-pg.XXXXXX)
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$PG_DIR"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bindir/initdb" -D "$PG_DIR/data" -U siteward --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1
  "${run[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR -c max_connections=200 -c fsync=off" start >/dev/null
  PG_CTL="$bindir/pg_ctl"
  PG_RUN="${run[*]}"
  export SITEWARD_TEST_POSTGRES_URL="postgres://siteward@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
  # Tests that stop and start the server (the outage test) need these.
  export SITEWARD_TEST_POSTGRES_CTL="$PG_RUN $PG_CTL -D $PG_DIR/data -l $PG_DIR/server.log -w -o '-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR -c max_connections=200 -c fsync=off'"
  echo "postgres: $SITEWARD_TEST_POSTGRES_URL" >&2
}

postgres_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  $PG_RUN "$PG_CTL" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
