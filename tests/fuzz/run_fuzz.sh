#!/bin/sh
# run_fuzz.sh FUZZER CORPUS_DIR ARTIFACT_DIR [JFR_SYNTH] - runs a libFuzzer
# target for PYRITE_FUZZ_SECONDS (default 30) seconds, seeded with the
# decompressed recordings of CORPUS_DIR (*.jfr.gz, *.jfr; none is fine) and,
# if JFR_SYNTH (tests/tools/jfr_synth) is given, two small synthetic ones.
# New inputs go to a temporary directory that is removed afterwards;
# crashes are kept in ARTIFACT_DIR.  Exit status is the fuzzer's (non-zero
# on a finding).
set -eu
fuzzer=$1
corpus_src=$2
artifacts=$3
synth=${4:-}
secs=${PYRITE_FUZZ_SECONDS:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/pyrite-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/corpus" "$artifacts"
if [ -d "$corpus_src" ]; then
  for f in "$corpus_src"/*.jfr.gz; do
    [ -f "$f" ] || continue
    gzip -dc "$f" > "$work/corpus/$(basename "$f" .gz)"
  done
  for f in "$corpus_src"/*.jfr; do
    [ -f "$f" ] && cp "$f" "$work/corpus/"
  done
fi
if [ -n "$synth" ] && [ -x "$synth" ]; then
  "$synth" "$work/corpus/synth1.jfr" >/dev/null
  "$synth" "$work/corpus/synth3.jfr" --chunks 3 --edge >/dev/null
fi
echo "fuzzing $fuzzer for ${secs}s, seeds: $(ls "$work/corpus" | wc -l)"
dict=$(dirname "$0")/jfr.dict
"$fuzzer" -max_total_time="$secs" -timeout=30 -rss_limit_mb=3072 -max_len=8388608 \
  -dict="$dict" -print_final_stats=1 -artifact_prefix="$artifacts/" "$work/corpus"
