#!/usr/bin/env python3
"""Agent stress suite (issue 8): every profiling mode at once, uploading to a real pyrited,
on a JVM doing everything that is hard on a sampling profiler at the same time
(tests/integration/workloads/Stress.java):

  thread churn (340-1,100 platform threads/s on this shared 2-core VM), classes defined from bytes in
  fresh loaders, JIT-compiled, deoptimised (class-hierarchy change, type-profile pollution,
  unstable-if traps) and unloaded by System.gc() every 2 s (jmethodIDs going stale while
  samples may reference them), recursion 5,000 frames deep (past jstackdepth) and
  StackOverflowError on a 256 KiB stack, exception storms (own exceptions, implicit null /
  zero checks, bounds, 50-frame stack traces), JNI (tests/integration/jni/stress_jni.c:
  C spinning and calling back into Java, nested Java -> C -> Java -> C), monitor contention
  with allocation, and on JDK >= 21 virtual threads (workloads/jdk21/StressVirtual.java,
  compiled here with --release 21).

Per JDK (17, and every JDK >= 21 found: 25 here) one configuration; they alternate so both
are covered in CI (PYRITE_STRESS_CONFIGS=all runs both on every JDK):
  A  event=itimer,interval=1ms,wall=10ms,alloc=64k,lock=1ms,jstackdepth=64
  B  event=cpu,interval=5ms,wall=20ms,alloc=512k,lock=1ms   (jstackdepth default 2048)
both with server=<pyrited on a free loopback port>,upload=1s,file=<tmp>.jfr,log=info and
-Xms256m -Xmx256m -XX:+AlwaysPreTouch (a fixed, pre-touched heap, so RSS growth is native).

Pass (each a check; one run reports all that failed):
  - no crash: exit 0, no hs_err file (-XX:ErrorFile points into the run's temp dir);
  - no deadlock: the JVM finishes within seconds + 90 s (on timeout the test prints
    `jcmd Thread.print`, then kills it), and the shipper keeps uploading: pyrited's
    pyrited_ingest_uploads_total{format="jfr"}, polled every 2 s, grows in the last third of
    the run; at exit uploads_sent >= seconds / 4, none rejected by pyrited (a corrupt JFR,
    e.g. from a stale method id, would be a 4xx) and no parse error on the server;
  - bounded memory: VmRSS every second; max over the last third <= max over the first
    third (after a 5 s warm-up) + RSS_MARGIN_MIB (see below), plus, when the run without
    the agent lasted >= 60 s (PYRITE_STRESS_REFERENCE_SECONDS), that run's own growth
    measured the same way (the JVM alone grows under this load); the agent's counters stay
    bounded: ring_high_water <= ring_capacity (a full ring drops and counts, it does not
    grow), methods_cached <= the symbol cache capacity;
  - the app's results unchanged: every component's digest equals the digest of a run
    without the agent, no epoch's digest differed within the run (mismatches=0), every
    component completed >= 1 epoch;
  - every mode sampled: stats samples, wall_samples, alloc_samples, lock_events > 0, stacks
    deeper than jstackdepth were truncated (truncated > 0), `jfr summary` of the file
    reads all four event types, and `jfr print --json` of the CPU and wall events shows
    Java callbacks above the native frame, plugin (class-churn) code, the deep recursion
    and truncated stacks.

RSS margin: the JVM itself grows natively under this load with no agent at all (measured
over 300 s without the agent: +8 to +17 MiB on JDK 17, +44 to +47 MiB on JDK 25; code cache
and metaspace for classes recompiled and unloaded all the time, malloc arenas of ~1,000
threads/s). RSS_MARGIN_MIB = 64 on top of that is generous. In a 300 s run the two thirds
are ~200 s apart, so it still catches a leak of ~330 KiB/s: ~400 bytes per thread at
~800 threads/s, ~1.3 KiB per class or per sample at ~250/s. docs/reliability.md "Agent:
stress suite" has the numbers.

Usage: python3 tests/integration/test_agent_stress.py [filter...]   e.g. `jdk17`
Env: PYRITE_BUILD_DIR, PYRITE_STRESS_SECONDS (seconds per JVM run; default 20; 0 skips),
     PYRITE_STRESS_CONFIGS=all (both configurations on every JDK),
     PYRITE_STRESS_REFERENCE_SECONDS (the run without the agent; default 3, or
     PYRITE_STRESS_SECONDS when that is >= 60, so a long run measures the JVM's own growth).
"""

