#!/usr/bin/env python3
"""Dynamic labels end to end: the Java API (pyrite-api.jar) + agent + real pyrited.

tests/integration/workloads/labels/LabelsWorkload.java, compiled here against
BUILD/lib/pyrite-api.jar, alternates ~5 ms slices on its main thread: hotA inside
route=a, hotB inside route=b, hotNone outside any scope; a second thread sleeps
inside route=sleep.  For each JDK (17, and 25 when installed) it runs 5 s with
  server=<pyrited>,app=labels-<jdk>,upload=2s,wall=50ms[,file=<tmp>.jfr]
and the test checks, from what pyrited stored:
  - process_cpu series exist for route=a and route=b (dynamic labels became
    series labels) next to the static ones;
  - route=a's CPU profile is dominated by hotA (>= 80 %), route=b's by hotB;
  - the series without a route label holds the hotNone samples and almost no
    hotA/hotB (samples outside any scope carry no labels);
  - a wall series with route=sleep exists (a thread labelled while it sleeps,
    so sampled without being signalled, keeps its labels);
  - the agent registered the label sets, none overflowed or was rejected.
JDK 17 also: `jfr print` (JDK 17's jfr) reads the file= output, every
ExecutionSample has a contextId, hotA and hotB samples carry two different
non-zero ids.  And: the same workload without the agent exits 0 (the API is a
no-op) and reports agentPresent=false.

Usage: python3 tests/integration/test_agent_labels.py [filter...]
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

MAIN = "pyrite.it.LabelsWorkload"
CPU_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
WALL_TYPE = "wall:wall:nanoseconds:wall:nanoseconds"
FRAME = "pyrite/it/LabelsWorkload."


def api_jar():
    return os.path.join(it.BUILD_DIR, "lib", "pyrite-api.jar")


_classpath = []


def classpath():
    """pyrite-api.jar + the workload compiled against it (JDK 17 javac)."""
    if not _classpath:
        out = it.make_tempdir("pyrite-it-labels-")
        src = os.path.join(it.WORKLOAD_DIR, "labels", "LabelsWorkload.java")
        cmd = [it.javac_jdk().tool("javac"), "--release", "17", "-g", "-cp", api_jar(), "-d", out, src]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=it.clean_env())
        if p.returncode != 0:
            raise RuntimeError(f"javac failed ({p.returncode}):\n{p.stdout}{p.stderr}")
        _classpath.append(api_jar() + os.pathsep + out)
    return _classpath[0]


def share(series, method):
    """Fraction of a series' total whose stack contains LabelsWorkload.<method>."""
    total = series["total"]
    hit = sum(v for k, v in series["stacks"].items() if FRAME + method in k.split(";"))
    return hit / total if total else 0.0


