#!/usr/bin/env bash
# Makes sure a Docker engine answers: the embedded default runs the EC2 host as a container.
# On a Debian or Ubuntu machine where we are root and no engine runs, it installs docker.io
# and starts it, and says so. Anywhere else it stops with one line saying how to get one.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "error: no Docker engine answers: install Docker (https://docs.docker.com/engine/install/)" \
       "or start it, and make sure \`docker info\` works for $(id -un)" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null; then
  echo "docker-engine: installing Debian's docker.io (no engine on this machine)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -q --no-install-recommends docker.io >&2; }
fi
echo "docker-engine: starting the Docker engine" >&2
if [[ -d /run/systemd/system ]]; then
  systemctl start docker
else
  # No systemd (containers, CI machines): run the daemon in the background.
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && { echo "docker-engine: the engine answers" >&2; exit 0; }
  sleep 1
done
echo "error: the Docker engine did not start within 60 s: see /var/log/dockerd.log" >&2
exit 1
