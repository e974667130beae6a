#!/usr/bin/env python3
"""The agent's native memory stays bounded (DESIGN.md §4 "agent memory").

One case, about 15 s on a loaded 2-core VM:

  all_modes   JDK 17, ModesWorkload --mode all (52 threads), fixed pre-touched heap
              (-Xms256m -Xmx256m -XX:+AlwaysPreTouch) and -XX:+UseSerialGC
              -XX:TieredStopAtLevel=1 (with G1 and C2 the JVM's own native memory varies by
              5-20 MiB between identical runs; with these, by under 1 MiB), 12 s.  One JVM without the agent
              and one with event=cpu,interval=10ms,wall=50ms,alloc=512k,lock=10ms,
              upload=1s, uploading to a local pyrited (so libcurl/OpenSSL are loaded and
              used, and a dozen windows - and their per-window allocations - pass before
              the measurement).  Both JVMs run at the same time, so they see the same
              machine.  /proc/<pid>/smaps_rollup is read 10 s in.

Checks: the agent's run profiled (its stats line shows CPU, wall, allocation and lock
samples, and uploads_sent > 0); Private_Dirty(with) - Private_Dirty(without)
<= BOUND_MIB.  Private_Dirty is the memory only this process has written: the agent's
anonymous memory (ring, dictionaries, malloc, thread stacks) and its libraries'
relocated data, but not clean shared-library text (shared with other processes and
reclaimable), which makes RSS and Pss depend on what else runs on the machine.

The bound is generous on purpose - measured deltas are about 5 MiB
(docs/agent-memory.md) and a JVM's own native memory varies by a few MiB from run to
run - so it only fails on a real regression: a buffer sized for its bound and touched
whole, a per-window allocation that is never freed, an arena per thread.

Usage: python3 tests/integration/test_agent_memory.py
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_memory as am  # noqa: E402
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

BOUND_MIB = 48
SECONDS = 12.0
SAMPLE_AT = 10.0
THREADS = 12  # ModesWorkload --mode all: 4 x 12 + 4 lock threads
OPTIONS = "event=cpu,interval=10ms,wall=50ms,alloc=512k,lock=10ms,upload=1s,log=info"


def start(cmd, work: str, name: str) -> subprocess.Popen:
    err = open(os.path.join(work, f"{name}.stderr"), "w")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=it.clean_env())
    err.close()
    return p


def all_modes(ck: it.Checks) -> None:
    jdk = it.find_jdks()[0]
    classes = am.compile_workload(it.make_tempdir("pyrite-it-mem-classes-"))
    work = it.make_tempdir("pyrite-it-mem-")
    srv = sit.Server().start()
    try:
        url = f"http://127.0.0.1:{srv.port}"
        base = [jdk.java, "-Xshare:auto"] + am.HEAP + am.QUIET_JVM
        tail = ["-cp", classes, am.MAIN] + am.workload_args(SECONDS, THREADS)
        agent = f"-agentpath:{it.agent_path()}={OPTIONS},server={url},app=memtest"
        procs = {"without": start(base + tail, work, "without"),
                 "with": start(base + [agent] + tail, work, "with")}
        t0 = time.monotonic()
        while time.monotonic() - t0 < SAMPLE_AT and all(p.poll() is None for p in procs.values()):
            time.sleep(0.1)
        roll = {}
        for name, p in procs.items():
            if p.poll() is None:
                roll[name] = am.read_rollup(p.pid)
        for p in procs.values():
            try:
                p.wait(timeout=SECONDS + 60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for name, p in procs.items():
            ck.require(p.returncode == 0, f"JVM {name} the agent exits 0", f"rc={p.returncode}",
                       on_fail=open(os.path.join(work, f"{name}.stderr")).read()[-2000:])
        ck.require(len(roll) == 2, "both JVMs were still running at the measurement point")
        with open(os.path.join(work, "with.stderr")) as f:
            stderr = f.read()
        stats = it.parse_stats(stderr) or {}
        for key in ("samples", "wall_samples", "alloc_samples", "lock_events", "chunks",
                    "uploads_sent"):
            ck.check(int(stats.get(key, 0) or 0) > 0, f"the agent recorded {key}",
                     f"{key}={stats.get(key)}", on_fail=stderr[-1500:])
        delta = {k: roll["with"].get(k, 0) - roll["without"].get(k, 0)
                 for k in ("VmRSS", "Pss", "Private_Dirty", "Anonymous")}
        for k, v in delta.items():
            ck.measure(f"{k} with - without (MiB)", round(v / 2**20, 1))
        ck.check(delta["Private_Dirty"] <= BOUND_MIB * 2**20,
                 f"the agent adds <= {BOUND_MIB} MiB of private dirty memory",
                 f"{delta['Private_Dirty'] / 2**20:.1f} MiB "
                 f"(without {roll['without']['Private_Dirty'] / 2**20:.1f}, "
                 f"with {roll['with']['Private_Dirty'] / 2**20:.1f})")
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    sit.require_binaries()
    it.main([("all_modes", all_modes)])
