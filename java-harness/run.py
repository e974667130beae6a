#!/usr/bin/env python3
"""Pyrite overhead benchmark: interleaved JVM runs, with and without profilers.

One command runs a chosen workload (--workload) under several configurations
(--configs) in interleaved rounds (A B C A B C ...), so slow drifts of a noisy
machine hit all configurations alike, and reports per configuration:

  * operations per JVM CPU-second (median, min-max, IQR) and the overhead
    against the no-agent configuration (of the medians, and paired per round);
  * throughput (operations per wall-second);
  * p99 latency (service workload: from the load generator);
  * peak RSS (VmHWM from /proc/<pid>/status) and the RSS added against the
    no-agent median;
  * the profiler's own CPU time: utime+stime of its threads (pyrite-* for Pyrite,
    JFR* for JDK Flight Recorder, --other-threads REGEX for other agents) read
    from /proc/<pid>/task/*/ just before the JVM exits; for Pyrite plus the
    upload thread's own counter (sender_cpu_us of the stats line);
  * bytes uploaded (Pyrite: upload_bytes of the agent's stats line, checked
    against pyrited's /metrics) or written (JFR: the size of the .jfr file).

Workloads (--workload):
  cpu      pyrite.bench.Bench, 2 workers, CPU-bound (hashing, collections, 40-deep recursion)
  alloc    the same operation plus 16 KiB more allocation per operation (--alloc-kb 16)
  lock     4 workers contending on 4 shared monitors (--contend), some waits > 10 ms
  idle     200 mostly idle threads (parked/sleeping 0.5-2 s) + 2 workers paced at 500 ops/s
  service  the example service pyrite.examples.bank.BankApp under a fixed request rate
           from pyrite.examples.bank.LoadGen (examples/build.sh); the load generator JVM
           runs without any agent, ops = requests served, CPU = BankApp's process CPU
  (none)   without --workload: Bench with --threads/--alloc-kb/--idle-threads as given

Configurations (--configs, comma-separated; default none,pyrite-cpu,pyrite-all,jfr):
  none | baseline  no agent (the reference; added first if missing)
  pyrite-cpu       event=cpu,interval=<I>, uploading to a local pyrited every --upload
  pyrite-all       event=cpu,interval=<I>,wall=<W>,alloc=<A>,lock=<L> (DESIGN.md §4 "all
                   modes"), uploading likewise
  jfr              -XX:StartFlightRecording=settings=profile,filename=<tmp>.jfr,dumponexit=true
  other:<path>[=<options>]   any other JVMTI agent: -agentpath:<path>[=<options>]
                   (e.g. async-profiler's libasyncProfiler.so; %d in options = run number)
  Fine-grained Pyrite configs, writing JFR to a file instead of uploading:
  itimer, cpu, alloc, alloconly, lock, lockonly, wall, wallonly, all, asprof (--async-profiler PATH), pyrite:<opts>

The Pyrite upload configurations use one pyrited (--pyrited, default
$PYRITE_BUILD_DIR/bin/pyrited) started for the whole benchmark on 127.0.0.1
with a temporary data directory.

Output (--out DIR, default java-harness/out/<timestamp>/): results.json (every run),
results.md (the Markdown table, also printed on stdout) and overhead.svg (bars of
overhead % per configuration, whiskers = min-max of the per-round paired overhead).
--combine A.json B.json ... merges several results into one grouped chart
(one group per workload) and a summary table.

Python 3 standard library only. It measures; it never fails because of a number.
  python3 java-harness/run.py --workload cpu --rounds 5 --seconds 10
  python3 java-harness/run.py --workload service --configs none,pyrite-all,jfr --rps 300
  python3 java-harness/run.py --workload cpu --configs none,pyrite-cpu,other:/opt/ap/lib/libasyncProfiler.so=start,event=cpu,interval=10ms,file=/tmp/ap-%d.jfr,jfr
  python3 java-harness/run.py --combine out/*/results.json --out docs/img
"""

