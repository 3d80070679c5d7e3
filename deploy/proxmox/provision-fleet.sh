#!/usr/bin/env bash
# Provisions every container of the fleet plan (`kinfra fleet plan --env prod`, i.e.
# config/workers.prod.yaml read by @ktrdr/config) with provision-worker.sh, at most --parallel at a time.
# The release ref is resolved once, so every worker pins the same commit. Existing containers are
# reported by provision-worker.sh, not recreated: running it again converges.
#
# Usage: provision-fleet.sh [--dry-run] [--env prod] [--parallel N] --source URL [--ref REF] --token-file F
set -euo pipefail
SCRIPT_NAME=provision-fleet
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: provision-fleet.sh [options]

  --env ENV            fleet environment (default prod)
  --file FILE          fleet file instead of the environment's
  --parallel N         containers provisioned at the same time (default 3)
  --only TYPE          only backtesting or only training containers
  --source URL         git repository the hosts deploy from (default $DEPLOY_SOURCE)
  --ref REF            release to pin (default main; resolved to one commit for the whole fleet)
  --token-file FILE    the registration token (see provision-worker.sh)
  --timeout SECONDS    per-worker registration wait (default 900)
  --log-dir DIR        one log per container (default: a temporary directory)
  --dry-run            print every command (provision-worker.sh --dry-run for each container)
  -h, --help           this help
EOF
}

env_name=prod
fleet_file=''
parallel=3
only=''
source_url="${DEPLOY_SOURCE:-}"
ref=main
token_file=''
timeout=900
log_dir=''
while [ $# -gt 0 ]; do
  case "$1" in
    --env | --file | --parallel | --only | --source | --ref | --token-file | --timeout | --log-dir)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      case "$1" in
        --env) env_name="$2" ;;
        --file) fleet_file="$2" ;;
        --parallel) parallel="$2" ;;
        --only) only="$2" ;;
        --source) source_url="$2" ;;
        --ref) ref="$2" ;;
        --token-file) token_file="$2" ;;
        --timeout) timeout="$2" ;;
        --log-dir) log_dir="$2" ;;
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

if ! is_uint "$parallel" || [ "$parallel" -lt 1 ]; then usage_error "--parallel must be a number >= 1, got '$parallel'"; fi
[ -z "$only" ] || is_worker_type "$only" || usage_error "--only must be backtesting or training, got '$only'"
[ -n "$source_url" ] || usage_error "--source URL (or DEPLOY_SOURCE) is required"
[ -n "$token_file" ] || usage_error "--token-file is required"

plan="$(plan_rows "$env_name" "$fleet_file")"
[ -n "$plan" ] || die "the fleet plan of '$env_name' has no containers"
commit="$(resolve_ref "$source_url" "$ref")"
log "release $ref = $commit"

worker="$DEPLOY_DIR/proxmox/provision-worker.sh"
common=(--source "$source_url" --ref "$commit" --token-file "$token_file" --timeout "$timeout")
if [ -n "$fleet_file" ]; then common+=(--file "$fleet_file"); else common+=(--env "$env_name"); fi

rows=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  t="$(printf '%s\n' "$line" | cut -f 2)"
  [ -z "$only" ] || [ "$t" = "$only" ] || continue
  rows+=("$line")
done <<<"$plan"
[ "${#rows[@]}" -gt 0 ] || die "no container of type '$only' in the plan"

if [ "$DRY_RUN" = 1 ]; then
  for line in "${rows[@]}"; do
    IFS=$'\t' read -r vmid type _ _ ip _ <<<"$line"
    printf '+ %s\n' "$(quote "$worker" "${common[@]}" "$vmid" "$type" "$ip")"
    "$worker" --dry-run "${common[@]}" "$vmid" "$type" "$ip" | sed 's/^/    /'
  done
  log "dry run: ${#rows[@]} container(s), nothing was changed"
  exit 0
fi

[ -n "$log_dir" ] || log_dir="$(mktemp -d "${TMPDIR:-/tmp}/ktrdr-provision.XXXXXX")"
mkdir -p "$log_dir"
log "provisioning ${#rows[@]} container(s), $parallel at a time; logs in $log_dir"

declare -A name_of=()
failed=()
finished=0
running=0

reap() {
  local pid status=0
  wait -n -p pid || status=$?
  running=$((running - 1))
  finished=$((finished + 1))
  if [ "$status" = 0 ]; then
    log "ok     ${name_of[$pid]} ($finished/${#rows[@]})"
  else
    log "FAILED ${name_of[$pid]} (exit $status; last lines of $log_dir/${name_of[$pid]%% *}.log):"
    tail -n 5 "$log_dir/${name_of[$pid]%% *}.log" | sed 's/^/         /' >&2 || true
    failed+=("${name_of[$pid]}")
  fi
}

for line in "${rows[@]}"; do
  IFS=$'\t' read -r vmid type worker_id _ ip _ <<<"$line"
  while [ "$running" -ge "$parallel" ]; do reap; done
  "$worker" "${common[@]}" "$vmid" "$type" "$ip" >"$log_dir/$vmid.log" 2>&1 &
  name_of[$!]="$vmid ($worker_id at $ip)"
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do reap; done

if [ "${#failed[@]}" -gt 0 ]; then
  die "${#failed[@]} of ${#rows[@]} container(s) failed: ${failed[*]}"
fi
log "all ${#rows[@]} container(s) provisioned and registered"
