#!/usr/bin/env python3
"""The bank example services (examples/src/pyrite/examples/bank) under load,
profiled by the agent into a real pyrited, before and after their fixes.

For each JDK (17, and 25 when installed): build the examples with
examples/build.sh, then run BankApp twice with the agent uploading every
second (CPU, wall, alloc and lock profiles), once unoptimized and once with
OPTIMIZED=true (the environment switch; --optimized is the same), each under
LoadGen: a 2 s warm-up paced with --rps 200, then 5 s measured (when the
machine is so busy that the unoptimized payment or notification code got
fewer than 40 CPU samples, up to two more 5 s phases extend that window).
Only the measured window is queried, so class loading and JIT warm-up stay
out of the comparison.

Checks, on stacks from GET /pyroscope/render?format=collapsed restricted to
each service's own code:
  - payment (CPU): MessageDigest.getInstance under PaymentService.hashChain
    is a visible share before and shrinks by >= 2/3 after;
  - notification (CPU and alloc): java/util/Formatter under
    NotificationService.handle is most of it before, shrinks by >= 2/3 after;
  - order (lock): contended-monitor delay under OrderService.placeLocked
    before; under OrderService <= 1/10 of that after;
  - notification (alloc): bytes allocated per /notification request (as
    counted by LoadGen in the window) fall by >= 2/3;
  - gateway (wall): Thread.sleep under GatewayService.handle takes >= 2 ms
    of wall time per /gateway request before (the code sleeps ~9 ms on
    average) and shrinks by >= 2/3 after;
  - the CLI: `pyrite top --json` lists java/util/Formatter.format before, and
    `pyrite diff --json` (before range vs after range) shows the Formatter
    functions' self time falling, some of them gone;
  - LoadGen's summary line and --json agree, errors=0; BankApp's exit line
    says errors=0, and the gateway backed off only before the fix.

The thresholds are shares within one service's subtree, not timings, so a
loaded machine changes the sample counts but not the verdicts.

Usage: python3 tests/integration/test_examples.py  (PYRITE_BUILD_DIR as usual)
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

TYPES = {
    "cpu": "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
    "alloc": "memory:alloc_in_new_tlab_bytes:bytes:space:bytes",
    "lock": "mutex:delay:nanoseconds:mutex:count",
    "wall": "wall:wall:nanoseconds:wall:nanoseconds",
}
BANK = "pyrite/examples/bank/"
PATHS = "/payment,/notification,/order,/gateway"
WARMUP_S = 2
WARMUP_RPS = 200
MEASURE_S = 5
MAX_PHASES = 3
MIN_SAMPLES = 40
SUMMARY_RE = re.compile(r"^loadgen: requests=(\d+) errors=(\d+) seconds=([\d.]+) rps=([\d.]+) "
                        r"p50_ms=([\d.]+) p99_ms=([\d.]+)$", re.M)


def build_examples(jdk_home):
    out = it.make_tempdir("pyrite-it-examples-")
    res = it.run_cmd([os.path.join(it.SOURCE_DIR, "examples", "build.sh")],
                     {"EXAMPLES_OUT": out, "JAVA_HOME": jdk_home}, timeout=300)
    if not res.ok or not os.path.isfile(os.path.join(out, "pyrite", "examples", "bank", "BankApp.class")):
        raise RuntimeError("examples/build.sh failed:\n" + res.describe())
    return out


def collapsed(srv, typ, app, t_from, t_until):
    """[(frames root-first, value)] of one app's profile over [from, until]."""
    q = urllib.parse.urlencode({"query": f'{TYPES[typ]}{{service_name="{app}"}}', "from": t_from,
                                "until": t_until, "format": "collapsed"})
    st, _, body = srv.get("/pyroscope/render?" + q)
    if st != 200:
        raise RuntimeError(f"render {typ}: HTTP {st}: {body[:300]!r}")
    out = []
    for line in body.decode("utf-8", "replace").splitlines():
        stack, _, v = line.rpartition(" ")
        if stack:
            out.append((stack.split(";"), int(v)))
    return out


def share(stacks, within, pred):
    """(hit, total): total = value of stacks with a frame named `within`;
    hit = value of those that also have, below it, a frame matching pred."""
    hit = total = 0
    for frames, v in stacks:
        try:
            i = frames.index(within)
        except ValueError:
            continue
        total += v
        if any(pred(f) for f in frames[i + 1:]):
            hit += v
    return hit, total


def fmt_share(hit_total):
    hit, total = hit_total
    return f"{hit / total:.1%} ({hit}/{total})" if total else "no samples"


