#!/usr/bin/env bash
# load_mixed_run.sh - one sustained-load measurement: a fresh pyrited (own
# temp data dir, free loopback port, default flags unless PYRITED_ARGS is
# set), load_mixed against it with the given arguments, then SIGTERM and
# the size of what was stored.  A measurement, never a pass/fail test.
#
# Usage: tests/tools/load_mixed_run.sh BUILD_DIR [load_mixed args...]
#   e.g. tests/tools/load_mixed_run.sh build --rate 1000 -d 180 --series 1000
# Env:   PYRITED_ARGS="--durability normal"  extra server flags
#        KEEP=1                               keep the data dir
# With --strict, load_mixed exits 1 on any failed request (CTest smoke run).
set -euo pipefail

BUILD=${1:?usage: load_mixed_run.sh BUILD_DIR [load_mixed args...]}
shift
PYRITED="$BUILD/bin/pyrited"
LOAD="$BUILD/tests/load_mixed"
[[ -x "$PYRITED" && -x "$LOAD" ]] || { echo "build pyrited and load_mixed in $BUILD first" >&2; exit 2; }

TMP=$(mktemp -d /tmp/pyrite-load-XXXXXX)
# shellcheck disable=SC2086  # PYRITED_ARGS is a flag list
"$PYRITED" --listen 127.0.0.1:0 --data-dir "$TMP/data" ${PYRITED_ARGS:-} >"$TMP/server.log" 2>&1 &
SPID=$!
cleanup() {
  kill "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  [[ "${KEEP:-0}" == 1 ]] || rm -rf "$TMP"
}
trap cleanup EXIT

PORT=
for _ in $(seq 1 300); do
  PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$TMP/server.log" | grep -o '[0-9]*$' || true)
  if [[ -n "$PORT" ]] && exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
    printf 'GET /ready HTTP/1.0\r\n\r\n' >&3
    read -r status <&3 || status=
    exec 3<&-
    [[ "$status" == *" 200 "* ]] && break
  fi
  sleep 0.1
done
[[ -n "$PORT" ]] || { cat "$TMP/server.log" >&2; exit 1; }

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(uname -r); pyrited pid $SPID: $(head -1 "$TMP/server.log")"
echo "# server flags: ${PYRITED_ARGS:-(defaults)}"
"$LOAD" --port "$PORT" --pid "$SPID" "$@"
echo "# stored: $(du -sh "$TMP/data" | cut -f1) in $TMP/data"
