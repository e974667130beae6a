#!/usr/bin/env bash
# test.sh - build Pyrite and run every test.  THE command for CI (.ci/run).
#
# Stages (each runs even if an earlier one failed; a summary comes last):
#   1. deps      scripts/deps.sh (installs missing Debian packages)
#   2. build     normal build in $BUILD (default build/)
#   3. test      ctest --output-on-failure: all tests, unit + integration
#   4. asan      build $BUILD_ASAN (default build-asan/, -DPYRITE_ASAN=ON),
#                everything, then ctest -L 'unit|sanitize|fuzz': the unit
#                tests, the integration tests that need no JVM agent (pyrited,
#                the CLI and test tools end to end; see
#                tests/integration/CMakeLists.txt) and the fuzz replays
#   5. tsan      same in $BUILD_TSAN (default build-tsan/, -DPYRITE_TSAN=ON),
#                ctest -L 'unit|sanitize' (pyrited's threads under TSan)
#   6. fuzz      clang build in $BUILD_FUZZ (default build-fuzz/) of the
#                libFuzzer targets (tests/fuzz/), then ctest -L libfuzzer:
#                each target fuzzes PYRITE_FUZZ_SECONDS (default 15) from
#                its seeds; skipped with a message when clang is missing
# Exit status: 0 if every stage passed, 1 otherwise.
#
# Env:  BUILD, BUILD_ASAN, BUILD_TSAN   build directories (relative to the root)
#       SANITIZERS=0                    skip stages 4 and 5
#       BUILD_FUZZ, FUZZ=0              fuzz build directory; skip stage 6
#       CTEST_PARALLEL_LEVEL=N          ctest jobs (ctest reads it itself)
#       JOBS=N                          compile jobs (default nproc)
#
# Sanitizer builds compile every target (the agent library too, though it is
# never loaded into a JVM there) and run the tests labelled ASAN_LABELS /
# TSAN_LABELS.  TSan skips the fuzz replays: they are single-threaded.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

BUILD=${BUILD:-build}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
BUILD_TSAN=${BUILD_TSAN:-build-tsan}
BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}
FUZZ=${FUZZ:-1}
SANITIZERS=${SANITIZERS:-1}
ASAN_LABELS=${ASAN_LABELS:-'unit|sanitize|fuzz'}
TSAN_LABELS=${TSAN_LABELS:-'unit|sanitize'}

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

sanitizer_stage() { # NAME DIR CMAKE_OPTION CTEST_LABELS ENV...
  local name=$1 dir=$2 opt=$3 labels=$4; shift 4
  if stage "$name-build" ./scripts/build.sh "$dir" -DPYRITE_ASAN=OFF -DPYRITE_TSAN=OFF "$opt"; then
    stage "$name-tests" env "$@" "${WRAP[@]}" bash -c \
      'cd "$1" && ctest --output-on-failure -L "$2"' _ "$dir" "$labels"
  else
    skip "$name-tests" "build failed"
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
  sanitizer_stage asan "$BUILD_ASAN" -DPYRITE_ASAN=ON "$ASAN_LABELS" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # TSan cannot map its shadow memory with the high ASLR entropy of recent
  # kernels; run it without address randomisation when the host allows.
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    WRAP=(setarch "$(uname -m)" -R)
  fi
  sanitizer_stage tsan "$BUILD_TSAN" -DPYRITE_TSAN=ON "$TSAN_LABELS" \
    TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
else
  skip asan "SANITIZERS=0"
  skip tsan "SANITIZERS=0"
fi

# libFuzzer needs clang (the targets only exist in a clang build).  CC only
# matters for a fresh build directory; --no-tests=error catches one that
# was configured with another compiler.
if [[ "$FUZZ" != 1 ]]; then
  skip fuzz "FUZZ=0"
elif ! command -v clang >/dev/null 2>&1; then
  echo "test.sh: clang not found: skipping the fuzz stage (scripts/deps.sh installs it)"
  skip fuzz "clang not found"
elif stage fuzz-build env CC=clang TARGETS=fuzzers \
       ./scripts/build.sh "$BUILD_FUZZ" -DPYRITE_ASAN=OFF -DPYRITE_TSAN=OFF; then
  stage fuzz-run run_ctest "$BUILD_FUZZ" -L libfuzzer --no-tests=error
else
  skip fuzz-run "build failed"
fi

echo
echo "=================== test.sh summary ==================="
for i in "${!names[@]}"; do
  printf '  %-12s %-22s %5ss\n' "${names[$i]}" "${results[$i]}" "${secs[$i]}"
done
printf '  %-12s %-22s %5ss\n' total "$([[ $failed -eq 0 ]] && echo PASS || echo FAIL)" \
  $(( $(date +%s) - T0 ))
exit $failed
