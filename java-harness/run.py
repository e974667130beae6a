#!/usr/bin/env python3
"""Pyrite overhead benchmark: interleaved JVM runs of pyrite.bench.Bench.

Builds java-harness/src with javac into java-harness/out/classes, then runs
R rounds; each round runs every configuration once, in the same order
(A B C A B C ...), so slow drifts of a noisy machine hit all of them alike.
For each run it computes operations per JVM CPU-second (ops / process CPU time
inside the measured window). Per configuration it reports the median, min-max
and interquartile range, the overhead of the median against the baseline's
median, and, for Pyrite configurations, the median over runs of the agent's
handler p50/p99 from its `[pyrite] info: stats` line.

Output: a markdown table on stdout (ready for docs/benchmarks.md) and a JSON
file with every run (--json, default java-harness/out/results-<time>.json).

Configurations (--configs, comma-separated; default baseline,itimer). Every Pyrite
configuration adds file=<tmp>.jfr,log=info to the options shown:
  baseline   no agent
  itimer     event=itimer,interval=<I>
  cpu        event=cpu,interval=<I>
  alloc      event=itimer,interval=<I>,alloc=<A>            (--alloc, default 512k)
  lock       event=itimer,interval=<I>,lock=<L>             (--lock, default 10ms)
  wall       event=itimer,interval=<I>,wall=<W>             (--wall, default 50ms)
  wallonly   event=none,interval=<I>,wall=<W>
  all        event=cpu,interval=<I>,wall=<W>,alloc=<A>,lock=<L>  (DESIGN.md §4 "all modes")
  asprof     async-profiler, only with --async-profiler PATH:
             -agentpath:PATH=start,event=itimer,interval=<I>,file=<tmp>.jfr,jfr
             (added to the default configs when --async-profiler is given)
  pyrite:<opts>  any other agent options, e.g. "pyrite:event=cpu,interval=1ms"

Workload options passed to Bench: --threads, --seconds, --warmup, --alloc-kb K
(extra allocation per operation, default 0 = the original operation) and
--idle-threads M (mostly idle threads parked or sleeping 0.5-2 s at a time).

Python 3 standard library only. This is a measurement, not a test: it never
fails because of a number. Examples:
  python3 java-harness/run.py --rounds 7 --seconds 10 --threads 2
  python3 java-harness/run.py --configs baseline,itimer,alloc,lock,wall,all
  python3 java-harness/run.py --configs baseline,itimer,wall,wallonly --idle-threads 200
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_JDK = "/usr/lib/jvm/java-17-openjdk-amd64"
MAIN = "pyrite.bench.Bench"


def log(msg=""):
    print(msg, file=sys.stderr, flush=True)


def parse_kv(text):
    out = {}
    for k, v in re.findall(r"([A-Za-z_][\w.\-]*)=(\S*)", text):
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def build(jdk):
    src = os.path.join(HERE, "src")
    out = os.path.join(HERE, "out", "classes")
    os.makedirs(out, exist_ok=True)
    sources = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".java"))
    javac = os.path.join(DEFAULT_JDK, "bin", "javac")
    if not os.access(javac, os.X_OK):
        javac = os.path.join(jdk, "bin", "javac")
    cmd = [javac, "--release", "17", "-encoding", "UTF-8", "-d", out] + sources
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"javac failed:\n{p.stdout}{p.stderr}")
    return out


def jdk_version(jdk):
    p = subprocess.run([os.path.join(jdk, "bin", "java"), "-version"], capture_output=True, text=True,
                       env=clean_env())
    m = re.search(r'version "([^"]+)"', p.stderr)
    lines = p.stderr.strip().splitlines()
    return (m.group(1) if m else "?"), (lines[1] if len(lines) > 1 else "")


def clean_env():
    return {k: v for k, v in os.environ.items()
            if k not in ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")
            and not k.startswith("PYRITE_") and not k.startswith("PYROSCOPE_")}


AGENT_CONFIGS = ("itimer", "cpu", "alloc", "lock", "wall", "wallonly", "all")


def agent_options(name, args):
    """Pyrite's options for a named configuration (without file= and log=)."""
    i = args.interval
    return {
        "itimer": f"event=itimer,interval={i}",
        "cpu": f"event=cpu,interval={i}",
        "alloc": f"event=itimer,interval={i},alloc={args.alloc}",
        "lock": f"event=itimer,interval={i},lock={args.lock}",
        "wall": f"event=itimer,interval={i},wall={args.wall}",
        "wallonly": f"event=none,interval={i},wall={args.wall}",
        "all": f"event=cpu,interval={i},wall={args.wall},alloc={args.alloc},lock={args.lock}",
    }[name]


