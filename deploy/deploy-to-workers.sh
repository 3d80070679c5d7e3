#!/usr/bin/env bash
# Rolling code deploy over the worker hosts, N hosts at a time (run from a control machine).
# For each host: drain its workers (POST /api/v1/workers/{id}/drain: no new dispatches, the running
# operation finishes), wait until they are idle, run update-code.sh on the host (fetch, frozen-lockfile
# install, build, atomic switch of `current`), restart the units, and wait until every worker registered
# again, available and reporting the new release. The first failure stops the rollout. A host whose update
# had started is rolled back to the release it ran before (update-code.sh --activate, restart, wait); a
# host that failed before (drain refused, drain timeout, host unreachable) still runs that release and is
# undrained (DELETE /api/v1/workers/{id}/drain), so it takes operations again. Operations are never lost:
# a drained worker takes nothing new, and what it runs finishes before the restart.
#
# Hosts come from the fleet plan (`kinfra fleet plan --env prod`: one host per container, by IP) or from
# --hosts FILE. The transport is ssh by default; `--transport netns` runs the host commands with
# `ip netns exec HOST` (the multi-host test suite) and `--transport local` on this machine.
#
# Usage: deploy-to-workers.sh --source URL --ref REF [--env prod | --hosts FILE --backend URL] [--batch N]
set -euo pipefail
SCRIPT_NAME=deploy-to-workers
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: deploy-to-workers.sh [options]

  --source URL          git repository the hosts fetch from (default $DEPLOY_SOURCE)
  --ref REF             branch, tag or commit to deploy (resolved once to a commit)
  --env ENV             hosts and backend URL from this fleet plan (default prod)
  --file FILE           fleet file instead of the environment's
  --hosts FILE          hosts instead of the plan: lines "HOST TYPE WORKER_ID" (# comments)
  --backend URL         backend API base with /api/v1 (default: backend_url of the plan)
  --batch N             hosts updated at the same time (default 1)
  --transport T         ssh (default), netns (ip netns exec HOST) or local
  --ssh-user USER       ssh user (default root)
  --ssh-key FILE        ssh identity file
  --ssh-opt OPT         extra ssh option (repeatable), e.g. --ssh-opt StrictHostKeyChecking=accept-new
  --app-dir DIR         app directory on the hosts (default /opt/ktrdr; {host} is replaced)
  --restart-cmd CMD     restart command on the hosts (default "systemctl restart ktrdr-worker@{type}.service")
  --update-opts OPTS    extra update-code.sh options (default "--build-user ktrdr --store-dir /var/cache/ktrdr/pnpm-store")
  --drain-timeout S     wait for a drained worker's operation to finish (default 3600)
  --ready-timeout S     wait for a restarted worker to register (default 300)
  --dry-run             print every command, change nothing
  -h, --help            this help

The first failure stops the rollout: a host whose update had started is rolled back to its previous
release; a host that failed before its update (drain, idle wait, host unreachable) is undrained.

Environment: KTRDR_API_KEY, an operate API key of the backend (drain and undrain are operate calls; the
waits read).
EOF
}

source_url="${DEPLOY_SOURCE:-}"
ref=''
env_name=prod
fleet_file=''
hosts_file=''
backend=''
batch=1
transport=ssh
ssh_user=root
ssh_opts=(-o BatchMode=yes -o ConnectTimeout=10)
app_dir_tpl=/opt/ktrdr
restart_tpl='systemctl restart ktrdr-worker@{type}.service'
update_opts='--build-user ktrdr --store-dir /var/cache/ktrdr/pnpm-store'
drain_timeout=3600
ready_timeout=300