import argparse
import datetime
import glob
import json
import os
import platform
import queue
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_JDK = "/usr/lib/jvm/java-17-openjdk-amd64"
MAIN = "pyrite.bench.Bench"
BANK_APP = "pyrite.examples.bank.BankApp"
LOAD_GEN = "pyrite.examples.bank.LoadGen"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Bench presets per workload: arguments for Bench (before the harness's own).
WORKLOADS = {
    "cpu": {"threads": 2, "bench": []},
    "alloc": {"threads": 2, "bench": ["--alloc-kb", "16"]},
    "lock": {"threads": 4, "bench": ["--contend"]},
    "idle": {"threads": 2, "bench": ["--idle-threads", "200", "--rate", "500"]},
    "service": {"threads": None, "bench": None},
}
REFERENCE = ("none", "baseline")
UPLOAD_CONFIGS = ("pyrite-cpu", "pyrite-all")
FILE_CONFIGS = ("itimer", "cpu", "alloc", "alloconly", "lock", "lockonly", "wall", "wallonly", "all")
# Threads whose CPU time is the profiler's own, by configuration kind (matched on comm).
THREAD_PATTERNS = {"pyrite": r"^pyrite-", "jfr": r"^JFR"}


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


def clean_env():
    return {k: v for k, v in os.environ.items()
            if k not in ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")
            and not k.startswith("PYRITE_") and not k.startswith("PYROSCOPE_")}


def build(jdk, out):
    src = os.path.join(HERE, "src")
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


# ---------------------------------------------------------------- /proc readers

def read_status(pid):
    """VmHWM / VmRSS in bytes and the thread count from /proc/<pid>/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    out[k] = int(v.split()[0]) * 1024
                elif k == "Threads":
                    out[k] = int(v)
    except OSError:
        pass
    return out


def process_cpu_s(pid):
    """utime+stime of the whole process (exited threads included), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def thread_cpu(pid):
    """{tid: (comm, cpu_ns)} for the live threads of pid. CPU from schedstat (ns),
    falling back to utime+stime ticks."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(base + "/comm") as f:
                comm = f.read().rstrip("\n")
            ns = None
            try:
                with open(base + "/schedstat") as f:
                    ns = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                with open(base + "/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
                ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLK_TCK
            out[int(tid)] = (comm, ns)
        except (OSError, ValueError, IndexError):
            continue
    return out


def profiler_threads(pid, pattern):
    """CPU ms and names of the threads whose comm matches pattern."""
    if not pattern:
        return None, []
    rx = re.compile(pattern)
    hit = [(comm, ns) for comm, ns in thread_cpu(pid).values() if rx.search(comm)]
    return sum(ns for _, ns in hit) / 1e6, sorted(f"{c}:{ns / 1e6:.1f}ms" for c, ns in hit)


# ---------------------------------------------------------------- pyrited

class Pyrited:
    """One pyrited on 127.0.0.1:<free port> with a temporary data dir, for the whole run."""

    def __init__(self, path, tmpdir):
        self.path = path
        self.dir = os.path.join(tmpdir, "pyrited")
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "pyrited.log")
        self.proc = None
        self.port = None

    def start(self, timeout=30.0):
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.path, "--listen", "127.0.0.1:0", "--data-dir",
                                      os.path.join(self.dir, "data")],
                                     stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"pyrited exited with {self.proc.returncode}: {self.tail()}")
            with open(self.log_path, "rb") as f:
                m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)/", f.read())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        else:
            sys.exit(f"pyrited did not start: {self.tail()}")
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        sys.exit(f"pyrited never became ready: {self.tail()}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def metrics(self):
        """Sums of the ingest counters we use; {} if the server does not answer."""
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
                text = r.read().decode(errors="replace")
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line:
                continue
            key, _, val = line.rpartition(" ")
            name = key.split("{", 1)[0]
            if name in ("pyrited_ingest_received_bytes_total", "pyrited_ingest_uploads_total"):
                try:
                    out[name] = out.get(name, 0) + float(val)
                except ValueError:
                    pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- configurations

def agent_options(name, args):
    """Pyrite's options for a named file configuration (without file= and log=)."""
    i = args.interval
    return {
        "itimer": f"event=itimer,interval={i}",
        "cpu": f"event=cpu,interval={i}",
        "alloc": f"event=itimer,interval={i},alloc={args.alloc}",
        "alloconly": f"event=none,interval={i},alloc={args.alloc}",
        "lock": f"event=itimer,interval={i},lock={args.lock}",
        "lockonly": f"event=none,interval={i},lock={args.lock}",
        "wall": f"event=itimer,interval={i},wall={args.wall}",
        "wallonly": f"event=none,interval={i},wall={args.wall}",
        "all": f"event=cpu,interval={i},wall={args.wall},alloc={args.alloc},lock={args.lock}",
    }[name]


def config_kind(name):
    if name in REFERENCE:
        return "none"
    if name in UPLOAD_CONFIGS or name in FILE_CONFIGS or name.startswith("pyrite:"):
        return "pyrite"
    if name == "jfr":
        return "jfr"
    if name == "asprof" or name.startswith("other:"):
        return "other"
    return None


def safe_name(name):
    return re.sub(r"[^\w.-]+", "_", name)[:60]


def config_jvm_args(name, args, tmpdir, seq, server):
    """(JVM arguments, file the profiler writes or None) for one run of a configuration."""
    if name in REFERENCE:
        return [], None
    if name in UPLOAD_CONFIGS:
        i = args.interval
        modes = (f"event=cpu,interval={i}" if name == "pyrite-cpu" else
                 f"event=cpu,interval={i},wall={args.wall},alloc={args.alloc},lock={args.lock}")
        app = f"bench-{args.workload or 'custom'}-{name}"
        return [f"-agentpath:{args.agent}={modes},server={server.url},app={app},"
                f"upload={args.upload},log=info"], None
    if name in FILE_CONFIGS:
        # file= so the measured cost includes draining, name resolution and
        # JFR chunk writing, as in production, not just the signal handler.
        jfr = os.path.join(tmpdir, f"pyrite-{safe_name(name)}-{seq}.jfr")
        return [f"-agentpath:{args.agent}={agent_options(name, args)},file={jfr},log=info"], jfr
    if name.startswith("pyrite:"):
        opts = name[len("pyrite:"):]
        if "log=" not in opts:
            opts += ",log=info"
        return [f"-agentpath:{args.agent}={opts}"], None
    if name == "jfr":
        jfr = os.path.join(tmpdir, f"jfr-{seq}.jfr")
        return [f"-XX:StartFlightRecording=settings={args.jfr_settings},filename={jfr},dumponexit=true"], jfr
    if name == "asprof":
        if not args.async_profiler:
            sys.exit("config asprof needs --async-profiler PATH/libasyncProfiler.so")
        jfr = os.path.join(tmpdir, f"asprof-{seq}.jfr")
        opts = args.async_profiler_opts.format(interval=args.interval, file=jfr)
        return [f"-agentpath:{args.async_profiler}={opts}"], jfr
    if name.startswith("other:"):
        spec = name[len("other:"):]
        path, eq, opts = spec.partition("=")
        path = os.path.abspath(path)
        opts = opts.replace("%d", str(seq))
        m = re.search(r"(?:^|,)file=([^,]+)", opts)
        return [f"-agentpath:{path}" + (f"={opts}" if eq else "")], (m.group(1) if m else None)
    sys.exit(f"unknown config {name!r}: none, pyrite-cpu, pyrite-all, jfr, other:<path>[=<opts>], "
             f"{', '.join(FILE_CONFIGS)}, asprof, pyrite:<opts>")


def label(name):
    """Short display name: other:<path>=<opts> becomes other:<file name>[=…]."""
    if name.startswith("other:"):
        path, eq, _ = name[len("other:"):].partition("=")
        return "other:" + os.path.basename(path) + ("=…" if eq else "")
    if name.startswith("pyrite:") and len(name) > 40:
        return name[:39] + "…"
    return name


def thread_pattern(name, args):
    kind = config_kind(name)
    if kind == "other":
        return args.other_threads
    return THREAD_PATTERNS.get(kind)


# ---------------------------------------------------------------- one run

class LineReader:
    """Drains a pipe on a thread so the child never blocks; lines go to a queue and a list."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.lines = []
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for line in iter(pipe.readline, ""):
            self.lines.append(line.rstrip("\n"))
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait_for(self, rx, timeout):
        """The first match of rx in a line, or None at EOF or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            m = re.search(rx, line)
            if m:
                return m


def finish_record(rec, stderr_text, prof_file):
    stats = None
    for ln in stderr_text.splitlines():
        m = re.match(r"^\[pyrite\]\s*info:\s*stats\b(.*)$", ln)
        if m:
            stats = parse_kv(m.group(1))
    if stats is not None:
        rec["stats"] = stats
    other = [ln for ln in stderr_text.splitlines()
             if ln.startswith("[pyrite]") and " stats " not in ln and "info:" not in ln]
    if other:
        rec["agent_messages"] = other[:20]
    if prof_file and os.path.isfile(prof_file):
        rec["file_bytes"] = os.path.getsize(prof_file)
        os.unlink(prof_file)
    # Agent CPU: its named threads (sampled before exit) + the unnamed upload thread's own counter.
    if stats and isinstance(stats.get("sender_cpu_us"), int) and rec.get("profiler_threads_cpu_ms") is not None:
        rec["agent_cpu_ms"] = rec["profiler_threads_cpu_ms"] + stats["sender_cpu_us"] / 1000
    elif rec.get("profiler_threads_cpu_ms") is not None:
        rec["agent_cpu_ms"] = rec["profiler_threads_cpu_ms"]
    if stats and isinstance(stats.get("upload_bytes"), int):
        rec["bytes_out"] = stats["upload_bytes"]
    elif "file_bytes" in rec:
        rec["bytes_out"] = rec["file_bytes"]


def sample_before_exit(rec, pid, name, args):
    st = read_status(pid)
    rec["rss_hwm_bytes"] = st.get("VmHWM")
    rec["rss_bytes"] = st.get("VmRSS")
    rec["jvm_threads"] = st.get("Threads")
    ms, names = profiler_threads(pid, thread_pattern(name, args))
    if ms is not None:
        rec["profiler_threads_cpu_ms"] = ms
        rec["profiler_threads"] = names


def run_bench(args, classes, name, tmpdir, seq, server):
    jvm, prof_file = config_jvm_args(name, args, tmpdir, seq, server)
    cmd = ([os.path.join(args.jdk, "bin", "java")] + shlex.split(args.jvm_args) + jvm
           + ["-cp", classes, MAIN, "--threads", str(args.threads), "--seconds", str(args.seconds),
              "--warmup", str(args.warmup), "--wait-stdin"] + args.bench_args)
    rec = {"config": name, "seq": seq, "cmd": cmd}
    errf = open(os.path.join(tmpdir, f"stderr-{seq}.txt"), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf, text=True,
                         errors="replace", env=clean_env())
    out = LineReader(p.stdout)
    m = out.wait_for(r"^ops=.*", args.seconds + args.warmup + 120)
    if m:
        rec.update(parse_kv(m.group(0)))
        sample_before_exit(rec, p.pid, name, args)
    try:
        p.stdin.write("\n")
        p.stdin.close()
    except OSError:
        pass
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    rec["rc"] = p.returncode
    rec["process_wall_s"] = round(time.monotonic() - t0, 3)
    errf.seek(0)
    err = errf.read()
    errf.close()
    out.t.join(timeout=5)
    if p.returncode != 0 or not m:
        rec["error"] = ("\n".join(out.lines) + "\n" + err)[-2000:]
        return rec
    rec["ops_per_cpu_s"] = rec["ops"] / (rec["cpu_ns"] / 1e9) if rec["cpu_ns"] > 0 else None
    rec["ops_per_wall_s"] = rec["ops"] / (rec["wall_ns"] / 1e9)
    rec["cpus_used"] = rec["cpu_ns"] / rec["wall_ns"]
    if isinstance(rec.get("alloc_bytes"), int) and rec["alloc_bytes"] >= 0 and rec["cpu_ns"] > 0:
        rec["alloc_mb_per_cpu_s"] = rec["alloc_bytes"] / 1e6 / (rec["cpu_ns"] / 1e9)
    finish_record(rec, err, prof_file)
    return rec


def loadgen_cmd(args, port, seconds, json_path=None):
    cmd = ([os.path.join(args.jdk, "bin", "java"), "-cp", args.examples, LOAD_GEN,
            "--target", f"http://127.0.0.1:{port}", "--paths", args.paths,
            "--concurrency", str(args.concurrency), "--seconds", str(seconds)]
           + (["--rps", str(args.rps)] if args.rps else []))
    if json_path:
        cmd += ["--json", json_path]
    return cmd


def run_service(args, name, tmpdir, seq, server):
    """BankApp with the configuration's agent, loaded by LoadGen (no agent) at a fixed rate."""
    jvm, prof_file = config_jvm_args(name, args, tmpdir, seq, server)
    cmd = ([os.path.join(args.jdk, "bin", "java")] + shlex.split(args.jvm_args) + jvm
           + ["-cp", args.examples, BANK_APP, "--port", "0"] + shlex.split(args.app_args))
    rec = {"config": name, "seq": seq, "cmd": cmd}
    errf = open(os.path.join(tmpdir, f"stderr-{seq}.txt"), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf, text=True,
                         errors="replace", env=clean_env())
    out = LineReader(p.stdout)
    problem = None
    try:
        m = out.wait_for(r"bankapp: listening port=(\d+)", 60)
        if not m:
            problem = "BankApp did not print 'bankapp: listening port=P'"
            return rec
        port = int(m.group(1))
        lt = args.seconds + args.warmup + 120
        if args.warmup > 0:
            w = subprocess.run(loadgen_cmd(args, port, args.warmup), capture_output=True, text=True,
                               errors="replace", env=clean_env(), timeout=lt)
            rec["warmup_loadgen"] = w.stdout.strip().splitlines()[-1:] if w.stdout else w.stderr[-500:]
        cpu0 = process_cpu_s(p.pid)
        g0 = time.monotonic()
        jpath = os.path.join(tmpdir, f"loadgen-{seq}.json")
        lg = subprocess.run(loadgen_cmd(args, port, args.seconds, jpath), capture_output=True, text=True,
                            errors="replace", env=clean_env(), timeout=lt)
        g1 = time.monotonic()
        cpu1 = process_cpu_s(p.pid)
        line = next((ln for ln in reversed(lg.stdout.splitlines()) if ln.startswith("loadgen: requests=")), None)
        if lg.returncode != 0 or line is None or cpu0 is None or cpu1 is None:
            problem = f"LoadGen rc={lg.returncode}: {(lg.stdout + lg.stderr)[-1500:]}"
            return rec
        sample_before_exit(rec, p.pid, name, args)
        lgkv = parse_kv(line[len("loadgen:"):])
        rec["loadgen"] = lgkv
        ok = int(lgkv.get("requests", 0)) - int(lgkv.get("errors", 0))
        rec["ops"] = ok
        rec["cpu_ns"] = int((cpu1 - cpu0) * 1e9)
        rec["wall_ns"] = int((g1 - g0) * 1e9)
        secs = lgkv.get("seconds") if isinstance(lgkv.get("seconds"), (int, float)) else (g1 - g0)
        rec["ops_per_cpu_s"] = ok / (cpu1 - cpu0) if cpu1 > cpu0 else None
        rec["ops_per_wall_s"] = ok / secs if secs else None
        rec["cpus_used"] = (cpu1 - cpu0) / secs if secs else None
        if isinstance(lgkv.get("p99_ms"), (int, float)):
            rec["p99_ms"] = lgkv["p99_ms"]
        if isinstance(lgkv.get("p50_ms"), (int, float)):
            rec["p50_ms"] = lgkv["p50_ms"]
    except subprocess.TimeoutExpired as e:
        problem = f"timeout: {e}"
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)    # orderly JVM exit: agent stats line, JFR dump
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        rec["rc"] = p.returncode
        rec["process_wall_s"] = round(time.monotonic() - t0, 3)
        errf.seek(0)
        err = errf.read()
        errf.close()
        out.t.join(timeout=5)
        if problem:
            rec["error"] = problem + "\n" + ("\n".join(out.lines) + "\n" + err)[-1500:]
        elif rec.get("ops_per_cpu_s") is None:
            rec["error"] = "no CPU time measured"
        else:
            # 143 = killed by our SIGTERM, the normal end of a service run.
            finish_record(rec, err, prof_file)
    return rec


