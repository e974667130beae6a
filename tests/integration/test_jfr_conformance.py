#!/usr/bin/env python3
# ctest-labels: sanitize
"""JFR conformance: `pyrite convert` against Grafana Pyroscope's own output.

For every recording <base>.jfr.gz of the conformance corpus
(shared/conformance/jfr-parser-corpus, see its README) this runs

    pyrite convert --format collapsed-lines --sample-rate 100 \
        [--labels <base>.labels.pb.gz] <base>.jfr.gz OUT

and requires, for every <base>_<i>_<profile>_expected_collapsed.txt.gz, a file
OUT/<profile>.txt with byte-identical content, and no other file in OUT.

Deliberate deviations from the reference output would be listed in
DEVIATIONS below (and argued in docs/jfr-parser.md); there are none.

Environment: PYRITE_BUILD_DIR (build tree with bin/pyrite), PYRITE_SOURCE_DIR
(source tree); the corpus is $PYRITE_CONFORMANCE_DIR, or
$PYRITE_SOURCE_DIR/tests/data/jfr-parser-corpus (a vendored copy).  A missing corpus
prints SKIP and exits 77, which CTest reports as skipped
(SKIP_RETURN_CODE 77 in tests/integration/CMakeLists.txt).  Python 3 standard library only.
"""
import glob
import gzip
import os
import re
import subprocess
import sys
import tempfile

# (recording base, profile file name) -> reason.  Each entry must be argued
# in docs/jfr-parser.md.  Empty: pyrite matches Pyroscope on every file.
DEVIATIONS = {}

EXPECTED_SUFFIX = "_expected_collapsed.txt.gz"
SKIP_RC = 77  # CTest SKIP_RETURN_CODE: a missing corpus shows as skipped, not passed


def corpus_dir():
    d = os.environ.get("PYRITE_CONFORMANCE_DIR")
    if d:
        return d
    src = os.environ.get("PYRITE_SOURCE_DIR",
                         os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    # Vendored copy of ../shared/conformance/jfr-parser-corpus (Apache-2.0).
    return os.path.join(src, "tests", "data", "jfr-parser-corpus")


def first_difference(got, want):
    g, w = got.split(b"\n"), want.split(b"\n")
    for i in range(max(len(g), len(w))):
        a = g[i] if i < len(g) else b"<missing>"
        b = w[i] if i < len(w) else b"<missing>"
        if a != b:
            return "line %d (of %d, want %d):\n    got:  %s\n    want: %s" % (
                i + 1, len(g), len(w), a[:300].decode("utf-8", "replace"),
                b[:300].decode("utf-8", "replace"))
    return "identical lines, different bytes (trailing newline?)"


def main():
    corpus = corpus_dir()
    if not os.path.isdir(corpus):
        print("SKIP: JFR conformance corpus not found at %s" % corpus)
        return SKIP_RC
    build = os.environ.get("PYRITE_BUILD_DIR", "build")
    pyrite = os.path.join(build, "bin", "pyrite")
    if not os.access(pyrite, os.X_OK):
        print("FAIL: %s not built" % pyrite)
        return 1

    recordings = sorted(glob.glob(os.path.join(corpus, "*.jfr.gz")))
    if not recordings:
        print("SKIP: no recordings in %s" % corpus)
        return SKIP_RC
    # <base>_<index>_<profile>_expected_collapsed.txt.gz, matched against the
    # recording names (bases contain '_' and digits themselves).
    bases = [os.path.basename(r)[:-len(".jfr.gz")] for r in recordings]
    expected = {}  # base -> {profile: path}
    for path in sorted(glob.glob(os.path.join(corpus, "*" + EXPECTED_SUFFIX))):
        name = os.path.basename(path)[:-len(EXPECTED_SUFFIX)]
        owner = None
        for base in sorted(bases, key=len, reverse=True):
            m = re.match(re.escape(base) + r"_(\d+)_(.+)$", name)
            if m:
                owner = base
                expected.setdefault(base, {})[m.group(2)] = path
                break
        if owner is None:
            print("FAIL: expected file %s belongs to no recording" % path)
            return 1

    failures, identical, total = [], 0, 0
    deviations_seen = set()
    with tempfile.TemporaryDirectory(prefix="pyrite-jfr-conf-") as tmp:
        for rec in recordings:
            base = os.path.basename(rec)[:-len(".jfr.gz")]
            out = os.path.join(tmp, base)
            cmd = [pyrite, "convert", "--format", "collapsed-lines", "--sample-rate", "100"]
            labels = os.path.join(corpus, base + ".labels.pb.gz")
            if os.path.exists(labels):
                cmd += ["--labels", labels]
            cmd += [rec, out]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            if r.returncode != 0:
                failures.append("%s: pyrite convert exited %d: %s" % (
                    base, r.returncode, r.stderr.decode("utf-8", "replace").strip()))
                continue
            want = expected.get(base, {})
            produced = set(f[:-len(".txt")] for f in os.listdir(out) if f.endswith(".txt"))
            for extra in sorted(produced - set(want)):
                if (base, extra) in DEVIATIONS:
                    deviations_seen.add((base, extra))
                    continue
                failures.append("%s: extra profile %s.txt" % (base, extra))
            for profile, path in sorted(want.items()):
                total += 1
                key = (base, profile)
                got_path = os.path.join(out, profile + ".txt")
                with gzip.open(path, "rb") as f:
                    want_bytes = f.read()
                if not os.path.exists(got_path):
                    if key in DEVIATIONS:
                        deviations_seen.add(key)
                        continue
                    failures.append("%s: missing profile %s.txt" % (base, profile))
                    continue
                with open(got_path, "rb") as f:
                    got_bytes = f.read()
                if got_bytes == want_bytes:
                    identical += 1
                    print("ok    %s %s" % (base, profile))
                elif key in DEVIATIONS:
                    deviations_seen.add(key)
                    print("DEVIATION %s %s: %s" % (base, profile, DEVIATIONS[key]))
                else:
                    failures.append("%s %s differs at %s" % (
                        base, profile, first_difference(got_bytes, want_bytes)))

    for key in sorted(set(DEVIATIONS) - deviations_seen):
        failures.append("listed deviation %s %s no longer occurs: remove it" % key)
    print("%d/%d expected profiles identical, %d listed deviations" % (
        identical, total, len(deviations_seen)))
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
