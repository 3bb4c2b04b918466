#!/usr/bin/env bash
# Runs make targets one after the other as named stages, prints each stage's wall time as it
# ends, and a table of all of them at the end (also when a stage fails: the run stops there).
#
# Usage: tests/tools/stages.sh TARGET ["TARGET VAR=value ..."] ["TARGET + TARGET ..."] ...
#   each argument is one stage: a make target, optionally followed by its variables; several
#   joined by " + " run side by side as one stage (the output of all but the last is printed
#   when they have all ended, so that the log reads in order), which fails if any fails
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

# "A + B + C": every target but the last in the background, each one's output kept aside, the
# last in the foreground; then the others' output, in order.
# Each target in the background writes its own exit status to a file: `wait PID` answered 127
# ("pid ... is not a child of this shell") in one CI run for a target that had ended minutes
# before, whose status bash no longer kept. No status file: the target was killed (1).
run_side_by_side() {
  local targets=() rest=$1 main logs=() codes=() status beside_status=0 code i
  while [[ $rest == *" + "* ]]; do
    targets+=("${rest%% + *}")
    rest=${rest#* + }
  done
  main=$rest
  for i in "${!targets[@]}"; do
    logs+=("$(mktemp)")
    codes+=("$(mktemp)")
    {
      run_target "${targets[$i]}"
      echo $? >"${codes[$i]}"
    } >"${logs[$i]}" 2>&1 &
  done
  run_target "$main"
  status=$?
  wait
  for i in "${!targets[@]}"; do
    code=$(cat "${codes[$i]}")
    code=${code:-1}
    ((code != 0)) && beside_status=$code
    printf -- '--- %s, run beside %s:\n' "${targets[$i]}" "$main"
    cat "${logs[$i]}"
    rm -f "${logs[$i]}" "${codes[$i]}"
  done
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
