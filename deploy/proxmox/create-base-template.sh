#!/usr/bin/env bash
# Creates the base LXC template of the worker fleet on a Proxmox VE node: a Debian container with the
# runtime only (Node.js, pnpm, git), the unprivileged ktrdr user, the app directories, the deploy tooling
# (update-code.sh, ktrdr-worker-start) and the systemd unit template ktrdr-worker@.service; then converts
# it to a template. It holds no application code: clones deploy the pinned release at their first start.
#
# Usage: create-base-template.sh [--dry-run] [--env prod] [--id VMID] [--storage S] [--bridge B] ...
# Defaults come from the fleet plan (`kinfra fleet plan --env prod`): template_id, storage, bridge.
# Idempotent: an existing template with that VMID is reported and left alone.
set -euo pipefail
SCRIPT_NAME=create-base-template
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: create-base-template.sh [options]

  --env ENV                fleet environment whose plan gives the defaults (default prod)
  --file FILE              fleet file instead of the environment's
  --id VMID                VMID of the template (default: template_id of the plan)
  --storage STORAGE        storage of the root filesystem (default: storage of the plan)
  --bridge BRIDGE          bridge of eth0 (default: bridge of the plan)
  --disk GB                root filesystem size (default 8)
  --ostemplate NAME        OS template (default debian-12-standard_12.7-1_amd64.tar.zst)
  --template-storage NAME  storage holding OS templates (default local)
  --node-version X.Y.Z     Node.js to install (default 20.20.2, the supported line)
  --pnpm-version X.Y.Z     pnpm to install (default: packageManager of package.json)
  --dry-run                print the commands that change something, change nothing
  -h, --help               this help
EOF
}

env_name=prod
fleet_file=''
vmid=''
storage=''
bridge=''
disk=8
ostemplate=debian-12-standard_12.7-1_amd64.tar.zst
tstorage=local
node_version=20.20.2
pnpm_version="$(sed -n 's/.*"packageManager": *"pnpm@\([0-9.]*\)".*/\1/p' "$REPO_ROOT/package.json" 2>/dev/null || true)"
pnpm_version="${pnpm_version:-10.34.9}"

while [ $# -gt 0 ]; do
  case "$1" in
    --env | --file | --id | --storage | --bridge | --disk | --ostemplate | --template-storage | --node-version | --pnpm-version)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      case "$1" in
        --env) env_name="$2" ;;
        --file) fleet_file="$2" ;;
        --id) vmid="$2" ;;
        --storage) storage="$2" ;;
        --bridge) bridge="$2" ;;
        --disk) disk="$2" ;;
        --ostemplate) ostemplate="$2" ;;
        --template-storage) tstorage="$2" ;;
        --node-version) node_version="$2" ;;
        --pnpm-version) pnpm_version="$2" ;;
      esac
      shift 2
      ;;
    --dry-run)
      DRY_RUN=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done

[[ "$node_version" =~ ^20\.[0-9]+\.[0-9]+$ ]] || usage_error "--node-version must be a 20.x.y version (the supported line), got '$node_version'"
[[ "$pnpm_version" =~ ^10\.[0-9]+\.[0-9]+$ ]] || usage_error "--pnpm-version must be a 10.x.y version, got '$pnpm_version'"
is_uint "$disk" || usage_error "--disk must be a number of GB, got '$disk'"

if [ -z "$vmid" ] || [ -z "$storage" ] || [ -z "$bridge" ]; then
  first="$(plan_rows "$env_name" "$fleet_file" | head -n 1)"
  [ -n "$first" ] || die "the fleet plan has no containers: give --id, --storage and --bridge"
  IFS=$'\t' read -r _ _ _ _ _ _ _ p_bridge _ _ p_template p_storage _ _ _ <<<"$first"
  vmid="${vmid:-$p_template}"
  storage="${storage:-$p_storage}"
  bridge="${bridge:-$p_bridge}"
fi
if ! is_uint "$vmid" || [ "$vmid" -lt 100 ]; then usage_error "--id must be a VMID >= 100, got '$vmid'"; fi

need pct "run this on a Proxmox VE node"
need pveam "run this on a Proxmox VE node"

# Idempotent: a template with this VMID is the result we want; any other container is in the way.
if config="$(pct config "$vmid" 2>/dev/null)"; then
  if printf '%s\n' "$config" | grep -q '^template: 1'; then
    log "template $vmid already exists: nothing to do (pct destroy $vmid to rebuild it)"
    exit 0
  fi
  die "container $vmid exists and is not a template (a failed earlier run?): inspect it, remove it with 'pct destroy $vmid', or choose another --id"
fi

if pveam list "$tstorage" 2>/dev/null | grep -q "vztmpl/$ostemplate"; then
  log "OS template $tstorage:vztmpl/$ostemplate is present"
else
  log "downloading the OS template $ostemplate to $tstorage"
  run pveam update
  run pveam download "$tstorage" "$ostemplate"
fi

if [ "$DRY_RUN" = 0 ]; then
  trap 'log "failed: container $vmid was left as it is for inspection; remove it with: pct destroy $vmid"' ERR
fi

log "creating container $vmid from $ostemplate (storage $storage, bridge $bridge)"
run pct create "$vmid" "$tstorage:vztmpl/$ostemplate" \
  --hostname ktrdr-worker-template \
  --ostype debian \
  --unprivileged 1 \
  --features nesting=1 \
  --cores 2 \
  --memory 2048 \
  --swap 0 \
  --rootfs "$storage:$disk" \
  --net0 "name=eth0,bridge=$bridge,ip=dhcp" \
  --onboot 0
run pct start "$vmid"
run pct exec "$vmid" -- mkdir -p /root/ktrdr-template
run pct push "$vmid" "$DEPLOY_DIR/proxmox/template-setup.sh" /root/ktrdr-template/template-setup.sh --perms 0755
run pct push "$vmid" "$DEPLOY_DIR/update-code.sh" /root/ktrdr-template/update-code.sh --perms 0755
run pct push "$vmid" "$DEPLOY_DIR/ktrdr-worker-start.sh" /root/ktrdr-template/ktrdr-worker-start.sh --perms 0755
run pct push "$vmid" "$DEPLOY_DIR/systemd/ktrdr-worker@.service" /root/ktrdr-template/ktrdr-worker@.service --perms 0644
run pct exec "$vmid" -- bash /root/ktrdr-template/template-setup.sh "$node_version" "$pnpm_version"
run pct exec "$vmid" -- rm -rf /root/ktrdr-template
run pct stop "$vmid"
run pct set "$vmid" --description "KTRDR worker base template: Node.js $node_version, pnpm $pnpm_version, git; no application code"
run pct template "$vmid"
if [ "$DRY_RUN" = 1 ]; then
  log "dry run: nothing was changed"
else
  log "template $vmid is ready (check it with validate-template.sh --id $vmid)"
fi
