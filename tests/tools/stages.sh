#!/usr/bin/env bash
# Runs make targets one after the other as named stages, prints each stage's wall time as it
# ends, and a table of all of them at the end (also when a stage fails: the run stops there).
#
# Usage: tests/tools/stages.sh TARGET ["TARGET VAR=value ..."] ...
#   each argument is one stage: a make target, optionally followed by its variables
set -uo pipefail

names=()
seconds=()
results=()
started=$SECONDS

report() {
  printf '\n%-40s %8s  %s\n' "stage" "wall" "result"
  for i in "${!names[@]}"; do
    printf '%-40s %7ss  %s\n' "${names[$i]}" "${seconds[$i]}" "${results[$i]}"
  done
  printf '%-40s %7ss\n' "total" "$((SECONDS - started))"
}

for stage in "$@"; do
  read -r -a words <<<"$stage"
  printf '\n=== stage: %s (%s)\n' "$stage" "$(date -u +%H:%M:%S)"
  stage_start=$SECONDS
  make --no-print-directory "${words[@]}"
  status=$?
  names+=("$stage")
  seconds+=("$((SECONDS - stage_start))")
  if ((status != 0)); then
    results+=("FAILED (exit $status)")
    printf '=== stage %s failed after %ss\n' "$stage" "${seconds[-1]}"
    report
    exit "$status"
  fi
  results+=("ok")
  printf '=== stage %s done in %ss\n' "$stage" "${seconds[-1]}"
done
report