def labels_case(jdk, with_file):
    def run(ck):
        srv = sit.Server().start()
        jfr_path = os.path.join(it.make_tempdir("pyrite-it-labels-jfr-"), "out.jfr")
        try:
            app = f"labels-{jdk.label}"
            opts = {"server": f"http://127.0.0.1:{srv.port}", "app": app, "label.env": "ci",
                    "upload": "2s", "wall": "50ms", "log": "info"}
            if with_file:
                opts["file"] = jfr_path
            res = it.run_java(jdk, MAIN, ["5"], agent=opts, classpath=classpath(), timeout=60)
            ck.require(res.ok, "app exits 0", f"wall {res.wall_s:.1f}s", res.describe())
            ck.check("labels-check agent=true" in res.stdout, "the API sees the agent",
                     res.stdout.strip()[-300:])
            stats = it.parse_stats(res.stderr) or {}
            ck.check(stats.get("label_contexts", 0) >= 4, "label sets registered with the agent",
                     f"label_contexts={stats.get('label_contexts')}")
            ck.check(stats.get("label_contexts_overflow", 1) == 0 and stats.get("label_sets_rejected", 1) == 0,
                     "no label set overflowed or was rejected",
                     f"overflow={stats.get('label_contexts_overflow')} "
                     f"rejected={stats.get('label_sets_rejected')}")
            ck.check(stats.get("uploads_sent", 0) >= 2 and stats.get("uploads_rejected", 1) == 0,
                     "uploads accepted", f"sent={stats.get('uploads_sent')} "
                     f"rejected={stats.get('uploads_rejected')}")
        finally:
            srv.stop()
        series = sit.store_dump(srv.data_dir)
        srv.cleanup()
        mine = sit.series_matching(series, service_name=app, env="ci")
        cpu = [s for s in mine if s["labels"].get("__profile_type__") == CPU_TYPE]
        by_route = {}
        for s in cpu:
            by_route.setdefault(s["labels"].get("route"), []).append(s)
        ck.require("a" in by_route and "b" in by_route, "process_cpu series for route=a and route=b",
                   f"routes seen: {sorted(str(r) for r in by_route)}")
        for route, hot in (("a", "hotA"), ("b", "hotB")):
            # The workload's nested-scope self-check runs briefly under
            # {route=b, tier=api}; a sample taken there makes its own
            # series, which is correct.  The hot loops run without `tier`.
            ss = [s for s in by_route[route] if "tier" not in s["labels"]]
            ck.check(len(ss) == 1, f"one cpu series for route={route} without tier", str(len(ss)))
            if not ss:
                continue
            sh = share(ss[0], hot)
            ck.check(sh >= 0.8, f"route={route}'s CPU profile is dominated by {hot}",
                     f"{sh:.0%} of {ss[0]['total'] / 1e9:.2f} CPU-s")
            ck.check(share(ss[0], "hotNone") <= 0.05, f"route={route} holds no unlabelled hotNone",
                     f"{share(ss[0], 'hotNone'):.0%}")
        # (the self-check's outer {tier=web} scope has no route either)
        plain = [s for s in by_route.get(None, []) if "tier" not in s["labels"]]
        ck.require(len(plain) == 1, "one cpu series without a route label", str(len(plain)))
        none_s, ab = share(plain[0], "hotNone"), share(plain[0], "hotA") + share(plain[0], "hotB")
        ck.check(none_s > 0 and ab <= 0.1 * max(none_s, 1e-9) + 0.02,
                 "samples outside any scope have no route label",
                 f"unlabelled series: hotNone {none_s:.0%}, hotA+hotB {ab:.0%}")
        wall = [s for s in mine if s["labels"].get("__profile_type__") == WALL_TYPE
                and s["labels"].get("route") == "sleep"]
        ck.check(len(wall) == 1 and any("Thread.sleep" in k for k in wall[0]["stacks"]),
                 "wall series route=sleep holds the sleeping thread",
                 f"{len(wall)} series" + (f", stacks {list(wall[0]['stacks'])[:2]}" if wall else ""))
        if with_file:
            check_jfr_file(ck, jfr_path)
    return run


def check_jfr_file(ck, path):
    jdk17 = it.javac_jdk()
    events = it.jfr_print_json(jdk17, path, "jdk.ExecutionSample")
    ck.require(len(events) > 0, "JDK 17 `jfr print` reads the file", f"{len(events)} ExecutionSamples")
    with_ctx = [e for e in events if "contextId" in e.get("values", {})]
    ck.check(len(with_ctx) == len(events), "every ExecutionSample has a contextId field",
             f"{len(with_ctx)}/{len(events)}")
    ids = {"hotA": set(), "hotB": set(), "hotNone": set()}
    for e in with_ctx:
        v = e["values"]
        frames = ((v.get("stackTrace") or {}).get("frames") or [])
        names = {it._frame(f).qname for f in frames}  # dotted class names
        for m in ids:
            if f"pyrite.it.LabelsWorkload.{m}" in names:
                ids[m].add(int(v["contextId"]))
    ck.check(len(ids["hotA"]) == 1 and len(ids["hotB"]) == 1 and 0 not in ids["hotA"] | ids["hotB"]
             and ids["hotA"] != ids["hotB"], "hotA and hotB samples carry one distinct non-zero contextId each",
             str({k: sorted(v) for k, v in ids.items()}))
    ck.check(ids["hotNone"] == {0}, "hotNone samples carry contextId 0", str(sorted(ids["hotNone"])))


def no_agent_case(ck):
    res = it.run_java(it.javac_jdk(), MAIN, ["1"], agent=None, classpath=classpath(), timeout=60)
    ck.require(res.ok, "without the agent the app exits 0", res.describe())
    out = res.stdout
    ck.check("labels-check agent=false" in out, "the API reports no agent", out.strip()[-300:])
    ck.check("labels-check inner={route=b, tier=api}" in out and "labels-check outer={tier=web}" in out
             and "labels-check after={}" in out, "scopes merge (inner wins) and restore on exit",
             out.strip()[:300])


def main():
    it.require_agent()
    sit.require_binaries()
    if not os.path.isfile(api_jar()):
        it.log(f"SKIP: not built: {api_jar()} (needs javac at configure time)")
        sys.exit(sit.SKIP_RC)
    cases = [("labels.no_agent", no_agent_case)]
    for i, jdk in enumerate(it.find_jdks()):
        cases.append((f"labels.{jdk.label}", labels_case(jdk, with_file=(i == 0))))
    it.main(cases)


if __name__ == "__main__":
    main()