def jfr_path(name, tmpdir):
    safe = re.sub(r"[^\w.-]+", "_", name)[:60]
    return os.path.join(tmpdir, f"pyrite-{safe}.jfr")


def config_jvm_args(name, args, tmpdir):
    """JVM arguments for a configuration name."""
    if name == "baseline":
        return []
    if name in AGENT_CONFIGS:
        # file= so the measured cost includes draining, name resolution and
        # JFR chunk writing, as in production, not just the signal handler.
        return [f"-agentpath:{args.agent}={agent_options(name, args)},"
                f"file={jfr_path(name, tmpdir)},log=info"]
    if name.startswith("pyrite:"):
        opts = name[len("pyrite:"):]
        if "log=" not in opts:
            opts += ",log=info"
        return [f"-agentpath:{args.agent}={opts}"]
    if name == "asprof":
        if not args.async_profiler:
            sys.exit("config asprof needs --async-profiler PATH/libasyncProfiler.so")
        jfr = os.path.join(tmpdir, "asprof-%d.jfr")
        opts = args.async_profiler_opts.format(interval=args.interval, file=jfr)
        return [f"-agentpath:{args.async_profiler}={opts}"]
    sys.exit(f"unknown config {name!r} (baseline, {', '.join(AGENT_CONFIGS)}, asprof, pyrite:<opts>)")


def run_once(args, classes, name, tmpdir, seq):
    jvm = [a.replace("%d", str(seq)) for a in config_jvm_args(name, args, tmpdir)]
    jfr = jfr_path(name, tmpdir) if name in AGENT_CONFIGS else None
    if jfr and os.path.exists(jfr):
        os.unlink(jfr)
    cmd = ([os.path.join(args.jdk, "bin", "java")] + shlex.split(args.jvm_args) + jvm
           + ["-cp", classes, MAIN, "--threads", str(args.threads), "--seconds", str(args.seconds),
              "--warmup", str(args.warmup), "--alloc-kb", str(args.alloc_kb),
              "--idle-threads", str(args.idle_threads)])
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=clean_env(),
                       timeout=args.seconds + args.warmup + 120)
    wall = time.monotonic() - t0
    line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("ops=")), None)
    rec = {"config": name, "seq": seq, "cmd": cmd, "rc": p.returncode, "process_wall_s": round(wall, 3)}
    if p.returncode != 0 or line is None:
        rec["error"] = (p.stdout + p.stderr)[-2000:]
        return rec
    rec.update(parse_kv(line))
    rec["ops_per_cpu_s"] = rec["ops"] / (rec["cpu_ns"] / 1e9) if rec["cpu_ns"] > 0 else None
    rec["ops_per_wall_s"] = rec["ops"] / (rec["wall_ns"] / 1e9)
    rec["cpus_used"] = rec["cpu_ns"] / rec["wall_ns"]
    if isinstance(rec.get("alloc_bytes"), int) and rec["alloc_bytes"] >= 0 and rec["cpu_ns"] > 0:
        rec["alloc_mb_per_cpu_s"] = rec["alloc_bytes"] / 1e6 / (rec["cpu_ns"] / 1e9)
    if jfr and os.path.isfile(jfr):
        rec["jfr_bytes"] = os.path.getsize(jfr)
    stats = None
    for ln in p.stderr.splitlines():
        m = re.match(r"^\[pyrite\]\s*info:\s*stats\b(.*)$", ln)
        if m:
            stats = parse_kv(m.group(1))
    if stats is not None:
        rec["stats"] = stats
    other = [ln for ln in p.stderr.splitlines() if ln.startswith("[pyrite]") and " stats " not in ln]
    if other:
        rec["agent_messages"] = other[:20]
    return rec


