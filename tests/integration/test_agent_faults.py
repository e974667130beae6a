#!/usr/bin/env python3
"""Agent crash protection in real JVMs (docs/reliability.md, "Agent: crash
protection around stack walking"), on JDK 17 and every JDK >= 21 found.

Cases:
  jvm_signals      JvmSignals (NullPointerExceptions from implicit null checks, repeated
                   StackOverflowError, a checked computation) with the agent sampling at
                   interval=1ms + wall=5ms, C1 only (-XX:TieredStopAtLevel=1, so every NPE
                   is a SIGSEGV): results correct, the agent's SIGSEGV handler passed at
                   least one fault per NPE on to the JVM (guard_chained >= npe_caught), no
                   fault was taken for ours, sampling stayed on, the JFR parses.
  fault_injection  the same workload (default tiered JIT) with the test-only
                   PYRITE_TEST_INJECT_FAULTS=3 (every 3rd guarded stack walk reads the null
                   page or a page past EOF): results correct, faults counted by signal,
                   auto-disable after the limit (one error line, disabled_by_faults=1, no
                   walks after it), samples taken before are still written.
  real_crash       a genuine SIGSEGV outside our handler (Unsafe.getByte(8)) is still the
                   JVM's crash: its fatal-error banner naming Unsafe_GetByte, an hs_err
                   file, a non-zero exit, and no fault caught by the agent.
  kill_switch      PYRITE_DISABLE=1 beats every option (enabled=true, an unknown key): one
                   `[pyrite]` line, no JFR, app normal; PYRITE_DISABLE=0 profiles.
  event_none (JDK 17)  event=none: no signal taken, no sample, the guard not installed.

Usage: python3 tests/integration/test_agent_faults.py [filter...]
"""

import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402

MAIN = "pyrite.it.JvmSignals"
INJECT_EVERY = 3
FAULT_LIMIT = 10  # PYR_GUARD_FAULT_LIMIT in agent/signal/guard.h
MASK64 = (1 << 64) - 1


def expected_checksum() -> str:
    """JvmSignals.round() recomputed here, so a wrong result cannot pass."""
    x, acc = 0x2545F4914F6CDD1D, 0
    for i in range(200_000):
        x = (x * 6364136223846793005 + 1442695040888963407) & MASK64
        acc = (acc + ((x >> 33) ^ i)) & MASK64
    return format(acc, "x")


CHECKSUM = expected_checksum()


def check_workload(ck: it.Checks, res: it.RunResult) -> dict:
    rep = it.parse_report(res.stdout, "jvmsignals: done")
    ck.require(res.ok and rep is not None, "JVM exits 0 and the workload finished",
               f"rc={res.rc} wall={res.wall_s:.1f}s", on_fail=res.describe())
    ck.measure("workload", rep)
    ck.check(rep.get("ok") == "true", "workload invariants hold (NPEs, SOEs, rounds)",
             on_fail=res.stdout)
    ck.check(rep.get("compute_checksum") == CHECKSUM, "computation result is correct",
             f"{rep.get('compute_checksum')} vs {CHECKSUM}")
    ck.check(rep.get("npe_caught", 0) > 0 and rep.get("soe_caught", 0) > 0,
             "NullPointerExceptions and StackOverflowErrors were thrown and caught",
             f"npe_caught={rep.get('npe_caught')} soe_caught={rep.get('soe_caught')}")
    return rep


def stats_of(ck: it.Checks, res: it.RunResult) -> dict:
    st = it.parse_stats(res.stderr)
    ck.require(st is not None and "guard_faults" in st, "agent printed its stats line with guard_*",
               on_fail=res.describe())
    ck.measure("stats", {k: st.get(k) for k in (
        "signals", "samples", "dropped", "wall_samples", "handler_p50_ns", "handler_p99_ns",
        "guard_installed", "guard_faults", "guard_faults_segv", "guard_faults_bus",
        "guard_chained", "dropped_fault", "disabled_by_faults")})
    return st