import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

SECONDS = float(os.environ.get("PYRITE_STRESS_SECONDS", "20"))
MAIN = "pyrite.it.Stress"
JNI_SOURCE = os.path.join(it.SOURCE_DIR, "tests", "integration", "jni", "stress_jni.c")
VTHREAD_SOURCE = os.path.join(it.WORKLOAD_DIR, "jdk21", "StressVirtual.java")
LONG_REFERENCE_S = 60
# Long runs get an equally long baseline without the agent (its RSS growth is allowed too).
REFERENCE_SECONDS = float(os.environ.get("PYRITE_STRESS_REFERENCE_SECONDS",
                                         str(SECONDS) if SECONDS >= LONG_REFERENCE_S else "3"))
WARMUP_S = 5.0
RSS_MARGIN_MIB = 64
# A short run (CI) measures no reference growth and its thirds are seconds
# apart, so the agent's one-off early step (35-42 MiB measured) can land
# between them; on a fast machine more work gets done per second.  A wider
# margin there keeps the check about leaks, not about machine speed.
RSS_MARGIN_SHORT_MIB = 128
EXIT_SLACK_S = 90
SYMBOL_CACHE_CAP = 65536  # MAX_METHODS in agent/profiler.c: the symbol cache is a fixed array
STACK_PRINT_DEPTH = 96
NATIVE_CLS = "pyrite.it.StressNative"
PLUGIN_CLS = "pyrite.it.StressPlugin"
JVM_ARGS = ["-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch"]

CONFIGS = {
    "A": [("event", "itimer"), ("interval", "1ms"), ("wall", "10ms"), ("alloc", "64k"),
          ("lock", "1ms"), ("jstackdepth", "64")],
    "B": [("event", "cpu"), ("interval", "5ms"), ("wall", "20ms"), ("alloc", "512k"),
          ("lock", "1ms")],
}
EVENT_TYPES = ("jdk.ExecutionSample", "profiler.WallClockSample", "jdk.ObjectAllocationInNewTLAB",
               "jdk.JavaMonitorEnter")
UPLOADS_KEY = 'pyrited_ingest_uploads_total{format="jfr"}'
REJECTED_KEY = 'pyrited_ingest_rejected_total{format="jfr"}'
PARSE_ERR_KEY = 'pyrited_ingest_parse_errors_total{format="jfr"}'


# ------------------------------------------------------------------ preparation

def build_extras(jdk: it.Jdk) -> Tuple[str, str, List[str]]:
    """(classpath, libstress_jni.so path, extra workload args) for this JDK."""
    work = it.make_tempdir(f"pyrite-it-stress-build-{jdk.label}-")
    classes = it.compile_workloads()
    lib = os.path.join(work, "libstress_jni.so")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc) to build tests/integration/jni/stress_jni.c")
    inc = os.path.join(jdk.home, "include")
    p = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
                        "-I", inc, "-I", os.path.join(inc, "linux"), "-o", lib, JNI_SOURCE],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"cc stress_jni.c failed:\n{p.stdout}{p.stderr}")
    cp = classes
    args = ["--jni", lib]
    if jdk.major >= 21 and not os.access(jdk.tool("javac"), os.X_OK):
        it.log(f"  note: {jdk} has no javac: no virtual-thread component")
    elif jdk.major >= 21:
        out = os.path.join(work, "classes21")
        os.makedirs(out)
        p = subprocess.run([jdk.tool("javac"), "--release", "21", "-g", "-encoding", "UTF-8",
                            "-cp", classes, "-d", out, VTHREAD_SOURCE],
                           capture_output=True, text=True, timeout=300, env=it.clean_env())
        if p.returncode != 0:
            raise RuntimeError(f"javac StressVirtual.java failed:\n{p.stdout}{p.stderr}")
        cp = classes + os.pathsep + out
        args.append("--vthreads")
    return cp, lib, args


def jvm_args(jdk: it.Jdk, work: str) -> List[str]:
    a = JVM_ARGS + [f"-XX:ErrorFile={os.path.join(work, 'hs_err_pid%p.log')}"]
    if jdk.major >= 22:
        a.append("--enable-native-access=ALL-UNNAMED")  # System.load without a warning
    return a