# ---------------------------------------------------------------- summaries

def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (None, None)
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def med(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else None


STATS_KEYS = ("handler_p50_ns", "handler_p99_ns", "handler_max_ns", "samples", "dropped",
              "wall_signals", "wall_repeats", "wall_samples", "alloc_samples", "lock_events",
              "lock_below_threshold_dropped", "uploads_sent", "upload_bytes", "upload_failed_attempts",
              "window_cpu_us", "sender_cpu_us")


def summarize(name, runs, base):
    ok = [r for r in runs if r.get("ops_per_cpu_s")]
    vals = [r["ops_per_cpu_s"] for r in ok]
    s = {"config": name, "runs": len(runs), "ok_runs": len(ok), "failed_runs": len(runs) - len(ok)}
    if not vals:
        return s
    m = statistics.median(vals)
    q1, q3 = quartiles(vals)
    s.update({
        "ops_per_cpu_s_median": m, "min": min(vals), "max": max(vals), "q1": q1, "q3": q3,
        "iqr_pct": (q3 - q1) / m * 100 if m else None,
        "spread_pct": (max(vals) - min(vals)) / m * 100 if m else None,
        "ops_per_wall_s_median": med(r.get("ops_per_wall_s") for r in ok),
        "cpus_used_median": med(r.get("cpus_used") for r in ok),
        "p99_ms_median": med(r.get("p99_ms") for r in ok),
        "p50_ms_median": med(r.get("p50_ms") for r in ok),
        "rss_hwm_bytes_median": med(r.get("rss_hwm_bytes") for r in ok),
        "agent_cpu_ms_median": med(r.get("agent_cpu_ms") for r in ok),
        "bytes_out_median": med(r.get("bytes_out") for r in ok),
        "server_bytes_median": med(r.get("server_received_bytes") for r in ok),
        "file_bytes_median": med(r.get("file_bytes") for r in ok),
        "alloc_mb_per_cpu_s_median": med(r.get("alloc_mb_per_cpu_s") for r in ok),
    })
    p99s = [r["p99_ms"] for r in ok if isinstance(r.get("p99_ms"), (int, float))]
    if p99s:
        s["p99_ms_min"], s["p99_ms_max"] = min(p99s), max(p99s)
    if base is not None and base.get("ops_per_cpu_s_median"):
        bm = base["ops_per_cpu_s_median"]
        s["overhead_pct"] = (bm - m) / bm * 100
        if s["rss_hwm_bytes_median"] is not None and base.get("rss_hwm_bytes_median") is not None:
            s["rss_added_bytes"] = s["rss_hwm_bytes_median"] - base["rss_hwm_bytes_median"]
    st = [r["stats"] for r in ok if "stats" in r]
    for key in STATS_KEYS:
        v = med(x.get(key) for x in st)
        if v is not None:
            s[key + "_median"] = v
    return s


def fmt(v, digits=0, suffix=""):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}{suffix}"