def jvm_signals_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-faults-")
        jfr = os.path.join(work, "s.jfr")
        res = it.run_java(jdk, MAIN, ["--seconds", "2.5", "--npe-threads", "1",
                                      "--compute-threads", "1"],
                          agent=[("interval", "1ms"), ("wall", "5ms"), ("file", jfr),
                                 ("log", "info")],
                          jvm_args=["-XX:TieredStopAtLevel=1"], timeout=90)
        rep = check_workload(ck, res)
        st = stats_of(ck, res)
        ck.check(st.get("guard_installed") == 1, "the crash guard was installed at VMInit")
        ck.check(st.get("guard_chained", 0) >= rep.get("npe_caught", 0) > 0,
                 "every implicit-null-check SIGSEGV went through our handler to the JVM's",
                 f"guard_chained={st.get('guard_chained')} npe_caught={rep.get('npe_caught')}")
        ck.check(st.get("guard_faults") == 0 and st.get("dropped_fault") == 0,
                 "no JVM fault was taken for one of ours",
                 f"guard_faults={st.get('guard_faults')}")
        ck.check(st.get("disabled_by_faults") == 0, "sampling stayed on")
        ck.check(st.get("samples", 0) > 0, "samples were taken while the JVM faulted on purpose",
                 f"samples={st.get('samples')} wall_samples={st.get('wall_samples')}")
        ck.check(not [ln for ln in res.pyrite_lines()
                      if ln.startswith(("[pyrite] error:", "[pyrite] warn:"))],
                 "no agent warning or error", "\n".join(res.pyrite_lines()))
        summ = it.jfr_summary(jdk, jfr)
        ck.check(summ.rc == 0 and summ.counts.get("jdk.ExecutionSample", 0) > 0,
                 "JFR parses and has ExecutionSample events",
                 f"rc={summ.rc} ExecutionSample={summ.counts.get('jdk.ExecutionSample')}",
                 on_fail=it.indent_tail(summ.text))
    return run


def fault_injection_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-faults-")
        jfr = os.path.join(work, "f.jfr")
        res = it.run_java(jdk, MAIN, ["--seconds", "2", "--npe-threads", "1",
                                      "--compute-threads", "1"],
                          agent=[("interval", "1ms"), ("wall", "5ms"), ("file", jfr),
                                 ("log", "info")],
                          env={"PYRITE_TEST_INJECT_FAULTS": str(INJECT_EVERY)}, timeout=90)
        check_workload(ck, res)
        st = stats_of(ck, res)
        faults = st.get("guard_faults", 0)
        ck.check(faults >= FAULT_LIMIT, f"at least {FAULT_LIMIT} injected faults were caught",
                 f"guard_faults={faults}")
        ck.check(st.get("guard_faults_segv", 0) > 0 and st.get("guard_faults_bus", 0) > 0,
                 "both SIGSEGV and SIGBUS were caught",
                 f"segv={st.get('guard_faults_segv')} bus={st.get('guard_faults_bus')}")
        ck.check(st.get("dropped_fault") == faults, "each caught fault is one dropped sample",
                 f"dropped_fault={st.get('dropped_fault')}")
        ck.check(st.get("disabled_by_faults") == 1, "auto-disable kicked in")
        # After the trip no walk is attempted: with every 3rd walk faulting,
        # the walks that succeeded are bounded by 2 per fault (+ walks that
        # were already past the enabled check on other threads).
        walks_ok = st.get("samples", 0)
        ck.check(0 < walks_ok <= (INJECT_EVERY - 1) * faults + 16,
                 "samples were taken before the trip, and none after it",
                 f"samples={walks_ok} faults={faults}")
        lines = res.pyrite_lines()
        trip = [ln for ln in lines if "faults (SIGSEGV/SIGBUS) caught" in ln]
        ck.check(len(trip) == 1 and "[pyrite] error:" in trip[0] and "now off" in trip[0],
                 "exactly one clear line says sampling was disabled", "\n".join(lines))
        ck.check(any("TEST ONLY" in ln for ln in lines), "the test hook announced itself")
        summ = it.jfr_summary(jdk, jfr)
        n = summ.counts.get("jdk.ExecutionSample", 0) + summ.counts.get("profiler.WallClockSample", 0)
        ck.check(summ.rc == 0 and n > 0, "samples from before the trip are still written",
                 f"rc={summ.rc} ExecutionSample+WallClockSample={n}",
                 on_fail=it.indent_tail(summ.text))
    return run


