#!/usr/bin/env bash
# Starts the PostgreSQL server the tests run the manager on, and prints its URL (the value for
# SEALFLEET_TEST_PG) as the only line on stdout; progress goes to stderr.
#
# Run as root on Debian: installs the server when missing, creates the cluster "sealfleet" (owned by the
# postgres user, data under /var/lib/postgresql, outside the repo) once, and starts it when it is down.
# Idempotent: a second run only prints the URL. Logins on the unix socket are trusted (the tests create and
# drop a database per manager as the postgres user); logins on 127.0.0.1 need a password (the tests check
# that a manager authenticates with one, and never shows it). The port is SEALFLEET_PG_PORT (default 5439).
#
#   export SEALFLEET_TEST_PG=$(bash scripts/ci-postgres.sh)
set -euo pipefail

port="${SEALFLEET_PG_PORT:-5439}"
cluster=sealfleet
socket_dir=/var/run/postgresql

if [ "$(id -u)" -ne 0 ]; then
  echo "error: $0 must run as root (it creates a cluster owned by the postgres user)" >&2
  exit 1
fi
if ! command -v pg_createcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "ci-postgres: installing the PostgreSQL server" >&2
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)

if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { found = 1 } END { exit !found }'; then
  echo "ci-postgres: creating cluster $version/$cluster on port $port" >&2
  pg_createcluster "$version" "$cluster" --port "$port" -- --auth-local=trust --auth-host=scram-sha-256 >&2
  # A throwaway test server: durability is off for speed, and connections are many (every test manager has a
  # pool of its own). The default listen_addresses (localhost) gives the 127.0.0.1 logins.
  cat >"/etc/postgresql/$version/$cluster/conf.d/sealfleet-tests.conf" <<CONF
max_connections = 400
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi
if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c && $4 == "online" { found = 1 } END { exit !found }'; then
  echo "ci-postgres: starting cluster $version/$cluster" >&2
  pg_ctlcluster "$version" "$cluster" start >&2
fi
for _ in $(seq 1 60); do
  if pg_isready -q -h "$socket_dir" -p "$port"; then
    echo "postgres://postgres@/postgres?host=${socket_dir}&port=${port}"
    exit 0
  fi
  sleep 1
done
echo "error: PostgreSQL cluster $version/$cluster did not accept connections on $socket_dir port $port within 60 s" >&2
exit 1
