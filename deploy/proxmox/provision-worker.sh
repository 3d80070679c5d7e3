#!/usr/bin/env bash
# Provisions one worker container: clones the base template, sets its size and network, writes the
# environment file (backend URL, worker type and id, advertised URL, registration token) and the release
# pin, starts the container and the ktrdr-worker@TYPE unit (whose pre-start step deploys the pinned
# code), then waits until the worker is registered and available in GET /api/v1/workers.
#
# Usage: provision-worker.sh [options] ID TYPE IP       TYPE: backtesting | training
# Everything else (template, bridge, gateway, prefix, cores, memory, backend URL) comes from the fleet
# plan (`kinfra fleet plan --env prod`). Idempotent: an existing container is reported, not recreated
# (it is started when stopped, and the script still waits for its worker).
set -euo pipefail
SCRIPT_NAME=provision-worker
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: provision-worker.sh [options] ID TYPE IP

  ID                     VMID of the container (the plan's vmid)
  TYPE                   backtesting or training
  IP                     IPv4 address of the container (the plan's ip)
  --env ENV              fleet environment (default prod)
  --file FILE            fleet file instead of the environment's
  --source URL           git repository the host deploys from (default $DEPLOY_SOURCE)
  --ref REF              release to pin (branch, tag or commit; resolved to a commit; default main)
  --token-file FILE      file holding KTRDR_WORKER_REGISTRATION_TOKEN (required: production refuses none,
                         and one shorter than 32 characters)
Environment: KTRDR_API_KEY (a read key) for the registration wait when the backend requires API keys.
  --timeout SECONDS      how long to wait for the worker to register (default 900: the first start
                         fetches, installs and builds the release)
  --no-wait              do not wait for the registration
  --dry-run              print the commands that change something, change nothing
  -h, --help             this help
EOF
}

env_name=prod
fleet_file=''
source_url="${DEPLOY_SOURCE:-}"
ref=main
token_file=''
timeout=900
wait_ready=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --env | --file | --source | --ref | --token-file | --timeout)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      case "$1" in
        --env) env_name="$2" ;;
        --file) fleet_file="$2" ;;
        --source) source_url="$2" ;;
        --ref) ref="$2" ;;
        --token-file) token_file="$2" ;;
        --timeout) timeout="$2" ;;
      esac
      shift 2
      ;;
    --no-wait)
      wait_ready=0
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
    -*) usage_error "unknown option '$1'" ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done

[ "${#args[@]}" -eq 3 ] || usage_error "expected ID TYPE IP, got ${#args[@]} argument(s)"
vmid="${args[0]}"
type="${args[1]}"
ip="${args[2]}"
if ! is_uint "$vmid" || [ "$vmid" -lt 100 ]; then usage_error "ID must be a VMID >= 100, got '$vmid'"; fi
is_worker_type "$type" || usage_error "TYPE must be backtesting or training, got '$type'"
is_ipv4 "$ip" || usage_error "IP must be an IPv4 address, got '$ip'"
is_uint "$timeout" || usage_error "--timeout must be a number of seconds, got '$timeout'"
[ -n "$source_url" ] || usage_error "--source URL (or DEPLOY_SOURCE) is required: the git repository hosts deploy from"
[ -n "$token_file" ] || usage_error "--token-file is required: KTRDR_ENV=production refuses a worker without a registration token"
[ -r "$token_file" ] || die "cannot read the token file $token_file"
token="$(tr -d '[:space:]' <"$token_file")"
[ -n "$token" ] || die "the token file $token_file is empty"
# The workers run with KTRDR_ENV=production, which refuses a token shorter than 32 characters.
[ "${#token}" -ge 32 ] || die "the registration token in $token_file is shorter than 32 characters (KTRDR_ENV=production refuses it; make one with: openssl rand -base64 32)"

# The plan line of this container, or (a container outside the plan) the first line of its type.
plan="$(plan_rows "$env_name" "$fleet_file")"
row="$(printf '%s\n' "$plan" | awk -F'\t' -v id="$vmid" '$1 == id' | head -n 1)"
if [ -n "$row" ]; then
  IFS=$'\t' read -r _ p_type worker_id hostname p_ip prefix gateway bridge cores memory template storage _node backend endpoint <<<"$row"
  [ "$p_type" = "$type" ] || die "the fleet plan has $vmid as a $p_type worker, not $type"
  [ "$p_ip" = "$ip" ] || die "the fleet plan gives $vmid the address $p_ip, not $ip"
