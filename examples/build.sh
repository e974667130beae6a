#!/usr/bin/env bash
# Build the example apps with plain javac into examples/out/.
#   ./examples/build.sh            # uses $JAVA_HOME, else JDK 17, else javac on PATH
#   EXAMPLES_OUT=DIR ./examples/build.sh   # build into DIR instead of examples/out
# Run:  java -cp examples/out pyrite.examples.Checkout [--seconds N]
#       java -cp examples/out pyrite.examples.bank.BankApp --port 8080   (see README.md)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${EXAMPLES_OUT:-$here/out}"

javac=""
for cand in "${JAVA_HOME:+$JAVA_HOME/bin/javac}" /usr/lib/jvm/java-17-openjdk-amd64/bin/javac; do
  if [[ -n "$cand" && -x "$cand" ]]; then javac="$cand"; break; fi
done
if [[ -z "$javac" ]]; then
  javac="$(command -v javac || true)"
fi
if [[ -z "$javac" ]]; then
  echo "examples/build.sh: javac not found (install openjdk-17-jdk-headless or set JAVA_HOME)" >&2
  exit 1
fi

mkdir -p "$out"
mapfile -t sources < <(find "$here/src" -name '*.java' | sort)
"$javac" --release 17 -g -encoding UTF-8 -d "$out" "${sources[@]}"
echo "examples: built ${#sources[@]} source file(s) into $out"