def real_crash_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-crash-")
        res = it.run_java(jdk, MAIN, ["--seconds", "3", "--npe-threads", "0", "--soe", "0",
                                      "--crash-after", "0.5"],
                          agent=[("interval", "1ms"), ("wall", "5ms"), ("log", "info")],
                          jvm_args=[f"-XX:ErrorFile={work}/hs_err_%p.log",
                                    "-XX:-CreateCoredumpOnCrash"], timeout=90)
        out = res.stdout + res.stderr
        ck.check("jvmsignals: crashing now" in res.stdout and "survived" not in res.stdout,
                 "the workload reached the bad read and did not survive it",
                 on_fail=res.describe())
        ck.check(res.rc not in (0, None) and not res.timed_out, "the JVM exited non-zero",
                 f"rc={res.rc}")
        ck.check("A fatal error has been detected by the Java Runtime Environment" in out
                 and re.search(r"^# +SIGSEGV", out, re.M) is not None,
                 "the JVM reported the SIGSEGV as its own fatal error", on_fail=res.describe())
        # Another thread's "[thread N also had an error]" may be printed in
        # the middle of the frame line, hence the gap allowed before the name.
        ck.check(re.search(r"Problematic frame:\s*\n#\s*V\s+\[libjvm\.so\+0x[0-9a-f]+\]"
                           r".{0,200}?Unsafe_GetByte", out, re.S) is not None,
                 "the problematic frame is Unsafe_GetByte in libjvm, not the agent",
                 on_fail=it.indent_tail(out, 30))
        ck.check(len(glob.glob(os.path.join(work, "hs_err_*.log"))) == 1, "an hs_err file was written")
        ck.check(not any("faults (SIGSEGV/SIGBUS) caught" in ln for ln in res.pyrite_lines()),
                 "the agent did not claim the fault")
    return run


def kill_switch_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-kill-")
        jfr = os.path.join(work, "k.jfr")
        args = ["--seconds", "1", "--soe", "0"]
        res = it.run_java(jdk, MAIN, args, via="tool_options",
                          agent=[("enabled", "true"), ("bogus", "1"), ("file", jfr),
                                 ("interval", "1ms"), ("log", "debug")],
                          env={"PYRITE_DISABLE": "1"}, timeout=60)
        check = it.parse_report(res.stdout, "jvmsignals: done")
        ck.check(res.ok and check is not None and check.get("ok") == "true",
                 "PYRITE_DISABLE=1: the app runs normally", f"rc={res.rc}", on_fail=res.describe())
        lines = res.pyrite_lines()
        ck.check(len(lines) == 1 and "PYRITE_DISABLE" in lines[0],
                 "PYRITE_DISABLE=1: exactly one [pyrite] line, naming the variable",
                 "\n".join(lines))
        ck.check(not os.path.exists(jfr), "PYRITE_DISABLE=1: no JFR written (options not even read)")
        jfr2 = os.path.join(work, "k2.jfr")
        res = it.run_java(jdk, MAIN, args, agent=[("file", jfr2), ("interval", "1ms")],
                          env={"PYRITE_DISABLE": "0"}, timeout=60)
        ck.check(res.ok and not res.pyrite_lines(), "PYRITE_DISABLE=0: app normal, agent silent",
                 on_fail=res.describe())
        summ = it.jfr_summary(jdk, jfr2) if os.path.isfile(jfr2) else None
        ck.check(summ is not None and summ.counts.get("jdk.ExecutionSample", 0) > 0,
                 "PYRITE_DISABLE=0: the agent profiles",
                 f"ExecutionSample={summ.counts.get('jdk.ExecutionSample') if summ else None}")
    return run


def event_none_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-none-")
        jfr = os.path.join(work, "n.jfr")
        res = it.run_java(jdk, MAIN, ["--seconds", "1", "--soe", "0"],
                          agent=[("event", "none"), ("file", jfr), ("log", "info")], timeout=60)
        check_workload_min = it.parse_report(res.stdout, "jvmsignals: done")
        ck.check(res.ok and check_workload_min is not None, "app runs normally", on_fail=res.describe())
        st = it.parse_stats(res.stderr) or {}
        ck.check(st.get("signals") == 0 and st.get("samples") == 0 and st.get("wall_samples") == 0,
                 "event=none: no signal taken, nothing sampled",
                 f"signals={st.get('signals')} samples={st.get('samples')}")
        ck.check(st.get("guard_installed") == 0, "event=none: no SIGSEGV/SIGBUS handler installed",
                 f"guard_installed={st.get('guard_installed')}")
        summ = it.jfr_summary(jdk, jfr) if os.path.isfile(jfr) else None
        ck.check(summ is None or summ.counts.get("jdk.ExecutionSample", 0) == 0,
                 "event=none: no ExecutionSample in the JFR")
    return run


def main() -> None:
    it.require_agent()
    jdks = it.find_jdks()
    it.log("JDKs: " + ", ".join(str(j) for j in jdks))
    cases = []
    for jdk in jdks:
        L = jdk.label
        cases.append((f"jvm_signals.{L}", jvm_signals_case(jdk)))
        cases.append((f"fault_injection.{L}", fault_injection_case(jdk)))
        cases.append((f"real_crash.{L}", real_crash_case(jdk)))
        cases.append((f"kill_switch.{L}", kill_switch_case(jdk)))
    jdk17 = next((j for j in jdks if j.major == 17), jdks[0])
    cases.append((f"event_none.{jdk17.label}", event_none_case(jdk17)))
    it.main(cases)


if __name__ == "__main__":
    main()
