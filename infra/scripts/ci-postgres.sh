#!/usr/bin/env bash
# Starts Debian's PostgreSQL (installed by .ci/run) on 127.0.0.1:5432 and creates the
# ktrdr_test role and database used by the backend's repository suite. Idempotent.
set -euo pipefail

if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "[postgres] already running on 127.0.0.1:5432"
else
  version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -1)
  if [ -z "$version" ]; then
    echo "[postgres] no PostgreSQL server installed (apt-get install postgresql)" >&2
    exit 1
  fi
  if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    pg_createcluster "$version" main >/dev/null
  fi
  cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
  # shellcheck disable=SC2086
  pg_ctlcluster $cluster start
  for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p 5432 -q && break
    sleep 1
  done
  pg_isready -h 127.0.0.1 -p 5432
fi

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi
}
as_postgres "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='ktrdr_test'\" | grep -q 1 || psql -qc \"CREATE ROLE ktrdr_test LOGIN PASSWORD 'ktrdr_test' CREATEDB\""
as_postgres "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='ktrdr_test'\" | grep -q 1 || createdb -O ktrdr_test ktrdr_test"
echo "[postgres] ready: postgres://ktrdr_test:***@127.0.0.1:5432/ktrdr_test"
