#!/usr/bin/env bash
# Offline image kit for the Molecule scenarios (see README.md beside this file).
#
# Builds, without pulling anything:
#   devops-debian:trixie     debootstrap --variant=minbase trixie, imported (base of the others)
#   devops-testhost:trixie   systemd + sshd + sudo + python3 + user "ubuntu": the stand-in EC2 host
#   python:3.13-slim         stand-ins for the app's base images, from Debian 13 packages,
#   postgres:17              saved together into $KIT_CACHE_DIR/app-base-images.tar so the
#   nginx:1.27               scenarios can `docker load` them inside the test host
#
# Idempotent and cached: every image carries a label with the hash of its inputs (build
# context, CA bundle, parent image id); an image whose label matches is not rebuilt, and the
# tarball is rewritten only when the image ids inside it changed.
#
# Usage: tests/images/build.sh [--force]      (root, or a user allowed to run docker)
# Environment:
#   KIT_CACHE_DIR   where the tarball and the debootstrap rootfs go (default: <repo>/.cache/images)
#   KIT_MIRROR      Debian mirror for debootstrap and apt (default: http://deb.debian.org/debian)
#   KIT_CA_BUNDLE   CA bundle trusted inside the images (default: /etc/ssl/certs/ca-certificates.crt)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${KIT_CACHE_DIR:-$ROOT/.cache/images}"
MIRROR="${KIT_MIRROR:-http://deb.debian.org/debian}"
SUITE=trixie
CA_BUNDLE="${KIT_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
KIT_VERSION=1             # bump to force a rebuild of everything after a change in this script
LABEL=org.taskstack.kit.hash

BASE_IMAGE="devops-debian:$SUITE"
HOST_IMAGE="devops-testhost:$SUITE"
# stand-in directory => image name the app's compose file asks for
APP_IMAGES=("python=python:3.13-slim" "postgres=postgres:17" "nginx=nginx:1.27")
APP_TARBALL="$CACHE/app-base-images.tar"

FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { printf '[kit] %s\n' "$*" >&2; }
die() { printf '[kit] ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker client not found (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (start dockerd first)"
[[ -r "$CA_BUNDLE" ]] || die "CA bundle $CA_BUNDLE not readable (set KIT_CA_BUNDLE)"
mkdir -p "$CACHE"

label_of() { docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }
id_of() { docker image inspect --format '{{ .Id }}' "$1" 2>/dev/null || true; }
sha() { sha256sum | cut -c1-64; }
# hash of every file of a directory (names and contents), independent of mtimes
dir_hash() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha; }

# --- 1. base: debootstrap + docker import ----------------------------------------------------
build_base() {
  local want have
  want="$(printf 'v%s %s %s minbase' "$KIT_VERSION" "$SUITE" "$MIRROR" | sha)"
  have="$(label_of "$BASE_IMAGE")"
  if [[ $FORCE == 0 && "$have" == "$want" ]]; then
    log "$BASE_IMAGE up to date"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
  [[ $(id -u) == 0 ]] || die "debootstrap needs root"
  local rootfs="$CACHE/rootfs-$SUITE"
  rm -rf "$rootfs"
  log "debootstrap --variant=minbase $SUITE from $MIRROR (about 30-60 s)"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  # a container rootfs: no package caches, apt lists or machine id baked in
  printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  : >"$rootfs/etc/machine-id"
  # like Debian's official images: services are not started by package installs during a build
  # (the test host image removes this again), and no docs or man pages are installed
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-excludes"
  printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  log "docker import -> $BASE_IMAGE"
  tar -C "$rootfs" -c . | docker import \
    --change "LABEL $LABEL=$want" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

# --- 2. images built from a directory of this kit on top of the base ------------------------
# The context is the directory plus ca/: this machine's CA bundle split into one file per
# certificate (update-ca-certificates and OpenSSL's hashed directory expect one per file).
make_context() {
  local src="$1" ctx="$2"
  rm -rf "$ctx"
  mkdir -p "$ctx/ca"
  cp -a "$src/." "$ctx/"
  awk -v dir="$ctx/ca" '
    /-----BEGIN CERTIFICATE-----/ { n++; file = sprintf("%s/host-ca-%03d.crt", dir, n) }
    file { print > file }
    /-----END CERTIFICATE-----/ { close(file); file = "" }
  ' "$CA_BUNDLE"
}

# build_image DIR NAME: rebuild NAME from DIR when the inputs' hash differs from its label
build_image() {
  local dir="$1" name="$2" want have ctx
  want="$( { echo "v$KIT_VERSION"; id_of "$BASE_IMAGE"; dir_hash "$dir"; sha <"$CA_BUNDLE"; echo "$MIRROR"; } | sha)"
  have="$(label_of "$name")"
  if [[ $FORCE == 0 && "$have" == "$want" ]]; then
    log "$name up to date"
    return
  fi
  if [[ -n "$(id_of "$name")" && -z "$have" && $FORCE == 0 ]]; then
    # a real image of that name (pulled on a connected machine): keep it, it honours the contract
    log "$name exists and was not built by this kit: using it as is (--force replaces it)"
    return
  fi
  ctx="$CACHE/context/$(basename "$dir")"
  make_context "$dir" "$ctx"
  log "building $name from tests/images/$(basename "$dir")"
  DOCKER_BUILDKIT=0 docker build --quiet \
    --build-arg "BASE=$BASE_IMAGE" --build-arg "MIRROR=$MIRROR" \
    --label "$LABEL=$want" -t "$name" "$ctx" >"$CACHE/build-$(basename "$dir").log" 2>&1 \
    || { tail -30 "$CACHE/build-$(basename "$dir").log" >&2; die "build of $name failed"; }
  rm -rf "$ctx"
}

# --- 3. docker save of the app's base images, for `docker load` inside the test host --------
save_app_images() {
  local names=() ids spec
  for spec in "${APP_IMAGES[@]}"; do names+=("${spec#*=}"); done
  ids="$(for n in "${names[@]}"; do echo "$n $(id_of "$n")"; done)"
  if [[ $FORCE == 0 && -s "$APP_TARBALL" && -f "$APP_TARBALL.ids" && "$(cat "$APP_TARBALL.ids")" == "$ids" ]]; then
    log "$(basename "$APP_TARBALL") up to date"
    return
  fi
  log "docker save ${names[*]} -> $APP_TARBALL"
  docker save -o "$APP_TARBALL.tmp" "${names[@]}"
  mv "$APP_TARBALL.tmp" "$APP_TARBALL"
  echo "$ids" >"$APP_TARBALL.ids"
}

start=$SECONDS
build_base
build_image "$HERE/testhost" "$HOST_IMAGE"
for spec in "${APP_IMAGES[@]}"; do
  build_image "$HERE/${spec%%=*}" "${spec#*=}"
done
save_app_images
rmdir "$CACHE/context" 2>/dev/null || true
log "kit ready in $((SECONDS - start)) s: $HOST_IMAGE, ${APP_IMAGES[*]#*=} ($APP_TARBALL)"
