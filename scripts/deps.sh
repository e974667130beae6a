#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages Pyrite needs, and only the missing
# ones.  Idempotent: when everything is installed it only checks (dpkg -s)
# and exits 0 without touching apt.  Uses sudo when not root.
#
# Usage: scripts/deps.sh        (called by demo.sh and test.sh)
# Env:   PYRITE_SKIP_DEPS=1     skip this step entirely (e.g. non-Debian hosts
#                               with the equivalents already installed)
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config binutils clang  # toolchain, sanitizers
  libcurl4-openssl-dev zlib1g-dev                 # agent: shipper
  libprotobuf-c-dev protobuf-c-compiler            # proto/
  libcmocka-dev                                    # unit tests
  libmicrohttpd-dev libsqlite3-dev libzstd-dev     # server
  libdeflate-dev                                   # server: fast gunzip of uploads
  libpcre2-dev libjansson-dev                      # server: selectors, JSON
  openjdk-17-jdk-headless                          # JVM under test, javac, jfr
  python3                                          # integration tests, demo
  chromium                                         # web UI browser test (headless)
  golang-go                                        # `go tool pprof` reads our pprof export
  openssl                                          # shipper HTTPS tests make a self-signed certificate
)

say() { printf 'deps: %s\n' "$*" >&2; }

if [[ "${PYRITE_SKIP_DEPS:-0}" == 1 ]]; then
  say "PYRITE_SKIP_DEPS=1, not checking packages"
  exit 0
fi

if ! command -v dpkg >/dev/null 2>&1; then
  say "dpkg not found: this script installs Debian 12 packages only."
  say "install the equivalents of: ${PKGS[*]}"
  say "then rerun with PYRITE_SKIP_DEPS=1"
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  say "all ${#PKGS[@]} packages present"
  exit 0
fi

say "missing: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  say "error: not root and sudo is not installed; run as root:"
  say "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update; then
  say "warning: 'apt-get update' failed; trying the install with the current lists"
fi
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
  say "error: could not install: ${missing[*]}"
  exit 1
fi
say "installed: ${missing[*]}"