def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (None, None)
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def summarize(name, runs, base_median):
    ok = [r for r in runs if r.get("ops_per_cpu_s")]
    vals = [r["ops_per_cpu_s"] for r in ok]
    s = {"config": name, "runs": len(runs), "ok_runs": len(ok), "failed_runs": len(runs) - len(ok)}
    if not vals:
        return s
    med = statistics.median(vals)
    q1, q3 = quartiles(vals)
    s.update({
        "ops_per_cpu_s_median": med, "min": min(vals), "max": max(vals), "q1": q1, "q3": q3,
        "iqr_pct": (q3 - q1) / med * 100 if med else None,
        "spread_pct": (max(vals) - min(vals)) / med * 100 if med else None,
        "ops_per_wall_s_median": statistics.median(r["ops_per_wall_s"] for r in ok),
        "cpus_used_median": statistics.median(r["cpus_used"] for r in ok),
    })
    if base_median:
        s["overhead_pct"] = (base_median - med) / base_median * 100
    st = [r["stats"] for r in ok if "stats" in r]
    if st:
        def med_of(key):
            xs = [x[key] for x in st if isinstance(x.get(key), (int, float))]
            return statistics.median(xs) if xs else None
        for key in STATS_KEYS:
            s[key + "_median"] = med_of(key)
        agct = {}
        for x in st:
            for k, v in x.items():
                if k.startswith("agct_") and isinstance(v, int):
                    agct[k] = agct.get(k, 0) + v
        s["agct_total"] = agct
    am = [r["alloc_mb_per_cpu_s"] for r in ok if "alloc_mb_per_cpu_s" in r]
    if am:
        s["alloc_mb_per_cpu_s_median"] = statistics.median(am)
    jb = [r["jfr_bytes"] for r in ok if "jfr_bytes" in r]
    if jb:
        s["jfr_bytes_median"] = statistics.median(jb)
    return s


# Stats-line keys summarised per configuration (median over runs); absent keys are skipped.
STATS_KEYS = ("handler_p50_ns", "handler_p99_ns", "handler_max_ns", "samples", "dropped",
              "wall_signals", "wall_repeats", "wall_samples", "alloc_samples", "lock_events",
              "lock_below_threshold_dropped")


def fmt(v, digits=0, suffix=""):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}{suffix}"


