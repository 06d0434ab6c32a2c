#!/usr/bin/env bash
# Make this machine ready to build and test: system packages (Docker, docker-compose,
# debootstrap, a registry, wrk), a running dockerd, and the .venv with the package and its
# test dependencies. Idempotent and quick when everything is there. Needs root for apt-get
# and dockerd when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
VENV="${VENV:-.venv}"

log() { echo "== $(date +%T) $*"; }

install_system_packages() {
    local -A package_of=(
        [dockerd]=docker.io [docker-compose]=docker-compose [debootstrap]=debootstrap
        [docker-registry]=docker-registry [wrk]=wrk [make]=make [curl]=curl
    )
    local missing=() command
    for command in "${!package_of[@]}"; do
        command -v "$command" >/dev/null || missing+=("${package_of[$command]}")
    done
    python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
    if ((${#missing[@]})); then
        log "apt-get install ${missing[*]}"
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

start_dockerd() {
    docker info >/dev/null 2>&1 && return 0
    log "starting dockerd (log: /tmp/dockerd.log)"
    nohup dockerd >/tmp/dockerd.log 2>&1 &
    local second
    for second in $(seq 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 1
    done
    tail -n 30 /tmp/dockerd.log >&2
    echo "dockerd did not come up in 60 s" >&2
    return 1
}

create_venv() {
    local stamp="$VENV/.installed"
    if [[ -f "$stamp" && "$stamp" -nt pyproject.toml && "$stamp" -nt .ci/requirements.txt ]]; then
        return 0
    fi
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
    log "pip install -e .[test] into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]' -r .ci/requirements.txt
    touch "$stamp"
}

install_system_packages
start_dockerd
create_venv
