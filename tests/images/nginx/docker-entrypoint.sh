#!/bin/sh
# Minimal version of the official image's entrypoint: run /docker-entrypoint.d/*.sh, render
# /etc/nginx/templates/*.template into /etc/nginx/conf.d with envsubst (only variables that
# are set are substituted), then exec the command.
set -e
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    for script in /docker-entrypoint.d/*.sh; do
        [ -x "$script" ] && "$script"
    done
    template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
    suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
    output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
    if [ -d "$template_dir" ]; then
        defined_envs=$(printf '${%s} ' $(env | cut -d= -f1))
        for template in "$template_dir"/*"$suffix"; do
            [ -f "$template" ] || continue
            output="$output_dir/$(basename "$template" "$suffix")"
            envsubst "$defined_envs" <"$template" >"$output"
        done
    fi
fi
exec "$@"
