#!/usr/bin/env bash
# demo.sh - see Pyrite work on this machine in one command.
#
#   1. installs missing Debian packages (scripts/deps.sh) and builds Pyrite;
#   2. starts pyrited on 127.0.0.1:$PORT with a fresh data dir and waits for
#      GET /ready;
#   3. builds the example app (examples/build.sh) and runs it for $DURATION
#      seconds with the agent attached through JAVA_TOOL_OPTIONS, uploading
#      CPU, wall-clock, allocation and lock profiles to pyrited every
#      $UPLOAD, and waits until pyrited has received two uploads;
#   4. prints top-functions tables from the server (`pyrite top`), the
#      bottleneck triage and the web UI address;
#   5. keeps pyrited running for the UI when run from a terminal (Enter
#      stops it), then stops it.  Data and logs stay in the printed directory.
#
# Env: BUILD (default build), PORT (default 4040), DURATION (seconds,
#      default 25), UPLOAD (default 10s), JAVA_HOME (default: JDK 17, else
#      java on PATH), AGENT_OPTS (extra agent options, appended after a comma).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PORT=${PORT:-4040}
DURATION=${DURATION:-25}
say() { printf '\ndemo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# --- 1. dependencies and build ------------------------------------------
./scripts/deps.sh
./scripts/build.sh "$BUILD"
AGENT="$ROOT/$BUILD/lib/libpyrite.so"
PYRITED="$ROOT/$BUILD/bin/pyrited"
[[ "$BUILD" == /* ]] && AGENT="$BUILD/lib/libpyrite.so" PYRITED="$BUILD/bin/pyrited"
[[ -f "$AGENT" ]] || die "agent not built: $AGENT"
[[ -x "$PYRITED" ]] || die "server not built: $PYRITED"

if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/java" ]]; then
  if [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
  elif command -v java >/dev/null 2>&1; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  else
    die "no JDK found (install openjdk-17-jdk-headless or set JAVA_HOME)"
  fi
fi
export JAVA_HOME

OUT=$(mktemp -d "${TMPDIR:-/tmp}/pyrite-demo.XXXXXX")

# --- 2. server --------------------------------------------------------------
SERVER_PID=""
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

say "starting pyrited on 127.0.0.1:$PORT (data dir $OUT/data)"
"$PYRITED" --listen "127.0.0.1:$PORT" --data-dir "$OUT/data" \
  2>"$OUT/pyrited.log" &
SERVER_PID=$!

ready_url="http://127.0.0.1:$PORT/ready"
ok=0
for _ in $(seq 1 50); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    cat "$OUT/pyrited.log" >&2
    SERVER_PID=""
    die "pyrited exited at start-up (port $PORT in use? try PORT=4041 $0)"
  fi
  if python3 - "$ready_url" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
    sys.exit(0 if r.status == 200 and r.read() == b"ready" else 1)
PY
  then ok=1; break; fi
  sleep 0.2
done
[[ $ok == 1 ]] || { cat "$OUT/pyrited.log" >&2; die "pyrited did not become ready"; }
echo "demo: GET $ready_url -> 200 ready"

# --- 3. example app with the agent, shipping to pyrited ---------------------
./examples/build.sh
SERVER_URL="http://127.0.0.1:$PORT"
OPTS="server=$SERVER_URL,app=checkout,label.env=demo,upload=${UPLOAD:-10s}"
OPTS="$OPTS,event=itimer,interval=10ms,wall=50ms,alloc=512k,lock=10ms,log=info"
OPTS="$OPTS${AGENT_OPTS:+,$AGENT_OPTS}"
say "running pyrite.examples.Checkout with the agent, attached through"
echo "      JAVA_TOOL_OPTIONS=\"-agentpath:$AGENT=$OPTS\""
JAVA_TOOL_OPTIONS="-agentpath:$AGENT=$OPTS" \
  timeout --kill-after=10 $(( DURATION + 60 )) \
  "$JAVA_HOME/bin/java" -cp "$ROOT/examples/out" pyrite.examples.Checkout \
  --seconds "$DURATION" >"$OUT/app.log" 2>&1 &
APP_PID=$!

uploads() {
  python3 - "$SERVER_URL/metrics" <<'PY' 2>/dev/null || echo 0
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()
# accepted uploads, summed over the format label
n = sum(float(l.split()[-1]) for l in text.splitlines()
        if l.startswith(("pyrited_ingest_uploads_total{", "pyrited_ingest_uploads_total ")))
print(int(n))
PY
}
say "waiting for two uploads to reach pyrited (one every ${UPLOAD:-10s})"
got=0
for _ in $(seq 1 $(( (DURATION + 30) * 2 ))); do
  got=$(uploads)
  [[ "$got" -ge 2 ]] && break
  kill -0 "$APP_PID" 2>/dev/null || break
  sleep 0.5
done
rc=0
wait "$APP_PID" || rc=$?
sed 's/^/  app | /' "$OUT/app.log" | grep -v '^  app | \[pyrite\] info: stats' | tail -n 8
[[ $rc -eq 0 ]] || die "the example app failed (status $rc); log: $OUT/app.log"
got=$(uploads)
echo "demo: pyrited received $got uploads"
[[ "$got" -ge 2 ]] || die "fewer than two uploads arrived; see $OUT/app.log and $OUT/pyrited.log"

# --- 4. results, from the server -------------------------------------------
CLI="$ROOT/$BUILD/bin/pyrite"
[[ "$BUILD" == /* ]] && CLI="$BUILD/bin/pyrite"
for type in cpu alloc lock; do
  say "top functions, $type (pyrite top --server $SERVER_URL --app checkout --type $type)"
  "$CLI" top --server "$SERVER_URL" --app checkout --type "$type" --from now-10m --limit 10 \
    || die "pyrite top failed"
done
say "bottlenecks (pyrite bottleneck --server $SERVER_URL --app checkout)"
"$CLI" bottleneck --server "$SERVER_URL" --app checkout --from now-2m || true

say "web UI: $SERVER_URL/?app=checkout   (flame graphs, diff, top table)"
echo "      Grafana: add a 'Grafana Pyroscope' data source with URL $SERVER_URL"

# --- 5. keep serving when someone is watching ----------------------------------
if [[ -t 0 && -z "${CI:-}" ]]; then
  say "pyrited keeps running so you can open the UI; press Enter (or Ctrl-C) to stop"
  read -r _ || true
fi
stop_server
say "stopped pyrited; data and logs kept in $OUT"
