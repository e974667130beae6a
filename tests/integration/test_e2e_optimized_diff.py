#!/usr/bin/env python3
"""Before/after diff from real JVM runs (issue 6).

Runs pyrite.it.Optimizable twice with the agent uploading to a real pyrited
(upload=1s): first unoptimized (MessageDigest.getInstance on every call), then
with --optimized (a cached digest per thread).  Then:
  - /pyroscope/render-diff of the two time ranges shows
    java/security/MessageDigest.getInstance shrinking: its share of CPU falls
    by at least 2/3, while the digest work itself (MessageDigest.digest) is
    present on both sides;
  - `pyrite diff` (self time) over the same ranges shows the provider lookup
    getInstance did (reflective instantiation of the digest) as gone.

Usage: python3 tests/integration/test_e2e_optimized_diff.py
"""

import json
import os
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

CPU = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
APP = "opt-diff"
GET_INSTANCE = "java/security/MessageDigest.getInstance"


def shares(levels, names, side):
    """Total (inclusive) share per function name on one side of a diff
    flamebearer; each level row holds 7-tuples (xL, totalL, selfL, xR, totalR,
    selfR, name).  A function counts once per path (outermost occurrence)."""
    total_col = 1 if side == "left" else 4
    totals = {}
    root_total = 0
    # Walk levels keeping, for each node, whether an ancestor had the same name.
    prev = []  # (start, end, namesOnPath) of the previous level, left offsets
    for depth, row in enumerate(levels):
        cur = []
        x = 0
        for i in range(0, len(row), 7):
            x += row[i]  # xL is delta-encoded like single flamebearers
            tot_l = row[i + 1]
            name = names[row[i + 6]]
            path = frozenset()
            for (s, e, p) in prev:
                if s <= x < e or (s == x == e):
                    path = p
                    break
            value = row[i + total_col]
            if depth == 0:
                root_total = value
            if name not in path:
                totals[name] = totals.get(name, 0) + value
            cur.append((x, x + tot_l, path | {name}))
            x += tot_l
        prev = cur
    return {k: v / root_total for k, v in totals.items()} if root_total else {}


def main():
    it.require_agent()
    sit.require_binaries()
    ck = it.Checks()
    jdk = it.find_jdks()[0]
    srv = sit.Server().start()
    try:
        opts = {"server": f"http://127.0.0.1:{srv.port}", "app": APP, "upload": "1s",
                "log": "info"}
        ranges = []
        for optimized in (False, True):
            t0 = int(time.time())
            args = ["--seconds", "5"] + (["--optimized"] if optimized else [])
            res = it.run_java(jdk, "pyrite.it.Optimizable", args, agent=opts, timeout=60)
            ck.check(res.ok, f"optimized={optimized} run exits 0", res.stdout.strip(),
                     res.describe())
            time.sleep(1.2)
            ranges.append((t0, int(time.time()) + 1))
            time.sleep(2.1)  # keep the two ranges apart (1 s upload periods)
        (lf, lu), (rf, ru) = ranges
        q = f'{CPU}{{service_name="{APP}"}}'
        params = {"leftQuery": q, "rightQuery": q, "leftFrom": lf, "leftUntil": lu,
                  "rightFrom": rf, "rightUntil": ru, "maxNodes": 8192}
        st, _, body = srv.get("/pyroscope/render-diff?" + urllib.parse.urlencode(params))
        ck.require(st == 200, "render-diff answers 200", body[:300].decode(errors="replace"))
        d = json.loads(body)
        fb = d["flamebearer"]
        left, right = shares(fb["levels"], fb["names"], "left"), shares(fb["levels"], fb["names"], "right")
        gl, gr = left.get(GET_INSTANCE, 0), right.get(GET_INSTANCE, 0)
        ck.check(gl >= 0.05, "getInstance is visible before the fix", f"{gl:.1%} of CPU")
        ck.check(gr <= gl / 3, "getInstance shrinks by at least 2/3 after the fix",
                 f"{gl:.1%} -> {gr:.1%}")
        digest = "java/security/MessageDigest.digest"
        ck.check(left.get(digest, 0) > 0 and right.get(digest, 0) > 0,
                 "the digest work is on both sides",
                 f"{left.get(digest, 0):.1%} / {right.get(digest, 0):.1%}")
        cli = os.path.join(os.environ["PYRITE_BUILD_DIR"], "bin", "pyrite")
        out = subprocess.run([cli, "diff", "--server", f"http://127.0.0.1:{srv.port}", "--app", APP,
                              "--type", "cpu", "--before", f"{lf}..{lu}", "--after", f"{rf}..{ru}",
                              "--limit", "40"], capture_output=True, text=True, timeout=60)
        # getInstance's own self time is tiny: its cost is in its callees
        # (provider lookup, reflective construction), which vanish after the fix.
        lookup = ("MessageDigest.getInstance", "Provider$Service.newInstance",
                  "GeneratedConstructorAccessor", "Constructor.newInstance", "GetInstance.")
        gone = [ln for ln in out.stdout.splitlines()
                if any(n in ln for n in lookup) and (" gone " in ln or "-100%" in ln)]
        ck.check(out.returncode == 0 and bool(gone),
                 "pyrite diff shows getInstance's lookup work gone after the fix",
                 "\n".join(gone) or out.stdout[-1500:] + out.stderr[-500:])
    finally:
        srv.stop()
        srv.cleanup()
    it.log(f"\n{ck.passed} checks passed, {len(ck.failures)} failed")
    for f in ck.failures:
        it.log(f"FAILED: {f}")
    sys.exit(1 if ck.failures else 0)


if __name__ == "__main__":
    main()
