#!/usr/bin/env bash
# Makes sure a Docker Engine answers `docker info`. Idempotent: does nothing when one already runs
# (a developer machine, a GitHub runner). Otherwise installs Debian's docker.io when dockerd is
# missing and starts dockerd in the background (nohup), then waits for the socket.
#
# Usage: bash infra/scripts/ensure-docker.sh
# Env:   DOCKERD_LOG (default /tmp/dockerd.log), DOCKER_WAIT_SECONDS (default 60)
set -euo pipefail

log() { printf '[docker] %s\n' "$*"; }

if docker info >/dev/null 2>&1; then
  log "Docker Engine already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown))"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  log "DOCKER_HOST=${DOCKER_HOST} is set but 'docker info' fails: not starting a local dockerd" >&2
  docker info >&2 || true
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd not found: installing Debian's docker.io"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q update >/dev/null
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q \
    install --no-install-recommends docker.io >/dev/null
fi

logfile="${DOCKERD_LOG:-/tmp/dockerd.log}"
if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd is already starting (pid $(pgrep -x dockerd | head -1)); waiting for it"
else
  log "starting dockerd in the background (log: ${logfile})"
  # A stale pid file from a previous, killed dockerd prevents a new start.
  "${SUDO[@]}" rm -f /var/run/docker.pid
  "${SUDO[@]}" sh -c "nohup dockerd >'${logfile}' 2>&1 </dev/null &"
fi

wait_seconds="${DOCKER_WAIT_SECONDS:-60}"
for _ in $(seq 1 "${wait_seconds}"); do
  if docker info >/dev/null 2>&1; then
    log "Docker Engine ready ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown))"
    exit 0
  fi
  sleep 1
done

log "Docker Engine did not answer within ${wait_seconds}s; last lines of ${logfile}:" >&2
tail -n 30 "${logfile}" >&2 || true
exit 1
