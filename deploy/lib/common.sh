# shellcheck shell=bash
# Shared helpers of the control-machine scripts (deploy/proxmox/*.sh, deploy/deploy-to-workers.sh).
# Sourced, never run. The host-side scripts (update-code.sh, ktrdr-worker-start.sh) are self-contained
# because they are copied onto the hosts on their own.
#
# Conventions: logs go to stderr as "[script] ..."; with --dry-run every command that would change
# something is printed on stdout as "+ <command>" (shell-quoted, exactly as it would run) and not run;
# read-only queries (pct status, kinfra fleet plan, git ls-remote) still run so that the preview is exact.

DRY_RUN="${DRY_RUN:-0}"
SCRIPT_NAME="${SCRIPT_NAME:-$(basename "$0" .sh)}"
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$DEPLOY_DIR/.." && pwd)"

log() { printf '[%s] %s\n' "$SCRIPT_NAME" "$*" >&2; }
warn() { printf '[%s] warning: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$SCRIPT_NAME" "$*" >&2
  exit 1
}
usage_error() {
  printf '[%s] error: %s\n' "$SCRIPT_NAME" "$*" >&2
  printf "Run '%s --help' for usage.\n" "$0" >&2
  exit 2
}

# need TOOL [HINT]: exits with a clear message when TOOL is not on PATH.
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but was not found on PATH${2:+ ($2)}"
}

# quote ARGS...: one shell-quoted command line (printf %q per word).
quote() {
  local out='' a
  for a in "$@"; do
    out+="${out:+ }$(printf '%q' "$a")"
  done
  printf '%s' "$out"
}

# run CMD ARGS...: runs the command, or prints it under --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '+ %s\n' "$(quote "$@")"
  else
    "$@"
  fi
}

# run_capture VAR PLACEHOLDER CMD ARGS...: VAR=$(CMD ARGS...), or under --dry-run prints the command
# and sets VAR to PLACEHOLDER.
run_capture() {
  local __var="$1" __placeholder="$2"
  shift 2
  if [ "$DRY_RUN" = 1 ]; then
    printf '+ %s\n' "$(quote "$@")"
    printf -v "$__var" '%s' "$__placeholder"
  else
    local __out
    __out="$("$@")" || return $?
    printf -v "$__var" '%s' "$__out"
  fi
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_ipv4() {
  [[ "$1" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  local i
  for i in 1 2 3 4; do [ "${BASH_REMATCH[$i]}" -le 255 ] || return 1; done
}
is_worker_type() { [ "$1" = backtesting ] || [ "$1" = training ]; }

# The kinfra command line: KINFRA (a command line) when set, else the repository's build, else PATH.
kinfra_cmd() {
  if [ -n "${KINFRA:-}" ]; then
    # shellcheck disable=SC2206 # KINFRA is a command line on purpose (e.g. "node /x/main.js")
    KINFRA_ARGV=($KINFRA)
  elif [ -f "$REPO_ROOT/apps/kinfra/dist/main.js" ]; then
    need node
    KINFRA_ARGV=(node "$REPO_ROOT/apps/kinfra/dist/main.js")
  elif command -v kinfra >/dev/null 2>&1; then
    KINFRA_ARGV=(kinfra)
  else
    die "kinfra is not built: run 'pnpm turbo run build --filter=@ktrdr/kinfra...' (or set KINFRA)"
  fi
}

# plan_rows ENV [FILE]: the provisioning plan, one tab-separated line per container (no header), in
# the column order of `kinfra fleet plan --format tsv`:
#   vmid worker_type worker_id hostname ip prefix gateway bridge cores memory_mb template_id storage
#   node backend_url endpoint_url
# The fleet file is read (and validated) by @ktrdr/config through kinfra, never parsed here.
plan_rows() {
  local env="$1" file="${2:-}" out
  kinfra_cmd
  local args=(fleet plan --format tsv)
  if [ -n "$file" ]; then args+=(--file "$file"); else args+=(--env "$env"); fi
  if ! out="$("${KINFRA_ARGV[@]}" "${args[@]}")"; then
    die "could not read the fleet plan ($(quote "${KINFRA_ARGV[@]}" "${args[@]}") failed)"
  fi
  local header
  header="$(printf '%s\n' "$out" | head -n 1)"
  case "$header" in
    '# vmid'*) ;;
    *) die "the fleet plan of '$env' is not a proxmox-lxc deployment (got: $header)" ;;
  esac
  printf '%s\n' "$out" | grep -v '^#' || true
}

# resolve_ref SOURCE REF: the full commit SHA of REF (a branch, tag, HEAD or a 40-hex SHA) at SOURCE,
# so that every host deploys the same commit.
resolve_ref() {
  local source="$1" ref="$2" lines sha
  if [[ "$ref" =~ ^[0-9a-f]{40}$ ]]; then
    printf '%s' "$ref"
    return
  fi
  need git
  lines="$(git ls-remote "$source" "$ref" 2>/dev/null)" || die "git ls-remote $source failed"
  sha="$(printf '%s\n' "$lines" | awk -v r="$ref" '
    $2 == "refs/tags/" r "^{}" { peeled = $1 }
    $2 == "refs/heads/" r { head = $1 }
    $2 == "refs/tags/" r { tag = $1 }
    $2 == r { exact = $1 }
    END { print (peeled != "" ? peeled : head != "" ? head : tag != "" ? tag : exact) }')"
  [ -n "$sha" ] || die "ref '$ref' was not found at $source (git ls-remote)"
  printf '%s' "$sha"
}
