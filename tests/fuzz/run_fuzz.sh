#!/bin/sh
# run_fuzz.sh TARGET FUZZER ARTIFACT_DIR - runs the libFuzzer binary FUZZER
# of target TARGET (jfr, pprof, ...) for PYRITE_FUZZ_SECONDS (default 15)
# seconds, seeded with tests/fuzz/seeds/TARGET and tests/fuzz/regressions/
# TARGET, with the dictionary dict/TARGET.dict when there is one.
# New inputs go to a temporary directory that is removed afterwards (the
# checked-in seeds are never written), or to PYRITE_FUZZ_CORPUS when set
# (kept, for long runs: docs/reliability.md); crashes, leaks and timeouts
# are kept in ARTIFACT_DIR for turning into regression files.  Exit status
# is the fuzzer's: non-zero on a finding.
set -eu
target=$1
fuzzer=$2
artifacts=$3
here=$(cd "$(dirname "$0")" && pwd)
secs=${PYRITE_FUZZ_SECONDS:-15}
if [ -n "${PYRITE_FUZZ_CORPUS:-}" ]; then
  mkdir -p "$PYRITE_FUZZ_CORPUS"
  work=$(cd "$PYRITE_FUZZ_CORPUS" && pwd)
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/pyrite-fuzz-$target.XXXXXX")
  trap 'rm -rf "$work"' EXIT INT TERM
fi
mkdir -p "$work/corpus" "$artifacts"
for d in "$here/seeds/$target" "$here/regressions/$target"; do
  [ -d "$d" ] || continue
  for f in "$d"/*; do
    [ -f "$f" ] && cp "$f" "$work/corpus/"
  done
done
dict=""
[ -f "$here/dict/$target.dict" ] && dict="-dict=$here/dict/$target.dict"
echo "fuzzing $target for ${secs}s, seeds: $(ls "$work/corpus" | wc -l)"
# -max_len: large enough for the seeds and what the parsers do with
# structure; small inputs keep the executions fast.
# shellcheck disable=SC2086  # dict is one optional word
"$fuzzer" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -max_len=65536 \
  $dict -print_final_stats=1 -artifact_prefix="$artifacts/" "$work/corpus"