def markdown(summaries, meta):
    lines = []
    extra = []
    if meta.get("idle_threads"):
        extra.append(f"{meta['idle_threads']} idle threads")
    if meta.get("alloc_kb"):
        extra.append(f"+{meta['alloc_kb']} KiB allocation per op")
    lines.append(f"Bench: {meta['threads']} threads × {meta['seconds']} s measured (+{meta['warmup']} s warm-up)"
                 f"{''.join(', ' + e for e in extra)}, "
                 f"{meta['rounds']} interleaved rounds, interval {meta['interval']}; "
                 f"modes alloc={meta['alloc']} lock={meta['lock']} wall={meta['wall']}; "
                 f"JDK {meta['jdk_version']}; {meta['nproc']} CPUs, {meta['kernel']}; {meta['date']}")
    lines.append("")
    lines.append(f"Command: `{meta['command']}`")
    lines.append("")
    lines.append("| config | runs | ops / CPU-s (median) | min – max | IQR | IQR % | overhead vs baseline "
                 "| paired overhead | CPUs used | handler p50 | handler p99 | samples / run |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        if "ops_per_cpu_s_median" not in s:
            lines.append(f"| `{s['config']}` | 0/{s['runs']} | all runs failed | | | | | | | | | |")
            continue
        ov = s.get("overhead_pct")
        ovs = "(baseline)" if s["config"] == "baseline" else (fmt(ov, 2, " %") if ov is not None else "–")
        p50 = s.get("handler_p50_ns_median")
        p99 = s.get("handler_p99_ns_median")
        runs = f"{s['ok_runs']}" + (f" ({s['failed_runs']} failed)" if s["failed_runs"] else "")
        lines.append(
            f"| `{s['config']}` | {runs} | {fmt(s['ops_per_cpu_s_median'])} | "
            f"{fmt(s['min'])} – {fmt(s['max'])} | {fmt(s['q1'])} – {fmt(s['q3'])} | {fmt(s['iqr_pct'], 2, ' %')} | "
            f"{ovs} | {fmt(s.get('paired_overhead_pct_median'), 2, ' %') if s['config'] != 'baseline' else ''} | "
            f"{fmt(s['cpus_used_median'], 2)} | "
            f"{fmt(p50 / 1000, 1, ' µs') if p50 is not None else '–'} | "
            f"{fmt(p99 / 1000, 1, ' µs') if p99 is not None else '–'} | "
            f"{fmt(s.get('samples_median'))} |")
    lines.append("")
    lines.append("Overhead = (baseline median − config median) / baseline median of operations per JVM "
                 "CPU-second; positive = slower. Paired overhead = median over rounds of the same quantity "
                 "against that round's baseline run. Compare both with the baseline's own IQR %: a "
                 "difference smaller than that spread is noise. Samples / run count the whole JVM "
                 "lifetime (warm-up included). Handler figures are the medians over runs of the "
                 "agent's own p50/p99 (`[pyrite] info: stats`).")
    rows = [s for s in summaries if any(k.endswith("_median") and k.startswith(("wall_", "alloc_samples",
                                                                                  "lock_", "samples"))
                                        for k in s)]
    if rows:
        lines.append("")
        lines.append("| config | alloc MB / CPU-s | JFR bytes / run | samples | wall samples | wall signals "
                     "| wall repeats | alloc samples | lock events | lock short waits dropped | dropped |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for s in summaries:
            lines.append(
                f"| `{s['config']}` | {fmt(s.get('alloc_mb_per_cpu_s_median'))} | {fmt(s.get('jfr_bytes_median'))} | "
                f"{fmt(s.get('samples_median'))} | {fmt(s.get('wall_samples_median'))} | "
                f"{fmt(s.get('wall_signals_median'))} | {fmt(s.get('wall_repeats_median'))} | "
                f"{fmt(s.get('alloc_samples_median'))} | {fmt(s.get('lock_events_median'))} | "
                f"{fmt(s.get('lock_below_threshold_dropped_median'))} | {fmt(s.get('dropped_median'))} |")
        lines.append("")
        lines.append("Agent activity per run (medians over runs, whole JVM lifetime, from the stats line); "
                     "alloc MB / CPU-s is what the benchmark workers allocated per JVM CPU-second in the "
                     "measured window (ThreadMXBean).")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before that")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jdk", default=DEFAULT_JDK, help="JDK home that runs the benchmark")
    ap.add_argument("--configs", default=None,
                    help="comma-separated: baseline,itimer,cpu,alloc,lock,wall,wallonly,all,asprof,"
                         "pyrite:<opts> (default baseline,itimer[,asprof])")
    ap.add_argument("--interval", default="10ms")
    ap.add_argument("--alloc", default="512k", help="alloc= for the alloc and all configs")
    ap.add_argument("--lock", default="10ms", help="lock= for the lock and all configs")
    ap.add_argument("--wall", default="50ms", help="wall= for the wall, wallonly and all configs")
    ap.add_argument("--alloc-kb", type=int, default=0,
                    help="Bench: extra KiB allocated per operation (0 = the original operation)")
    ap.add_argument("--idle-threads", type=int, default=0,
                    help="Bench: mostly idle threads (parked/sleeping 0.5-2 s at a time)")
    ap.add_argument("--agent", default=None,
                    help="libpyrite.so (default $PYRITE_BUILD_DIR/lib or build/lib)")
    ap.add_argument("--async-profiler", default=None, metavar="PATH", help="libasyncProfiler.so")
    ap.add_argument("--async-profiler-opts", default="start,event=itimer,interval={interval},file={file},jfr",
                    help="agent options for async-profiler ({interval}, {file} are substituted)")
    ap.add_argument("--jvm-args", default="", help="extra JVM arguments for every run, e.g. '-Xmx1g'")
    ap.add_argument("--json", default=None, help="write results here")
    ap.add_argument("--markdown", default=None, help="also write the markdown table here")
    args = ap.parse_args()

    if args.agent is None:
        bd = os.environ.get("PYRITE_BUILD_DIR") or os.path.join(ROOT, "build")
        args.agent = os.path.join(bd, "lib", "libpyrite.so")
    args.agent = os.path.abspath(args.agent)
    if args.configs is None:
        configs = ["baseline", "itimer"] + (["asprof"] if args.async_profiler else [])
    else:
        configs = _split_configs(args.configs)
    if "baseline" not in configs:
        configs.insert(0, "baseline")
    needs_agent = [c for c in configs if c in AGENT_CONFIGS or c.startswith("pyrite:")]
    if needs_agent and not os.path.isfile(args.agent):
        sys.exit(f"agent not found: {args.agent} (build it, or pass --agent / set PYRITE_BUILD_DIR)")
    if args.async_profiler:
        args.async_profiler = os.path.abspath(args.async_profiler)
        if not os.path.isfile(args.async_profiler):
            sys.exit(f"async-profiler library not found: {args.async_profiler}")
    if not os.access(os.path.join(args.jdk, "bin", "java"), os.X_OK):
        sys.exit(f"no java in {args.jdk}")

    classes = build(args.jdk)
    version, vm = jdk_version(args.jdk)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 java-harness/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "jdk": args.jdk, "jdk_version": version, "jdk_vm": vm,
        "nproc": os.cpu_count(), "kernel": f"{platform.system()} {platform.release()}",
        "threads": args.threads, "seconds": args.seconds, "warmup": args.warmup,
        "rounds": args.rounds, "interval": args.interval, "configs": configs,
        "alloc": args.alloc, "lock": args.lock, "wall": args.wall,
        "alloc_kb": args.alloc_kb, "idle_threads": args.idle_threads,
        "agent": args.agent, "async_profiler": args.async_profiler,
        "loadavg_start": os.getloadavg(),
    }
    log(f"configs: {', '.join(configs)}; {args.rounds} rounds × {len(configs)} runs × "
        f"~{args.seconds + args.warmup + 1:.0f} s")

    runs = []
    seq = 0
    with tempfile.TemporaryDirectory(prefix="pyrite-bench-") as tmp:
        for rnd in range(args.rounds):
            for name in configs:
                seq += 1
                rec = run_once(args, classes, name, tmp, seq)
                rec["round"] = rnd
                runs.append(rec)
                if "error" in rec:
                    log(f"round {rnd + 1}/{args.rounds} {name:>10}: FAILED rc={rec['rc']}\n{rec['error']}")
                else:
                    st = rec.get("stats", {})
                    extra = (f" samples={st.get('samples')} p50={st.get('handler_p50_ns')}ns "
                             f"p99={st.get('handler_p99_ns')}ns" if st else "")
                    extra += "".join(f" {k}={st[k]}" for k in ("wall_signals", "alloc_samples", "lock_events")
                                     if st.get(k))
                    log(f"round {rnd + 1}/{args.rounds} {name:>10}: {rec['ops_per_cpu_s']:>12,.0f} ops/CPU-s "
                        f"({rec['cpus_used']:.2f} CPUs){extra}")
                    for m in rec.get("agent_messages", []):
                        log(f"    {m}")
    meta["loadavg_end"] = os.getloadavg()

    by = {c: [r for r in runs if r["config"] == c] for c in configs}
    base = summarize("baseline", by["baseline"], None)
    base_med = base.get("ops_per_cpu_s_median")
    summaries = [base] + [summarize(c, by[c], base_med) for c in configs if c != "baseline"]
    # Paired view: in each round, this config against that round's baseline run.
    base_by_round = {r["round"]: r.get("ops_per_cpu_s") for r in by["baseline"]}
    for s in summaries[1:]:
        pairs = [(base_by_round.get(r["round"]) - r["ops_per_cpu_s"]) / base_by_round[r["round"]] * 100
                 for r in by[s["config"]] if r.get("ops_per_cpu_s") and base_by_round.get(r["round"])]
        if pairs:
            s["paired_overhead_pct_median"] = statistics.median(pairs)
            s["paired_overhead_pct"] = pairs

    md = markdown(summaries, meta)
    print(md)
    out = args.json or os.path.join(HERE, "out", "results-" + time.strftime("%Y%m%d-%H%M%S") + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"meta": meta, "summary": summaries, "runs": runs}, f, indent=1)
    log(f"\nresults: {out}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n")


def _split_configs(text):
    """Split on commas, but keep `pyrite:<opts>` (which contains commas) whole:
    a piece containing '=' continues the previous pyrite: config."""
    out = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        if out and out[-1].startswith("pyrite:") and "=" in piece and ":" not in piece.split("=")[0]:
            out[-1] += "," + piece
        else:
            out.append(piece)
    return out


if __name__ == "__main__":
    main()