def mb(v, digits=1):
    return "–" if v is None else f"{v / 1e6:,.{digits}f}"


def kb(v):
    return "–" if v is None else f"{v / 1e3:,.1f} kB"


def markdown(summaries, meta):
    ref = meta["reference"]
    service = meta.get("workload") == "service"
    lines = [describe(meta), "", f"Command: `{meta['command']}`", ""]
    lines.append(f"| config | runs | ops / CPU-s (median) | min – max | IQR | IQR % | overhead vs `{ref}` "
                 "| paired overhead | ops / s (wall) | p99 latency | peak RSS MB | RSS added MB "
                 "| agent CPU ms / run | bytes uploaded / written per run |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        name = s["config"]
        if "ops_per_cpu_s_median" not in s:
            lines.append(f"| `{label(name)}` | 0/{s['runs']} | all runs failed |" + " |" * 11)
            continue
        is_ref = name == ref
        ov = "(reference)" if is_ref else fmt(s.get("overhead_pct"), 2, " %")
        paired = "" if is_ref else fmt(s.get("paired_overhead_pct_median"), 2, " %")
        runs = f"{s['ok_runs']}" + (f" ({s['failed_runs']} failed)" if s["failed_runs"] else "")
        p99 = "–"
        if s.get("p99_ms_median") is not None:
            p99 = f"{s['p99_ms_median']:.1f} ms ({s['p99_ms_min']:.1f}–{s['p99_ms_max']:.1f})"
        added = "" if is_ref else ("–" if s.get("rss_added_bytes") is None
                                   else f"{s['rss_added_bytes'] / 1e6:+,.1f}")
        byts = "–"
        if s.get("bytes_out_median") is not None:
            byts = kb(s["bytes_out_median"]) + (" (file)" if s.get("upload_bytes_median") is None else "")
        lines.append(
            f"| `{label(name)}` | {runs} | {fmt(s['ops_per_cpu_s_median'])} | "
            f"{fmt(s['min'])} – {fmt(s['max'])} | {fmt(s['q1'])} – {fmt(s['q3'])} | {fmt(s['iqr_pct'], 2, ' %')} | "
            f"{ov} | {paired} | {fmt(s['ops_per_wall_s_median'], 1 if service else 0)} | {p99} | "
            f"{mb(s.get('rss_hwm_bytes_median'))} | {added} | {fmt(s.get('agent_cpu_ms_median'), 1)} | {byts} |")
    lines.append("")
    lines.append(f"Overhead = (`{ref}` median − config median) / `{ref}` median of operations per JVM "
                 f"CPU-second; positive = more CPU per operation. Paired = median over rounds of the same "
                 f"against that round's `{ref}` run. A difference smaller than the reference's IQR % is noise. "
                 "Peak RSS = VmHWM just before exit; RSS added = config median − reference median. Agent CPU = "
                 "CPU time of the profiler's own threads (`pyrite-*`, `JFR*`) over the JVM's life, read just "
                 "before exit, plus Pyrite's upload thread (`sender_cpu_us`); signal handlers run on the "
                 "application's threads and are not in it. Bytes: Pyrite's `upload_bytes` (gzip on the wire "
                 "to pyrited), or the size of the recording file (file).")
    rows = [s for s in summaries if s.get("samples_median") is not None]
    if rows:
        lines.append("")
        lines.append("| config | handler p50 | handler p99 | samples | wall samples | alloc samples "
                     "| lock events | dropped | uploads | upload bytes (pyrited /metrics) | window seal CPU |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for s in rows:
            p50, p99 = s.get("handler_p50_ns_median"), s.get("handler_p99_ns_median")
            lines.append(
                f"| `{label(s['config'])}` | {fmt(p50 / 1000 if p50 is not None else None, 1, ' µs')} | "
                f"{fmt(p99 / 1000 if p99 is not None else None, 1, ' µs')} | {fmt(s.get('samples_median'))} | "
                f"{fmt(s.get('wall_samples_median'))} | {fmt(s.get('alloc_samples_median'))} | "
                f"{fmt(s.get('lock_events_median'))} | {fmt(s.get('dropped_median'))} | "
                f"{fmt(s.get('uploads_sent_median'))} | {kb(s.get('server_bytes_median'))} | "
                f"{fmt(s.get('window_cpu_us_median'), 0, ' µs')} |")
        lines.append("")
        lines.append("Pyrite's own counters, medians over runs of the `[pyrite] info: stats` line (whole JVM "
                     "life, warm-up included); upload bytes (pyrited) = growth of "
                     "`pyrited_ingest_received_bytes_total` across the run.")
    return "\n".join(lines)


def describe(meta):
    w = meta.get("workload") or "custom"
    if w == "service":
        app = " ".join([BANK_APP] + shlex.split(meta.get("app_args") or ""))
        what = (f"workload `service`: `{app}` under `{LOAD_GEN}` at {meta['rps']:g} req/s, "
                f"concurrency {meta['concurrency']}, paths {meta['paths']}")
    else:
        what = f"workload `{w}`: `Bench {' '.join(['--threads', str(meta['threads'])] + meta['bench_args'])}`"
    return (f"{what}; {meta['rounds']} interleaved rounds × {meta['seconds']} s measured "
            f"(+{meta['warmup']} s warm-up); interval {meta['interval']}, wall={meta['wall']} "
            f"alloc={meta['alloc']} lock={meta['lock']}, upload={meta['upload']}; JDK {meta['jdk_version']}; "
            f"{meta['nproc']} CPUs, {meta['kernel']}; load average {meta['loadavg_start'][0]:.1f} → "
            f"{meta['loadavg_end'][0]:.1f}; {meta['date']}")


# ---------------------------------------------------------------- SVG chart

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")


def esc(t):
    return str(t).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def svg_chart(groups, title, subtitle=""):
    """groups: [(label, [(config, overhead %, whisker lo, whisker hi), ...]), ...].
    Grouped vertical bars of overhead % with whiskers; standard library only."""
    configs = []
    for _, bars in groups:
        for b in bars:
            if b[0] not in configs:
                configs.append(b[0])
    vals = [v for _, bars in groups for b in bars for v in b[1:] if v is not None]
    lo = min([0.0] + vals)
    hi = max([1.0] + vals)
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad if lo < 0 else lo, hi + pad
    W, H = 120 + max(1, len(groups)) * (len(configs) * 34 + 40), 380
    left, right, top, bottom = 70, 20, 58, 60
    pw, ph = W - left - right, H - top - bottom

    def y(v):
        return top + (hi - v) / (hi - lo) * ph

    step = nice_step((hi - lo) / 6)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H + 22 * ((len(configs) + 3) // 4)}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="20" font-size="15" font-weight="bold">{esc(title)}</text>',
           f'<text x="{left}" y="38" fill="#555">{esc(subtitle)}</text>']
    t = step * int(lo / step) if lo >= 0 else -step * int(-lo / step + 0.999)
    while t <= hi + 1e-9:
        out.append(f'<line x1="{left}" x2="{W - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                   f'stroke="{"#333" if abs(t) < 1e-9 else "#ddd"}"/>')
        out.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g} %</text>')
        t += step
    out.append(f'<text transform="translate(16,{top + ph / 2:.0f}) rotate(-90)" text-anchor="middle">'
               f'overhead, % of ops per JVM CPU-second</text>')
    gw = pw / max(1, len(groups))
    bw = min(30, (gw - 20) / max(1, len(configs)))
    for gi, (label, bars) in enumerate(groups):
        gx = left + gi * gw + (gw - bw * len(configs)) / 2
        for b in bars:
            ci = configs.index(b[0])
            x = gx + ci * bw
            v = b[1]
            if v is None:
                continue
            y0, y1 = sorted((y(0), y(v)))
            out.append(f'<rect x="{x + 2:.1f}" y="{y0:.1f}" width="{bw - 4:.1f}" height="{max(0.5, y1 - y0):.1f}" '
                       f'fill="{PALETTE[ci % len(PALETTE)]}"><title>{esc(label)} {esc(b[0])}: {v:.2f} %'
                       f'</title></rect>')
            if b[2] is not None and b[3] is not None:
                cx = x + bw / 2
                out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(b[2]):.1f}" y2="{y(b[3]):.1f}" stroke="#222"/>')
                for wv in (b[2], b[3]):
                    out.append(f'<line x1="{cx - 5:.1f}" x2="{cx + 5:.1f}" y1="{y(wv):.1f}" y2="{y(wv):.1f}" '
                               f'stroke="#222"/>')
            ty = y(v) - 4 if v >= 0 else y(v) + 13
            out.append(f'<text x="{x + bw / 2:.1f}" y="{ty:.1f}" text-anchor="middle" font-size="10">{v:.1f}</text>')
        out.append(f'<text x="{left + gi * gw + gw / 2:.1f}" y="{top + ph + 20}" text-anchor="middle" '
                   f'font-weight="bold">{esc(label)}</text>')
    ly = top + ph + 40
    for ci, c in enumerate(configs):
        lx = left + (ci % 4) * 170
        yy = ly + (ci // 4) * 20
        out.append(f'<rect x="{lx}" y="{yy - 10}" width="12" height="12" fill="{PALETTE[ci % len(PALETTE)]}"/>')
        out.append(f'<text x="{lx + 16}" y="{yy}">{esc(c)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def nice_step(x):
    if x <= 0:
        return 1.0
    e = 10 ** int(f"{x:e}".split("e")[1])
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= x:
            return m * e
    return 10 * e


def chart_bars(summaries, reference):
    bars = []
    for s in summaries:
        if s["config"] == reference or s.get("overhead_pct") is None:
            continue
        pairs = s.get("paired_overhead_pct") or []
        bars.append((label(s["config"]), s["overhead_pct"], min(pairs) if pairs else None,
                     max(pairs) if pairs else None))
    return bars


CHART_NOTE = "bar = overhead of the medians; whisker = min–max of the per-round paired overhead"


def combine(files, out_dir):
    groups, rows, metas = [], [], []
    for f in files:
        with open(f) as fh:
            d = json.load(fh)
        meta, summ = d["meta"], d["summary"]
        metas.append(meta)
        wl = meta.get("workload") or "custom"
        groups.append((wl, chart_bars(summ, meta["reference"])))
        for s in summ:
            rows.append((wl, s, meta["reference"]))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "overhead.svg")

    def span(key):
        vs = sorted(set(m[key] for m in metas))
        return f"{vs[0]:g}" if len(vs) == 1 else f"{vs[0]:g}–{vs[-1]:g}"
    with open(path, "w") as fh:
        fh.write(svg_chart(groups, "Profiler overhead by workload",
                           f"{CHART_NOTE}; {span('rounds')} rounds × {span('seconds')} s, "
                           f"JDK {', '.join(sorted(set(m['jdk_version'] for m in metas)))}"))
    lines = ["| workload | config | ops / CPU-s median | IQR % | overhead | paired overhead | p99 | "
             "RSS added MB | agent CPU ms / run | bytes / run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for wl, s, ref in rows:
        if "ops_per_cpu_s_median" not in s:
            lines.append(f"| {wl} | `{label(s['config'])}` | all runs failed | | | | | | | |")
            continue
        is_ref = s["config"] == ref
        p99 = fmt(s.get("p99_ms_median"), 1, " ms")
        ra = s.get("rss_added_bytes")
        added = "" if is_ref else ("–" if ra is None else f"{ra / 1e6:+,.1f}")
        lines.append(f"| {wl} | `{label(s['config'])}` | {fmt(s['ops_per_cpu_s_median'])} | "
                     f"{fmt(s['iqr_pct'], 2, ' %')} | {'(reference)' if is_ref else fmt(s.get('overhead_pct'), 2, ' %')} | "
                     f"{'' if is_ref else fmt(s.get('paired_overhead_pct_median'), 2, ' %')} | {p99} | "
                     f"{added} | "
                     f"{fmt(s.get('agent_cpu_ms_median'), 1)} | {kb(s.get('bytes_out_median'))} |")
    print("\n".join(lines))
    log(f"chart: {path}")


# ---------------------------------------------------------------- main

def split_configs(text):
    """Split on commas, but keep `pyrite:<opts>` and `other:<path>=<opts>` (which contain
    commas) whole: a piece that is not itself a configuration continues the previous one."""
    known = set(REFERENCE) | set(UPLOAD_CONFIGS) | set(FILE_CONFIGS) | {"jfr", "asprof"}
    out = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        if (out and out[-1].startswith(("pyrite:", "other:")) and piece not in known
                and not piece.startswith(("pyrite:", "other:"))):
            out[-1] += "," + piece
        else:
            out.append(piece)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default=None)
    ap.add_argument("--configs", default="none,pyrite-cpu,pyrite-all,jfr")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before that")
    ap.add_argument("--threads", type=int, default=None, help="Bench workers (default per workload, else 2)")
    ap.add_argument("--alloc-kb", type=int, default=None, help="Bench: extra KiB allocated per operation")
    ap.add_argument("--idle-threads", type=int, default=None, help="Bench: mostly idle threads")
    ap.add_argument("--bench-args", dest="bench_extra", default="", help="more Bench arguments, e.g. '--rate 200'")
    ap.add_argument("--jdk", default=DEFAULT_JDK, help="JDK home that runs the JVMs")
    ap.add_argument("--interval", default="10ms")
    ap.add_argument("--alloc", default="512k", help="alloc= of pyrite-all, alloc, all")
    ap.add_argument("--lock", default="10ms", help="lock= of pyrite-all, lock, all")
    ap.add_argument("--wall", default="50ms", help="wall= of pyrite-all, wall, wallonly, all")
    ap.add_argument("--upload", default="10s", help="upload= of pyrite-cpu and pyrite-all")
    ap.add_argument("--jfr-settings", default="profile", help="settings= of the jfr config")
    ap.add_argument("--agent", default=None, help="libpyrite.so (default $PYRITE_BUILD_DIR/lib or build/lib)")
    ap.add_argument("--pyrited", default=None, help="pyrited (default $PYRITE_BUILD_DIR/bin or build/bin)")
    ap.add_argument("--other-threads", default=r"(?i)profil|async",
                    help="regex on thread names counted as agent CPU for other:/asprof configs")
    ap.add_argument("--async-profiler", default=None, metavar="PATH", help="libasyncProfiler.so")
    ap.add_argument("--async-profiler-opts", default="start,event=itimer,interval={interval},file={file},jfr")
    ap.add_argument("--jvm-args", default="", help="extra JVM arguments for every profiled JVM")
    # service workload
    ap.add_argument("--examples", default=os.path.join(ROOT, "examples", "out"),
                    help="classpath with BankApp and LoadGen (examples/build.sh)")
    ap.add_argument("--app-args", default="", help="extra BankApp arguments, e.g. --optimized")
    ap.add_argument("--rps", type=float, default=200, help="LoadGen fixed request rate")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--paths", default="/payment,/notification,/order")
    # output
    ap.add_argument("--out", default=None, help="output dir (default java-harness/out/<timestamp>)")
    ap.add_argument("--json", default=None, help="results JSON (default <out>/results.json)")
    ap.add_argument("--markdown", default=None, help="table (default <out>/results.md)")
    ap.add_argument("--classes-dir", default=os.path.join(HERE, "out", "classes"),
                    help="where javac puts the compiled Bench")
    ap.add_argument("--combine", nargs="+", metavar="RESULTS_JSON",
                    help="merge results files into <out>/overhead.svg and a summary table; run nothing")
    args = ap.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.abspath(args.out or os.path.join(HERE, "out", stamp))
    if args.combine:
        files = [f for pat in args.combine for f in (sorted(glob.glob(pat)) or [pat])]
        combine(files, out_dir)
        return

    bd = os.environ.get("PYRITE_BUILD_DIR") or os.path.join(ROOT, "build")
    args.agent = os.path.abspath(args.agent or os.path.join(bd, "lib", "libpyrite.so"))
    args.pyrited = os.path.abspath(args.pyrited or os.path.join(bd, "bin", "pyrited"))
    configs = split_configs(args.configs)
    if args.async_profiler and "asprof" not in configs:
        configs.append("asprof")
    reference = next((c for c in configs if c in REFERENCE), None)
    if reference is None:
        reference = "none"
        configs.insert(0, reference)
    for c in configs:
        if config_kind(c) is None:
            sys.exit(f"unknown config {c!r} (see --help)")
    if any(config_kind(c) == "pyrite" for c in configs) and not os.path.isfile(args.agent):
        sys.exit(f"agent not found: {args.agent} (build it, or pass --agent / set PYRITE_BUILD_DIR)")
    if any(c in UPLOAD_CONFIGS for c in configs) and not os.access(args.pyrited, os.X_OK):
        sys.exit(f"pyrited not found: {args.pyrited} (pass --pyrited / set PYRITE_BUILD_DIR)")
    for c in configs:
        if c.startswith("other:") and not os.path.isfile(c[len("other:"):].partition("=")[0]):
            sys.exit(f"agent library of {c!r} not found")
    if args.async_profiler:
        args.async_profiler = os.path.abspath(args.async_profiler)
        if not os.path.isfile(args.async_profiler):
            sys.exit(f"async-profiler library not found: {args.async_profiler}")
    if not os.access(os.path.join(args.jdk, "bin", "java"), os.X_OK):
        sys.exit(f"no java in {args.jdk}")

    preset = WORKLOADS.get(args.workload, {"threads": 2, "bench": []})
    args.threads = args.threads if args.threads is not None else (preset["threads"] or 2)
    args.bench_args = list(preset["bench"] or [])
    if args.alloc_kb is not None:
        args.bench_args += ["--alloc-kb", str(args.alloc_kb)]
    if args.idle_threads is not None:
        args.bench_args += ["--idle-threads", str(args.idle_threads)]
    args.bench_args += shlex.split(args.bench_extra)
    service = args.workload == "service"
    classes = build(args.jdk, os.path.abspath(args.classes_dir))
    if service:
        bank = os.path.join(args.examples, *BANK_APP.split(".")) + ".class"
        gen = os.path.join(args.examples, *LOAD_GEN.split(".")) + ".class"
        if not (os.path.isfile(bank) and os.path.isfile(gen)):
            sys.exit(f"service workload needs {BANK_APP} and {LOAD_GEN} in {args.examples} "
                     f"(run examples/build.sh)")
    version, vm = jdk_version(args.jdk)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 java-harness/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "workload": args.workload, "reference": reference, "configs": configs,
        "jdk": args.jdk, "jdk_version": version, "jdk_vm": vm,
        "nproc": os.cpu_count(), "kernel": f"{platform.system()} {platform.release()}",
        "threads": args.threads, "bench_args": args.bench_args, "seconds": args.seconds,
        "warmup": args.warmup, "rounds": args.rounds, "interval": args.interval,
        "alloc": args.alloc, "lock": args.lock, "wall": args.wall, "upload": args.upload,
        "agent": args.agent, "pyrited": args.pyrited,
        "rps": args.rps, "concurrency": args.concurrency, "paths": args.paths, "app_args": args.app_args,
        "loadavg_start": os.getloadavg(),
    }
    log(f"workload {args.workload or 'custom'}; configs: {', '.join(configs)}; {args.rounds} rounds × "
        f"{len(configs)} runs × ~{args.seconds + args.warmup + (4 if service else 2):.0f} s; out {out_dir}")

    runs = []
    seq = 0
    with tempfile.TemporaryDirectory(prefix="pyrite-bench-") as tmp:
        server = None
        if any(c in UPLOAD_CONFIGS for c in configs):
            server = Pyrited(args.pyrited, tmp).start()
            log(f"pyrited on {server.url}")
        try:
            for rnd in range(args.rounds):
                for name in configs:
                    seq += 1
                    m0 = server.metrics() if server and name in UPLOAD_CONFIGS else None
                    if service:
                        rec = run_service(args, name, tmp, seq, server)
                    else:
                        rec = run_bench(args, classes, name, tmp, seq, server)
                    if m0 is not None:
                        time.sleep(0.3)  # the final upload at exit is answered before the JVM ends
                        m1 = server.metrics()
                        if "pyrited_ingest_received_bytes_total" in m0 and m1:
                            rec["server_received_bytes"] = (m1["pyrited_ingest_received_bytes_total"]
                                                            - m0["pyrited_ingest_received_bytes_total"])
                            rec["server_uploads"] = (m1.get("pyrited_ingest_uploads_total", 0)
                                                     - m0.get("pyrited_ingest_uploads_total", 0))
                    rec["round"] = rnd
                    runs.append(rec)
                    progress(rnd, args.rounds, name, rec)
        finally:
            if server:
                meta["pyrited_log_tail"] = server.tail()[-600:]
                server.stop()
    meta["loadavg_end"] = os.getloadavg()

    by = {c: [r for r in runs if r["config"] == c] for c in configs}
    base = summarize(reference, by[reference], None)
    summaries = [base] + [summarize(c, by[c], base) for c in configs if c != reference]
    base_by_round = {r["round"]: r.get("ops_per_cpu_s") for r in by[reference]}
    for s in summaries[1:]:
        pairs = [(base_by_round[r["round"]] - r["ops_per_cpu_s"]) / base_by_round[r["round"]] * 100
                 for r in by[s["config"]] if r.get("ops_per_cpu_s") and base_by_round.get(r["round"])]
        if pairs:
            s["paired_overhead_pct_median"] = statistics.median(pairs)
            s["paired_overhead_pct"] = pairs

    md = markdown(summaries, meta)
    print(md)
    os.makedirs(out_dir, exist_ok=True)
    jpath = args.json or os.path.join(out_dir, "results.json")
    with open(jpath, "w") as f:
        json.dump({"meta": meta, "summary": summaries, "runs": runs}, f, indent=1)
    with open(args.markdown or os.path.join(out_dir, "results.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(out_dir, "overhead.svg"), "w") as f:
        f.write(svg_chart([(args.workload or "custom", chart_bars(summaries, reference))],
                          f"Profiler overhead, workload {args.workload or 'custom'}",
                          f"{CHART_NOTE}; {args.rounds} rounds × {args.seconds:g} s, JDK {version}"))
    log(f"\nresults: {jpath}\nchart: {os.path.join(out_dir, 'overhead.svg')}")


def progress(rnd, rounds, name, rec):
    head = f"round {rnd + 1}/{rounds} {label(name):>12}:"
    if "error" in rec:
        log(f"{head} FAILED rc={rec.get('rc')}\n{rec['error']}")
        return
    bits = [f"{rec['ops_per_cpu_s']:>12,.0f} ops/CPU-s", f"{rec.get('cpus_used') or 0:.2f} CPUs"]
    if rec.get("p99_ms") is not None:
        bits.append(f"p99 {rec['p99_ms']} ms")
    if rec.get("rss_hwm_bytes"):
        bits.append(f"HWM {rec['rss_hwm_bytes'] / 1e6:.0f} MB")
    if rec.get("agent_cpu_ms") is not None:
        bits.append(f"agent {rec['agent_cpu_ms']:.0f} ms")
    if rec.get("bytes_out") is not None:
        bits.append(f"{rec['bytes_out']:,} B out")
    if rec.get("server_received_bytes") is not None:
        bits.append(f"server +{rec['server_received_bytes']:,.0f} B")
    log(f"{head} " + ", ".join(bits))
    for m in rec.get("agent_messages", []):
        log(f"    {m}")


if __name__ == "__main__":
    main()
