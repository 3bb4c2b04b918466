#!/usr/bin/env bash
# Installs the Docker Compose v2 CLI plugin on a controller whose distribution lacks it
# (Debian 12 ships only the old docker-compose 1.29). The binary comes from Debian 13's
# docker-compose package, fetched with a private apt state: the system's sources are unchanged.
# Needs root. Usage: tests/tools/install-compose-v2.sh [PLUGIN_DIR]
set -euo pipefail

PLUGIN_DIR="${1:-/usr/local/lib/docker/cli-plugins}"
MIRROR="${COMPOSE_MIRROR:-http://deb.debian.org/debian}"

if docker compose version >/dev/null 2>&1; then
  echo "compose: $(docker compose version --short) already available"
  exit 0
fi
[[ $(id -u) == 0 ]] || { echo "compose: run as root to install the plugin" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial"
printf 'deb %s trixie main\n' "$MIRROR" >"$work/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
             -o "APT::Sandbox::User=root"
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives")
apt-get -q "${apt_private[@]}" update >/dev/null
(cd "$work" && apt-get -q "${apt_private[@]}" download docker-compose >/dev/null)
dpkg-deb -x "$work"/docker-compose_*.deb "$work/root"
binary="$(find "$work/root" -type f -name docker-compose -perm -u+x | head -1)"
[[ -n "$binary" ]] || { echo "compose: no binary in Debian 13's docker-compose package" >&2; exit 1; }
install -D -m 0755 "$binary" "$PLUGIN_DIR/docker-compose"
echo "compose: installed $("$PLUGIN_DIR/docker-compose" version --short) into $PLUGIN_DIR"
