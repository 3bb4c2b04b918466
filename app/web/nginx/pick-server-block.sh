#!/bin/sh
# Prints the server block file for the nginx whose `nginx -v` output is $1 (web/Dockerfile):
# default.conf, whose upstream keeps connections to the api open and needs `resolve` (nginx
# 1.27.3 and newer), else default-legacy.conf. An unreadable version fails the build.
set -eu
version="$(printf '%s\n' "$1" | sed -n 's|^nginx version: nginx/\([0-9][0-9.]*\).*|\1|p')"
if [ -z "$version" ]; then
    echo "pick-server-block.sh: no nginx version in: $1" >&2
    exit 1
fi
if [ "$(printf '%s\n' 1.27.3 "$version" | sort -V | head -n 1)" = 1.27.3 ]; then
    echo default.conf
else
    echo default-legacy.conf
fi