def parse_results(stdout: str) -> Dict[str, dict]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("result "):
            kv = it.parse_kv(line[len("result "):])
            out[str(kv.get("name"))] = kv
    return out


# ----------------------------------------------------------------------- helpers

def rss_bytes(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def thread_dump(jdk: it.Jdk, pid: int) -> str:
    try:
        p = subprocess.run([jdk.tool("jcmd"), str(pid), "Thread.print"], capture_output=True,
                           text=True, errors="replace", timeout=30, env=it.clean_env())
        return p.stdout[-20000:] + p.stderr[-2000:]
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"(jcmd failed: {e})"


def mib(b: float) -> str:
    return f"{b / 2**20:.1f} MiB"


def metric(m: Optional[Dict[str, float]], key: str) -> Optional[float]:
    return None if m is None else m.get(key)


# -------------------------------------------------------------------------- case

def stress_case(jdk: it.Jdk, config: str, seconds: float):
    def run(ck: it.Checks) -> None:
        ck.measure("jdk", jdk)
        cp, _lib, wl_args = build_extras(jdk)
        work = it.make_tempdir(f"pyrite-it-stress-{jdk.label}-{config}-")

        # Reference: the same workload without the agent (digests; RSS for comparison).
        ref_dir = os.path.join(work, "reference")
        os.makedirs(ref_dir)
        ref, ref_rss, _ = run_sampled(ck, jdk, it.java_cmd(jdk, MAIN, ["--seconds", str(REFERENCE_SECONDS)]
                                                           + wl_args, cp, None, False,
                                                           jvm_args(jdk, ref_dir)),
                                      ref_dir, REFERENCE_SECONDS, None)
        ck.require(ref.ok, "reference run without the agent exits 0",
                   f"wall={ref.wall_s:.1f}s", on_fail=ref.describe())
        ref_results = parse_results(ref.stdout)
        ck.measure("reference", it.parse_report(ref.stdout, "stress: done"))
        r_first, r_last = rss_growth(ck, "reference (no agent)", ref_rss)
        # A long reference run measures the JVM's own growth under this load; the agent
        # may add RSS_MARGIN_MIB to that. A short one (CI) measures nothing useful.
        jvm_growth = max(0, r_last - r_first) if REFERENCE_SECONDS >= LONG_REFERENCE_S else 0

        srv = sit.Server().start()
        try:
            jfr = os.path.join(work, "out.jfr")
            opts = CONFIGS[config] + [("server", f"http://127.0.0.1:{srv.port}"),
                                      ("app", f"stress-{jdk.label}"), ("upload", "1s"),
                                      ("file", jfr), ("log", "info")]
            ck.measure("agent options", it.format_options(opts))
            cmd = it.java_cmd(jdk, MAIN, ["--seconds", str(seconds)] + wl_args, cp, opts, True,
                              jvm_args(jdk, work))
            res, rss, uploads = run_sampled(ck, jdk, cmd, work, seconds, srv)
            final_metrics = srv.metrics()
            srv_alive = srv.alive()
            srv_rc = srv.stop()
        finally:
            srv.cleanup()

        lines = res.pyrite_lines()
        for ln in lines:
            it.log(f"    {ln}")
        hs_err = [f for f in os.listdir(work) if f.startswith("hs_err")]
        for f in hs_err:
            with open(os.path.join(work, f), errors="replace") as fh:
                it.log(f"---- {f} (head)\n" + "".join(fh.readlines()[:60]))
        ck.check(res.ok and not hs_err, "no crash: JVM exits 0 within the timeout, no hs_err file",
                 f"rc={res.rc} timed_out={res.timed_out} wall={res.wall_s:.1f}s hs_err={hs_err}",
                 on_fail=res.describe())
        errors = [ln for ln in lines if ln.startswith("[pyrite] error")]
        ck.check(not errors, "agent logged no errors", "\n".join(errors[:10]))
        ck.check(srv_alive and srv_rc == 0, "pyrited survived and stopped cleanly",
                 f"alive={srv_alive} rc={srv_rc}")

        # The app's results.
        done = it.parse_report(res.stdout, "stress: done")
        ck.require(done is not None, "workload printed its summary", on_fail=res.describe())
        ck.measure("workload", " ".join(f"{k}={v}" for k, v in done.items()))
        ck.check(done.get("failures") == 0 and done.get("mismatches") == 0,
                 "no component failed, every epoch's digest equal within the run",
                 f"failures={done.get('failures')} mismatches={done.get('mismatches')}")
        results = parse_results(res.stdout)
        want = sorted(ref_results)
        bad = [f"{n}: {results.get(n, {}).get('digest')} vs {ref_results[n].get('digest')}"
               for n in want if results.get(n, {}).get("digest") != ref_results[n].get("digest")]
        ck.check(bool(want) and not bad, "every component's digest equals the run without the agent",
                 f"{len(want)} components: " + (", ".join(bad) if bad else ", ".join(want)))
        epochs = {n: r.get("epochs") for n, r in results.items()}
        ck.check(bool(epochs) and all(isinstance(e, int) and e >= 1 for e in epochs.values()),
                 "every component completed >= 1 epoch", str(epochs))
        el = float(done.get("seconds") or seconds)
        ck.measure("rates", f"threads {int(done.get('threads_started', 0)) / el:.0f}/s, "
                            f"classes loaded {int(done.get('classes_loaded', 0)) / el:.0f}/s, "
                            f"unloaded {int(done.get('classes_unloaded', 0)) / el:.0f}/s")
        ck.check(int(done.get("classes_unloaded", 0)) > 0 and int(done.get("soe", 0)) > 0,
                 "classes were unloaded and StackOverflowError was caught",
                 f"classes_unloaded={done.get('classes_unloaded')} soe={done.get('soe')}")

        st = it.parse_stats(res.stderr)
        ck.require(st is not None, "agent printed `[pyrite] info: stats ...` at exit",
                   on_fail=res.describe())
        ck.measure("stats", " ".join(f"{k}={v}" for k, v in st.items()))
        check_modes(ck, st)
        check_uploads(ck, st, uploads, final_metrics, seconds)
        check_memory(ck, st, rss, jvm_growth)
        check_jfr(ck, jdk, jfr)
    return run


def run_sampled(ck: it.Checks, jdk: it.Jdk, cmd: List[str], work: str, seconds: float,
                srv: Optional["sit.Server"]) -> Tuple[it.RunResult, List[Tuple[float, int]], List[Tuple[float, float]]]:
    """Run the JVM; sample its RSS every second and pyrited's upload count every 2 s."""
    out_path, err_path = os.path.join(work, "stdout"), os.path.join(work, "stderr")
    rss: List[Tuple[float, int]] = []
    uploads: List[Tuple[float, float]] = []
    t0 = time.monotonic()
    timed_out = False
    n = 0
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=it.clean_env(), cwd=work,
                             start_new_session=True)
        while p.poll() is None:
            now = time.monotonic() - t0
            r = rss_bytes(p.pid)
            if r is not None:
                rss.append((now, r))
            if srv is not None and n % 2 == 0:
                try:
                    u = metric(srv.metrics(), UPLOADS_KEY)
                    if u is not None:
                        uploads.append((now, u))
                except (OSError, RuntimeError):
                    pass
            n += 1
            if now > seconds + EXIT_SLACK_S:
                timed_out = True
                it.log("  JVM did not finish in time; thread dump:\n" + thread_dump(jdk, p.pid))
                os.killpg(p.pid, 9)
                p.wait()
                break
            time.sleep(1.0)
    wall = time.monotonic() - t0
    with open(out_path, errors="replace") as f:
        stdout = f.read()
    with open(err_path, errors="replace") as f:
        stderr = f.read()
    res = it.RunResult(cmd=cmd, env_extra={}, rc=p.returncode, stdout=stdout, stderr=stderr,
                       wall_s=wall, timed_out=timed_out)
    it.log("  $ " + " ".join(it.shell_quote(c) for c in cmd))
    return res, rss, uploads