while [ $# -gt 0 ]; do
  case "$1" in
    --source | --ref | --env | --file | --hosts | --backend | --batch | --transport | --ssh-user | --ssh-key | --ssh-opt | --app-dir | --restart-cmd | --update-opts | --drain-timeout | --ready-timeout)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      case "$1" in
        --source) source_url="$2" ;;
        --ref) ref="$2" ;;
        --env) env_name="$2" ;;
        --file) fleet_file="$2" ;;
        --hosts) hosts_file="$2" ;;
        --backend) backend="$2" ;;
        --batch) batch="$2" ;;
        --transport) transport="$2" ;;
        --ssh-user) ssh_user="$2" ;;
        --ssh-key) ssh_opts+=(-i "$2") ;;
        --ssh-opt) ssh_opts+=(-o "$2") ;;
        --app-dir) app_dir_tpl="$2" ;;
        --restart-cmd) restart_tpl="$2" ;;
        --update-opts) update_opts="$2" ;;
        --drain-timeout) drain_timeout="$2" ;;
        --ready-timeout) ready_timeout="$2" ;;
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

[ -n "$ref" ] || usage_error "--ref is required"
[ -n "$source_url" ] || usage_error "--source URL (or DEPLOY_SOURCE) is required"
if ! is_uint "$batch" || [ "$batch" -lt 1 ]; then usage_error "--batch must be a number >= 1, got '$batch'"; fi
is_uint "$drain_timeout" || usage_error "--drain-timeout must be a number of seconds"
is_uint "$ready_timeout" || usage_error "--ready-timeout must be a number of seconds"
case "$transport" in
  ssh) need ssh ;;
  netns) need ip "iproute2" ;;
  local) ;;
  *) usage_error "--transport must be ssh, netns or local, got '$transport'" ;;
esac
# shellcheck disable=SC2206 # --update-opts is a list of words on purpose
update_args=($update_opts)

# ── the hosts: HOST TYPE WORKER_ID lines ───────────────────────────────────────────────────────────
inventory=()
if [ -n "$hosts_file" ]; then
  [ -r "$hosts_file" ] || die "cannot read the hosts file $hosts_file"
  n=0
  while read -r h t w rest; do
    n=$((n + 1))
    if [ -z "${h:-}" ] || [ "${h:0:1}" = '#' ]; then continue; fi
    if [ -z "${w:-}" ] || [ -n "${rest:-}" ]; then die "$hosts_file, line $n: expected 'HOST TYPE WORKER_ID'"; fi
    is_worker_type "$t" || die "$hosts_file, line $n: unknown worker type '$t'"
    inventory+=("$h $t $w")
  done <"$hosts_file"
else
  while IFS=$'\t' read -r _ t w _ ip _ _ _ _ _ _ _ _ b _; do
    [ -n "${w:-}" ] || continue
    inventory+=("$ip $t $w")
    backend="${backend:-$b}"
  done < <(plan_rows "$env_name" "$fleet_file")
fi
[ "${#inventory[@]}" -gt 0 ] || die "no worker hosts to deploy to"
[ -n "$backend" ] || usage_error "--backend URL is required with --hosts"
backend="${backend%/}"

hosts=()
for entry in "${inventory[@]}"; do
  h="${entry%% *}"
  case " ${hosts[*]:-} " in *" $h "*) ;; *) hosts+=("$h") ;; esac
done

kinfra_cmd
log "resolving $ref at $source_url"
sha="$(resolve_ref "$source_url" "$ref")"
log "deploying $sha to ${#hosts[@]} host(s), $batch at a time (backend $backend, transport $transport)"

# step MESSAGE: a log line with the seconds since the rollout began.
step() { log "+${SECONDS}s $*"; }

# ── per host ────────────────────────────────────────────────────────────────────────────────────────
fill() {
  local s="$1" host="$2" type="${3:-}"
  s="${s//\{host\}/$host}"
  printf '%s' "${s//\{type\}/$type}"
}

# remote HOST COMMAND-STRING: runs a shell command line on a host.
remote() {
  local host="$1" cmd="$2"
  case "$transport" in
    ssh) run ssh "${ssh_opts[@]}" "$ssh_user@$host" "$cmd" ;;
    netns) run ip netns exec "$host" bash -c "$cmd" ;;
    local) run bash -c "$cmd" ;;
  esac
}

