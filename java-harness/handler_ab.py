#!/usr/bin/env python3
"""Signal-handler cost A/B between two builds of libpyrite.so.

Runs tests/integration/workloads HotLoop (2 threads, 6 s) under each library
in interleaved rounds, for event=itimer and event=cpu at 10 ms, and prints the
agent's handler_p50_ns / handler_p99_ns per run and their medians.

Usage: python3 java-harness/handler_ab.py OLD.so NEW.so [--rounds N] [--java PATH]
A measurement, never a test: it does not fail on a number.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pyrite_it as it  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--java", default="/usr/lib/jvm/java-17-openjdk-amd64/bin/java")
    a = ap.parse_args()
    cp = it.compile_workloads()
    libs = {"old": a.old, "new": a.new}
    res = {k: {} for k in libs}
    for rnd in range(a.rounds):
        for name, lib in libs.items():
            for ev in ("itimer", "cpu"):
                cmd = [a.java, f"-agentpath:{lib}=event={ev},interval=10ms,log=info", "-cp", cp,
                       "pyrite.it.HotLoop", "--seconds", "6", "--threads", "2"]
                p = subprocess.run(cmd, capture_output=True, text=True, env=it.clean_env())
                m = re.search(r"handler_p50_ns=(\d+).*?handler_p99_ns=(\d+)", p.stderr)
                if not m:
                    print(f"round {rnd} {name} {ev}: no stats line (rc={p.returncode})")
                    continue
                res[name].setdefault(ev, []).append((int(m.group(1)), int(m.group(2))))
                print(f"round {rnd} {name:3} {ev:6} p50 {m.group(1)} ns  p99 {m.group(2)} ns", flush=True)
    for name in libs:
        for ev, v in res[name].items():
            print(f"{name:3} {ev:6} median p50 {statistics.median(x for x, _ in v):.0f} ns, "
                  f"median p99 {statistics.median(y for _, y in v):.0f} ns ({len(v)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
