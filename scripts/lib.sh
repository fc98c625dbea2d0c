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
# lists once if the first try fails (fresh images ship without them). While another
# install holds the dpkg or package-list lock (unattended upgrades on a fresh machine),
# apt-get waits for it up to GEOPIN_APT_LOCK_WAIT_S seconds (300) instead of failing.
apt_install() {
    is_root || die "need packages: $* -- run: sudo apt-get install -y $*"
    command -v apt-get >/dev/null || die "need packages: $* -- and no apt-get here; install them by hand"
    export DEBIAN_FRONTEND=noninteractive
    local wait=(-o "DPkg::Lock::Timeout=${GEOPIN_APT_LOCK_WAIT_S:-300}")
    log "installing: $*"
    apt-get "${wait[@]}" install -y -q "$@" >/dev/null ||
        { apt-get "${wait[@]}" update -q >/dev/null && apt-get "${wait[@]}" install -y -q "$@" >/dev/null; } ||
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

# local_url VAR SCHEME PORT PORT_VAR [PATH]: the URL of the server this script runs on
# 127.0.0.1:PORT, for the processes to use: VAR's value when it names that server (host
# 127.0.0.1 or localhost, that port), SCHEME://127.0.0.1:PORT[PATH] when VAR is unset. A URL
# naming another server is refused: the processes would use it while the server started
# here sat unused. Call it as `x="$(local_url ...)"`, never inside `export`, which would
# hide its failure.
local_url() {
    local var="$1" scheme="$2" port="$3" port_var="$4" path="${5:-}"
    local url="${!var:-}"
    if [[ -z "$url" ]]; then
        printf '%s://127.0.0.1:%s%s\n' "$scheme" "$port" "$path"
        return
    fi
    local authority="${url#*://}"
    authority="${authority%%/*}"
    authority="${authority##*@}"
    local host="${authority%:*}" given="${authority##*:}"
    if [[ "$authority" != *:* ]]; then
        case "${url%%://*}" in redis) given=6379 ;; https) given=443 ;; *) given=80 ;; esac
    fi
    if [[ ("$host" == 127.0.0.1 || "$host" == localhost) && "$given" == "$port" ]]; then
        printf '%s\n' "$url"
        return
    fi
    die "$var=$url is not the server this script runs (127.0.0.1:$port); unset it, or set $port_var to its port"
}
