#!/usr/bin/env bash
# ExecStart of ktrdr-worker@.service: runs the worker of type TYPE (the unit instance) from the current
# release, reporting that release's commit as KTRDR_WORKER_RELEASE (metadata.release in the worker list,
# which a rolling deploy waits for). Installed as <app dir>/bin/ktrdr-worker-start by the base template
# and refreshed by update-code.sh from each release.
#
# Usage: ktrdr-worker-start TYPE [APP_DIR]      TYPE: backtesting | training
#        APP_DIR defaults to the parent of this script's bin/ directory, else /opt/ktrdr.
set -euo pipefail

die() {
  printf '[ktrdr-worker-start] error: %s\n' "$*" >&2
  exit 1
}

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
  printf 'Usage: ktrdr-worker-start backtesting|training [APP_DIR]\n'
  exit 0
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: ktrdr-worker-start backtesting|training [APP_DIR]"; fi
case "$1" in
  backtesting) app=backtest-worker ;;
  training) app=training-worker ;;
  *) die "unknown worker type '$1' (expected backtesting or training)" ;;
esac

app_dir="${2:-}"
if [ -z "$app_dir" ]; then
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ "$(basename "$here")" = bin ]; then app_dir="$(dirname "$here")"; else app_dir=/opt/ktrdr; fi
fi

current="$app_dir/current"
[ -f "$current/.ktrdr-release" ] || die "no release is deployed in $current (run update-code.sh --source URL --ref REF)"
release="$(readlink -f "$current")"
main="$release/apps/$app/dist/main.js"
[ -f "$main" ] || die "$main is missing: the release $(basename "$release") has no built $app"
command -v node >/dev/null 2>&1 || die "'node' was not found on PATH"

KTRDR_WORKER_RELEASE="$(tr -d '[:space:]' <"$release/.ktrdr-release")"
export KTRDR_WORKER_RELEASE
# The resolved release directory: a later switch of `current` never changes a running worker's code.
cd "$release"
exec node "$main"