else
  row="$(printf '%s\n' "$plan" | awk -F'\t' -v t="$type" '$2 == t' | head -n 1)"
  [ -n "$row" ] || row="$(printf '%s\n' "$plan" | head -n 1)"
  [ -n "$row" ] || die "the fleet plan has no containers to take the template, network and size from"
  IFS=$'\t' read -r _ _ _ _ _ prefix gateway bridge cores memory template storage _node backend p_endpoint <<<"$row"
  worker_id="$type-$vmid"
  if [ "$type" = backtesting ]; then hostname="ktrdr-bt-$vmid"; else hostname="ktrdr-tr-$vmid"; fi
  endpoint="http://$ip:${p_endpoint##*:}"
  warn "$vmid is not in the fleet plan: provisioning it with the plan's $type settings"
fi
port="${endpoint##*:}"

need pct "run this on a Proxmox VE node"
log "resolving $ref at $source_url"
commit="$(resolve_ref "$source_url" "$ref")"

worker_env() {
  cat <<EOF
# Written by provision-worker.sh for $worker_id ($type) at $ip.
KTRDR_ENV=production
KTRDR_API_CLIENT_BASE_URL=$backend
KTRDR_WORKER_ID=$worker_id
KTRDR_WORKER_HOST=0.0.0.0
KTRDR_WORKER_PORT=$port
KTRDR_WORKER_PUBLIC_BASE_URL=$endpoint
KTRDR_WORKER_REGISTRATION_TOKEN=$1
KTRDR_DATA_DIR=/var/lib/ktrdr/data
KTRDR_CHECKPOINT_DIR=/var/lib/ktrdr/checkpoints
KTRDR_LOG_JSON=true
EOF
}

# push_file VMID DEST MODE CONTENT: writes CONTENT to DEST inside the container.
push_file() {
  local id="$1" dest="$2" mode="$3" content="$4" shown="${5:-$4}" tmp
  if [ "$DRY_RUN" = 1 ]; then
    printf '+ %s\n' "$(quote pct push "$id" "<file>" "$dest" --perms "$mode")"
    printf '%s\n' "$shown" | sed 's/^/    | /'
    return
  fi
  tmp="$(mktemp)"
  printf '%s\n' "$content" >"$tmp"
  pct push "$id" "$tmp" "$dest" --perms "$mode"
  rm -f "$tmp"
}

if status="$(pct status "$vmid" 2>/dev/null)"; then
  log "container $vmid already exists ($status): reported, not recreated"
  if [ "$status" != "status: running" ]; then run pct start "$vmid"; fi
  # Idempotent: makes sure the unit is enabled and started (a no-op when it already runs).
  run pct exec "$vmid" -- systemctl enable --now --no-block "ktrdr-worker@$type.service"
else
  log "creating $hostname ($vmid): $type worker $worker_id at $ip/$prefix, $cores cores, $memory MiB"
  run pct clone "$template" "$vmid" --hostname "$hostname" --full 1 --storage "$storage"
  run pct set "$vmid" --cores "$cores" --memory "$memory" --swap 0 --onboot 1 \
    --net0 "name=eth0,bridge=$bridge,ip=$ip/$prefix,gw=$gateway" \
    --description "KTRDR $type worker $worker_id"
  run pct start "$vmid"
  push_file "$vmid" /etc/ktrdr/worker.env 0600 "$(worker_env "$token")" "$(worker_env '<from --token-file>')"
  push_file "$vmid" /opt/ktrdr/release.pin 0644 "$(printf 'source=%s\ncommit=%s' "$source_url" "$commit")"
  run pct exec "$vmid" -- systemctl enable --now --no-block "ktrdr-worker@$type.service"
fi

if [ "$wait_ready" = 1 ]; then
  kinfra_cmd
  log "waiting up to ${timeout}s for $worker_id to register with $backend"
  run "${KINFRA_ARGV[@]}" fleet wait "$worker_id" --for ready --backend "$backend" --timeout "$timeout" --interval 5
fi
[ "$DRY_RUN" = 0 ] || log "dry run: nothing was changed"
