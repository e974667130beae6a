#!/usr/bin/env bash
# install.sh - install a built Pyrite into a prefix, and verify the result.
#
# The one install step shared by the Dockerfile (all images) and by
# tests/integration/test_install_prefix.py, so what the test runs is what
# the images contain.
#
# Usage: scripts/install.sh PREFIX [BUILD_DIR]
#          installs BUILD_DIR's runtime files into PREFIX, then checks them:
#            PREFIX/lib/libpyrite.so   the agent
#            PREFIX/bin/pyrited        the server
#            PREFIX/bin/pyrite         the CLI
#          BUILD_DIR defaults to $BUILD, else "build" (like build.sh).
#          Uses `cmake --install` when BUILD_DIR was configured with CMake's
#          install rules (CMakeLists.txt), else copies the three files.
#        scripts/install.sh --check PREFIX [agent|server|all]
#          only the checks, for an image that holds part of the files: every
#          file present, every shared library it needs resolvable (ldd), the
#          agent exports Agent_OnLoad, the programs answer --version/--help.
# Exit:  0 ok, 1 a check failed (one line per problem on stderr), 2 usage.
set -euo pipefail

say() { printf 'install: %s\n' "$*" >&2; }
usage() {
  sed -n '/^# Usage:/,/^# Exit:/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# check PREFIX PART: prints what it checked; returns 1 after the first
# failing file's problems are printed.
check() {
  local prefix=$1 part=$2 f missing bad=0
  local files=()
  case $part in
    agent) files=(lib/libpyrite.so) ;;
    server) files=(bin/pyrited bin/pyrite) ;;
    all) files=(lib/libpyrite.so bin/pyrited bin/pyrite) ;;
    *) usage ;;
  esac
  for f in "${files[@]}"; do
    local p=$prefix/$f
    if [[ ! -f $p ]]; then
      say "missing: $p"
      bad=1
      continue
    fi
    # A library the dynamic loader cannot find fails the JVM or the server
    # only at run time; catch it when the image (or prefix) is made.
    if command -v ldd >/dev/null 2>&1; then
      missing=$(ldd "$p" 2>&1 | grep 'not found' || true)
      if [[ -n $missing ]]; then
        say "$p needs shared libraries that are not installed:"
        printf '  %s\n' "$missing" >&2
        bad=1
        continue
      fi
    fi
    case $f in
      lib/libpyrite.so)
        # The JVM looks the agent up by this symbol; without it
        # -agentpath fails with "Could not find Agent_OnLoad".
        if command -v nm >/dev/null 2>&1; then
          if ! nm -D --defined-only "$p" | grep -qw Agent_OnLoad; then
            say "$p does not export Agent_OnLoad"
            bad=1
          fi
        elif ! grep -q Agent_OnLoad "$p"; then
          say "$p does not contain Agent_OnLoad"
          bad=1
        fi
        ;;
      bin/pyrited)
        if [[ ! -x $p ]] || ! "$p" --version >/dev/null 2>&1; then
          say "$p --version failed"
          bad=1
        fi
        ;;
      bin/pyrite)
        if [[ ! -x $p ]] || ! "$p" --help >/dev/null 2>&1; then
          say "$p --help failed"
          bad=1
        fi
        ;;
    esac
  done
  [[ $bad -eq 0 ]] || return 1
  say "ok: ${files[*]} in $prefix"
}

if [[ ${1:-} == --check ]]; then
  [[ $# -ge 2 && $# -le 3 ]] || usage
  check "$2" "${3:-all}"
  exit $?
fi
[[ $# -ge 1 && $# -le 2 && ${1:-} != -* ]] || usage

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=$1
BUILD_DIR=${2:-${BUILD:-build}}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
[[ $PREFIX == /* ]] || PREFIX=$PWD/$PREFIX

for f in lib/libpyrite.so bin/pyrited bin/pyrite; do
  if [[ ! -f $BUILD_DIR/$f ]]; then
    say "not built: $BUILD_DIR/$f (run scripts/build.sh first)"
    exit 1
  fi
done

if command -v cmake >/dev/null 2>&1 &&
   grep -qs 'libpyrite.so' "$BUILD_DIR/cmake_install.cmake"; then
  # --component runtime: only the install rules in CMakeLists.txt, never a
  # test binary that may gain an install rule later.
  cmake --install "$BUILD_DIR" --prefix "$PREFIX" --component runtime >&2
else
  # A build tree configured before the install rules existed, or no cmake
  # (copying an already built tree): the same three files, same modes.
  say "no CMake install rules in $BUILD_DIR; copying"
  install -d "$PREFIX/lib" "$PREFIX/bin"
  install -m 0644 "$BUILD_DIR/lib/libpyrite.so" "$PREFIX/lib/libpyrite.so"
  install -m 0755 "$BUILD_DIR/bin/pyrited" "$PREFIX/bin/pyrited"
  install -m 0755 "$BUILD_DIR/bin/pyrite" "$PREFIX/bin/pyrite"
fi

check "$PREFIX" all