remote_capture() {
  local __var="$1" placeholder="$2" host="$3" cmd="$4" out
  case "$transport" in
    ssh) run_capture out "$placeholder" ssh "${ssh_opts[@]}" "$ssh_user@$host" "$cmd" ;;
    netns) run_capture out "$placeholder" ip netns exec "$host" bash -c "$cmd" ;;
    local) run_capture out "$placeholder" bash -c "$cmd" ;;
  esac || return $?
  # The last line: update-code.sh prints the commit last.
  printf -v "$__var" '%s' "${out##*$'\n'}"
}

kf() { run "${KINFRA_ARGV[@]}" "$@"; }

# restart_and_wait HOST RELEASE REGISTERED_AFTER...: restarts the host's units, waits for its workers.
restart_and_wait() {
  local host="$1" release="$2" app="$3" entry t w types=() i=0
  shift 3
  local after=("$@")
  for entry in "${inventory[@]}"; do
    [ "${entry%% *}" = "$host" ] || continue
    t="$(cut -d' ' -f2 <<<"$entry")"
    case " ${types[*]:-} " in *" $t "*) ;; *) types+=("$t") ;; esac
  done
  step "── $host: restarting ${types[*]}"
  for t in "${types[@]}"; do
    remote "$host" "$(fill "$restart_tpl" "$host" "$t")" || return 1
  done
  for entry in "${inventory[@]}"; do
    [ "${entry%% *}" = "$host" ] || continue
    w="${entry##* }"
    kf fleet wait "$w" --for ready --backend "$backend" --release "$release" \
      --registered-after "${after[$i]:-}" --timeout "$ready_timeout" || return 1
    i=$((i + 1))
  done
}

# drain_host HOST: drains the host's workers and waits until they are idle. Sets REGISTERED to their
# registration times (backend clock) from the drain answers, so that a new registration is recognised.
drain_host() {
  local host="$1" entry w at
  REGISTERED=()
  for entry in "${inventory[@]}"; do
    [ "${entry%% *}" = "$host" ] || continue
    w="${entry##* }"
    if [ "$DRY_RUN" = 1 ]; then
      run_capture at '<registered_at>' "${KINFRA_ARGV[@]}" fleet drain "$w" --backend "$backend" --missing-ok --print registered_at
    else
      at="$("${KINFRA_ARGV[@]}" fleet drain "$w" --backend "$backend" --missing-ok --print registered_at)" || {
        log "$host: could not drain $w"
        return 1
      }
    fi
    REGISTERED+=("$at")
  done
  for entry in "${inventory[@]}"; do
    [ "${entry%% *}" = "$host" ] || continue
    kf fleet wait "${entry##* }" --for idle --backend "$backend" --timeout "$drain_timeout" || return 1
  done
}

# undrain_host HOST: undoes the drain of the host's workers (--missing-ok: one that is not registered
# has nothing to undo). Fails when any undrain failed.
undrain_host() {
  local host="$1" entry failed=0
  for entry in "${inventory[@]}"; do
    [ "${entry%% *}" = "$host" ] || continue
    kf fleet undrain "${entry##* }" --backend "$backend" --missing-ok || failed=1
  done
  return "$failed"
}

# not_updated HOST: the host failed before its update started, so it still runs the release it ran;
# its workers are undrained so that they take operations again. Returns 3 (undrained) or 4 (the undrain
# failed: the workers stay drained).
not_updated() {
  local host="$1"
  step "── $host: failed before its update: nothing changed on it; undraining its workers"
  if undrain_host "$host"; then
    step "── $host: undrained: it keeps its release and takes operations again"
    return 3
  fi
  step "── $host: UNDRAIN FAILED: its workers stay drained (kinfra fleet undrain <worker_id>)"
  return 4
}

