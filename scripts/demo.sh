#!/usr/bin/env bash
# demo.sh - see Pyrite work on this machine in one command.
#
#   1. installs missing Debian packages (scripts/deps.sh) and builds Pyrite;
#   2. starts pyrited on 127.0.0.1:$PORT with a fresh data dir and waits for
#      GET /ready;
#   3. builds the example app (examples/build.sh) and runs it for $DURATION
#      seconds with the agent attached through JAVA_TOOL_OPTIONS, writing JFR;
#   4. prints the hottest methods of that recording (scripts/jfr_top.py, via
#      the JDK's own `jfr print --json`) and the server address;
#   5. stops pyrited.  The recording and logs stay in the printed directory.
#
# Until the agent's shipper lands, the profile goes to a JFR file rather
# than to the server; the server part shows pyrited starting and answering.
#
# Env: BUILD (default build), PORT (default 4040), DURATION (seconds,
#      default 15), JAVA_HOME (default: JDK 17, else java on PATH),
#      AGENT_OPTS (extra agent options, appended after a comma).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PORT=${PORT:-4040}
DURATION=${DURATION:-15}
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

# --- 3. example app with the agent -----------------------------------------
./examples/build.sh
JFR_FILE="$OUT/demo.jfr"
OPTS="file=$JFR_FILE,log=info${AGENT_OPTS:+,$AGENT_OPTS}"
say "running pyrite.examples.Checkout for ${DURATION}s with"
echo "      JAVA_TOOL_OPTIONS=\"-agentpath:$AGENT=$OPTS\""
rc=0
JAVA_TOOL_OPTIONS="-agentpath:$AGENT=$OPTS" \
  timeout --kill-after=10 $(( DURATION + 60 )) \
  "$JAVA_HOME/bin/java" -cp "$ROOT/examples/out" pyrite.examples.Checkout \
  --seconds "$DURATION" 2>&1 | tee "$OUT/app.log" | sed 's/^/  app | /' || rc=$?
[[ $rc -eq 0 ]] || die "the example app failed (status $rc); log: $OUT/app.log"
[[ -s "$JFR_FILE" ]] || die "the agent wrote no JFR to $JFR_FILE (see the app log above)"

# --- 4. results -------------------------------------------------------------
say "top functions in $JFR_FILE ($(du -h "$JFR_FILE" | cut -f1))"
python3 ./scripts/jfr_top.py --jfr "$JAVA_HOME/bin/jfr" --top 15 "$JFR_FILE" \
  || die "could not read $JFR_FILE with jfr"

say "pyrited is serving http://127.0.0.1:$PORT/  (GET /ready, GET /metrics;"
echo "      ingest and the web UI come with later issues, so this run's profile"
echo "      is the JFR file above; open it with 'jfr print' or JDK Mission Control)"

# --- 5. stop ------------------------------------------------------------------
stop_server
say "stopped pyrited; recording and logs kept in $OUT"