def check_modes(ck: it.Checks, st: dict) -> None:
    keys = ("samples", "wall_samples", "alloc_samples", "lock_events")
    ck.check(all(isinstance(st.get(k), int) and st[k] > 0 for k in keys),
             "every mode took samples (samples, wall_samples, alloc_samples, lock_events > 0)",
             " ".join(f"{k}={st.get(k)}" for k in keys))
    ck.check(isinstance(st.get("truncated"), int) and st["truncated"] > 0,
             "stacks deeper than jstackdepth were truncated (truncated > 0)",
             f"truncated={st.get('truncated')}")


def check_uploads(ck: it.Checks, st: dict, uploads: List[Tuple[float, float]],
                  final: Dict[str, float], seconds: float) -> None:
    ck.measure("pyrited uploads over time",
               " ".join(f"{t:.0f}s:{u:.0f}" for t, u in uploads[::max(1, len(uploads) // 12)]))
    sent = st.get("uploads_sent")
    ck.check(isinstance(sent, int) and sent >= seconds / 4,
             "the shipper kept uploading: uploads_sent >= seconds / 4 (upload=1s)",
             f"uploads_sent={sent} submitted={st.get('uploads_submitted')} "
             f"failed_attempts={st.get('upload_failed_attempts')} "
             f"queue_dropped={st.get('uploads_queue_dropped')} exhausted={st.get('uploads_exhausted')}")
    ck.check(st.get("uploads_rejected") == 0, "no upload rejected by pyrited (agent's count)",
             f"uploads_rejected={st.get('uploads_rejected')}")
    last_third = [(t, u) for t, u in uploads if t >= seconds * 2 / 3]
    grew = len(last_third) >= 2 and last_third[-1][1] > last_third[0][1]
    ck.check(grew, "pyrited's upload count grows during the last third of the run (no stuck shipper)",
             f"{last_third[0][1]:.0f} -> {last_third[-1][1]:.0f}" if last_third else "no samples")
    rej, perr = final.get(REJECTED_KEY), final.get(PARSE_ERR_KEY)
    ck.check(rej == 0 and perr == 0, "pyrited rejected nothing and parsed every JFR",
             f"uploads={final.get(UPLOADS_KEY)} rejected={rej} parse_errors={perr}")


def rss_growth(ck: it.Checks, what: str, rss: List[Tuple[float, int]]) -> Tuple[int, int]:
    """Print the RSS series; return (max of the first third, max of the last third) after
    the warm-up, (0, 0) if there are fewer than 3 samples."""
    ck.measure(f"{what}: RSS samples (MiB)",
               " ".join(f"{t:.0f}s:{r / 2**20:.0f}" for t, r in rss[::max(1, len(rss) // 15)]))
    after = [(t, r) for t, r in rss if t >= WARMUP_S]
    if len(after) < 3:
        return 0, 0
    third = len(after) // 3
    first = max(r for _, r in after[:third])
    last = max(r for _, r in after[-third:])
    xs, ys = [t for t, _ in after], [r for _, r in after]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
    ck.measure(f"{what}: RSS growth after the {WARMUP_S:g} s warm-up",
               f"first third max {mib(first)}, last third max {mib(last)} "
               f"({(last - first) / 2**20:+.1f} MiB), max {mib(max(ys))}, "
               f"slope {slope * 60 / 2**20:+.2f} MiB/min")
    return first, last


def check_memory(ck: it.Checks, st: dict, rss: List[Tuple[float, int]], jvm_growth: int) -> None:
    after = [(t, r) for t, r in rss if t >= WARMUP_S]
    ck.require(len(after) >= 6, f"RSS sampled >= 6 times after the {WARMUP_S:g} s warm-up",
               f"{len(after)} samples")
    first, last = rss_growth(ck, "agent", rss)
    margin = RSS_MARGIN_MIB if SECONDS >= 60 else RSS_MARGIN_SHORT_MIB
    allowed = margin * 2**20 + jvm_growth
    ck.check(last <= first + allowed,
             f"RSS plateaus: max of the last third <= max of the first third (after warm-up) "
             f"+ {margin} MiB + the growth of a long run without the agent",
             f"allowed +{mib(allowed)} (JVM's own growth {mib(jvm_growth)}); first third max {mib(first)}, last third max {mib(last)} ({(last - first) / 2**20:+.1f} MiB), "
             f"overall max {mib(max(r for _, r in rss))}")
    hw, cap = st.get("ring_high_water"), st.get("ring_capacity")
    ck.check(isinstance(hw, int) and isinstance(cap, int) and 0 < hw <= cap,
             "ring is bounded: 0 < ring_high_water <= ring_capacity (overflow is dropped and counted)",
             f"ring_high_water={hw} ring_capacity={cap} dropped={st.get('dropped')} "
             f"dropped_ring={st.get('dropped_ring')} callback_dropped_ring={st.get('callback_dropped_ring')}")
    mc = st.get("methods_cached")
    ck.check(isinstance(mc, int) and mc <= SYMBOL_CACHE_CAP, "symbol cache is bounded",
             f"methods_cached={mc} method_stale={st.get('method_stale')} "
             f"methods_prepared={st.get('methods_prepared')} methods_capped={st.get('methods_capped')}")


def check_jfr(ck: it.Checks, jdk: it.Jdk, jfr: str) -> None:
    size = os.path.getsize(jfr) if os.path.isfile(jfr) else -1
    summ = it.jfr_summary(jdk, jfr, timeout=600) if size > 0 else None
    counts = {t: (summ.counts.get(t, 0) if summ else 0) for t in EVENT_TYPES}
    ck.check(summ is not None and summ.rc == 0, "`jfr summary` reads the file=",
             f"{size} bytes, chunks={summ.chunks if summ else None} "
             + " ".join(f"{t}={n}" for t, n in counts.items()),
             on_fail=it.indent_tail(summ.text) if summ else "")
    missing = [t for t, n in counts.items() if n == 0]
    ck.check(not missing, "the recording has all four event types",
             f"missing {missing}" if missing else "")
    if summ is None or summ.rc != 0:
        return

    # What the samples show: the stress is really being profiled, native frames in the
    # middle of stacks resolve, code of unloaded classes and deep stacks are recorded.
    t0 = time.monotonic()
    try:
        raw = it.jfr_print_json(jdk, jfr, "jdk.ExecutionSample,profiler.WallClockSample",
                                stack_depth=STACK_PRINT_DEPTH, timeout=900)
    except it.JfrError as e:
        ck.check(False, "`jfr print --json` reads the file=", str(e)[:3000])
        return
    stacks = []
    truncated = 0
    for ev in raw:
        st = ev.get("values", {}).get("stackTrace") or {}
        stacks.append([it._frame(f) for f in (st.get("frames") or [])])
        truncated += 1 if st.get("truncated") else 0
    ck.check(len(stacks) > 0, "`jfr print --json` reads the file=",
             f"{len(stacks)} CPU + wall events in {time.monotonic() - t0:.1f}s")

    def has(frames, pred) -> bool:
        return any(pred(f) for f in frames)

    def jni_sandwich(frames) -> bool:
        # leaf first: Java callback above the native spin, called from Java
        qs = [f.qname for f in frames]
        try:
            i = qs.index(NATIVE_CLS + ".callback")
        except ValueError:
            return False
        return NATIVE_CLS + ".spin" in qs[i + 1:]
    found = {
        "jni (callback above native spin)": sum(1 for fr in stacks if jni_sandwich(fr)),
        "StressPlugin (class-churn code)": sum(1 for fr in stacks if has(fr, lambda f: f.cls.startswith(PLUGIN_CLS))),
        "Stress.recurse": sum(1 for fr in stacks if has(fr, lambda f: f.qname == MAIN + ".recurse")),
        "Stress exceptions": sum(1 for fr in stacks if has(fr, lambda f: f.qname == MAIN + ".exceptionsEpoch")),
        "stale_jmethodID frames": sum(1 for fr in stacks if has(fr, lambda f: f.method == "stale_jmethodID")),
        "truncated stacks": truncated,
    }
    ck.measure("samples by content", ", ".join(f"{k}: {v}" for k, v in found.items()))
    need = [k for k in ("jni (callback above native spin)", "StressPlugin (class-churn code)",
                        "Stress.recurse", "truncated stacks") if found[k] == 0]
    ck.check(not need, "samples show JNI callbacks under native frames, plugin code, deep "
             "recursion and truncated stacks", f"none for {need}" if need else "")


def main() -> None:
    it.require_agent()
    sit.require_binaries()
    if SECONDS <= 0:
        it.log("SKIP: PYRITE_STRESS_SECONDS=0")
        sys.exit(it.SKIP_RC)
    jdks = it.find_jdks()
    it.log("JDKs: " + ", ".join(str(j) for j in jdks))
    it.log(f"seconds per run {SECONDS:g}")
    every = os.environ.get("PYRITE_STRESS_CONFIGS") == "all"
    cases = []
    for i, jdk in enumerate(jdks):
        for name in (sorted(CONFIGS) if every else ["AB"[i % 2]]):
            cases.append((f"stress.{jdk.label}.{name}", stress_case(jdk, name, SECONDS)))
    it.main(cases)


if __name__ == "__main__":
    main()
