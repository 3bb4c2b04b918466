#!/usr/bin/env bash
# What `make demo` needs from the machine, beyond Python: a Python that makes venvs, the SSH
# client Ansible connects with, debootstrap (the host image is built locally, nothing is
# pulled) and a Docker engine that answers (the EC2 host is a container).
#
# As root on Debian or Ubuntu it installs every missing package in one apt-get call, starts
# the engine, and says what it did. Anywhere else it stops with one message that lists every
# missing prerequisite and the one command that installs them all.
#
# Usage: embedded/prerequisites.sh [--check]   (--check: report only, install nothing)
set -euo pipefail

CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1
PYTHON="${PYTHON:-python3}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"

say() { printf 'prerequisites: %s\n' "$*" >&2; }

missing_packages=()  # Debian package names
missing_reasons=()   # one short phrase each, same order
need() { missing_packages+=("$1"); missing_reasons+=("$2"); }

# Debian's python3 lacks ensurepip until python3-venv is installed; `venv` alone imports.
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null \
  || need python3-venv "$PYTHON -m venv (the project's .venv)"
command -v ssh >/dev/null || need openssh-client "ssh (Ansible's connection to the host)"
command -v debootstrap >/dev/null || need debootstrap "debootstrap (builds the host image)"
# docker.io brings both the client and dockerd.
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  docker info >/dev/null 2>&1 || need docker.io "a Docker engine (the EC2 host is a container)"
fi

engine_answers() { docker info >/dev/null 2>&1; }

start_engine() {
  engine_answers && return 0
  say "starting the Docker engine"
  if [[ -d /run/systemd/system ]]; then
    systemctl start docker
  else
    # No systemd (containers, CI machines): run the daemon in the background.
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  fi
  for _ in $(seq 60); do
    engine_answers && { say "the Docker engine answers"; return 0; }
    sleep 1
  done
  say "ERROR: the Docker engine did not start within 60 s: see $DOCKERD_LOG"
  exit 1
}

# The one command that sets all of it up: this script as root, then the image kit.
report_and_stop() {
  local problems=("${missing_reasons[@]}") fix
  if ((${#missing_packages[@]} == 0)) && ! engine_answers; then
    problems+=("a Docker engine that answers for $(id -un)")
  fi
  if [[ $(id -u) != 0 ]] && engine_answers \
     && ! docker image inspect devops-debian:trixie >/dev/null 2>&1; then
    problems+=("the host image, built once as root (debootstrap needs root)")
  fi
  ((${#problems[@]} == 0)) && exit 0
  if command -v apt-get >/dev/null; then
    fix="sudo make host-images"
    if [[ $(id -u) != 0 ]] && ! id -nG | grep -qw docker; then
      fix+=" && sudo usermod -aG docker $(id -un) (then log in again)"
    fi
  else
    fix="install ${missing_packages[*]:-Docker} with your package manager and start Docker"
  fi
  local IFS=$'\x1f'
  printf 'error: make demo needs: %s. Run: %s\n' "$(echo "${problems[*]}" | sed $'s/\x1f/, /g')" "$fix" >&2
  exit 1
}

can_install() { [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null && ((CHECK_ONLY == 0)); }
can_install || report_and_stop

if ((${#missing_packages[@]})); then
  say "installing ${missing_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A machine's package lists may be absent or too old for the archive: refresh on failure.
  apt-get install -y -q --no-install-recommends "${missing_packages[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null \
         && apt-get install -y -q --no-install-recommends "${missing_packages[@]}" >/dev/null; }
  say "installed ${missing_packages[*]}"
fi
start_engine
