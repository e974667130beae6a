#!/usr/bin/env python3
"""The wall-clock engine's work per tick is bounded whatever the number of threads (issue 5:
"a JVM with 1,000 threads costs no more per tick than one with 10").

Runs tests/integration/workloads/ModesWorkload.java `--mode idle` (N threads sleeping 1-2 s at
a time in a loop) with `event=none,wall=10ms,log=info,file=...`, N = 10 and N = 1000, on JDK 17
and every JDK >= 21 found. The agent's stats line reports, per tick, the most threads visited,
JVMTI stack walks and signals (wall_max_*_tick), and the totals.

Checks, for each N:
  - exit 0, stats line present;
  - wall_max_visits_tick <= 16, wall_max_walks_tick <= 4, wall_max_signals_tick <= 8 (the
    budgets PYR_WALL_VISITS / _WALKS / _SIGNALS of agent/wall_engine.h), so the mean per tick
    is bounded too;
  - (N = 1000) sleepers that stay asleep are folded, not re-walked: stack walks beyond one
    per idle thread <= 0.25 per tick (without folding each of the 16 visits of a tick finds
    a thread that woke since its last visit ~0.6 s earlier, and walks 4 per tick);
  - wall time stays honest: no idle thread gets more than its elapsed time (+10 %), and the
    idle threads together get >= 60 % (N = 1000: each is visited about every 0.6 s, and its
    first and last stretch are not attributed) or >= 80 % (N = 10) of their elapsed time.
Measured, not asserted (timing): the wall thread's CPU per tick from WARM s after the start to
the end (3.5 s by default; /proc schedstat of `pyrite-wall`, printed by the workload), and
wall_cpu_us over the whole run (which includes the first walk of every thread: with 1,000
threads and 4 walks per tick that takes 250 ticks).

PYRITE_WALL_SCALE_RUNS=R (default 1) repeats the pair R times, interleaved (10, 1000, 10, ...),
and reports the median CPU per tick of each N (the JFR checks run on the first pair only).
PYRITE_WALL_SCALE_WALL (default 10ms), _SECONDS (default 5) and _WARM (default 3.5) set the
wall interval, the run length and the start of the measured window.

Usage: python3 tests/integration/test_agent_wall_scale.py [filter...]   e.g. `jdk17`
Env: PYRITE_BUILD_DIR.
"""

import os
import statistics
import sys
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402

MAIN = "pyrite.it.ModesWorkload"
WALL = os.environ.get("PYRITE_WALL_SCALE_WALL", "10ms")
SECONDS = float(os.environ.get("PYRITE_WALL_SCALE_SECONDS", "5"))
WARM = float(os.environ.get("PYRITE_WALL_SCALE_WARM", "3.5"))
RUNS = int(os.environ.get("PYRITE_WALL_SCALE_RUNS", "1"))
INTERVAL_NS = 10_000_000  # the CPU interval (default): one WallClockSample sample
COUNTS = (10, 1000)

# agent/wall_engine.h
MAX_VISITS, MAX_WALKS, MAX_SIGNALS = 16, 4, 8
EXTRA_WALKS_PER_TICK = 0.25
FOLD_CHECK_MIN = 100
OVER_TOL = 0.10
MIN_TOTAL = {10: 0.80, 1000: 0.60}


def run_one(ck: it.Checks, jdk: it.Jdk, n: int, jfr: bool) -> Tuple[dict, dict, str]:
    work = it.make_tempdir(f"pyrite-it-wallscale-{n}-{jdk.label}-")
    path = os.path.join(work, "out.jfr")
    opts = [("event", "none"), ("wall", WALL), ("log", "info")] + ([("file", path)] if jfr else [])
    res = it.run_java(jdk, MAIN, ["--mode", "idle", "--threads", str(n), "--seconds", str(SECONDS),
                                  "--report-wall-cpu", str(WARM)],
                      agent=opts, jvm_args=["-Xss256k"], timeout=SECONDS + 90)
    ck.require(res.ok, f"[{n} threads] JVM with the agent exits 0", f"rc={res.rc} wall={res.wall_s:.1f}s",
               on_fail=res.describe())
    st = it.parse_stats(res.stderr)
    ck.require(st is not None, f"[{n} threads] agent printed its stats line", on_fail=res.describe())
    wc = it.parse_report(res.stdout, "wallcpu ") or {}
    return st, wc, (path if jfr else "") + "\n" + res.stdout


def per_tick(st: dict, wc: dict) -> Dict[str, float]:
    ticks = st.get("wall_ticks") or 0
    window_ticks = (wc.get("window_ns") or 0) / it.parse_duration_ns(WALL)
    return {"visits": st["wall_visits"] / ticks if ticks else float("nan"),
            "walks": st["wall_jvm_stacks"] / ticks if ticks else float("nan"),
            "signals": st["wall_signals"] / ticks if ticks else float("nan"),
            "cpu_us_run": st["wall_cpu_us"] / ticks if ticks else float("nan"),
            "cpu_us_steady": (wc.get("ns", -1) / 1000 / window_ticks) if window_ticks and wc.get("ns", -1) >= 0
            else float("nan")}


