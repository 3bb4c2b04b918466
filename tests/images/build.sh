#!/usr/bin/env bash
# Offline image kit for the Molecule scenarios (see README.md beside this file).
#
# Builds, without pulling anything:
#   taskstack-debian:trixie     debootstrap --variant=minbase trixie, imported (base of the others)
#   taskstack-testhost:trixie   systemd + sshd + sudo + python3 + cloud-init + user "ubuntu": the
#                               stand-in EC2 host
#   localhost/taskstack-kit/python:3.13-slim  stand-ins for the app's base images, from
#   localhost/taskstack-kit/postgres:17       Debian 13 packages, saved together into
#   localhost/taskstack-kit/nginx:1.27        $KIT_CACHE_DIR/app-base-images.tar so that the
#                                             scenarios can `docker load` them inside the host
# and, beside the tarball, app-base-images.json: what it holds, including the Compose
# variables (TASKAPP_*_IMAGE) that make the app use those names. The names are written in this
# script only; the emulator, the scenarios and the tests read that file (or `--names`).
#
# The stand-ins never carry the official names (postgres:17...): on the user's own engine these
# would replace the real images for every other project. A stand-in that an earlier kit tagged
# with an official name loses that tag, only when its image id proves it is the kit's own image
# (see retire_official_names).
#
# Idempotent and cached: every image carries a label with the hash of its inputs (build
# context, CA bundle, parent image id); an image whose label matches is not rebuilt, and the
# tarball is rewritten only when the image names or ids inside it changed.
#
# Usage: tests/images/build.sh [--force]   (root, or a user allowed to run docker)
#        tests/images/build.sh --names     print app-base-images.json's content and exit
#                                          (needs neither Docker nor root)
# Under sudo, the cache goes back to the user who ran sudo, and the archive is readable by all:
# that user's own later runs, `make demo` included, read and write it without root.
# Environment:
#   KIT_CACHE_DIR   where the tarball and the debootstrap rootfs go (default: <repo>/.cache/images)
#   KIT_MIRROR      Debian mirror for debootstrap and apt (default: http://deb.debian.org/debian)
#   KIT_CA_BUNDLE   CA bundle trusted inside the images (default: /etc/ssl/certs/ca-certificates.crt)
#   KIT_LOCK        the machine-wide lock file of kit builds (default: /tmp/taskstack-kit.lock)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${KIT_CACHE_DIR:-$ROOT/.cache/images}"
MIRROR="${KIT_MIRROR:-http://deb.debian.org/debian}"
SUITE=trixie
# trixie's version: the stand-in host's settings in roles/docker_engine are vars/Debian-13.yml.
SUITE_VERSION=13
CA_BUNDLE="${KIT_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
# Bump to force a rebuild of everything after a change in this script. Not bumped for the base
# without docs (2026-12-03): a kit built before stays valid, and a rebuild of the base needs
# root, which a user's later `make demo` runs do not have.
KIT_VERSION=1
LABEL=org.taskstack.kit.hash

BASE_IMAGE="taskstack-debian:$SUITE"
HOST_IMAGE="taskstack-testhost:$SUITE"
# The namespace of the app's stand-ins. "localhost/" is a registry part that never leads to
# Docker Hub: an engine that lacks a stand-in fails to pull it, rather than fetching whatever
# someone may publish under that name.
KIT_NAMESPACE=localhost/taskstack-kit
# stand-in folder, the variable of app/compose.yaml that takes it, the official image it stands
# in for (compose.yaml's default); the stand-in's name is $KIT_NAMESPACE/<official image>
APP_IMAGES=(
  "python TASKAPP_PYTHON_IMAGE python:3.13-slim"
  "postgres TASKAPP_POSTGRES_IMAGE postgres:17"
  "nginx TASKAPP_NGINX_IMAGE nginx:1.27"
)
APP_TARBALL="$CACHE/app-base-images.tar"
APP_DESCRIPTION="$CACHE/app-base-images.json"

# The description of the tarball (JSON):
#   namespace      the stand-ins' namespace
#   archive        the tarball's file name
#   env            {TASKAPP_*_IMAGE: stand-in}: the app's env file entries that use the stand-ins
#   stands_in_for  {TASKAPP_*_IMAGE: official image}
#   images         every image this script builds
describe() {
  local spec dir var official env=() official_of=() images=("\"$BASE_IMAGE\"" "\"$HOST_IMAGE\"")
  for spec in "${APP_IMAGES[@]}"; do
    read -r dir var official <<<"$spec"
    env+=("    \"$var\": \"$KIT_NAMESPACE/$official\"")
    official_of+=("    \"$var\": \"$official\"")
    images+=("\"$KIT_NAMESPACE/$official\"")
  done
  printf '{\n  "namespace": "%s",\n  "archive": "%s",\n' "$KIT_NAMESPACE" "${APP_TARBALL##*/}"
  printf '  "env": {\n%s\n  },\n' "$(join $',\n' "${env[@]}")"
  printf '  "stands_in_for": {\n%s\n  },\n' "$(join $',\n' "${official_of[@]}")"
  printf '  "images": [%s]\n}\n' "$(join ', ' "${images[@]}")"
}
# join SEPARATOR WORD...: the words with the separator between them
join() {
  local sep="$1" out="$2"
  shift 2
  for word; do out+="$sep$word"; done
  printf '%s' "$out"
}

