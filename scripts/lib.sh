# shellcheck shell=bash
# Shared helpers for the service scripts in scripts/. Source it, don't run it.

# Repo root = parent of the folder holding this file; works from a tarball
# too, where there is no .git to ask.
GEOPIN_ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GEOPIN_RUN_DIR="${GEOPIN_RUN_DIR:-$GEOPIN_ROOT/.run}"
GEOPIN_CACHE_DIR="${GEOPIN_CACHE_DIR:-$GEOPIN_ROOT/.cache}"

# Name shown in messages; each script sets it before sourcing.
: "${GEOPIN_TOOL:=$(basename "$0")}"

log() { printf '%s: %s\n' "$GEOPIN_TOOL" "$*" >&2; }

die() {
    printf '%s: error: %s\n' "$GEOPIN_TOOL" "$*" >&2
    exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# pid_alive PID: true if PID names a live process.
pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# read_pid FILE: print the pid stored in FILE, or nothing.
read_pid() { if [[ -r "$1" ]]; then tr -dc '0-9' <"$1"; fi; }

# wait_for SECONDS DOTS CMD...: run CMD every WAIT_STEP s (default 1) until it succeeds.
# DOTS=1 prints a dot per try on stderr so long waits show progress.
# Returns 1 on timeout, 2 if CMD exits 2 (lets callers bail out early).
wait_for() {
    local timeout="$1" dots="$2" rc
    shift 2
    local deadline=$((SECONDS + timeout))
    while :; do
        rc=0
        "$@" || rc=$?
        if [[ $rc -eq 0 || $rc -eq 2 ]]; then
            [[ "$dots" == 1 ]] && printf '\n' >&2
            return "$rc"
        fi
        if ((SECONDS >= deadline)); then
            [[ "$dots" == 1 ]] && printf '\n' >&2
            return 1
        fi
        [[ "$dots" == 1 ]] && printf '.' >&2
        sleep "${WAIT_STEP:-1}"
    done
}

# hold_lock NAME: serialize install/start/stop of one service (two test runs
# starting it at once would race on its pidfile and data dir). Held on fd 9
# until the script exits; close fd 9 (9>&-) for daemons, or they keep it.
hold_lock() {
    local file="$GEOPIN_RUN_DIR/.$1.lock"
    mkdir -p "$GEOPIN_RUN_DIR" 2>/dev/null || true
    { exec 9>>"$file"; } 2>/dev/null || die "cannot write $file; fix its owner or set GEOPIN_RUN_DIR"
    flock -w 300 9 || die "another scripts/$1 run has held $file for 300 s; is it stuck?"
}

# apt_install PKG...: install Debian packages as root, refreshing the package
# lists once if the first try fails (fresh images ship without them).
apt_install() {
    is_root || die "need packages: $* -- run: sudo apt-get install -y $*"
    command -v apt-get >/dev/null || die "need packages: $* -- and no apt-get here; install them by hand"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may be running unattended upgrades: wait for its dpkg lock (bounded)
    # instead of failing at once.
    local -a apt=(apt-get -q -o DPkg::Lock::Timeout=600)
    log "installing: $*"
    "${apt[@]}" install -y "$@" >/dev/null ||
        { "${apt[@]}" update >/dev/null && "${apt[@]}" install -y "$@" >/dev/null; } ||
        die "apt-get install -y $* failed; run it by hand to see why"
}

# require_cmds CMD...: make sure commands exist, installing their Debian
# packages when root. Arguments are cmd or cmd:package.
require_cmds() {
    local spec missing=()
    for spec in "$@"; do
        command -v "${spec%%:*}" >/dev/null || missing+=("${spec#*:}")
    done
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# first_blocking_dir USER PATH: print the first folder on PATH's way that USER
# cannot traverse (needs x), or nothing when all are fine.
first_blocking_dir() {
    local user="$1" dir="" part
    local -a parts
    IFS=/ read -r -a parts <<<"${2#/}"
    for part in "${parts[@]}"; do
        dir="$dir/$part"
        [[ -d "$dir" ]] || break
        runuser -u "$user" -- test -x "$dir" || {
            printf '%s\n' "$dir"
            return
        }
    done
}