def check_bounds(ck: it.Checks, n: int, st: dict) -> None:
    mv, mw, ms = st.get("wall_max_visits_tick"), st.get("wall_max_walks_tick"), st.get("wall_max_signals_tick")
    ck.check(isinstance(mv, int) and 0 < mv <= MAX_VISITS, f"[{n} threads] <= {MAX_VISITS} visits in every tick",
             f"wall_max_visits_tick={mv}")
    ck.check(isinstance(mw, int) and mw <= MAX_WALKS, f"[{n} threads] <= {MAX_WALKS} JVMTI stack walks in every tick",
             f"wall_max_walks_tick={mw}")
    ck.check(isinstance(ms, int) and ms <= MAX_SIGNALS, f"[{n} threads] <= {MAX_SIGNALS} signals in every tick",
             f"wall_max_signals_tick={ms}")
    ticks = st.get("wall_ticks") or 0
    extra = (st.get("wall_jvm_stacks", 0) - n) / ticks if ticks else float("inf")
    if n < FOLD_CHECK_MIN:
        # Each of 10 threads is visited every tick and walked after each wake-up (honest,
        # and cheap): that rate depends on the threads, not on the engine.
        ck.measure(f"[{n} threads] stack walks beyond one per idle thread, per tick", f"{extra:.3f}")
        return
    ck.check(extra <= EXTRA_WALKS_PER_TICK,
             f"[{n} threads] sleepers are folded: stack walks beyond one per idle thread <= "
             f"{EXTRA_WALKS_PER_TICK} per tick",
             f"wall_jvm_stacks={st.get('wall_jvm_stacks')} wall_repeats={st.get('wall_repeats')} "
             f"ticks={ticks}: {extra:.3f} per tick")


def check_honest(ck: it.Checks, jdk: it.Jdk, n: int, path: str, stdout: str) -> None:
    elapsed = {}
    for line in stdout.splitlines():
        if line.startswith("thread "):
            kv = it.parse_kv(line[len("thread "):])
            elapsed[kv["name"]] = kv["elapsed_ns"]
    raw = it.jfr_print_json(jdk, path, "profiler.WallClockSample", stack_depth=1)
    got: Dict[str, float] = {}
    for r in raw:
        v = r.get("values", {})
        t = v.get("sampledThread") or {}
        name = t.get("javaName") if isinstance(t, dict) else None
        if name in elapsed:
            got[name] = got.get(name, 0.0) + (v.get("samples") or 0) * INTERVAL_NS
    over = [(k, got.get(k, 0.0) / e) for k, e in elapsed.items() if got.get(k, 0.0) > e * (1 + OVER_TOL)]
    ck.check(len(elapsed) == n and not over,
             f"[{n} threads] no idle thread gets more wall time than it lived (+{OVER_TOL:.0%})",
             f"{len(elapsed)} threads, {len(raw)} events" + (f"; over: {over[:5]}" if over else ""))
    tot_e, tot_g = sum(elapsed.values()), sum(got.values())
    ratio = tot_g / tot_e if tot_e else 0.0
    ck.check(ratio >= MIN_TOTAL[n], f"[{n} threads] idle threads together get >= {MIN_TOTAL[n]:.0%} of their "
             "elapsed time", f"{tot_g / 1e9:.1f} s of {tot_e / 1e9:.1f} s = {ratio:.3f}; "
             f"threads with no sample: {sum(1 for k in elapsed if k not in got)}")


def case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        ck.measure("jdk", jdk)
        ck.measure("config", f"wall={WALL} seconds={SECONDS:g} window from {WARM:g} s, runs={RUNS}")
        series: Dict[int, List[Dict[str, float]]] = {n: [] for n in COUNTS}
        for rep in range(RUNS):
            for n in COUNTS:
                st, wc, rest = run_one(ck, jdk, n, jfr=rep == 0)
                pt = per_tick(st, wc)
                series[n].append(pt)
                ck.measure(f"{n} threads, run {rep + 1}",
                           " ".join(f"{k}/tick={v:.2f}" for k, v in pt.items())
                           + f" (ticks={st.get('wall_ticks')} repeats={st.get('wall_repeats')} "
                             f"deferred={st.get('wall_deferred')})")
                if rep == 0:
                    check_bounds(ck, n, st)
                    path, stdout = rest.split("\n", 1)
                    check_honest(ck, jdk, n, path, stdout)
        for n in COUNTS:
            xs = [p["cpu_us_steady"] for p in series[n]]
            ck.measure(f"{n} threads: wall-thread CPU per tick after {WARM:g} s, median of {len(xs)}",
                       f"{statistics.median(xs):.1f} us (min {min(xs):.1f}, max {max(xs):.1f}); "
                       f"whole run median {statistics.median(p['cpu_us_run'] for p in series[n]):.1f} us")
    return run


def main() -> None:
    it.require_agent()
    it.main([(f"wallscale.{j.label}", case(j)) for j in it.find_jdks()])


if __name__ == "__main__":
    main()