FORCE=0
case "${1:-}" in
  "") ;;
  --force) FORCE=1 ;;
  --names) describe; exit 0 ;;
  *) printf 'usage: %s [--force | --names]\n' "$0" >&2; exit 2 ;;
esac

log() { printf '[kit] %s\n' "$*" >&2; }
die() { printf '[kit] ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker client not found (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (start dockerd first)"
[[ -r "$CA_BUNDLE" ]] || die "CA bundle $CA_BUNDLE not readable (set KIT_CA_BUNDLE)"

# The folders above the cache that this run creates (<repo>/.cache the first time).
created=()
folder="$(dirname "$CACHE")"
while [[ ! -e "$folder" ]]; do created+=("$folder"); folder="$(dirname "$folder")"; done
mkdir -p "$CACHE"

# Under sudo (`sudo make host-images`, what non-root users run once), root's files would lock
# the user who ran sudo out of the cache: their later runs could not rewrite it. So the cache,
# and the folders above it that this run created, go back to that user, on every exit (a failed
# build leaves nothing of root's behind either).
hand_back() {
  [[ -n "${SUDO_UID:-}" && -n "${SUDO_GID:-}" && "$(id -u)" == 0 ]] || return 0
  chown -R "$SUDO_UID:$SUDO_GID" "$CACHE" "${created[@]}" 2>/dev/null \
    || log "WARNING: could not give $CACHE back to uid $SUDO_UID" \
      "(run: sudo chown -R $SUDO_UID:$SUDO_GID $CACHE)"
}
trap hand_back EXIT

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
  [[ $(id -u) == 0 ]] || die "the kit's base image needs building, as root: sudo make host-images"
  command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"
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
  # debootstrap installed its packages before those excludes existed: the same files go now
  # (42 % of the base's files, 46 of its 129 MB). Each test host `docker load`s the base with
  # the app's stand-ins, and dockerd's time there grows with the number of files (~4.5 s of CPU
  # for this base before, on 2 vCPUs).
  if [[ -d $rootfs/usr/share/doc ]]; then
    find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  fi
  if [[ -d $rootfs/usr/share/locale ]]; then
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  fi
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
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

# build_image DIR NAME [ARG=VALUE...]: rebuild NAME from DIR when the inputs' hash (the build
# arguments given included) differs from its label
build_image() {
  local dir="$1" name="$2" want have ctx arg build_args=()
  shift 2
  for arg; do build_args+=(--build-arg "$arg"); done
  want="$( { echo "v$KIT_VERSION"; id_of "$BASE_IMAGE"; dir_hash "$dir"; sha <"$CA_BUNDLE"; echo "$MIRROR"; printf '%s\n' "$@"; } | sha)"
  have="$(label_of "$name")"
  if [[ $FORCE == 0 && "$have" == "$want" ]]; then
    log "$name up to date"
    return
  fi
  ctx="$CACHE/context/$(basename "$dir")"
  make_context "$dir" "$ctx"
  log "building $name from tests/images/$(basename "$dir")"
  DOCKER_BUILDKIT=0 docker build --quiet \
    --build-arg "BASE=$BASE_IMAGE" --build-arg "MIRROR=$MIRROR" "${build_args[@]}" \
    --label "$LABEL=$want" -t "$name" "$ctx" >"$CACHE/build-$(basename "$dir").log" 2>&1 \
    || { tail -30 "$CACHE/build-$(basename "$dir").log" >&2; die "build of $name failed"; }
  rm -rf "$ctx"
}

# The packages roles/docker_engine installs on the stand-in host: its list for the
# distribution's packages on Debian $SUITE_VERSION and the Python libraries of its defaults, each
# a YAML list of plain names under its key (read here, so that the role stays their one source).
engine_packages() {
  yaml_list docker_engine_os_distribution_packages \
    "$ROOT/roles/docker_engine/vars/Debian-$SUITE_VERSION.yml"
  yaml_list docker_engine_python_packages "$ROOT/roles/docker_engine/defaults/main.yml"
}
# yaml_list KEY FILE: the items of the top-level list KEY of FILE, one per line
yaml_list() {
  awk -v key="$1:" '$1 == key { on = 1; next } on && /^ *- / { print $2; next } { on = 0 }' "$2"
}

# Kits before this one tagged the stand-ins with the official names, replacing the real images
# on this engine. Such a tag is removed only from the kit's own image. The kit's label alone
# does not prove that: an image built FROM a stand-in inherits its labels, and a user may have
# tagged such an image with the official name. The image id does: any other image, even one
# that adds no layer (a new CMD, ENV...), has a config of its own and so an id of its own.
# The official name's image is the kit's own when its id is
#   - the stand-in's ($KIT_NAMESPACE/...): both names tag one image, and removing the official
#     tag removes a name, never an image;
#   - or the id the kit itself recorded for that name when it saved it ($APP_TARBALL.ids:
#     earlier kits saved the stand-ins under the official names). The image is given the
#     stand-in's name first when that name is free, so that it keeps a name.
# A real image (pulled or loaded: no kit label) and a user's own image keep their tag.
retire_official_names() {
  local spec dir var official name id saved err
  for spec in "${APP_IMAGES[@]}"; do
    read -r dir var official <<<"$spec"
    name="$KIT_NAMESPACE/$official"
    [[ -n "$(label_of "$official")" ]] || continue
    id="$(id_of "$official")"
    saved="$(awk -v name="$official" '$1 == name { print $2 }' "$APP_TARBALL.ids" 2>/dev/null || true)"
    if [[ "$id" != "$(id_of "$name")" && "$id" != "$saved" ]]; then
      log "$official carries the kit's label but is not the kit's own image" \
        "(an image built FROM a stand-in?): left alone"
      continue
    fi
    [[ -n "$(id_of "$name")" ]] || docker tag "$official" "$name"
    if err="$(docker image rm "$official" 2>&1 >/dev/null)"; then
      log "$official was an earlier kit's stand-in: tag removed (now $name)"
    else
      log "WARNING: $official, an earlier kit's stand-in, keeps its tag: ${err//$'\n'/ }" \
        "(remove it yourself: docker image rm $official)"
    fi
  done
}

# --- 3. docker save of the app's base images, for `docker load` inside the test host --------
save_app_images() {
  local names=() ids spec dir var official
  for spec in "${APP_IMAGES[@]}"; do
    read -r dir var official <<<"$spec"
    names+=("$KIT_NAMESPACE/$official")
  done
  ids="$(for n in "${names[@]}"; do echo "$n $(id_of "$n")"; done)"
  if [[ $FORCE == 0 && -s "$APP_TARBALL" && -f "$APP_TARBALL.ids" && "$(cat "$APP_TARBALL.ids")" == "$ids" ]]; then
    log "${APP_TARBALL##*/} up to date"
  else
    # The description goes first and comes back last: it never names images the tarball lacks.
    rm -f "$APP_DESCRIPTION"
    log "docker save ${names[*]} -> $APP_TARBALL"
    docker save -o "$APP_TARBALL.tmp" "${names[@]}"
    mv "$APP_TARBALL.tmp" "$APP_TARBALL"
    echo "$ids" >"$APP_TARBALL.ids"
  fi
  if [[ "$(cat "$APP_DESCRIPTION" 2>/dev/null)" != "$(describe)" ]]; then
    describe >"$APP_DESCRIPTION.tmp"
    mv "$APP_DESCRIPTION.tmp" "$APP_DESCRIPTION"
    log "${APP_DESCRIPTION##*/} written"
  fi
  readable_by_all "$APP_TARBALL" "$APP_TARBALL.ids" "$APP_DESCRIPTION"
}

# `docker save -o` writes mode 0600, and so did earlier kits, whose archive may be up to date:
# the files are made readable by all, for a user who runs `make demo` (embedded/hosts.py's
# `docker cp`) after the kit was built as root.
readable_by_all() {
  local file
  for file; do
    [[ "$(stat -c %a "$file")" != 644 ]] || continue
    chmod 0644 "$file" 2>/dev/null \
      || log "WARNING: $file is not readable by all (run: sudo chmod 0644 $file)"
  done
}

# One build at a time on this machine: the images and their tags are the engine's, shared by
# every clone, and `make test` runs two stages side by side, each with its own `make
# host-images` (the README's test in a clone of its own). The second waits, then finds the kit
# up to date. The lock file is opened read-only when it exists: another user may own it.
lock_the_kit() {
  local lock="${KIT_LOCK:-/tmp/taskstack-kit.lock}"
  command -v flock >/dev/null || return 0
  [[ -e $lock ]] || (umask 0 && : >>"$lock") 2>/dev/null || true
  [[ -r $lock ]] || { log "WARNING: cannot read $lock: building without the lock"; return 0; }
  exec 9<"$lock"
  flock -n 9 && return 0
  log "another kit build runs on this machine: waiting for it"
  flock 9
}

lock_the_kit
start=$SECONDS
build_base
mapfile -t engine_debs < <(engine_packages)
((${#engine_debs[@]})) || die "no package list found in roles/docker_engine for Debian $SUITE_VERSION"
build_image "$HERE/testhost" "$HOST_IMAGE" "ENGINE_PACKAGES=${engine_debs[*]}"
retire_official_names
for spec in "${APP_IMAGES[@]}"; do
  read -r dir var official <<<"$spec"
  build_image "$HERE/$dir" "$KIT_NAMESPACE/$official"
done
save_app_images
rmdir "$CACHE/context" 2>/dev/null || true
log "kit ready in $((SECONDS - start)) s: $HOST_IMAGE, the app's base images in $APP_TARBALL" \
  "(described in ${APP_DESCRIPTION##*/})"
