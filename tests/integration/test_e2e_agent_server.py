#!/usr/bin/env python3
"""End to end (issue 4): a real JVM with the agent uploads to a real pyrited.

For each JDK (17, and 25 when installed): start pyrited on a free loopback port with a
temporary data directory, run HotLoop (allocating ~4 MiB/s on its main thread) with
  server=<pyrited>,app=e2e-<jdk>,label.env=ci,label.team=perf,upload=2s,alloc=512k,wall=50ms
through JAVA_TOOL_OPTIONS, stop pyrited, and read what it stored:
  - the app's process_cpu series exists with service_name, the static labels,
    pyroscope_spy=javaspy and jfr_event=itimer;
  - the known hot method (pyrite/it/HotLoop.spin) holds >= 50 % of the CPU profile;
  - CPU totals match the samples the agent reports (x interval);
  - each stored profile spans from/until of one upload period (about 2 s), the periods
    follow each other, and they lie within the JVM's run;
  - wall and allocation series arrive too (all modes share the upload);
  - no upload failed (the agent's own counters).

Usage: python3 tests/integration/test_e2e_agent_server.py [filter...]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

HOT = "pyrite.it.HotLoop"
CPU_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"


def e2e_case(jdk):
    def run(ck):
        srv = sit.Server().start()
        try:
            app = f"e2e-{jdk.label}"
            opts = {"server": f"http://127.0.0.1:{srv.port}", "app": app, "label.env": "ci",
                    "label.team": "perf", "upload": "2s", "alloc": "512k", "wall": "50ms",
                    "log": "info"}
            t0 = time.time()
            res = it.run_java(jdk, HOT, ["--seconds", "5", "--alloc-kb-per-s", "4096"], agent=opts,
                              via="tool_options", timeout=60)
            t1 = time.time()
            ck.require(res.ok, "app exits 0", f"wall {res.wall_s:.1f}s", res.describe())
            stats = it.parse_stats(res.stderr) or {}
            ck.check(stats.get("uploads_sent", 0) >= 3 and stats.get("upload_failed_attempts", 1) == 0
                     and stats.get("uploads_rejected", 1) == 0,
                     "every upload accepted", f"sent={stats.get('uploads_sent')} "
                     f"failed={stats.get('upload_failed_attempts')} rejected={stats.get('uploads_rejected')}")
        finally:
            srv.stop()
        series = sit.store_dump(srv.data_dir)
        srv.cleanup()
        mine = sit.series_matching(series, service_name=app)
        cpu = [s for s in mine if s["labels"].get("__profile_type__") == CPU_TYPE]
        ck.require(len(cpu) == 1, "one process_cpu series for the app",
                   f"{len(cpu)} of {len(series)} series: "
                   f"{sorted(s['labels'].get('__profile_type__') for s in mine)}")
        lab = cpu[0]["labels"]
        for k, v in (("env", "ci"), ("team", "perf"), ("pyroscope_spy", "javaspy"),
                     ("jfr_event", "itimer"), ("__name__", "process_cpu")):
            ck.check(lab.get(k) == v, f"label {k}={v}", str(lab.get(k)))
        stacks = cpu[0]["stacks"]
        total = cpu[0]["total"]
        hot = sum(v for k, v in stacks.items() if "pyrite/it/HotLoop.spin" in k.split(";")[-1])
        ck.check(total > 0 and hot / total >= 0.5, "the hot method dominates the CPU profile",
                 f"{hot / max(total, 1):.0%} of {total / 1e9:.2f} CPU-s")
        # `samples` counts every signal-handler sample, wall ones included.
        expected = (stats.get("samples", 0) - stats.get("wall_samples", 0)) * 10_000_000
        ck.check(expected > 0 and 0.8 <= total / expected <= 1.25,
                 "stored CPU matches the agent's samples x interval",
                 f"stored {total / 1e9:.2f}s, agent {expected / 1e9:.2f}s")
        points = sorted(cpu[0]["points"])
        ck.check(len(points) >= 3, "one profile per upload period", f"{len(points)} profiles")
        for i, (frm, until, _tot) in enumerate(points):
            span = (until - frm) / 1e9
            last = i == len(points) - 1
            ck.check(0.9 <= span <= 3.1 or (last and 0 < span <= 3.1),
                     f"profile {i} spans one period", f"{span:.1f}s")
            ck.check(t0 - 2 <= frm / 1e9 <= t1 + 1, f"profile {i} lies within the run",
                     f"from {frm / 1e9 - t0:+.1f}s after start")
            if i:
                gap = (frm - points[i - 1][1]) / 1e9
                ck.check(-1.0 <= gap <= 1.0, f"profile {i} follows the previous period",
                         f"gap {gap:+.1f}s")
        kinds = {s["labels"].get("__name__") for s in mine}
        ck.check({"wall", "memory"} <= kinds, "wall and allocation series stored too",
                 str(sorted(kinds)))
    return run


def main():
    it.require_agent()
    sit.require_binaries()
    cases = [(f"e2e.{jdk.label}", e2e_case(jdk)) for jdk in it.find_jdks()]
    it.main(cases)


if __name__ == "__main__":
    main()
