#!/usr/bin/env bash
# Runs make targets one after the other as named stages, prints each stage's wall time as it
# ends, and a table of all of them at the end (also when a stage fails: the run stops there).
#
# Usage: tests/tools/stages.sh TARGET ["TARGET VAR=value ..."] ["TARGET + TARGET ..."] ...
#   each argument is one stage: a make target, optionally followed by its variables; two of
#   them joined by " + " run side by side as one stage (the first one's output is printed when
#   both have ended, so that the log reads in order), which fails if either fails
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

run_target() {
  local words
  read -r -a words <<<"$1"
  make --no-print-directory "${words[@]}"
}

# "A + B": A in the background, its output kept aside, B in the foreground.
run_side_by_side() {
  local beside=${1%% + *} main=${1#* + } log status beside_status
  log=$(mktemp)
  run_target "$beside" >"$log" 2>&1 &
  local pid=$!
  run_target "$main"
  status=$?
  wait "$pid"
  beside_status=$?
  printf -- '--- %s, run beside %s:\n' "$beside" "$main"
  cat "$log"
  rm -f "$log"
  ((status != 0)) && return "$status"
  return "$beside_status"
}

for stage in "$@"; do
  printf '\n=== stage: %s (%s)\n' "$stage" "$(date -u +%H:%M:%S)"
  stage_start=$SECONDS
  if [[ $stage == *" + "* ]]; then
    run_side_by_side "$stage"
  else
    run_target "$stage"
  fi
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