# deploy_host HOST: returns 0 updated, 1 failed and rolled back to its previous release, 2 failed and
# not rolled back (the rollback failed, or nothing was deployed before), 3 failed before its update and
# undrained, 4 failed before its update and still drained.
deploy_host() {
  local host="$1" app before deployed cmd
  app="$(fill "$app_dir_tpl" "$host")"
  step "── $host: draining"
  if ! drain_host "$host"; then
    not_updated "$host" || return $?
  fi

  if ! remote_capture before '<current release>' "$host" "$(quote "$app/bin/update-code.sh" --app-dir "$app" --print-current)"; then
    log "$host: cannot reach the host"
    not_updated "$host" || return $?
  fi
  step "── $host: updating ${before:-<nothing deployed>} -> $sha"
  cmd="$(quote "$app/bin/update-code.sh" --app-dir "$app" --source "$source_url" --ref "$sha" "${update_args[@]}")"
  if remote_capture deployed "$sha" "$host" "$cmd" && [ "$deployed" = "$sha" ] &&
    restart_and_wait "$host" "$sha" "$app" "${REGISTERED[@]}"; then
    step "── $host: done, running $sha"
    return 0
  fi
  step "── $host: update to $sha failed${deployed:+ (update-code.sh printed \"$deployed\")}"
  if [ -z "$before" ]; then
    step "── $host: nothing was deployed before: nothing to roll back to"
    return 2
  fi
  # The new workers may have registered and taken work: drain them again before the restart.
  step "── $host: rolling back to $before (draining again)"
  if drain_host "$host" &&
    remote "$host" "$(quote "$app/bin/update-code.sh" --app-dir "$app" --activate "$before")" >/dev/null &&
    restart_and_wait "$host" "$before" "$app" "${REGISTERED[@]}"; then
    step "── $host: rolled back to $before"
    return 1
  fi
  step "── $host: ROLLBACK FAILED: the host needs attention"
  return 2
}

# ── the rollout ─────────────────────────────────────────────────────────────────────────────────────
updated=()
for ((i = 0; i < ${#hosts[@]}; i += batch)); do
  group=("${hosts[@]:i:batch}")
  rolled_back=()
  broken=()
  undrained=()
  drained=()
  # record HOST STATUS: the status of deploy_host.
  record() {
    case "$2" in
      0) updated+=("$1") ;;
      1) rolled_back+=("$1") ;;
      3) undrained+=("$1") ;;
      4) drained+=("$1") ;;
      *) broken+=("$1") ;;
    esac
  }
  if [ "$DRY_RUN" = 1 ] || [ "${#group[@]}" -eq 1 ]; then
    for h in "${group[@]}"; do
      status=0
      deploy_host "$h" || status=$?
      record "$h" "$status"
    done
  else
    pids=()
    for h in "${group[@]}"; do
      deploy_host "$h" &
      pids+=($!)
    done
    for j in "${!pids[@]}"; do
      status=0
      wait "${pids[$j]}" || status=$?
      record "${group[$j]}" "$status"
    done
  fi
  failures=$((${#rolled_back[@]} + ${#broken[@]} + ${#undrained[@]} + ${#drained[@]}))
  if [ "$failures" -gt 0 ]; then
    untouched=$((${#hosts[@]} - ${#updated[@]} - failures))
    what=''
    add() { what="${what:+$what; }$*"; }
    [ "${#rolled_back[@]}" -eq 0 ] || add "${rolled_back[*]} failed (rolled back to the previous release)"
    [ "${#undrained[@]}" -eq 0 ] || add "${undrained[*]} failed before the update (unchanged, undrained)"
    [ "${#drained[@]}" -eq 0 ] || add "${drained[*]} failed before the update (unchanged) and COULD NOT BE UNDRAINED"
    [ "${#broken[@]}" -eq 0 ] || add "${broken[*]} failed and COULD NOT BE ROLLED BACK"
    die "rollout of $sha stopped: $what; ${#updated[@]} host(s) updated${updated[*]:+ (${updated[*]})}, $untouched not touched"
  fi
done

if [ "$DRY_RUN" = 1 ]; then
  log "dry run: nothing was changed"
else
  log "all ${#hosts[@]} host(s) run $sha"
fi
printf '%s\n' "$sha"
