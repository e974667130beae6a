#!/usr/bin/env bash
# build.sh - configure and build Pyrite.
#
# Usage: scripts/build.sh [BUILD_DIR] [cmake configure args...]
#   BUILD_DIR defaults to $BUILD, else "build" (relative to the repository
#   root).  Extra arguments go to the configure step, e.g.
#   scripts/build.sh build-asan -DPYRITE_ASAN=ON
# Env:   TARGETS="a b"  build only these targets (default: all)
#        JOBS=N         parallel jobs (default: nproc)
# Outputs: BUILD_DIR/lib/libpyrite.so, BUILD_DIR/bin/pyrited, BUILD_DIR/bin/pyrite
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BUILD_DIR=${1:-${BUILD:-build}}
[[ $# -gt 0 ]] && shift
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake -S "$ROOT" -B "$BUILD_DIR" "$@"
if [[ -n "${TARGETS:-}" ]]; then
  # shellcheck disable=SC2086  # TARGETS is a space-separated list
  cmake --build "$BUILD_DIR" -j "$JOBS" --target ${TARGETS}
else
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi
