#!/usr/bin/env bash
# Plants known bugs in the reactor, one at a time, and checks that the tests
# catch each one. Run it before (and after) touching src/reactor/; it is not
# part of CI (it rebuilds and reruns the tests once per bug).
#
#   scripts/mutants.sh                 every mutant, the whole `cargo test --no-fail-fast` each
#   scripts/mutants.sh --targeted      every mutant, only the tests named in its patch
#   scripts/mutants.sh --targeted 03 11    only mutants whose names start with 03, 11
#
# Each mutant is a patch in scripts/mutants/, headed by what it breaks:
#
#   Bug: <the planted bug, in one line>
#   Tests: <cargo test arguments for --targeted>   (one line per cargo test run)
#   <a `git diff` of the change>
#
# For each mutant the script applies the patch, builds the tests, runs them
# under a time limit and reverts the patch, then prints one of:
#
#   killed      a test failed: the bug is caught
#   SURVIVED    every test passed with the bug in: a hole in the suite
#   TIMED OUT   the tests ran past the limit: something hangs without a
#               watchdog (tests/common/mod.rs), which must not happen
#   unbuildable the mutant does not compile (the patch needs updating)
#   stale       the patch no longer applies to the code (update it)
#
# The patch is reverted on every exit, Ctrl-C included. The tree must have no
# uncommitted changes under src/ (so that reverting restores exactly what was
# there). Exit status: 0 if every mutant was killed, 1 otherwise.
#
# To add a mutant: make the change in src/, `git diff > scripts/mutants/NN-name.patch`,
# revert it, and put the Bug: and Tests: lines on top. Its tests must fail.
set -uo pipefail
cd "$(dirname "$0")/.."

TARGETED=false
if [[ "${1:-}" == "--targeted" ]]; then
  TARGETED=true
  shift
fi
ONLY=("$@")

# Per mutant, for the build and the test run together.
LIMIT_SECONDS=${MUTANT_TIME_LIMIT:-900}

if ! git diff --quiet HEAD -- src/; then
  echo "src/ has uncommitted changes: commit or stash them first" >&2
  exit 2
fi

APPLIED=""
revert() {
  if [[ -n "$APPLIED" ]]; then
    git apply -R "$APPLIED" || git checkout -- src/
    APPLIED=""
  fi
}
trap 'revert' EXIT
trap 'echo; echo "interrupted: reverting"; revert; exit 130' INT TERM

LOG_DIR=target/mutants
mkdir -p "$LOG_DIR"
declare -a RESULTS=()
all_killed=true

for patch in scripts/mutants/*.patch; do
  name=$(basename "$patch" .patch)
  if ((${#ONLY[@]})); then
    wanted=false
    for prefix in "${ONLY[@]}"; do [[ "$name" == "$prefix"* ]] && wanted=true; done
    $wanted || continue
  fi
  bug=$(sed -n 's/^Bug: //p' "$patch" | head -1)
  log="$LOG_DIR/$name.log"
  echo "==> $name: $bug"
  if ! git apply --check "$patch" 2>/dev/null; then
    RESULTS+=("stale        $name")
    all_killed=false
    continue
  fi
  git apply "$patch" && APPLIED="$patch"

  # The runs this mutant needs: its Tests: lines, or one plain `cargo test`.
  runs=()
  if $TARGETED; then
    while IFS= read -r line; do runs+=("$line"); done < <(sed -n 's/^Tests: //p' "$patch")
  fi
  # --no-fail-fast: every test binary runs, so a hang anywhere shows up.
  ((${#runs[@]})) || runs=("--no-fail-fast")

  started=$(date +%s)
  outcome="SURVIVED"
  : >"$log"
  for run in "${runs[@]}"; do
    left=$((LIMIT_SECONDS - ($(date +%s) - started)))
    ((left > 0)) || { outcome="TIMED OUT"; break; }
    # shellcheck disable=SC2086 # $run is a list of cargo arguments
    timeout "$left" cargo test $run --no-run >>"$log" 2>&1
    status=$?
    if [[ $status == 124 ]]; then
      outcome="TIMED OUT"
      break
    elif [[ $status != 0 ]]; then
      outcome="unbuildable"
      break
    fi
    left=$((LIMIT_SECONDS - ($(date +%s) - started)))
    # shellcheck disable=SC2086
    timeout --kill-after=10 "$left" cargo test $run >>"$log" 2>&1
    status=$?
    if [[ $status == 124 || $status == 137 ]]; then
      outcome="TIMED OUT"
      break
    elif [[ $status != 0 ]]; then
      outcome="killed"
      break
    fi
  done
  took=$(($(date +%s) - started))
  revert
  [[ "$outcome" == killed ]] || all_killed=false
  # What failed, for the record: the failing tests' names, or the hang message.
  caught=$(grep -E '^    [a-z0-9_:]+$' "$log" | sed 's/^ *//' | sort -u | paste -sd, - | cut -c1-120)
  printf '    %s in %ss %s\n' "$outcome" "$took" "${caught:+($caught)}"
  RESULTS+=("$(printf '%-12s %-48s %5ss  %s' "$outcome" "$name" "$took" "$caught")")
done

echo
echo "Mutation run $(date -u '+%Y-%m-%d %H:%M UTC'), $($TARGETED && echo targeted tests || echo 'whole cargo test') per mutant, limit ${LIMIT_SECONDS}s; logs in $LOG_DIR/"
printf '%s\n' "${RESULTS[@]}"
$all_killed
