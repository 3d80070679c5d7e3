#!/usr/bin/env bash
# Runs INSIDE the base container (pushed and started by create-base-template.sh): installs the runtime
# only - Node.js of the supported line, pnpm, git - creates the unprivileged ktrdr user and the
# directories, and installs the deploy tooling and the systemd unit template. No application code: that
# is deployed by update-code.sh (the unit's pre-start step) on each clone.
#
# Usage: template-setup.sh NODE_VERSION PNPM_VERSION   (files next to it: update-code.sh,
#        ktrdr-worker-start.sh, ktrdr-worker@.service)
set -euo pipefail

log() { printf '[template-setup] %s\n' "$*" >&2; }
die() {
  printf '[template-setup] error: %s\n' "$*" >&2
  exit 1
}

[ $# -eq 2 ] || die "usage: template-setup.sh NODE_VERSION PNPM_VERSION"
node_version="$1"
pnpm_version="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for f in update-code.sh ktrdr-worker-start.sh ktrdr-worker@.service; do
  [ -f "$here/$f" ] || die "$here/$f is missing"
done
[ "$(id -u)" -eq 0 ] || die "must run as root inside the container"

export DEBIAN_FRONTEND=noninteractive
log "waiting for the network"
for _ in $(seq 1 60); do
  if getent hosts deb.debian.org >/dev/null 2>&1; then break; fi
  sleep 1
done
getent hosts deb.debian.org >/dev/null 2>&1 || die "no DNS inside the container after 60 s (check the bridge and DHCP)"

log "installing git, curl, ca-certificates, xz-utils"
apt-get update -q
apt-get install -y -q --no-install-recommends git curl ca-certificates xz-utils util-linux openssh-server

arch="$(dpkg --print-architecture)"
case "$arch" in
  amd64) node_arch=x64 ;;
  arm64) node_arch=arm64 ;;
  *) die "unsupported architecture $arch" ;;
esac
tarball="node-v${node_version}-linux-${node_arch}.tar.xz"
base="https://nodejs.org/dist/v${node_version}"
if [ "$(node --version 2>/dev/null || true)" = "v${node_version}" ]; then
  log "Node.js v${node_version} is already installed"
else
  log "installing Node.js v${node_version} (official build, checksum verified)"
  work="$(mktemp -d)"
  curl -fsSL "$base/$tarball" -o "$work/$tarball"
  curl -fsSL "$base/SHASUMS256.txt" -o "$work/SHASUMS256.txt"
  (cd "$work" && grep " ${tarball}\$" SHASUMS256.txt | sha256sum -c -) || die "checksum of $tarball does not match"
  rm -rf /usr/local/lib/nodejs
  mkdir -p /usr/local/lib/nodejs
  tar -xJf "$work/$tarball" -C /usr/local/lib/nodejs --strip-components=1
  for b in node npm npx corepack; do ln -sfn "/usr/local/lib/nodejs/bin/$b" "/usr/local/bin/$b"; done
  rm -rf "$work"
fi

if [ "$(pnpm --version 2>/dev/null || true)" = "$pnpm_version" ]; then
  log "pnpm $pnpm_version is already installed"
else
  log "installing pnpm $pnpm_version"
  npm install -g --no-fund --no-audit "pnpm@$pnpm_version"
  ln -sfn /usr/local/lib/nodejs/bin/pnpm /usr/local/bin/pnpm
fi
# The repository's pnpm-workspace.yaml says the same; pnpm must never try to switch its own version on a host.
pnpm config set --global manage-package-manager-versions false

log "creating the ktrdr user and directories"
if ! id ktrdr >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/ktrdr --shell /usr/sbin/nologin --user-group ktrdr
fi
install -d -m 0755 -o root -g root /opt/ktrdr /opt/ktrdr/bin /opt/ktrdr/releases
install -d -m 0750 -o root -g ktrdr /etc/ktrdr
install -d -m 0750 -o ktrdr -g ktrdr /var/lib/ktrdr /var/lib/ktrdr/data /var/lib/ktrdr/checkpoints
install -d -m 0755 -o ktrdr -g ktrdr /var/cache/ktrdr /var/cache/ktrdr/pnpm-store

log "installing the deploy tooling and ktrdr-worker@.service"
install -m 0755 "$here/update-code.sh" /opt/ktrdr/bin/update-code.sh
install -m 0755 "$here/ktrdr-worker-start.sh" /opt/ktrdr/bin/ktrdr-worker-start
install -m 0644 "$here/ktrdr-worker@.service" /etc/systemd/system/ktrdr-worker@.service
# Each clone makes its own ssh host keys at first boot (the template's are removed below).
cat >/etc/systemd/system/ktrdr-ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate this clone's ssh host keys
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable ktrdr-ssh-hostkeys.service ssh.service

log "cleaning up (apt caches, machine id, ssh host keys: each clone gets its own)"
apt-get clean
rm -rf /var/lib/apt/lists/*
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
log "done: node $(node --version), pnpm $(pnpm --version), $(git --version)"
