#!/usr/bin/env bash
# What `make demo` needs from the machine, beyond Python: a Python that makes venvs, the SSH
# client Ansible connects with, the CA bundle the images trust, a Docker engine that answers
# (the EC2 host is a container) and, to build the host image once, debootstrap with Debian's
# archive keyring (nothing is pulled: the image is built from Debian's packages).
#
# As root on Debian or Ubuntu it installs every missing package in one apt-get call, starts
# the engine, and says what it did. Anywhere else it stops with one message that lists every
# missing prerequisite and the one command that sets them all up.
#
# Usage: embedded/prerequisites.sh [--check]   (--check: report only, install nothing)
# Environment: PYTHON, KIT_CA_BUNDLE (as tests/images/build.sh), DOCKERD_LOG; for tests,
# PREREQ_SBIN_DIRS and PREREQ_DEBIAN_KEYRING replace the system locations.
set -euo pipefail

CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1
PYTHON="${PYTHON:-python3}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
CA_BUNDLE="${KIT_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
DEBIAN_KEYRING="${PREREQ_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"
BASE_IMAGE=taskstack-debian:trixie  # tests/images/build.sh's first image: needs debootstrap
# debootstrap and dockerd live in sbin, which a normal user's PATH on Debian leaves out.
PATH="$PATH:${PREREQ_SBIN_DIRS-/usr/local/sbin:/usr/sbin:/sbin}"

say() { printf 'prerequisites: %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }
is_root() { [[ $(id -u) == 0 ]]; }
in_docker_group() { id -nG | tr ' ' '\n' | grep -qx docker; }
engine_answers() { docker info >/dev/null 2>&1; }
host_image_built() { engine_answers && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; }

missing_packages=()  # Debian package names
missing_reasons=()   # one short phrase each, same order
need() { missing_packages+=("$1"); missing_reasons+=("$2"); }

find_missing_packages() {
  # Debian's python3 lacks ensurepip until python3-venv is installed; `venv` alone imports.
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null \
    || need python3-venv "$PYTHON -m venv (the project's .venv)"
  command -v ssh >/dev/null || need openssh-client "ssh (Ansible's connection to the host)"
  [[ -r "$CA_BUNDLE" ]] || need ca-certificates "the CA bundle $CA_BUNDLE (trusted in the images)"
  # docker.io brings both the client and dockerd.
  if ! engine_answers && ! { command -v dockerd >/dev/null && command -v docker >/dev/null; }; then
    need docker.io "a Docker engine (the EC2 host is a container)"
  fi
  # Root may need to rebuild the host image any time; others only until it exists.
  if is_root || ! host_image_built; then
    command -v debootstrap >/dev/null || need debootstrap "debootstrap (builds the host image)"
    [[ -r "$DEBIAN_KEYRING" ]] \
      || need debian-archive-keyring "Debian's archive keyring (debootstrap checks the packages)"
  fi
}

# One line: every problem, then the one command that sets them all up.
report_and_stop() {
  local problems=() fix=()
  ((${#missing_reasons[@]})) && problems+=("${missing_reasons[@]}")
  local engine_missing=0
  [[ " ${missing_packages[*]} " == *" docker.io "* ]] && engine_missing=1
  if ((engine_missing == 0)) && ! engine_answers; then
    if ! is_root && ! in_docker_group; then
      problems+=("access to the Docker engine for $(id -un) (the docker group)")
    else
      problems+=("a running Docker engine")
    fi
  fi
  if ! is_root && engine_answers && ! host_image_built; then
    problems+=("the host image, built once as root (debootstrap needs root)")
  fi
  ((${#problems[@]} == 0)) && exit 0
  if command -v apt-get >/dev/null; then
    # As root, the same script installs the packages and starts the engine; build.sh follows.
    fix+=("sudo make host-images")
  else
    ((${#missing_packages[@]})) \
      && fix+=("install ${missing_packages[*]} (or your distribution's names) with your package manager")
    engine_answers || fix+=("start Docker")
    host_image_built || fix+=("sudo make host-images")
  fi
  if ! is_root && ! in_docker_group; then
    fix+=("sudo usermod -aG docker $(id -un) (then log in again)")
  fi
  local joined_problems joined_fix
  joined_problems="$(printf '%s, ' "${problems[@]}")"
  joined_fix="$(printf '%s && ' "${fix[@]}")"
  printf 'error: make demo needs: %s. Run: %s\n' \
    "${joined_problems%, }" "${joined_fix% && }" >&2
  exit 1
}

install_missing_packages() {
  ((${#missing_packages[@]})) || return 0
  say "installing ${missing_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for an apt run already going (cloud-init or unattended-upgrades at first boot).
  local apt=(apt-get -o DPkg::Lock::Timeout=300 -y -q --no-install-recommends)
  # Lists may be absent or too old for the archive: refresh them once if the install fails.
  if ! "${apt[@]}" install "${missing_packages[@]}" >/dev/null 2>&1; then
    "${apt[@]}" update >/dev/null \
      && "${apt[@]}" install "${missing_packages[@]}" >/dev/null \
      || fail "apt-get could not install ${missing_packages[*]} (its messages are above)"
  fi
  say "installed ${missing_packages[*]}"
}

start_engine() {
  engine_answers && return 0
  say "starting the Docker engine"
  local logs="$DOCKERD_LOG"
  if [[ -d /run/systemd/system ]]; then
    logs="journalctl -u docker"
    systemctl start docker || fail "systemctl start docker failed: see $logs"
  else
    # No systemd (containers, CI machines): run the daemon in the background, in a session of
    # its own, so that the end of the shell or job that started it does not take it along.
    setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  for _ in $(seq 60); do
    engine_answers && { say "the Docker engine answers"; return 0; }
    sleep 1
  done
  fail "the Docker engine did not start within 60 s: see $logs"
}

find_missing_packages
if ! is_root || ! command -v apt-get >/dev/null || ((CHECK_ONLY)); then
  report_and_stop
fi
install_missing_packages
start_engine
