#!/usr/bin/env python3
"""Smoke test of the overhead benchmark harness (java-harness/run.py).

Runs the harness in its smallest mode (workload cpu, 1 round, 2 s measured,
configs none and pyrite-cpu, so it starts a real pyrited and the agent uploads
to it) and checks that what it writes is well formed: the Markdown table on
stdout and in results.md, results.json (meta, one summary and one run per
config, the measured fields present and of the right type, the agent's stats
line parsed, the upload seen by pyrited), and overhead.svg (parseable XML, one
bar per non-reference config). Then `--combine` on that JSON. It checks no
number against a threshold: the harness measures, the numbers are noise here.

Budget: about 20-40 s (two JVMs of ~4 s, javac, pyrited). Skips (77) when the
agent or pyrited has not been built.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SKIP_RC = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("PYRITE_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("PYRITE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
RUN_PY = os.path.join(SOURCE_DIR, "java-harness", "run.py")
JDK17 = "/usr/lib/jvm/java-17-openjdk-amd64"

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def main():
    agent = os.path.join(BUILD_DIR, "lib", "libpyrite.so")
    pyrited = os.path.join(BUILD_DIR, "bin", "pyrited")
    for path in (agent, pyrited, os.path.join(JDK17, "bin", "java")):
        if not os.path.exists(path):
            print(f"SKIP: {path} not found")
            return SKIP_RC
    with tempfile.TemporaryDirectory(prefix="pyrite-harness-it-") as tmp:
        out = os.path.join(tmp, "out")
        cmd = [sys.executable, RUN_PY, "--workload", "cpu", "--rounds", "1", "--seconds", "2",
               "--warmup", "1", "--configs", "none,pyrite-cpu", "--agent", agent, "--pyrited", pyrited,
               "--out", out, "--classes-dir", os.path.join(tmp, "classes")]
        print("$ " + " ".join(cmd), flush=True)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        print(p.stderr[-3000:])
        if not check(p.returncode == 0, f"run.py exit code 0 (got {p.returncode})"):
            print(p.stdout[-2000:])
            return 1

        # Markdown on stdout and in results.md: header plus one row per config.
        md_path = os.path.join(out, "results.md")
        check(os.path.isfile(md_path), "results.md written")
        md = open(md_path).read() if os.path.isfile(md_path) else ""
        check(md.strip() == p.stdout.strip(), "stdout is the same table as results.md")
        header = next((ln for ln in md.splitlines() if ln.startswith("| config | runs |")), "")
        ncols = header.count("|")
        check(ncols >= 10, "main table header present")
        for cfg in ("none", "pyrite-cpu"):
            row = next((ln for ln in md.splitlines() if ln.startswith(f"| `{cfg}` |")), None)
            check(row is not None and row.count("|") == ncols, f"table row for {cfg} with {ncols - 1} columns")
        check("Command: `python3 java-harness/run.py" in md, "table states the command")

        # JSON: meta, summary and runs.
        with open(os.path.join(out, "results.json")) as f:
            d = json.load(f)
        meta, summary, runs = d.get("meta", {}), d.get("summary", []), d.get("runs", [])
        check(meta.get("workload") == "cpu" and meta.get("reference") == "none", "meta names workload and reference")
        check(meta.get("configs") == ["none", "pyrite-cpu"], "meta lists the configs")
        check(num(meta.get("nproc")) and isinstance(meta.get("jdk_version"), str), "meta has machine and JDK")
        check([s.get("config") for s in summary] == ["none", "pyrite-cpu"], "one summary per config, in order")
        check(len(runs) == 2 and all("error" not in r for r in runs), "two runs, none failed")
        for r in runs:
            c = r.get("config")
            check(num(r.get("ops")) and r["ops"] > 0, f"{c}: ops counted")
            check(num(r.get("cpu_ns")) and r["cpu_ns"] > 0, f"{c}: CPU time measured")
            check(num(r.get("ops_per_cpu_s")) and num(r.get("ops_per_wall_s")), f"{c}: rates computed")
            check(num(r.get("rss_hwm_bytes")) and r["rss_hwm_bytes"] > 0, f"{c}: VmHWM read from /proc")
            check(r.get("rc") == 0, f"{c}: JVM exited 0")
        agent_run = next((r for r in runs if r.get("config") == "pyrite-cpu"), {})
        st = agent_run.get("stats", {})
        check(num(st.get("samples")), "pyrite-cpu: agent stats line parsed")
        check(num(st.get("upload_bytes")) and agent_run.get("bytes_out") == st.get("upload_bytes"),
              "pyrite-cpu: bytes uploaded taken from the stats line")
        check(num(st.get("uploads_sent")) and st["uploads_sent"] >= 1, "pyrite-cpu: the agent uploaded to pyrited")
        check(num(agent_run.get("server_received_bytes")) and agent_run["server_received_bytes"] > 0,
              "pyrite-cpu: pyrited /metrics saw the upload")
        check(num(agent_run.get("agent_cpu_ms")), "pyrite-cpu: agent CPU time read")
        check(any(t.startswith("pyrite-") for t in agent_run.get("profiler_threads", [])),
              "pyrite-cpu: the agent's threads were found in /proc/<pid>/task")
        s1 = summary[1] if len(summary) > 1 else {}
        for key in ("ops_per_cpu_s_median", "min", "max", "q1", "q3", "overhead_pct", "rss_added_bytes",
                    "paired_overhead_pct_median"):
            check(num(s1.get(key)), f"pyrite-cpu summary has {key}")

        # SVG: XML with one bar for the non-reference config.
        svg_path = os.path.join(out, "overhead.svg")
        try:
            root = ET.parse(svg_path).getroot()
            check(root.tag.endswith("svg"), "overhead.svg is an SVG document")
            bars = [e for e in root.iter() if e.tag.endswith("rect") and e.find("{*}title") is not None]
            check(len(bars) == 1 and "pyrite-cpu" in bars[0].find("{*}title").text, "one bar, for pyrite-cpu")
        except (ET.ParseError, OSError) as e:
            check(False, f"overhead.svg parses: {e}")

        # --combine merges results files into one chart and table.
        comb = os.path.join(tmp, "comb")
        c = subprocess.run([sys.executable, RUN_PY, "--combine", os.path.join(out, "results.json"), "--out", comb],
                           capture_output=True, text=True, timeout=60)
        check(c.returncode == 0 and re.search(r"^\| cpu \| `pyrite-cpu` \|", c.stdout, re.M) is not None,
              "--combine prints the summary table")
        try:
            check(ET.parse(os.path.join(comb, "overhead.svg")).getroot().tag.endswith("svg"),
                  "--combine writes an SVG")
        except (ET.ParseError, OSError) as e:
            check(False, f"--combine SVG parses: {e}")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
