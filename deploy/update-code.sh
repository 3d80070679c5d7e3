#!/usr/bin/env bash
# Deploys a code release on a worker host (run as root, on the host). The base template holds the
# environment only (Node.js, pnpm, git, the ktrdr user, this script and the systemd unit); code arrives
# here, so a code change never means a new template.
#
#   update-code.sh --source URL --ref REF   fetch REF, install with the frozen lockfile, build, switch
#                                           `current` atomically, keep the previous release, pin it
#   update-code.sh --pinned                 deploy the pinned release unless `current` already is it
#                                           (the unit's pre-start step; keeps `current` when offline)
#   update-code.sh --rollback               switch back to the previous release (and pin it)
#   update-code.sh --activate SHA           switch to an already built release (and pin it)
#   update-code.sh --print-current          print the commit `current` points at (empty when none)
#
# Layout under the app dir (default: the parent of this script's bin/ directory, else /opt/ktrdr):
#   repo.git/               bare cache of the source repository
#   releases/<sha>/         one built release per commit; .ktrdr-release (the commit) marks it complete
#   current -> releases/<sha>, previous -> releases/<sha>   (symlinks, replaced with rename(2))
#   release.pin             source=URL and commit=SHA: what the host should run
#   bin/                    update-code.sh, ktrdr-worker-start (refreshed from each release's deploy/)
#
# The deployed commit is the last line on stdout; everything else goes to stderr.
set -euo pipefail
shopt -s inherit_errexit

SCRIPT_NAME=update-code
log() { printf '[%s] %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$SCRIPT_NAME" "$*" >&2
  exit 1
}
usage_error() {
  printf '[%s] error: %s\n' "$SCRIPT_NAME" "$*" >&2
  printf "Run '%s --help' for usage.\n" "$0" >&2
  exit 2
}
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but was not found on PATH"; }
quote() {
  local out='' a
  for a in "$@"; do out+="${out:+ }$(printf '%q' "$a")"; done
  printf '%s' "$out"
}
run() {
  if [ "$dry_run" = 1 ]; then printf '+ %s\n' "$(quote "$@")"; else "$@"; fi
}

usage() {
  cat <<'EOF'
Usage: update-code.sh [options] (--ref REF | --pinned | --rollback | --activate SHA | --print-current)

  --source URL        git repository to fetch from (default: source= of release.pin)
  --ref REF           branch, tag or commit to deploy
  --pinned            deploy the commit of release.pin unless current already is it; when that
                      fails and a current release exists, keep it (exit 0, with a warning)
  --rollback          switch current back to previous
  --activate SHA      switch current to the built release SHA
  --print-current     print the commit of current (empty when nothing is deployed)
  --app-dir DIR       app directory (default: parent of this script's bin/, else /opt/ktrdr)
  --no-pin            do not update release.pin after a switch
  --keep N            releases kept besides current and previous (default 2)
  --build-user USER   run pnpm install and the build as USER (default: the caller)
  --build-script NAME root package.json script that builds the workers (default build:workers)
  --offline           pnpm install --offline (a pre-populated store)
  --store-dir DIR     pnpm store directory
  --dry-run           print the commands that change something, change nothing
  -h, --help          this help
EOF
}

dry_run=0
source_url=''
ref=''
mode=''
app_dir=''
pin=1
keep=2
build_user=''
build_script='build:workers'
offline=0
store_dir=''
activate_sha=''

while [ $# -gt 0 ]; do
  case "$1" in
    --source)
      [ $# -ge 2 ] || usage_error "--source needs a URL"
      source_url="$2"
      shift 2
      ;;
    --ref)
      [ $# -ge 2 ] || usage_error "--ref needs a branch, tag or commit"
      ref="$2"
      mode=deploy
      shift 2
      ;;
    --pinned)
      mode=pinned
      shift
      ;;
    --rollback)
      mode=rollback
      shift
      ;;
    --activate)
      [ $# -ge 2 ] || usage_error "--activate needs a commit"
      activate_sha="$2"
      mode=activate
      shift 2
      ;;
    --print-current)
      mode=print
      shift
      ;;
    --app-dir)
      [ $# -ge 2 ] || usage_error "--app-dir needs a directory"
      app_dir="$2"
      shift 2
      ;;
    --no-pin)
      pin=0
      shift
      ;;
    --keep)
      if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then usage_error "--keep needs a number"; fi
      keep="$2"
      shift 2
      ;;
    --build-user)
      [ $# -ge 2 ] || usage_error "--build-user needs a user"
      build_user="$2"
      shift 2
      ;;
    --build-script)
      [ $# -ge 2 ] || usage_error "--build-script needs a script name"
      build_script="$2"
      shift 2
      ;;
    --offline)
      offline=1
      shift
      ;;
    --store-dir)
      [ $# -ge 2 ] || usage_error "--store-dir needs a directory"
      store_dir="$2"
      shift 2
      ;;
    --dry-run)
      dry_run=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done

