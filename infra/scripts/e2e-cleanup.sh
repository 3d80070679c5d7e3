#!/usr/bin/env bash
# Removes every container and network the e2e suites created (label dev.ktrdr.e2e), plus unused
# Testcontainers networks. Safe to run at any time; .ci/run runs it after the tests.
set -euo pipefail

if ! docker info >/dev/null 2>&1; then
  echo "[e2e-cleanup] no Docker Engine: nothing to clean"
  exit 0
fi
mapfile -t ids < <(docker ps -aq --filter label=dev.ktrdr.e2e)
if [ "${#ids[@]}" -gt 0 ]; then
  docker rm -f -v "${ids[@]}" >/dev/null
fi
mapfile -t nets < <(docker network ls -q --filter label=dev.ktrdr.e2e)
if [ "${#nets[@]}" -gt 0 ]; then
  docker network rm "${nets[@]}" >/dev/null || true
fi
docker network prune -f --filter label=org.testcontainers=true >/dev/null
# Compose projects of the e2e compose suite: ktrdr-e2e-compose-*.
mapfile -t projects < <(docker ps -a --filter label=com.docker.compose.project \
  --format '{{.Label "com.docker.compose.project"}}' | grep '^ktrdr-e2e-compose-' | sort -u || true)
for p in "${projects[@]}"; do
  mapfile -t pids < <(docker ps -aq --filter "label=com.docker.compose.project=$p")
  if [ "${#pids[@]}" -gt 0 ]; then docker rm -f -v "${pids[@]}" >/dev/null; fi
  docker network ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker network rm >/dev/null || true
  docker volume ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker volume rm -f >/dev/null || true
done
echo "[e2e-cleanup] removed ${#ids[@]} container(s), ${#nets[@]} labelled network(s), ${#projects[@]} compose project(s)"
