#!/usr/bin/env bash
# Checks the base template: clones it, starts the clone, checks the environment inside (Node.js of the
# supported line, pnpm, git, the unprivileged ktrdr user, the deploy tooling, the unit template and
# its hardening, no application code), then stops and removes the clone whatever happened.
#
# Usage: validate-template.sh [--dry-run] [--env prod] [--id VMID] [--clone-id VMID] [--keep]
set -euo pipefail
SCRIPT_NAME=validate-template
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: validate-template.sh [options]

  --env ENV         fleet environment whose plan gives the template id (default prod)
  --file FILE       fleet file instead of the environment's
  --id VMID         template to check (default: template_id of the plan)
  --clone-id VMID   VMID of the temporary clone (default: pvesh get /cluster/nextid)
  --keep            keep the clone for inspection (it is stopped, not removed)
  --dry-run         print the commands, change nothing
  -h, --help        this help
EOF
}

env_name=prod
fleet_file=''
vmid=''
clone=''
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --env | --file | --id | --clone-id)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      case "$1" in
        --env) env_name="$2" ;;
        --file) fleet_file="$2" ;;
        --id) vmid="$2" ;;
        --clone-id) clone="$2" ;;
      esac
      shift 2
      ;;
    --keep)
      keep=1
      shift
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

if [ -z "$vmid" ]; then
  first="$(plan_rows "$env_name" "$fleet_file" | head -n 1)"
  [ -n "$first" ] || die "the fleet plan has no containers: give --id"
  vmid="$(printf '%s\n' "$first" | cut -f 11)"
fi
if ! is_uint "$vmid"; then usage_error "--id must be a VMID, got '$vmid'"; fi

need pct "run this on a Proxmox VE node"
config="$(pct config "$vmid" 2>/dev/null)" || die "container $vmid does not exist (create it with create-base-template.sh)"
printf '%s\n' "$config" | grep -q '^template: 1' || die "container $vmid is not a template"

if [ -z "$clone" ]; then
  need pvesh "run this on a Proxmox VE node"
  clone="$(pvesh get /cluster/nextid)"
fi
if ! is_uint "$clone"; then die "no usable clone VMID (got '$clone')"; fi
if pct status "$clone" >/dev/null 2>&1; then die "clone VMID $clone is already in use"; fi

cleanup() {
  local status=$?
  if [ "$keep" = 1 ]; then
    log "keeping clone $clone (stopped): pct destroy $clone --purge when done"
    run pct stop "$clone" || true
  else
    log "removing clone $clone"
    run pct stop "$clone" || true
    run pct destroy "$clone" --purge || warn "could not remove clone $clone: pct destroy $clone --purge"
  fi
  exit "$status"
}

log "cloning template $vmid to $clone"
run pct clone "$vmid" "$clone" --hostname "ktrdr-validate-$clone"
trap cleanup EXIT
run pct start "$clone"

failures=0
# check NAME EXPECT-REGEX COMMAND...: runs COMMAND in the clone; its output must match the regex.
check() {
  local name="$1" expect="$2" out
  shift 2
  if [ "$DRY_RUN" = 1 ]; then
    run pct exec "$clone" -- "$@"
    return 0
  fi
  local shown
  if out="$(pct exec "$clone" -- "$@" 2>&1)" && [[ "$out" =~ $expect ]]; then
    shown="${out//$'\n'/ }"
    [ "${#shown}" -le 60 ] || shown="${shown:0:57}..."
    log "ok    $name ($shown)"
  else
    log "FAIL  $name: expected /$expect/, got: ${out//$'\n'/ }"
    failures=$((failures + 1))
  fi
}

# shellcheck disable=SC2016 # expanded inside the clone
check 'network up' '^up$' sh -c 'for i in $(seq 1 30); do ip -4 route show default | grep -q . && echo up && exit 0; sleep 1; done; exit 1'
check 'Node.js 20' '^v20\.[0-9]+\.[0-9]+$' node --version
check 'pnpm 10' '^10\.[0-9]+\.[0-9]+$' pnpm --version
check 'git' '^git version ' git --version
check 'unprivileged ktrdr user' '^uid=[1-9][0-9]*\(ktrdr\)' id ktrdr
check 'deploy tooling' '^ok$' sh -c 'test -x /opt/ktrdr/bin/update-code.sh && test -x /opt/ktrdr/bin/ktrdr-worker-start && echo ok'
check 'unit template' 'Restart=always' systemctl cat ktrdr-worker@.service
check 'unit hardening' 'NoNewPrivileges=yes' systemctl cat ktrdr-worker@.service
# shellcheck disable=SC2016 # expanded inside the clone
check 'no application code' '^empty$' sh -c 'test ! -e /opt/ktrdr/current && test -z "$(ls -A /opt/ktrdr/releases)" && echo empty'
check 'writable data dir' '^ktrdr$' stat -c %U /var/lib/ktrdr/data

if [ "$DRY_RUN" = 1 ]; then
  log "dry run: nothing was changed"
elif [ "$failures" -gt 0 ]; then
  die "template $vmid failed $failures check(s)"
else
  log "template $vmid is valid"
fi
