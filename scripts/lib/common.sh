# shellcheck shell=bash disable=SC2034
# scripts/lib/common.sh — shell functions shared by canopy's scripts.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Provides:
#   log_info/log_warn/log_error MSG...   timestamped messages on stderr
#   die MSG...                           log_error and exit 1
#   phase_begin NAME / phase_end [STATUS]  a clear header per phase, its wall time
#   phase_summary                        a table of every phase so far
#   ensure_packages PKG...               apt-get installs what is missing
#   run_privileged CMD...                CMD as root (directly, or via sudo -n)
#   canopy_repo_root                     the repository's top folder
#   pick_free_port                       a loopback TCP port that is free now
#
# Works non-interactively (CI=true, no stdin): nothing here prompts.

if [[ -n "${_CANOPY_COMMON_SH:-}" ]]; then
  return 0
fi
_CANOPY_COMMON_SH=1

# ---- logging ----------------------------------------------------------------

if [[ -t 2 && -z "${NO_COLOR:-}" && "${CI:-}" != "true" ]]; then
  _c_bold=$'\e[1m' _c_red=$'\e[31m' _c_yellow=$'\e[33m' _c_blue=$'\e[34m' _c_reset=$'\e[0m'
else
  _c_bold='' _c_red='' _c_yellow='' _c_blue='' _c_reset=''
fi

_log() {
  local level="$1"
  shift
  printf '%s[%s] %s%s %s\n' "$_c_bold" "$(date +%H:%M:%S)" "$level" "$_c_reset" "$*" >&2
}
log_info() { _log "${_c_blue}info " "$@"; }
log_warn() { _log "${_c_yellow}warn " "$@"; }
log_error() { _log "${_c_red}error" "$@"; }
die() {
  log_error "$@"
  exit 1
}

canopy_repo_root() {
  (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}

# ---- phases -----------------------------------------------------------------

_CANOPY_PHASE_NAME=''
_CANOPY_PHASE_START=0
_CANOPY_PHASE_ROWS=()

# phase_begin NAME: prints a header that stands out in a long CI log.
phase_begin() {
  _CANOPY_PHASE_NAME="$1"
  _CANOPY_PHASE_START=$SECONDS
  printf '\n%s==============================================================================%s\n' \
    "$_c_bold" "$_c_reset"
  printf '%s== %s%s   (%s)\n' "$_c_bold" "$_CANOPY_PHASE_NAME" "$_c_reset" "$(date '+%Y-%m-%d %H:%M:%S')"
  printf '%s==============================================================================%s\n' \
    "$_c_bold" "$_c_reset"
}

# phase_end [STATUS]: STATUS is "ok" (default), "FAILED", "skipped" or any word.
phase_end() {
  local status="${1:-ok}"
  local secs=$((SECONDS - _CANOPY_PHASE_START))
  _CANOPY_PHASE_ROWS+=("$(printf '%-44s %-8s %4dm%02ds' "$_CANOPY_PHASE_NAME" "$status" \
    $((secs / 60)) $((secs % 60)))")
  printf '%s-- %s: %s in %dm%02ds%s\n' "$_c_bold" "$_CANOPY_PHASE_NAME" "$status" \
    $((secs / 60)) $((secs % 60)) "$_c_reset"
}

phase_summary() {
  printf '\n%s== phases ====================================================================%s\n' \
    "$_c_bold" "$_c_reset"
  local row
  for row in "${_CANOPY_PHASE_ROWS[@]}"; do
    printf '   %s\n' "$row"
  done
  printf '   %-44s %-8s %4dm%02ds\n' "total" "" $((SECONDS / 60)) $((SECONDS % 60))
}

# ---- privileges and packages --------------------------------------------------

# run_privileged CMD...: runs CMD as root, through `sudo -n` when not root.
run_privileged() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n -E "$@"
  else
    die "need root to run '$*' (not root, and no sudo)"
  fi
}

# True when Debian package $1 is installed (not just known or half-removed).
package_installed() {
  local status
  status="$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" || return 1
  [[ "$status" == "installed" ]]
}

_CANOPY_APT_UPDATED=0

# ensure_packages PKG...: installs the packages that are not installed yet.
# Runs `apt-get update` once per script run, and only if something is missing.
# Set CANOPY_SKIP_PACKAGES=1 to skip (e.g. on a machine without apt).
ensure_packages() {
  if [[ "${CANOPY_SKIP_PACKAGES:-0}" == "1" ]]; then
    log_info "CANOPY_SKIP_PACKAGES=1: not checking packages"
    return 0
  fi
  command -v dpkg-query >/dev/null 2>&1 || die "ensure_packages: no dpkg here (Debian/Ubuntu only)"
  local missing=() pkg
  for pkg in "$@"; do
    package_installed "$pkg" || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log_info "packages: all $# present"
    return 0
  fi
  log_info "packages: installing ${missing[*]}"
  local apt_opts=(-y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
                  -o Dpkg::Options::=--force-confold)
  if [[ "$_CANOPY_APT_UPDATED" -eq 0 ]]; then
    run_privileged env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update </dev/null \
      || die "apt-get update failed"
    _CANOPY_APT_UPDATED=1
  fi
  run_privileged env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install \
    --no-install-recommends "${missing[@]}" </dev/null \
    || die "apt-get install failed for: ${missing[*]}"
  for pkg in "${missing[@]}"; do
    package_installed "$pkg" || die "package $pkg is still not installed"
  done
}

# The packages every canopy build needs (scripts/run and scripts/test).
CANOPY_BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libgtest-dev libgmock-dev libbenchmark-dev
  libpq-dev libflatbuffers-dev flatbuffers-compiler flatbuffers-compiler-dev
  libcli11-dev
)
# What the tests need on top: a PostgreSQL server for cdc/e2e, clang + its
# sanitizer runtimes, and the Redis clients the RESP e2e test drives
# (redis-cli, redis-rb, redis-py), and what the HTTP e2e test drives (curl,
# and promtool from the prometheus package to check the /metrics text).
CANOPY_TEST_PACKAGES=(
  postgresql-15 postgresql-client-15
  clang libclang-rt-14-dev clang-format
  redis-server redis-tools ruby ruby-redis python3 python3-redis python3-psycopg2
  curl prometheus jq
)
# What making and checking the Debian packages needs (scripts/package, the
# package phase of scripts/test): dpkg-shlibdeps and `file` for CPack's
# dependency scan, help2man for the man pages, lintian.
CANOPY_PACKAGE_PACKAGES=(
  dpkg-dev file help2man lintian
)

# ---- builds -------------------------------------------------------------------

# Parallel build jobs (the machines have 2 cores).
CANOPY_JOBS="${CANOPY_JOBS:-2}"

# Prints a command and runs it.
run() {
  printf '+ %s\n' "$*" >&2
  "$@"
}

# ---- ports ----------------------------------------------------------------------

# pick_free_port: prints a loopback TCP port nothing listens on right now
# (random in 20000..59999; another process could still take it before use).
pick_free_port() {
  local i port
  for i in $(seq 1 200); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if command -v ss >/dev/null 2>&1; then
      ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && continue
    elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      continue
    fi
    echo "$port"
    return 0
  done
  return 1
}
