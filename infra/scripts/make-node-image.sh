#!/usr/bin/env bash
# Makes the Node.js runtime image the Dockerfiles start FROM (ARG NODE_IMAGE) on a machine that
# cannot pull from a registry: the host's `node` binary, the shared libraries `ldd` lists, the CA
# certificates, a /tmp and a minimal /etc/passwd (user node, uid 1000), packed with `docker import`.
# The image has no shell: Dockerfiles and health checks on it must use exec form.
#
# Idempotent: does nothing when the image already exists and holds every library needed (label
# dev.ktrdr.libs), makes it again when not. When a registry is reachable and
# NODE_IMAGE_PULL=1, it pulls node:20-bookworm-slim and tags it instead.
#
# Usage: bash infra/scripts/make-node-image.sh [image]   (default: $NODE_IMAGE, $KTRDR_TEST_NODE_IMAGE or ktrdr/node-runtime:20)
set -euo pipefail

image="${1:-${NODE_IMAGE:-${KTRDR_TEST_NODE_IMAGE:-ktrdr/node-runtime:20}}}"
log() { printf '[node-image] %s\n' "$*"; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
node_bin="$(readlink -f "$(command -v node)")"

# Every library the binary links, at the same path (plus the dynamic loader it names), and every
# library the services' native addons link (the embedded store's SQLite engine, libsql, also needs
# librt): the glibc builds of the addons installed in this repository. A musl build, which ldd
# cannot read here, contributes nothing.
needed_libs() {
  {
    ldd "$node_bin"
    # Before the dependencies are installed (CI seeds the image first) there are none yet.
    if [ -d "$repo_root/node_modules/.pnpm" ]; then
      find "$repo_root/node_modules/.pnpm" -name '*.node' -type f 2>/dev/null |
        while read -r addon; do ldd "$addon" 2>/dev/null || true; done
    fi
  } | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]+ \(/ {print $1}' | sort -u
}

case "$image" in
  ktrdr/*)
    if docker image inspect "$image" >/dev/null 2>&1; then
      # Made before the dependencies were installed (CI seeds it first), an image lacks the
      # addons' libraries: it is made again once they are there (build-images.sh calls this).
      has="$(docker image inspect --format '{{ index .Config.Labels "dev.ktrdr.libs" }}' "$image" 2>/dev/null || true)"
      missing=()
      while read -r lib; do
        [ -n "$lib" ] || continue
        case " $has " in *" $lib "*) ;; *) missing+=("$lib") ;; esac
      done < <(needed_libs)
      if [ "${#missing[@]}" -eq 0 ]; then
        log "image ${image} already exists"
        exit 0
      fi
      log "image ${image} lacks ${missing[*]}: making it again"
    fi
    ;;
  *)
    if docker image inspect "$image" >/dev/null 2>&1; then
      log "image ${image} already exists"
      exit 0
    fi
    ;;
esac

case "$image" in
  ktrdr/*) ;;
  *)
    # A real registry image (e.g. node:20-bookworm-slim on a CI runner): pull it, never fake it.
    log "pulling ${image}"
    docker pull "$image" >/dev/null
    log "image ${image} pulled"
    exit 0
    ;;
esac

if [ "${NODE_IMAGE_PULL:-0}" = "1" ] && docker pull node:20-bookworm-slim >/dev/null 2>&1; then
  docker tag node:20-bookworm-slim "$image"
  log "pulled node:20-bookworm-slim and tagged it ${image}"
  exit 0
fi

node_version="$("$node_bin" --version)"
case "$node_version" in
  v20.*) ;;
  *) log "warning: host node is ${node_version}, the services are built and tested for Node 20" >&2 ;;
esac

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/etc/ssl/certs" "$root/home/node" "$root/app" "$root/data"
chmod 1777 "$root/tmp"
cp "$node_bin" "$root/usr/local/bin/node"

libs="$(needed_libs)"
while read -r lib; do
  [ -n "$lib" ] || continue
  [ -e "$root$lib" ] && continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done <<<"$libs"

# libc resolves users, hosts and DNS through these files; glibc's NSS modules for "files" and "dns".
for nss in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 \
  /lib/aarch64-linux-gnu/libnss_files.so.2 /lib/aarch64-linux-gnu/libnss_dns.so.2; do
  if [ -e "$nss" ]; then
    mkdir -p "$root$(dirname "$nss")"
    cp -L "$nss" "$root$nss"
  fi
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
chown -R 1000:1000 "$root/home/node" "$root/app" "$root/data"

log "importing ${image} from ${node_bin} (${node_version}) and $(find "$root" -name '*.so*' | wc -l) libraries"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV NODE_VERSION='"${node_version#v}" \
  --change 'CMD ["node"]' \
  --change "LABEL dev.ktrdr.libs=\"$(tr '\n' ' ' <<<"$libs" | sed 's/ $//')\"" \
  --message "node ${node_version} runtime from the host (infra/scripts/make-node-image.sh)" \
  - "$image" >/dev/null

docker run --rm "$image" node -e "console.log('[node-image] smoke test: node ' + process.version + ' runs in the image')"
log "image ${image} ready ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
