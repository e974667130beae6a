#!/usr/bin/env python3
"""CPU sampling end to end: HotLoop under the agent, on every JDK, for
event=itimer and event=cpu, with file=X.jfr,interval=10ms,log=info.

Checks (each printed with what was measured):
  * the JVM exits 0 and the workload prints its report;
  * the JFR parses with `jfr summary` and `jfr print --json`, and both agree;
  * >= 50% of ExecutionSample events have pyrite.it.HotLoop.spin in the top 3 frames;
  * >= 90% of those carry a line number marked `// HOT-LINE` in HotLoop.java;
  * every sample is STATE_RUNNABLE; hot samples are on threads pyrite-hot-<i>,
    and every worker thread is sampled; >= 90% of hot stacks are complete;
  * worker samples are within 0.3x..1.5x of the workers' CPU time / interval;
  * the stats line at exit has the contract's keys, dropped=0, agct_ok>0, and
    samples= is at least the JFR's sample count.

Usage: python3 tests/integration/test_agent_cpu.py [filter...]
Env: PYRITE_BUILD_DIR (agent at $PYRITE_BUILD_DIR/lib/libpyrite.so),
     PYRITE_IT_SECONDS (default 4), PYRITE_IT_THREADS (default 2).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402

SECONDS = float(os.environ.get("PYRITE_IT_SECONDS", "4"))
THREADS = int(os.environ.get("PYRITE_IT_THREADS", "2"))
INTERVAL = "10ms"


def cpu_case(jdk: it.Jdk, event: str):
    def run(ck: it.Checks) -> None:
        ck.measure("jdk", jdk)
        work = it.make_tempdir(f"pyrite-it-cpu-{event}-{jdk.label}-")
        jfr = os.path.join(work, "out.jfr")
        opts = [("event", event), ("interval", INTERVAL), ("file", jfr), ("log", "info")]
        res = it.run_java(jdk, "pyrite.it.HotLoop",
                          ["--seconds", str(SECONDS), "--threads", str(THREADS)],
                          agent=opts, timeout=SECONDS + 60)
        log_lines = res.pyrite_lines()
        ck.measure("agent stderr lines", len(log_lines))
        for ln in log_lines:
            it.log(f"    {ln}")
        ck.check(not any(ln.startswith("[pyrite] error") for ln in log_lines),
                 "agent logged no errors", on_fail="\n".join(log_lines))
        samples = it.check_hotloop_profile(ck, jdk, res, jfr, it.parse_duration_ns(INTERVAL), THREADS)
        it.check_stats_line(ck, res, len(samples))
    return run


def main() -> None:
    it.require_agent()
    jdks = it.find_jdks()
    it.log("JDKs: " + ", ".join(str(j) for j in jdks))
    cases = []
    for jdk in jdks:
        for event in ("itimer", "cpu"):
            cases.append((f"cpu.{event}.{jdk.label}", cpu_case(jdk, event)))
    it.main(cases)


if __name__ == "__main__":
    main()
