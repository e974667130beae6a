#!/usr/bin/env python3
"""Agent options and attach paths (DESIGN.md §3.2), on every JDK unless noted.

Cases:
  tool_options     JAVA_TOOL_OPTIONS=-agentpath:...=file=X,interval=10ms profiles HotLoop
                   (the same profile checks as test_agent_cpu.py, shorter run).
  bad_option.*     interval=abc, bogus=1, event=perf, interval= (empty), jstackdepth=abc,
                   log=loud, and bogus=1 via JAVA_TOOL_OPTIONS: exactly one `[pyrite]` stderr
                   line naming the key; the app exits 0 with its normal stdout; no JFR written.
  log_off          log=off prints nothing (a healthy run, and an unwritable file=) and
                   still profiles.
  quick_exit       QuickExit with the agent exits 0 with its output, each run < 5 s wall;
                   the startup delta against no agent is printed (median of interleaved runs);
                   a JFR written at exit, if any, must parse.
  jdk_tools        with JAVA_TOOL_OPTIONS=-agentpath:..., `java -version`, `javac -version`,
                   `jcmd -h`, `jfr version` work and the agent prints nothing; at log=debug
                   `jps`, `jcmd`, `jfr`, `javac` are each recognised as a JDK tool; `jcmd <pid>
                   Thread.print` attaches to a JVM that is being profiled.
  twice            -agentpath in JAVA_TOOL_OPTIONS and on the command line: one warning
                   line, the first configuration profiles, the app runs normally.
  unwritable_file  file= in a missing directory: one `[pyrite]` line naming the path, app runs.
  env (JDK 17)     PYRITE_FILE alone enables JFR output; options win over PYRITE_FILE and
                   PYRITE_INTERVAL; a bad PYRITE_INTERVAL gives one line and the app runs.
  interval (JDK 17) interval=20000000 (ns) and interval=50000us change the sample rate.
  jstackdepth (JDK 17) jstackdepth=1 cuts stacks to the leaf frame.
  event_none (JDK 17) event=none records no ExecutionSample.
  jdk_tools_bad_config  a bad option in JAVA_TOOL_OPTIONS and a bad PYROSCOPE_* variable:
                   `jps` and `jcmd -h` print no `[pyrite]` line (JDK tools stay silent even
                   when the configuration is broken), while the app itself still gets its
                   one error line.
  pyroscope_event (JDK 17) the Pyroscope Java agent's variables: PYROSCOPE_PROFILER_EVENT=wall
                   with PYROSCOPE_PROFILING_INTERVAL=20ms records wall-clock samples and no CPU
                   samples; PYROSCOPE_PROFILER_EVENT=alloc records allocation samples and no CPU
                   samples; neither prints anything.

Usage: python3 tests/integration/test_agent_options.py [filter...]
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402

HOT = "pyrite.it.HotLoop"
QUICK = "pyrite.it.QuickExit"
QUICK_BOUND_S = 5.0


def short_hotloop(seconds=1.0, threads=1):
    return ["--seconds", str(seconds), "--threads", str(threads)]


def check_app_normal(ck: it.Checks, res: it.RunResult, what="the app") -> None:
    report = it.parse_report(res.stdout, "hotloop: done")
    ck.check(res.ok and report is not None,
             f"{what} exits 0 with its normal stdout",
             f"rc={res.rc} wall={res.wall_s:.1f}s", on_fail=res.describe())


# ------------------------------------------------------------------------ cases

def tool_options_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-jto-")
        jfr = os.path.join(work, "out.jfr")
        res = it.run_java(jdk, HOT, short_hotloop(2.5, 1), via="tool_options",
                          agent=[("file", jfr), ("interval", "10ms")], timeout=60)
        ck.check("Picked up JAVA_TOOL_OPTIONS" in res.stderr,
                 "the JVM picked up JAVA_TOOL_OPTIONS", on_fail=res.describe())
        ck.check(not res.pyrite_lines(), "agent printed nothing at log=warn",
                 "\n".join(res.pyrite_lines()))
        it.check_hotloop_profile(ck, jdk, res, jfr, 10_000_000, 1)
    return run


BAD_OPTIONS = [
    # (case name, option text, key the message must name)
    ("interval_abc", "interval=abc", "interval"),
    ("unknown_key", "bogus=1", "bogus"),
    ("event_perf", "event=perf", "event"),
    ("interval_empty", "interval=", "interval"),
    ("jstackdepth_abc", "jstackdepth=abc", "jstackdepth"),
    ("log_loud", "log=loud", "log"),
]


def bad_option_case(jdk: it.Jdk, opt: str, key: str, via: str = "agentpath"):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-bad-")
        jfr = os.path.join(work, "out.jfr")
        res = it.run_java(jdk, HOT, short_hotloop(1.0, 1), via=via,
                          agent=f"file={jfr},{opt}", timeout=60)
        lines = res.pyrite_lines()
        ck.measure("agent stderr", lines)
        check_app_normal(ck, res)
        ck.check(len(lines) == 1, "exactly one `[pyrite]` stderr line",
                 f"{len(lines)} lines", on_fail=res.describe())
        ck.check(len(lines) >= 1 and key in lines[0], f"the line names the key `{key}`",
                 lines[0] if lines else "(no line)")
        ck.check(not os.path.exists(jfr), "the agent stays out of the way: no JFR file written",
                 f"{jfr} exists ({os.path.getsize(jfr)} bytes)" if os.path.exists(jfr) else "")
    return run


def log_off_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-logoff-")
        jfr = os.path.join(work, "out.jfr")
        res = it.run_java(jdk, HOT, short_hotloop(1.5, 1), agent=[("file", jfr), ("log", "off")],
                          timeout=60)
        check_app_normal(ck, res)
        ck.check(not res.pyrite_lines() and "pyrite" not in res.stderr.lower(),
                 "log=off: the agent prints nothing", on_fail=res.describe())
        n = len(it.execution_samples(jdk, jfr)) if os.path.isfile(jfr) else -1
        ck.check(n > 0, "log=off still profiles (JFR has ExecutionSample)", f"{n} samples")

        bad = os.path.join(work, "no-such-dir", "sub", "out.jfr")
        res = it.run_java(jdk, HOT, short_hotloop(1.0, 1), agent=[("file", bad), ("log", "off")],
                          timeout=60)
        check_app_normal(ck, res, "the app with an unwritable file=")
        ck.check(not res.pyrite_lines() and "pyrite" not in res.stderr.lower(),
                 "log=off: an unwritable file= prints nothing either", on_fail=res.describe())
    return run


def quick_exit_case(jdk: it.Jdk, rounds: int = 5):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-quick-")
        base, with_agent = [], []
        jfr_files = []
        it.run_java(jdk, QUICK, timeout=60)  # warm the page cache / CDS archive
        for r in range(rounds):
            res0 = it.run_java(jdk, QUICK, timeout=60)
            ck.require(res0.ok and "quickexit: ok" in res0.stdout, "QuickExit without the agent runs",
                       on_fail=res0.describe())
            base.append(res0.wall_s)
            jfr = os.path.join(work, f"q{r}.jfr")
            jfr_files.append(jfr)
            via = "tool_options" if r % 2 else "agentpath"
            res1 = it.run_java(jdk, QUICK, via=via, agent=[("file", jfr)], timeout=60)
            with_agent.append(res1.wall_s)
            ck.check(res1.ok and "quickexit: ok" in res1.stdout,
                     f"round {r} ({via}): QuickExit with the agent exits 0 with its output",
                     f"wall {res1.wall_s:.2f}s", on_fail=res1.describe())
            ck.check(res1.wall_s < QUICK_BOUND_S and not res1.timed_out,
                     f"round {r}: exits within {QUICK_BOUND_S:.0f}s", f"{res1.wall_s:.2f}s")
            ck.check(not res1.pyrite_lines(), f"round {r}: agent printed nothing at log=warn",
                     "\n".join(res1.pyrite_lines()))
        mb, ma = it.median(base), it.median(with_agent)
        ck.measure("QuickExit wall without agent (median, min-max)",
                   f"{mb * 1000:.0f} ms ({min(base) * 1000:.0f}-{max(base) * 1000:.0f})")
        ck.measure("QuickExit wall with agent (median, min-max)",
                   f"{ma * 1000:.0f} ms ({min(with_agent) * 1000:.0f}-{max(with_agent) * 1000:.0f})")
        ck.measure("startup delta (median with - median without)", f"{(ma - mb) * 1000:+.0f} ms")
        written = [f for f in jfr_files if os.path.exists(f)]
        ck.measure("JFR files written at exit", f"{len(written)}/{len(jfr_files)}")
        for f in written:
            s = it.jfr_summary(jdk, f)
            ck.check(s.rc == 0, f"JFR written at exit parses ({os.path.basename(f)})",
                     f"{os.path.getsize(f)} bytes, chunks={s.chunks}", on_fail=it.indent_tail(s.text))
    return run


def jdk_tools_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        jto = {"JAVA_TOOL_OPTIONS": it.agent_arg(None)}
        tools = [
            (["java", "-version"], lambda r: 'version "' in r.stderr),
            (["javac", "-version"], lambda r: "javac" in (r.stdout + r.stderr)),
            (["jcmd", "-h"], lambda r: "jcmd" in (r.stdout + r.stderr)),
            (["jfr", "version"], lambda r: r.stdout.strip() != ""),
        ]
        for argv, looks_ok in tools:
            exe = jdk.tool(argv[0])
            if not os.access(exe, os.X_OK):
                ck.measure(f"{argv[0]}", "not in this JDK, skipped")
                continue
            res = it.run_cmd([exe] + argv[1:], jto, timeout=60)
            ck.check(res.ok and looks_ok(res) and "Picked up JAVA_TOOL_OPTIONS" in res.stderr,
                     f"`{' '.join(argv)}` works with the agent in JAVA_TOOL_OPTIONS",
                     f"rc={res.rc} wall={res.wall_s:.2f}s", on_fail=res.describe())
            ck.check(not res.pyrite_lines(), f"`{' '.join(argv)}`: agent printed nothing",
                     "\n".join(res.pyrite_lines()))

        # The agent must recognise each tool (its main class sits in a JDK module:
        # sun.java.command is "jdk.jcmd/sun.tools.jps.Jps") and stay off, so a
        # container's JAVA_TOOL_OPTIONS never profiles or uploads `jps` as the app.
        jto_debug = {"JAVA_TOOL_OPTIONS": it.agent_arg([("log", "debug")])}
        for argv in (["jps"], ["jcmd", "-h"], ["jfr", "version"], ["javac", "-version"]):
            exe = jdk.tool(argv[0])
            if not os.access(exe, os.X_OK):
                continue
            res = it.run_cmd([exe] + argv[1:], jto_debug, timeout=60)
            lines = res.pyrite_lines()
            ck.check(res.ok and any("JDK tool detected" in ln for ln in lines)
                     and not any("agent loaded" in ln for ln in lines),
                     f"`{' '.join(argv)}`: recognised as a JDK tool, profiling off",
                     "; ".join(lines), on_fail=res.describe())

        # jcmd attaches to a JVM that the agent is profiling (SIGPROF + attach/SIGQUIT).
        work = it.make_tempdir("pyrite-it-attach-")
        jfr = os.path.join(work, "out.jfr")
        cmd = it.java_cmd(jdk, HOT, short_hotloop(8, 1), it.compile_workloads(),
                          agent=[("file", jfr)])
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=it.clean_env(), start_new_session=True)
        try:
            time.sleep(2.0)
            res = it.run_cmd([jdk.tool("jcmd"), str(p.pid), "Thread.print"], timeout=60)
            ck.check(res.ok and "pyrite-hot-0" in res.stdout,
                     "`jcmd <pid> Thread.print` attaches to a profiled JVM",
                     f"rc={res.rc} wall={res.wall_s:.2f}s", on_fail=res.describe())
            out, err = p.communicate(timeout=60)
        except Exception:
            os.killpg(p.pid, 9)
            p.communicate()
            raise
        ck.check(p.returncode == 0 and "hotloop: done" in out,
                 "the profiled JVM finishes normally after the attach",
                 f"rc={p.returncode}", on_fail=f"stdout: {out}\nstderr: {err}")
        n = len(it.execution_samples(jdk, jfr)) if os.path.isfile(jfr) else -1
        ck.check(n > 0, "and its JFR has samples", f"{n} samples")
    return run


def twice_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-twice-")
        first = os.path.join(work, "first.jfr")
        second = os.path.join(work, "second.jfr")
        cmd = it.java_cmd(jdk, HOT, short_hotloop(1.5, 1), it.compile_workloads(),
                          agent=[("file", second)])
        env = {"JAVA_TOOL_OPTIONS": it.agent_arg([("file", first), ("interval", "10ms")])}
        res = it.run_cmd(cmd, env, timeout=60)
        check_app_normal(ck, res)
        warns = [ln for ln in res.pyrite_lines() if "given twice" in ln]
        ck.check(len(warns) == 1, "one warning names the double load", "; ".join(res.pyrite_lines()))
        ck.check(os.path.isfile(first) and len(it.execution_samples(jdk, first)) > 0,
                 "the first configuration (JAVA_TOOL_OPTIONS) profiles", first)
        ck.check(not os.path.exists(second), "the second is ignored (no second JFR)", second)
    return run


def unwritable_file_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-unwritable-")
        targets = [os.path.join(work, "no-such-dir", "sub", "out.jfr")]
        if os.geteuid() != 0:  # root writes through directory permissions
            ro = os.path.join(work, "readonly")
            os.mkdir(ro, 0o555)
            targets.append(os.path.join(ro, "out.jfr"))
        for target in targets:
            res = it.run_java(jdk, HOT, short_hotloop(1.0, 1), agent=[("file", target)], timeout=60)
            lines = res.pyrite_lines()
            ck.measure("agent stderr", lines)
            check_app_normal(ck, res)
            ck.check(len(lines) == 1, "exactly one `[pyrite]` stderr line", f"{len(lines)} lines",
                     on_fail=res.describe())
            ck.check(len(lines) >= 1 and (target in lines[0] or os.path.dirname(target) in lines[0]),
                     "the line names the path", lines[0] if lines else "(no line)")
            ck.check(not os.path.exists(target), "nothing was written there")
    return run


def env_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-env-")

        def env_only() -> None:
            # PYRITE_FILE alone, agent attached without options.
            a = os.path.join(work, "env-only.jfr")
            res = it.run_cmd(it.java_cmd(jdk, HOT, short_hotloop(2.0, 1), it.compile_workloads(),
                                         agent=""), {"PYRITE_FILE": a}, timeout=60)
            it.check_hotloop_profile(ck, jdk, res, a, 10_000_000, 1)

        def options_win() -> None:
            env_file = os.path.join(work, "from-env.jfr")
            opt_file = os.path.join(work, "from-option.jfr")
            res = it.run_java(jdk, HOT, short_hotloop(3.0, 1),
                              agent=[("file", opt_file), ("interval", "10ms")],
                              env={"PYRITE_FILE": env_file, "PYRITE_INTERVAL": "50ms"}, timeout=60)
            ck.check(not os.path.exists(env_file), "PYRITE_FILE is ignored when file= is given")
            # At 50 ms the count would be ~0.2x of CPU/10ms and fail the 0.3x..1.5x window.
            it.check_hotloop_profile(ck, jdk, res, opt_file, 10_000_000, 1)

        def bad_env() -> None:
            b = os.path.join(work, "bad-env.jfr")
            res = it.run_cmd(it.java_cmd(jdk, HOT, short_hotloop(1.0, 1), it.compile_workloads(),
                                         agent=""), {"PYRITE_FILE": b, "PYRITE_INTERVAL": "abc"},
                             timeout=60)
            lines = res.pyrite_lines()
            ck.measure("agent stderr", lines)
            check_app_normal(ck, res)
            ck.check(len(lines) == 1 and "interval" in lines[0].lower(),
                     "exactly one `[pyrite]` line naming the interval", f"{lines}",
                     on_fail=res.describe())

        ck.step("env.PYRITE_FILE", env_only)
        ck.step("env.options_win", options_win)
        ck.step("env.bad_PYRITE_INTERVAL", bad_env)
    return run


def interval_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-interval-")
        for spec in ("20000000", "50000us"):
            def one(spec=spec) -> None:
                jfr = os.path.join(work, f"i-{spec}.jfr")
                res = it.run_java(jdk, HOT, short_hotloop(3.0, 1),
                                  agent=[("interval", spec), ("file", jfr), ("log", "info")], timeout=60)
                st = it.parse_stats(res.stderr) or {}
                ck.measure("agent stats", " ".join(f"{k}={st.get(k)}" for k in ("signals", "samples", "overruns")))
                # A 10 ms default would give 2x / 5x the expected count and fail the window.
                it.check_hotloop_profile(ck, jdk, res, jfr, it.parse_duration_ns(spec), 1)
            ck.step(f"interval.{spec}", one)
    return run


def jstackdepth_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-depth-")
        jfr = os.path.join(work, "d.jfr")
        res = it.run_java(jdk, HOT, short_hotloop(1.5, 1), agent=[("jstackdepth", "1"), ("file", jfr)],
                          timeout=60)
        check_app_normal(ck, res)
        samples = it.execution_samples(jdk, jfr) if os.path.isfile(jfr) else []
        ck.require(len(samples) > 0, "JFR has samples", f"{len(samples)}", on_fail=res.describe())
        depths = it.histogram(len(s.frames) for s in samples)
        ck.measure("stack depths", it.fmt_hist(depths))
        ck.measure("truncated flags", it.fmt_hist(it.histogram(s.truncated for s in samples)))
        # One real frame, plus at most one synthetic "truncated" marker.
        ck.check(all(len(s.frames) <= 2 for s in samples), "jstackdepth=1: at most 1 frame (+ a marker)")
        callers = sum(1 for s in samples if any(f.qname in ("java.lang.Thread.run", HOT + "$Worker.run")
                                                for f in s.frames))
        ck.check(callers == 0, "jstackdepth=1: no caller frames recorded", f"{callers} samples with callers")
        hot = sum(1 for s in samples if s.frames and it.is_hot(s.frames[0]))
        ck.check(hot / len(samples) >= 0.5, "the kept frame is the leaf (hot method)",
                 f"{hot}/{len(samples)}")
    return run


def event_none_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-none-")
        jfr = os.path.join(work, "n.jfr")
        res = it.run_java(jdk, HOT, short_hotloop(1.0, 1), agent=[("event", "none"), ("file", jfr)],
                          timeout=60)
        check_app_normal(ck, res)
        ck.check(not res.pyrite_lines(), "event=none is a valid value (no message)",
                 "\n".join(res.pyrite_lines()))
        n = len(it.execution_samples(jdk, jfr)) if os.path.isfile(jfr) else 0
        ck.measure("JFR written", os.path.isfile(jfr))
        ck.check(n == 0, "event=none records no ExecutionSample", f"{n} samples")
    return run


def jdk_tools_bad_config_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        env = {"JAVA_TOOL_OPTIONS": it.agent_arg([("bogus", "1")])}
        for argv in (["jps"], ["jcmd", "-h"]):
            exe = jdk.tool(argv[0])
            if not os.access(exe, os.X_OK):
                ck.measure(argv[0], "not in this JDK, skipped")
                continue
            for extra in ({}, {"PYROSCOPE_PROFILER_EVENT": "perf"}):
                e = dict(env, **extra)
                if extra:  # a valid option string, only the variable is bad
                    e["JAVA_TOOL_OPTIONS"] = it.agent_arg(None)
                res = it.run_cmd([exe] + argv[1:], e, timeout=60)
                what = "bad PYROSCOPE_PROFILER_EVENT" if extra else "bogus=1"
                ck.check(res.ok and not res.pyrite_lines(),
                         f"`{' '.join(argv)}` with {what}: runs, agent silent",
                         "\n".join(res.pyrite_lines()), on_fail=res.describe())
        # The same configuration in the application still reports the problem.
        res = it.run_java(jdk, HOT, short_hotloop(0.5, 1), agent=[("bogus", "1")],
                          via="tool_options", timeout=60)
        check_app_normal(ck, res)
        ck.check(len(res.pyrite_lines()) == 1 and "bogus" in res.pyrite_lines()[0],
                 "the application still gets its one error line", "\n".join(res.pyrite_lines()))
    return run


def pyroscope_event_case(jdk: it.Jdk):
    def run(ck: it.Checks) -> None:
        work = it.make_tempdir("pyrite-it-pyev-")
        wall_jfr = os.path.join(work, "wall.jfr")
        res = it.run_java(jdk, HOT, short_hotloop(1.5, 1), agent=None,
                          env={"JAVA_TOOL_OPTIONS": it.agent_arg(None), "PYRITE_FILE": wall_jfr,
                               "PYROSCOPE_PROFILER_EVENT": "wall",
                               "PYROSCOPE_PROFILING_INTERVAL": "20ms"}, timeout=60)
        check_app_normal(ck, res, "event=wall: the app")
        ck.check(not res.pyrite_lines(), "PYROSCOPE_PROFILER_EVENT=wall is accepted silently",
                 "\n".join(res.pyrite_lines()))
        summ = it.jfr_summary(jdk, wall_jfr) if os.path.isfile(wall_jfr) else None
        counts = summ.counts if summ else {}
        ck.check(counts.get("profiler.WallClockSample", 0) > 0
                 and counts.get("jdk.ExecutionSample", 0) == 0,
                 "wall mode: wall-clock samples, no CPU samples", str(counts))

        alloc_jfr = os.path.join(work, "alloc.jfr")
        res = it.run_java(jdk, HOT, ["--seconds", "1.5", "--alloc-kb-per-s", "20000"], agent=None,
                          env={"JAVA_TOOL_OPTIONS": it.agent_arg(None), "PYRITE_FILE": alloc_jfr,
                               "PYROSCOPE_PROFILER_EVENT": "alloc"}, timeout=60)
        check_app_normal(ck, res, "event=alloc: the app")
        ck.check(not res.pyrite_lines(), "PYROSCOPE_PROFILER_EVENT=alloc is accepted silently",
                 "\n".join(res.pyrite_lines()))
        summ = it.jfr_summary(jdk, alloc_jfr) if os.path.isfile(alloc_jfr) else None
        counts = summ.counts if summ else {}
        alloc = sum(v for k, v in counts.items() if k.startswith("jdk.ObjectAllocation"))
        ck.check(alloc > 0 and counts.get("jdk.ExecutionSample", 0) == 0,
                 "alloc mode: allocation samples, no CPU samples", str(counts))
    return run


def main() -> None:
    it.require_agent()
    jdks = it.find_jdks()
    it.log("JDKs: " + ", ".join(str(j) for j in jdks))
    jdk17 = jdks[0] if jdks[0].major == 17 else None
    cases = []
    for jdk in jdks:
        L = jdk.label
        cases.append((f"tool_options.{L}", tool_options_case(jdk)))
        for name, opt, key in BAD_OPTIONS:
            cases.append((f"bad_option.{name}.{L}", bad_option_case(jdk, opt, key)))
        cases.append((f"bad_option.unknown_key_tool_options.{L}",
                      bad_option_case(jdk, "bogus=1", "bogus", via="tool_options")))
        cases.append((f"log_off.{L}", log_off_case(jdk)))
        cases.append((f"quick_exit.{L}", quick_exit_case(jdk)))
        cases.append((f"jdk_tools.{L}", jdk_tools_case(jdk)))
        cases.append((f"unwritable_file.{L}", unwritable_file_case(jdk)))
        cases.append((f"twice.{L}", twice_case(jdk)))
    for jdk in [jdk17 or jdks[0]]:
        L = jdk.label
        cases.append((f"env.{L}", env_case(jdk)))
        cases.append((f"interval.{L}", interval_case(jdk)))
        cases.append((f"jstackdepth.{L}", jstackdepth_case(jdk)))
        cases.append((f"event_none.{L}", event_none_case(jdk)))
        cases.append((f"pyroscope_event.{L}", pyroscope_event_case(jdk)))
    for jdk in jdks:
        cases.append((f"jdk_tools_bad_config.{jdk.label}", jdk_tools_bad_config_case(jdk)))
    it.main(cases)


if __name__ == "__main__":
    main()
