#!/usr/bin/env bash
# Start the local PostgreSQL cluster and make a `kumo` role that may create databases
# (tests make one database per worker). `--url` prints the base URL and does nothing else.
# With KUMO_PG_REMEMBER=1 (as `make test` runs it) a cluster it had to start is noted,
# and `--stop` stops it again: `make test` calls that after the tests, so a PostgreSQL
# that was already running (or started by `make postgres`) stays up.
set -euo pipefail
URL="postgresql+psycopg://kumo:kumo@127.0.0.1:5432/postgres"
# "<version> <cluster>" of the cluster this script started and nobody stopped yet.
MARKER="${KUMO_PG_MARKER:-${TMPDIR:-/tmp}/kumo-postgres-started}"
if [ "${1:-}" = "--url" ]; then echo "$URL"; exit 0; fi
if [ "${1:-}" = "--stop" ]; then
  if [ -f "$MARKER" ]; then
    read -r sver sname <"$MARKER" || true
    rm -f "$MARKER"
    if [ -n "${sver:-}" ] && pg_lsclusters -h | awk '{print $1, $2, $4}' \
        | grep -qx "$sver $sname online"; then
      pg_ctlcluster "$sver" "$sname" stop
    fi
  fi
  exit 0
fi
bash "$(dirname "$0")/install-system-deps.sh" --test
ver=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
if ! pg_lsclusters -h | grep -q .; then
  pg_createcluster "$ver" main >/dev/null
fi
cluster=$(pg_lsclusters -h | head -n 1)
read -r cver cname cport cstatus _ <<<"$cluster"
if [ "$cstatus" != "online" ]; then
  pg_ctlcluster "$cver" "$cname" start
  if [ "${KUMO_PG_REMEMBER:-}" = 1 ]; then echo "$cver $cname" >"$MARKER"; fi
fi
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.2
done
su postgres -c "psql -q -p 5432 -tAc \"SELECT 1 FROM pg_roles WHERE rolname='kumo'\"" | grep -q 1 \
  || su postgres -c "psql -q -p 5432 -c \"CREATE ROLE kumo LOGIN CREATEDB PASSWORD 'kumo'\""
# The tests drop their databases WITH (FORCE); an autovacuum worker busy in one belongs
# to no role, and only pg_signal_backend members may end it (else the drop fails).
su postgres -c "psql -q -p 5432 -v ON_ERROR_STOP=1 -c 'SET client_min_messages = warning' -c 'GRANT pg_signal_backend TO kumo'" >/dev/null
echo "postgres: ready at ${URL%/postgres}"
