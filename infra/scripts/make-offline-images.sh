#!/usr/bin/env bash
# Stand-in images for the compose stack's third-party services on a machine that cannot pull
# (the CI machines here): PostgreSQL from the host's Debian binaries, Prometheus from the host's
# Debian binary, and a Grafana stand-in that answers /api/health. All are built FROM the local Node
# runtime image (shell-less; a node `wget` stub keeps the compose health checks unchanged).
#
#   bash infra/scripts/make-offline-images.sh
#   POSTGRES_IMAGE=ktrdr/postgres-offline:15 PROMETHEUS_IMAGE=ktrdr/prometheus-offline:2 \
#   GRAFANA_IMAGE=ktrdr/grafana-offline:local docker-compose -f infra/compose/docker-compose.yml up -d
#
# Needs the Debian packages postgresql and prometheus on the host. Idempotent (existing images are
# kept; FORCE_IMAGE_BUILD=1 rebuilds). Real users pull the real images instead.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="${NODE_IMAGE:-ktrdr/node-runtime:20}"
log() { printf '[offline-images] %s\n' "$*"; }

bash "$repo/infra/scripts/make-node-image.sh" "$base" >/dev/null

exists() { docker image inspect "$1" >/dev/null 2>&1 && [ "${FORCE_IMAGE_BUILD:-0}" != "1" ]; }

# Copies files and every shared library they link into a root filesystem directory.
copy_with_libs() {
  local root="$1"
  shift
  local f lib
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
    while read -r lib; do
      [ -n "$lib" ] || continue
      if [ ! -e "$root$lib" ]; then
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
      fi
    done < <(ldd "$f" 2>/dev/null | awk '/=> \// {print $3}')
  done
}

build() {
  local image="$1" ctx="$2"
  DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" >/dev/null
  log "built ${image} ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- PostgreSQL -------------------------------------------------------------------------------
pg_image="ktrdr/postgres-offline:15"
if exists "$pg_image"; then
  log "${pg_image} exists"
else
  pgbin="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d | sort | tail -1)"
  if [ -z "$pgbin" ]; then
    echo "PostgreSQL is not installed on the host (apt-get install postgresql)" >&2
    exit 1
  fi
  pgver="$(basename "$(dirname "$pgbin")")"
  ctx="$work/postgres"
  root="$ctx/rootfs"
  mkdir -p "$root"
  bins=()
  for b in postgres initdb pg_ctl pg_isready createdb psql; do bins+=("$pgbin/$b"); done
  mapfile -t mods < <(find "/usr/lib/postgresql/$pgver/lib" -maxdepth 1 -name '*.so' ! -name 'llvmjit*')
  copy_with_libs "$root" "${bins[@]}" "${mods[@]}"
  # initdb and pg_ctl run their helpers through popen()/system(), which need /bin/sh.
  copy_with_libs "$root" /bin/dash
  ln -s dash "$root/bin/sh"
  mkdir -p "$root/usr/share/postgresql" "$root/usr/share" "$root/etc"
  cp -a "/usr/share/postgresql/$pgver" "$root/usr/share/postgresql/"
  rm -rf "$root/usr/share/postgresql/$pgver/man"
  cp -a /usr/share/zoneinfo "$root/usr/share/"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\npostgres:x:999:\nnode:x:1000:\n' >"$root/etc/group"
  mkdir -p "$root/var/lib/postgresql/data" "$root/var/run/postgresql"
  install -D -m 755 "$repo/infra/offline/postgres-entrypoint.js" "$root/usr/local/bin/docker-entrypoint.js"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM ${base}
COPY rootfs/ /
ENV PATH=/usr/lib/postgresql/${pgver}/bin:/usr/local/bin:/usr/bin:/bin \\
    PG_BIN=/usr/lib/postgresql/${pgver}/bin \\
    PGDATA=/var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["node", "/usr/local/bin/docker-entrypoint.js"]
DOCKERFILE
  build "$pg_image" "$ctx"
fi

# --- Prometheus -------------------------------------------------------------------------------
prom_image="ktrdr/prometheus-offline:2"
if exists "$prom_image"; then
  log "${prom_image} exists"
else
  if ! command -v prometheus >/dev/null; then
    echo "Prometheus is not installed on the host (apt-get install prometheus)" >&2
    exit 1
  fi
  ctx="$work/prometheus"
  mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc/prometheus" "$ctx/data"
  copy_with_libs "$ctx/rootfs" "$(readlink -f "$(command -v prometheus)")" "$(readlink -f "$(command -v promtool)")"
  cp -L "$(readlink -f "$(command -v prometheus)")" "$ctx/rootfs/bin/prometheus"
  cp -L "$(readlink -f "$(command -v promtool)")" "$ctx/rootfs/bin/promtool"
  cp "$repo/infra/prometheus/prometheus.yml" "$ctx/rootfs/etc/prometheus/prometheus.yml"
  install -m 755 "$repo/infra/offline/wget.js" "$ctx/rootfs/usr/local/bin/wget"
  touch "$ctx/data/.keep"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM ${base}
COPY rootfs/ /
COPY --chown=65534:65534 data/ /prometheus/
USER 65534:65534
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
DOCKERFILE
  build "$prom_image" "$ctx"
fi

# --- Grafana stand-in -------------------------------------------------------------------------
graf_image="ktrdr/grafana-offline:local"
if exists "$graf_image"; then
  log "${graf_image} exists"
else
  ctx="$work/grafana"
  mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/standin" "$ctx/data"
  install -m 755 "$repo/infra/offline/wget.js" "$ctx/rootfs/usr/local/bin/wget"
  cp "$repo/infra/offline/grafana-standin.js" "$ctx/rootfs/standin/grafana.js"
  touch "$ctx/data/.keep"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM ${base}
COPY rootfs/ /
COPY --chown=472:0 data/ /var/lib/grafana/
USER 472:0
EXPOSE 3000
ENTRYPOINT ["node", "/standin/grafana.js"]
DOCKERFILE
  build "$graf_image" "$ctx"
fi

log "use: POSTGRES_IMAGE=${pg_image} PROMETHEUS_IMAGE=${prom_image} GRAFANA_IMAGE=${graf_image} docker-compose -f infra/compose/docker-compose.yml up -d"
