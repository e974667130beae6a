#!/usr/bin/env bash
# test.sh - build Pyrite and run every test.  THE command for CI (.ci/run).
#
# Stages (each runs even if an earlier one failed; a summary comes last):
#   1. deps      scripts/deps.sh (installs missing Debian packages)
#   2. build     normal build in $BUILD (default build/)
#   3. test      ctest --output-on-failure: all tests, unit + integration
#   4. asan      build $BUILD_ASAN (default build-asan/, -DPYRITE_ASAN=ON),
#                unit-test targets only, then ctest -L unit
#   5. tsan      same in $BUILD_TSAN (default build-tsan/, -DPYRITE_TSAN=ON)
# Exit status: 0 if every stage passed, 1 otherwise.
#
# Env:  BUILD, BUILD_ASAN, BUILD_TSAN   build directories (relative to the root)
#       SANITIZERS=0                    skip stages 4 and 5
#       CTEST_PARALLEL_LEVEL=N          ctest jobs (ctest reads it itself)
#       JOBS=N                          compile jobs (default nproc)
#
# Sanitizer builds compile only what `ctest -L unit` runs: the executables of
# tests/unit/test_*.c plus UNIT_EXTRA_TARGETS (targets used by other
# unit-labelled tests).  A unit-labelled test needing anything else shows up
# as "Could not find executable": add its target to UNIT_EXTRA_TARGETS.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

BUILD=${BUILD:-build}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
BUILD_TSAN=${BUILD_TSAN:-build-tsan}
SANITIZERS=${SANITIZERS:-1}
UNIT_EXTRA_TARGETS=${UNIT_EXTRA_TARGETS:-"pyrite_sigsafe sigsafe_negative_fixture"}

names=() results=() secs=()
failed=0
T0=$(date +%s)

record() { # name result seconds
  names+=("$1") results+=("$2") secs+=("$3")
  [[ "$2" == FAIL ]] && failed=1
  printf '\n=== %s: %s (%ss) ===\n\n' "$1" "$2" "$3"
}

# stage NAME CMD...: runs CMD, records PASS/FAIL; returns CMD's status.
stage() {
  local name=$1; shift
  local t rc=0
  t=$(date +%s)
  printf '\n=== %s: %s ===\n' "$name" "$*"
  "$@" || rc=$?
  record "$name" "$([[ $rc -eq 0 ]] && echo PASS || echo FAIL)" $(( $(date +%s) - t ))
  return $rc
}

skip() { record "$1" "SKIP ($2)" 0; }

run_ctest() { # DIR [ctest args...]
  local dir=$1; shift
  (cd "$dir" && ctest --output-on-failure "$@")
}

unit_targets() {
  local f out=""
  for f in tests/unit/test_*.c; do
    [[ -e "$f" ]] && out+=" $(basename "$f" .c)"
  done
  echo "$out $UNIT_EXTRA_TARGETS"
}

sanitizer_stage() { # NAME DIR CMAKE_OPTION ENV...
  local name=$1 dir=$2 opt=$3; shift 3
  if stage "$name-build" env TARGETS="$(unit_targets)" \
       ./scripts/build.sh "$dir" -DPYRITE_ASAN=OFF -DPYRITE_TSAN=OFF "$opt"; then
    stage "$name-unit" env "$@" "${WRAP[@]}" bash -c \
      'cd "$1" && ctest --output-on-failure -L unit' _ "$dir"
  else
    skip "$name-unit" "build failed"
  fi
}

if ! stage deps ./scripts/deps.sh; then
  echo "test.sh: cannot continue without the dependencies" >&2
  exit 1
fi

if stage build ./scripts/build.sh "$BUILD" -DPYRITE_ASAN=OFF -DPYRITE_TSAN=OFF; then
  stage test run_ctest "$BUILD"
else
  skip test "build failed"
fi

if [[ "$SANITIZERS" == 1 ]]; then
  WRAP=()
  sanitizer_stage asan "$BUILD_ASAN" -DPYRITE_ASAN=ON \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # TSan cannot map its shadow memory with the high ASLR entropy of recent
  # kernels; run it without address randomisation when the host allows.
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    WRAP=(setarch "$(uname -m)" -R)
  fi
  sanitizer_stage tsan "$BUILD_TSAN" -DPYRITE_TSAN=ON \
    TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
else
  skip asan "SANITIZERS=0"
  skip tsan "SANITIZERS=0"
fi

echo
echo "=================== test.sh summary ==================="
for i in "${!names[@]}"; do
  printf '  %-12s %-22s %5ss\n' "${names[$i]}" "${results[$i]}" "${secs[$i]}"
done
printf '  %-12s %-22s %5ss\n' total "$([[ $failed -eq 0 ]] && echo PASS || echo FAIL)" \
  $(( $(date +%s) - T0 ))
exit $failed
