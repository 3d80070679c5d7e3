#!/usr/bin/env bash
# Builds the service images from infra/docker/Dockerfile:
#   ktrdr/backend:local  ktrdr/backtest-worker:local  ktrdr/training-worker:local
# (names are fixed: kinfra, compose and the e2e suites use them).
#
# Per app: build the workspace (turbo), `pnpm --filter <app> --prod deploy --legacy` into a staging
# directory (dist + production node_modules only), then `docker build` with that small directory as
# the context and --build-arg NODE_IMAGE. Idempotent: an image whose source hash label matches the
# current build output is kept as is.
#
# Usage: bash infra/scripts/build-images.sh [backend|backtest-worker|training-worker ...]
# Env:
#   NODE_IMAGE             base image (default $KTRDR_TEST_NODE_IMAGE or ktrdr/node-runtime:20, made by
#                          make-node-image.sh when missing; node:20-bookworm-slim where a registry is reachable)
#   IMAGE_TAG              tag of the built images (default local)
#   SKIP_WORKSPACE_BUILD=1 do not run turbo build first (dist must already exist)
#   FORCE_IMAGE_BUILD=1    rebuild even when the source hash matches
#   IMAGE_STAGE_DIR        staging directory (default ${TMPDIR:-/tmp}/ktrdr-image-build)
# (Not KTRDR_* names: those are the services' settings, and unknown KTRDR_* names draw warnings.)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

node_image="${NODE_IMAGE:-${KTRDR_TEST_NODE_IMAGE:-ktrdr/node-runtime:20}}"
tag="${IMAGE_TAG:-local}"
stage_root="${IMAGE_STAGE_DIR:-${TMPDIR:-/tmp}/ktrdr-image-build}"
log() { printf '[images] %s\n' "$*"; }

all_services=(backend backtest-worker training-worker)
services=("$@")
if [ "${#services[@]}" -eq 0 ]; then services=("${all_services[@]}"); fi
for s in "${services[@]}"; do
  case "$s" in
    backend | backtest-worker | training-worker) ;;
    *)
      echo "unknown service '$s' (expected: ${all_services[*]})" >&2
      exit 2
      ;;
  esac
done

pnpm_cmd=(pnpm)
if ! command -v pnpm >/dev/null 2>&1; then pnpm_cmd=(npx --yes pnpm@10); fi

case "$node_image" in
  # Made here from the host's node (again when it lacks a library the installed addons need).
  ktrdr/node-runtime*) bash "$repo/infra/scripts/make-node-image.sh" "$node_image" ;;
  *)
    if ! docker image inspect "$node_image" >/dev/null 2>&1; then
      log "pulling ${node_image}"
      docker pull "$node_image"
    fi
    ;;
esac
node_image_id="$(docker image inspect --format '{{.Id}}' "$node_image")"

if [ "${SKIP_WORKSPACE_BUILD:-0}" != "1" ]; then
  filters=()
  for s in "${services[@]}"; do filters+=("--filter=@ktrdr/${s}..."); done
  log "building the workspace: turbo run build ${filters[*]}"
  "${pnpm_cmd[@]}" exec turbo run build "${filters[@]}" --output-logs=errors-only
fi

# Hash of everything that ends up in an image: built output of the apps and packages, the lockfile,
# the Dockerfile and the base image.
source_hash() {
  local svc="$1"
  {
    printf '%s\n%s\n' "$svc" "$node_image_id"
    sha256sum pnpm-lock.yaml infra/docker/Dockerfile "apps/${svc}/package.json"
    # The backend serves the dashboard's built files (apps/dashboard/dist, a dependency it deploys).
    find "apps/${svc}/dist" packages/*/dist packages/*/package.json apps/dashboard/dist apps/dashboard/package.json \
      -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum
  } | sha256sum | cut -c1-16
}

declare -A port_var=([backend]=KTRDR_API_PORT [backtest-worker]=KTRDR_WORKER_PORT [training-worker]=KTRDR_WORKER_PORT)
declare -A default_port=([backend]=8000 [backtest-worker]=5003 [training-worker]=5003)
declare -A health_path=([backend]=/api/v1/health [backtest-worker]=/health [training-worker]=/health)

for svc in "${services[@]}"; do
  image="ktrdr/${svc}:${tag}"
  if [ ! -f "apps/${svc}/dist/main.js" ]; then
    echo "apps/${svc}/dist/main.js is missing: build the workspace first (pnpm exec turbo run build)" >&2
    exit 1
  fi
  hash="$(source_hash "$svc")"
  current="$(docker image inspect --format '{{ index .Config.Labels "dev.ktrdr.source-hash" }}' "$image" 2>/dev/null || true)"
  if [ "$current" = "$hash" ] && [ "${FORCE_IMAGE_BUILD:-0}" != "1" ]; then
    log "${image} is up to date (source hash ${hash})"
    continue
  fi

  started=$(date +%s)
  ctx="${stage_root}/${svc}"
  rm -rf "$ctx"
  mkdir -p "$ctx/data"
  touch "$ctx/data/.keep"
  log "${svc}: pnpm deploy --prod --legacy -> ${ctx}/app"
  "${pnpm_cmd[@]}" --filter "@ktrdr/${svc}" --prod deploy --legacy "$ctx/app" >"$ctx/deploy.log" 2>&1 || {
    cat "$ctx/deploy.log" >&2
    exit 1
  }
  # Sources, tests and build configs are not needed at run time.
  rm -rf "$ctx/app/src" "$ctx/app/test" "$ctx/app/coverage" "$ctx/app/.turbo"
  find "$ctx/app" -maxdepth 1 \( -name 'tsconfig*.json' -o -name 'jest.config.*' -o -name '*.tsbuildinfo' \) -delete
  find "$ctx/app/dist" \( -name '*.spec.js' -o -name '*.spec.d.ts' -o -name '*.spec.js.map' \) -delete 2>/dev/null || true
  # Type declarations, source maps and docs of the dependencies are not needed at run time either
  # (about 45% of the files: a smaller image and a faster build). Licences stay.
  rm -rf "$ctx/app/node_modules/.pnpm/"@types+*
  find "$ctx/app/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' \
    -o -name '*.map' -o -name '*.md' -o -name '*.markdown' -o -name '*.ts' \) \
    ! -iname 'licen[cs]e*' -delete
  cp infra/docker/Dockerfile "$ctx/Dockerfile"
  printf 'deploy.log\n' >"$ctx/.dockerignore"

  log "${svc}: docker build -t ${image} (FROM ${node_image}, context $(du -sh "$ctx" | cut -f1))"
  DOCKER_BUILDKIT=0 docker build -q \
    --build-arg "NODE_IMAGE=${node_image}" \
    --build-arg "SERVICE=${svc}" \
    --build-arg "SERVICE_PORT_VAR=${port_var[$svc]}" \
    --build-arg "SERVICE_DEFAULT_PORT=${default_port[$svc]}" \
    --build-arg "SERVICE_HEALTH_PATH=${health_path[$svc]}" \
    --label "dev.ktrdr.source-hash=${hash}" \
    -t "$image" "$ctx" >/dev/null
  log "${image} built in $(($(date +%s) - started))s ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
done

# Earlier builds of these images, now untagged, only take disk space.
docker image prune -f --filter label=dev.ktrdr.source-hash >/dev/null