[ -n "$mode" ] || usage_error "one of --ref, --pinned, --rollback, --activate or --print-current is required"

if [ -z "$app_dir" ]; then
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ "$(basename "$here")" = bin ]; then app_dir="$(dirname "$here")"; else app_dir=/opt/ktrdr; fi
fi
releases="$app_dir/releases"
pin_file="$app_dir/release.pin"

# The commit a release symlink points at ('' when missing or incomplete).
release_of() {
  local link="$1"
  if [ -L "$link" ] && [ -f "$link/.ktrdr-release" ]; then
    tr -d '[:space:]' <"$link/.ktrdr-release"
  fi
}

pin_value() {
  [ -f "$pin_file" ] || return 0
  sed -n "s/^$1=//p" "$pin_file" | tail -n 1
}

# Points LINK at releases/SHA with one rename(2): readers see the old or the new target, never none.
switch_link() {
  local link="$1" sha="$2"
  run ln -sfn "releases/$sha" "$link.new"
  run mv -Tf "$link.new" "$link"
}

write_pin() {
  local sha="$1" src="$2"
  [ "$pin" = 1 ] || return 0
  if [ "$dry_run" = 1 ]; then
    printf '+ write %s: source=%s commit=%s\n' "$pin_file" "$src" "$sha"
    return
  fi
  printf 'source=%s\ncommit=%s\n' "$src" "$sha" >"$pin_file.new"
  mv -f "$pin_file.new" "$pin_file"
}

# Makes releases/SHA current (keeping the old current as previous).
activate() {
  local sha="$1" src="$2" old
  [ "$dry_run" = 1 ] || [ -f "$releases/$sha/.ktrdr-release" ] || die "release $sha is not built in $releases"
  old="$(release_of "$app_dir/current")"
  if [ "$old" = "$sha" ]; then
    log "current is already $sha"
  else
    switch_link "$app_dir/current" "$sha"
    if [ -n "$old" ]; then switch_link "$app_dir/previous" "$old"; fi
    log "current -> releases/$sha${old:+ (previous: $old)}"
  fi
  write_pin "$sha" "$src"
  install_tooling "$sha"
}

# Refreshes bin/ from the release's deploy/ directory (the tooling travels with the code).
install_tooling() {
  local rel="$releases/$1"
  [ -f "$rel/deploy/update-code.sh" ] || return 0
  run install -m 0755 "$rel/deploy/update-code.sh" "$app_dir/bin/update-code.sh"
  if [ -f "$rel/deploy/ktrdr-worker-start.sh" ]; then
    run install -m 0755 "$rel/deploy/ktrdr-worker-start.sh" "$app_dir/bin/ktrdr-worker-start"
  fi
}