def frac(hit_total):
    hit, total = hit_total
    return hit / total if total else 0.0


def run_bank(ck, jdk, cp, srv, app, optimized):
    """One BankApp run under LoadGen; returns the measured window (epoch s)
    and LoadGen's per-path request counts in it."""
    opts = {"server": f"http://127.0.0.1:{srv.port}", "app": app, "upload": "1s",
            "interval": "1ms", "wall": "20ms", "alloc": "256k", "lock": "100us"}
    cmd = it.java_cmd(jdk, "pyrite.examples.bank.BankApp", ["--port", "0"], cp, opts)
    env = it.clean_env({"OPTIMIZED": "true"} if optimized else {})
    log_path = os.path.join(it.make_tempdir("pyrite-it-bank-"), "bankapp.log")
    tag = "optimized" if optimized else "unoptimized"
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        port = None
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            with open(log_path) as f:
                m = re.search(r"^bankapp: listening port=(\d+) optimized=(\w+)$", f.read(), re.M)
            if m:
                port = int(m.group(1))
                ck.check(m.group(2) == str(optimized).lower(),
                         f"{tag}: BankApp reports optimized={str(optimized).lower()} (OPTIMIZED env)",
                         m.group(0))
                break
            time.sleep(0.1)
        ck.require(port is not None, f"{tag}: BankApp prints its listening line",
                   on_fail=open(log_path).read()[-2000:])
        target = ["--target", f"http://127.0.0.1:{port}", "--paths", PATHS, "--concurrency", "8"]
        # The warm-up also exercises --rps: request starts are paced, so no
        # more than rps * seconds (+ one in flight per client) can be sent.
        warm = it.run_java(jdk, "pyrite.examples.bank.LoadGen",
                           target + ["--seconds", str(WARMUP_S), "--rps", str(WARMUP_RPS)],
                           classpath=cp, timeout=90)
        ck.require(warm.ok, f"{tag}: LoadGen warm-up runs", on_fail=warm.describe())
        m = SUMMARY_RE.search(warm.stdout)
        sent = int(m.group(1)) + int(m.group(2)) if m else -1
        # (On a starved machine the first, interpreted requests may all end
        # after the deadline and count for nothing, so 0 is allowed.)
        ck.check(0 <= sent <= WARMUP_RPS * WARMUP_S + 8, f"{tag}: LoadGen --rps {WARMUP_RPS} paces the warm-up",
                 f"{sent} requests in {WARMUP_S} s")
        # Measured phases: one normally; before the fix, on a starved machine
        # (few CPU samples in payment/notification) up to MAX_PHASES, so the
        # "visible before the fix" shares rest on enough samples.
        t_mark = int(time.time()) + 1
        counts = {}
        total_req = 0
        for phase in range(MAX_PHASES):
            json_path = os.path.join(os.path.dirname(log_path), f"loadgen-{phase}.json")
            res = it.run_java(jdk, "pyrite.examples.bank.LoadGen",
                              target + ["--seconds", str(MEASURE_S), "--json", json_path],
                              classpath=cp, timeout=90)
            t_end = int(time.time())
            ck.require(res.ok, f"{tag}: LoadGen exits 0", on_fail=res.describe())
            m = SUMMARY_RE.search(res.stdout)
            ck.require(m is not None, f"{tag}: LoadGen prints a parseable summary line", res.stdout[-600:])
            req, errs = int(m.group(1)), int(m.group(2))
            total_req += req
            ck.check(req > 0 and errs == 0, f"{tag}: LoadGen requests > 0, errors=0", m.group(0))
            try:
                with open(json_path) as f:
                    doc = json.load(f)
                ck.check(doc.get("requests") == req and doc.get("errors") == errs
                         and set(doc.get("paths", {})) == set(PATHS.split(",")),
                         f"{tag}: LoadGen --json agrees with the summary line",
                         f"requests={doc.get('requests')} paths={sorted(doc.get('paths', {}))}")
                for p, v in doc.get("paths", {}).items():
                    counts[p] = counts.get(p, 0) + v.get("requests", 0)
            except (OSError, ValueError) as e:
                ck.check(False, f"{tag}: LoadGen --json is valid JSON", repr(e))
            if optimized or phase == MAX_PHASES - 1:
                break  # the fixed code is cheap: few samples there is the expected result
            time.sleep(1.2)  # the window's last upload
            n = cpu_samples(srv, app, t_mark, int(time.time()))
            ck.measure(f"{tag}: CPU samples in payment/notification after phase {phase + 1}", n)
            if min(n) >= MIN_SAMPLES:
                break
            t_end = int(time.time())
        ck.measure(f"{tag}: measured window", f"[{t_mark}, {t_end}], {total_req} requests {counts}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with open(log_path) as f:
        text = f.read()
    done = it.parse_report(text, "bankapp: done")
    ck.require(done is not None, f"{tag}: BankApp prints its exit line", text[-1500:])
    ck.check(done.get("errors") == 0, f"{tag}: BankApp served every request (errors=0)",
             " ".join(f"{k}={v}" for k, v in done.items()))
    backoffs = done.get("gateway_backoffs")
    ck.check((backoffs > 0) if not optimized else (backoffs == 0),
             f"{tag}: gateway back-off sleeps {'happen' if not optimized else 'are gone'}",
             f"gateway_backoffs={backoffs}")
    crash = [ln for ln in text.splitlines() if "hs_err" in ln or "SIGSEGV" in ln]
    ck.check(not crash, f"{tag}: no JVM crash", "\n".join(crash))
    time.sleep(1.2)  # the agent's last upload is in; keep the next run's range apart
    return (t_mark, t_end), counts


def cpu_samples(srv, app, t_from, t_until):
    """CPU samples (1 ms each) in PaymentService.hashChain and NotificationService.handle."""
    st = collapsed(srv, "cpu", app, t_from, t_until)
    return tuple(share(st, BANK + w, lambda f: True)[1] // 1_000_000
                 for w in ("PaymentService.hashChain", "NotificationService.handle"))


def analyse(ck, srv, app, before, after, cli, counts):
    prof = {}
    for side, (f, u) in (("before", before), ("after", after)):
        for typ in TYPES:
            prof[side, typ] = collapsed(srv, typ, app, f, u)
        totals = {t: sum(v for _, v in prof[side, t]) for t in TYPES}
        ck.check(all(totals.values()), f"{side}: the server has all four profile types for [{f}, {u}]",
                 ", ".join(f"{t}={v}" for t, v in totals.items()))

    def compare(what, typ, within, pred, min_before):
        b = share(prof["before", typ], BANK + within, pred)
        a = share(prof["after", typ], BANK + within, pred)
        # After the fix the handler may be too cheap to be sampled at all in
        # a short window on a busy machine; an empty after side is a pass.
        ck.check(b[1] > 0, f"{what}: {within} has {typ} samples before the fix",
                 f"before {b[1]}, after {a[1]}")
        ck.check(frac(b) >= min_before, f"{what}: visible before the fix (>= {min_before:.0%})",
                 fmt_share(b))
        ck.check(frac(a) <= frac(b) / 3, f"{what}: shrinks by >= 2/3 after the fix",
                 f"{fmt_share(b)} -> {fmt_share(a)}")

    compare("payment CPU in MessageDigest.getInstance", "cpu", "PaymentService.hashChain",
            lambda f: f == "java/security/MessageDigest.getInstance", 0.03)
    compare("notification CPU in java.util.Formatter", "cpu", "NotificationService.handle",
            lambda f: f.startswith("java/util/Formatter"), 0.25)
    compare("notification allocation in java.util.Formatter", "alloc", "NotificationService.handle",
            lambda f: f.startswith("java/util/Formatter"), 0.25)

    def per_request(side, typ, within, pred, path):
        hit = share(prof[side, typ], BANK + within, pred)[0]
        n = counts[side].get(path, 0)
        return hit / n if n else 0.0

    # Allocation per /notification request (LoadGen's count in the window).
    b = per_request("before", "alloc", "NotificationService.handle", lambda f: True, "/notification")
    a = per_request("after", "alloc", "NotificationService.handle", lambda f: True, "/notification")
    ck.check(b > 0 and a <= b / 3, "notification: allocated bytes per request fall by >= 2/3",
             f"{b / 1024:.0f} KB -> {a / 1024:.0f} KB per request")
    # Gateway: wall time asleep per /gateway request. The sleeps are fixed by
    # the code (2 ms token latency, 10/20/40 ms back-off), so unlike their
    # share of the gateway's wall time this does not depend on how slow the
    # downstream calls are on a busy machine.
    b = per_request("before", "wall", "GatewayService.handle", lambda f: f == "java/lang/Thread.sleep", "/gateway")
    a = per_request("after", "wall", "GatewayService.handle", lambda f: f == "java/lang/Thread.sleep", "/gateway")
    ck.check(b >= 2e6, "gateway: >= 2 ms of wall time per request in Thread.sleep before the fix",
             f"{b / 1e6:.1f} ms per request")
    ck.check(a <= b / 3, "gateway: sleep per request falls by >= 2/3 after the fix",
             f"{b / 1e6:.1f} ms -> {a / 1e6:.2f} ms per request")

    # Lock: absolute delay, because the fix removes the contended monitor.
    lock_b = share(prof["before", "lock"], BANK + "OrderService.handle",
                   lambda f: f == BANK + "OrderService.placeLocked")[0]
    lock_a = sum(v for frames, v in prof["after", "lock"] if any(f.startswith(BANK + "OrderService") for f in frames))
    ck.check(lock_b > 0, "order: contended-monitor delay under OrderService.placeLocked before the fix",
             f"{lock_b / 1e6:.1f} ms")
    ck.check(lock_a <= lock_b / 10, "order: lock delay under OrderService <= 1/10 after the fix",
             f"{lock_b / 1e6:.1f} ms -> {lock_a / 1e6:.1f} ms")

    # The CLI on the same data.
    base = [cli, "top", "--server", f"http://127.0.0.1:{srv.port}", "--app", app, "--type", "cpu",
            "--limit", "2000", "--by", "total", "--json"]
    tops = {}
    for side, (f, u) in (("before", before), ("after", after)):
        p = subprocess.run(base + ["--from", str(f), "--until", str(u)], capture_output=True,
                           text=True, timeout=60)
        ck.require(p.returncode == 0, f"pyrite top --json ({side}) exits 0", p.stderr[-500:])
        tops[side] = {fn["name"]: fn for fn in json.loads(p.stdout)["functions"]}
    fb = tops["before"].get("java/util/Formatter.format", {}).get("total_percent", 0)
    fa = tops["after"].get("java/util/Formatter.format", {}).get("total_percent", 0)
    ck.check(fb > 0 and fa <= fb / 3, "pyrite top: java/util/Formatter.format total% falls after the fix",
             f"{fb:.1f}% -> {fa:.1f}%")
    p = subprocess.run([cli, "diff", "--server", f"http://127.0.0.1:{srv.port}", "--app", app,
                        "--type", "cpu", "--before", f"{before[0]}..{before[1]}",
                        "--after", f"{after[0]}..{after[1]}", "--limit", "5000", "--json"],
                       capture_output=True, text=True, timeout=60)
    ck.require(p.returncode == 0, "pyrite diff --json exits 0", p.stderr[-500:])
    rows = [r for r in json.loads(p.stdout)["functions"] if r["name"].startswith("java/util/Formatter")]
    delta = sum(r["delta"] for r in rows)
    gone = [r["name"] for r in rows if r["before_self"] > 0 and r["after_self"] == 0]
    ck.check(delta < 0 and gone, "pyrite diff: java/util/Formatter* self share falls, some functions gone",
             f"sum of changes {delta * 100:+.1f}pp; gone: {', '.join(gone[:4])}")


def main():
    it.require_agent()
    cli = os.path.join(it.BUILD_DIR, "bin", "pyrite")
    sit.require_binaries(cli)
    ck = it.Checks()
    t0 = time.monotonic()
    cp = build_examples(it.JDK17_HOME)
    srv = sit.Server().start()
    try:
        for jdk in it.find_jdks():
            def case(jdk=jdk):
                sc = it.run_java(jdk, "pyrite.examples.bank.BankApp", ["--self-check"], classpath=cp,
                                 timeout=60)
                ck.check(sc.ok and "self-check ok" in sc.stdout,
                         "BankApp --self-check: slow and fast paths give the same output",
                         sc.stdout.strip(), sc.describe())
                app = f"bank-{jdk.label}"
                before, n_before = run_bank(ck, jdk, cp, srv, app, optimized=False)
                after, n_after = run_bank(ck, jdk, cp, srv, app, optimized=True)
                analyse(ck, srv, app, before, after, cli, {"before": n_before, "after": n_after})
            it.log(f"\n=== {jdk}")
            t_case = time.monotonic()
            ck.step(jdk.label, case)
            it.log(f"--- {jdk.label}: {time.monotonic() - t_case:.1f}s")
    finally:
        srv.stop()
        srv.cleanup()
        it.cleanup_tempdirs()
    it.log(f"\n{ck.passed} checks passed, {len(ck.failures)} failed, {time.monotonic() - t0:.0f}s")
    for f in ck.failures:
        it.log(f"FAILED: {f}")
    sys.exit(1 if ck.failures else 0)


if __name__ == "__main__":
    main()