# Removes releases other than current and previous beyond the newest $keep, and stale build dirs
# (builds never overlap: the deploy lock is held).
prune() {
  local cur prev n=0 dir name
  cur="$(release_of "$app_dir/current")"
  prev="$(release_of "$app_dir/previous")"
  while IFS= read -r dir; do
    [ -n "$dir" ] || continue
    name="$(basename "$dir")"
    if [[ "$name" == *.tmp.* ]]; then
      run rm -rf "$dir"
      continue
    fi
    if [ "$name" = "$cur" ] || [ "$name" = "$prev" ]; then continue; fi
    n=$((n + 1))
    [ "$n" -le "$keep" ] || run rm -rf "$dir"
  done < <(find "$releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' 2>/dev/null | sort -rn | cut -d' ' -f2-)
}

# in_dir DIR CMD...: runs CMD inside DIR (as --build-user when given), or prints it under --dry-run.
in_dir() {
  local dir="$1"
  shift
  local prefix=()
  if [ -n "$build_user" ] && [ "$(id -un)" != "$build_user" ]; then prefix=(runuser -u "$build_user" --); fi
  if [ "$dry_run" = 1 ]; then
    printf '+ cd %s && %s\n' "$(quote "$dir")" "$(quote "${prefix[@]}" "$@")"
  else
    # Tool output goes to stderr: stdout carries only the deployed commit.
    (cd "$dir" && "${prefix[@]}" "$@") >&2
  fi
}

# Fetches, builds and activates SHA-or-REF from SRC.
deploy() {
  local src="$1" want="$2" sha rel tmp
  need git
  need pnpm
  need node
  if [ "$dry_run" = 1 ]; then
    if [ -d "$app_dir/repo.git" ]; then
      run git -C "$app_dir/repo.git" remote set-url origin "$src"
    else
      run git clone --bare --quiet "$src" "$app_dir/repo.git"
    fi
    run git -C "$app_dir/repo.git" fetch --quiet --force --prune origin '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'
    # Read-only: what the fetch would bring (a commit as is, else the ref at the source).
    if [[ "$want" =~ ^[0-9a-f]{40}$ ]]; then
      sha="$want"
    else
      sha="$(git ls-remote "$src" "$want" "refs/heads/$want" 2>/dev/null | awk 'NR == 1 { print $1 }')"
      sha="${sha:-<commit of $want>}"
    fi
  else
    mkdir -p "$releases"
    if [ -d "$app_dir/repo.git" ]; then
      git -C "$app_dir/repo.git" remote set-url origin "$src"
    else
      log "cloning $src"
      git clone --bare --quiet "$src" "$app_dir/repo.git.tmp.$$"
      mv -T "$app_dir/repo.git.tmp.$$" "$app_dir/repo.git"
    fi
    git -C "$app_dir/repo.git" fetch --quiet --force --prune origin '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' ||
      die "cannot fetch from $src"
    if ! sha="$(git -C "$app_dir/repo.git" rev-parse --verify --quiet "$want^{commit}")"; then
      # A commit that no branch or tag holds (yet): ask for it by name.
      git -C "$app_dir/repo.git" fetch --quiet origin "$want" 2>/dev/null || true
      sha="$(git -C "$app_dir/repo.git" rev-parse --verify --quiet "$want^{commit}")" ||
        die "'$want' is not a branch, tag or commit of $src"
    fi
  fi

  rel="$releases/$sha"
  if [ "$(release_of "$app_dir/current")" = "$sha" ]; then
    log "current is already $sha: nothing to build"
  elif [ -f "$rel/.ktrdr-release" ]; then
    log "release $sha is already built"
  else
    tmp="$rel.tmp.$$"
    log "building $sha in $tmp"
    run rm -rf "$tmp"
    run mkdir -p "$tmp"
    if [ "$dry_run" = 1 ]; then
      printf '+ %s | %s\n' "$(quote git -C "$app_dir/repo.git" archive "$sha")" "$(quote tar -x -C "$tmp")"
    else
      git -C "$app_dir/repo.git" archive "$sha" | tar -x -C "$tmp"
    fi
    [ -z "$build_user" ] || run chown -R "$build_user" "$tmp"
    local install=(pnpm install --frozen-lockfile --prefer-offline)
    [ "$offline" = 0 ] || install=(pnpm install --frozen-lockfile --offline)
    [ -z "$store_dir" ] || install+=(--store-dir "$store_dir")
    if ! in_dir "$tmp" "${install[@]}"; then
      run rm -rf "$tmp"
      die "pnpm install failed for $sha (lockfile out of date, or the store/registry unreachable)"
    fi
    if ! in_dir "$tmp" pnpm run "$build_script"; then
      run rm -rf "$tmp"
      die "the build (pnpm run $build_script) failed for $sha"
    fi
    [ -z "$build_user" ] || run chown -R root:root "$tmp"
    if [ "$dry_run" = 1 ]; then
      printf '+ write %s/.ktrdr-release: %s\n' "$tmp" "$sha"
    else
      printf '%s\n' "$sha" >"$tmp/.ktrdr-release"
    fi
    run mv -T "$tmp" "$rel"
  fi
  activate "$sha" "$src"
  prune
  printf '%s\n' "$sha"
}

if [ "$dry_run" = 0 ] && [ "$mode" != print ]; then
  mkdir -p "$app_dir" "$releases" "$app_dir/bin"
  # One deploy at a time on a host (the pre-start step and a rolling deploy may meet).
  need flock
  exec 9>"$app_dir/.deploy.lock"
  flock -w 900 9 || die "another update-code.sh holds $app_dir/.deploy.lock"
fi

case "$mode" in
  print)
    release_of "$app_dir/current"
    printf '\n'
    ;;
  deploy)
    src="${source_url:-$(pin_value source)}"
    [ -n "$src" ] || usage_error "--source is required (no release.pin in $app_dir yet)"
    deploy "$src" "$ref"
    ;;
  pinned)
    want="$(pin_value commit)"
    src="${source_url:-$(pin_value source)}"
    if [ -z "$want" ] || [ -z "$src" ]; then
      die "no release pinned in $pin_file (deploy once with --source URL --ref REF)"
    fi
    cur="$(release_of "$app_dir/current")"
    if [ "$cur" = "$want" ]; then
      log "current is the pinned release $want"
      printf '%s\n' "$cur"
    else
      # Not in a condition: errexit stays in force inside the deploy.
      set +e
      out="$(deploy "$src" "$want")"
      status=$?
      set -e
      if [ "$status" = 0 ]; then
        printf '%s\n' "$out"
      elif [ -n "$cur" ]; then
        printf '[%s] warning: could not deploy the pinned release %s; keeping current %s\n' "$SCRIPT_NAME" "$want" "$cur" >&2
        printf '%s\n' "$cur"
      else
        die "could not deploy the pinned release $want and no release is current"
      fi
    fi
    ;;
  rollback)
    prev="$(release_of "$app_dir/previous")"
    [ -n "$prev" ] || die "no previous release to roll back to in $app_dir"
    activate "$prev" "${source_url:-$(pin_value source)}"
    printf '%s\n' "$prev"
    ;;
  activate)
    activate "$activate_sha" "${source_url:-$(pin_value source)}"
    printf '%s\n' "$activate_sha"
    ;;
esac
