"""Shared helpers for Pyrite's integration tests (Python 3 stdlib only).

The tests boot real JVMs with the agent attached (``-agentpath`` or
``JAVA_TOOL_OPTIONS``), read the JFR the agent writes with the same JDK's
``jfr`` tool, and check what they find against the contract in
``DESIGN.md`` §3.2. This module knows how to:

* find the agent (``$PYRITE_BUILD_DIR/lib/libpyrite.so``) and skip cleanly when
  it has not been built (exit code ``SKIP_RC``, a ``SKIP:`` line on stdout);
* find JDKs: JDK 17 at ``/usr/lib/jvm/java-17-openjdk-amd64`` is required, and
  every JDK >= 21 under ``/usr/lib/jvm`` is added (``PYRITE_IT_JDKS`` overrides:
  a ``:``-separated list of JDK homes);
* compile the workloads in ``tests/integration/workloads`` into a temp dir;
* run a JVM with agent options, a timeout and a clean environment;
* parse ``jfr print --json`` / ``jfr summary``, ExecutionSample stacks, the
  agent's ``[pyrite] info: stats`` line and the workloads' report lines;
* collect soft assertions so one run reports every failed check.

Environment: ``PYRITE_BUILD_DIR`` and ``PYRITE_SOURCE_DIR`` (set by CTest);
without them the paths are derived from this file's location
(``<source>/build``). ``PYRITE_IT_KEEP=1`` keeps the temp dirs for inspection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

SKIP_RC = 77  # CTest: set_tests_properties(... SKIP_RETURN_CODE 77)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("PYRITE_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("PYRITE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
WORKLOAD_DIR = os.path.join(SOURCE_DIR, "tests", "integration", "workloads")
JDK17_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
JVM_ROOT = "/usr/lib/jvm"

HOT_CLASS = "pyrite.it.HotLoop"
HOT_METHOD = "spin"
HOT_WORKER_RE = re.compile(r"^pyrite-hot-\d+$")
HOT_MARKER = "// HOT-LINE"


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- agent

def agent_path() -> str:
    return os.path.join(BUILD_DIR, "lib", "libpyrite.so")


def require_agent() -> str:
    """Return the agent's path, or print SKIP and exit with SKIP_RC."""
    path = agent_path()
    if not os.path.isfile(path):
        log(f"SKIP: agent library not built: {path} "
            f"(build it with cmake --build, or set PYRITE_BUILD_DIR)")
        sys.exit(SKIP_RC)
    return path


OptionsT = Union[None, str, Sequence[Tuple[str, str]], Dict[str, str]]


def format_options(opts: OptionsT) -> str:
    """``{'file': 'x.jfr', 'interval': '10ms'}`` -> ``file=x.jfr,interval=10ms``.

    A string is passed through unchanged, so tests can send malformed options.
    """
    if opts is None:
        return ""
    if isinstance(opts, str):
        return opts
    items = opts.items() if isinstance(opts, dict) else opts
    return ",".join(f"{k}={v}" for k, v in items)


def agent_arg(opts: OptionsT = None, path: Optional[str] = None) -> str:
    s = format_options(opts)
    return f"-agentpath:{path or agent_path()}" + (f"={s}" if s else "")


# ---------------------------------------------------------------------------- JDKs

@dataclass(frozen=True)
class Jdk:
    home: str
    version: str  # e.g. "17.0.15"
    major: int

    def tool(self, name: str) -> str:
        return os.path.join(self.home, "bin", name)

    @property
    def java(self) -> str:
        return self.tool("java")

    @property
    def jfr(self) -> str:
        return self.tool("jfr")

    @property
    def label(self) -> str:
        return f"jdk{self.major}"

    def __str__(self) -> str:
        return f"JDK {self.version} ({self.home})"


def _jdk_version(home: str) -> Optional[str]:
    try:
        with open(os.path.join(home, "release"), encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r'JAVA_VERSION="([^"]+)"', line.strip())
                if m:
                    return m.group(1)
    except OSError:
        pass
    java = os.path.join(home, "bin", "java")
    if not os.access(java, os.X_OK):
        return None
    try:
        p = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60,
                           env=clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "([^"]+)"', p.stderr)
    return m.group(1) if m else None


def _major(version: str) -> int:
    parts = version.split(".")
    if parts[0] == "1" and len(parts) > 1:
        return int(parts[1])
    return int(re.match(r"\d+", parts[0]).group(0))


def _make_jdk(home: str) -> Optional[Jdk]:
    home = os.path.realpath(home)
    if not (os.access(os.path.join(home, "bin", "java"), os.X_OK)
            and os.access(os.path.join(home, "bin", "jfr"), os.X_OK)):
        return None
    v = _jdk_version(home)
    if not v:
        return None
    return Jdk(home=home, version=v, major=_major(v))


def find_jdks() -> List[Jdk]:
    """JDK 17 (required) plus every JDK >= 21 under /usr/lib/jvm, by realpath."""
    override = os.environ.get("PYRITE_IT_JDKS")
    if override:
        jdks = [j for j in (_make_jdk(h) for h in override.split(":") if h) if j]
        if not jdks:
            raise RuntimeError(f"PYRITE_IT_JDKS={override!r}: no usable JDK (need bin/java and bin/jfr)")
        return jdks
    jdk17 = _make_jdk(JDK17_HOME)
    if jdk17 is None or jdk17.major != 17:
        raise RuntimeError(f"JDK 17 with bin/java and bin/jfr is required at {JDK17_HOME} "
                           f"(apt-get install openjdk-17-jdk-headless)")
    found = {jdk17.home: jdk17}
    try:
        entries = sorted(os.listdir(JVM_ROOT))
    except OSError:
        entries = []
    for name in entries:
        j = _make_jdk(os.path.join(JVM_ROOT, name))
        if j and j.major >= 21 and j.home not in found:
            found[j.home] = j
    return sorted(found.values(), key=lambda j: (j.major, j.home))


def javac_jdk() -> Jdk:
    """The JDK used to compile workloads (JDK 17, --release 17)."""
    j = _make_jdk(JDK17_HOME)
    if j is None or not os.access(j.tool("javac"), os.X_OK):
        raise RuntimeError(f"javac from JDK 17 is required at {JDK17_HOME}/bin/javac")
    return j


# ----------------------------------------------------------------------- workloads

_workload_cache: Dict[str, str] = {}


def compile_workloads(workdir: Optional[str] = None) -> str:
    """Compile every workloads/*.java with JDK 17's javac; return the class dir."""
    key = workdir or ""
    if key in _workload_cache:
        return _workload_cache[key]
    out = os.path.join(workdir or make_tempdir("pyrite-it-classes-"), "classes")
    os.makedirs(out, exist_ok=True)
    sources = sorted(os.path.join(WORKLOAD_DIR, f) for f in os.listdir(WORKLOAD_DIR) if f.endswith(".java"))
    cmd = [javac_jdk().tool("javac"), "--release", "17", "-g", "-encoding", "UTF-8", "-d", out] + sources
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=clean_env())
    if p.returncode != 0:
        raise RuntimeError(f"javac failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    _workload_cache[key] = out
    return out


def workload_source(name: str) -> str:
    return os.path.join(WORKLOAD_DIR, name)


def marked_lines(source: str, marker: str = HOT_MARKER) -> List[int]:
    """1-based numbers of the lines of `source` that contain `marker`."""
    with open(source, encoding="utf-8") as f:
        return [i for i, line in enumerate(f, 1) if marker in line]


def hot_lines() -> List[int]:
    lines = marked_lines(workload_source("HotLoop.java"))
    if not lines:
        raise RuntimeError(f"no '{HOT_MARKER}' lines in HotLoop.java")
    return lines


_tempdirs: List[str] = []


def make_tempdir(prefix: str = "pyrite-it-") -> str:
    d = tempfile.mkdtemp(prefix=prefix)
    _tempdirs.append(d)
    return d


def cleanup_tempdirs() -> None:
    if os.environ.get("PYRITE_IT_KEEP"):
        for d in _tempdirs:
            log(f"(kept {d})")
        return
    for d in _tempdirs:
        shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------- processes

def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The caller's environment without anything that would attach agents or
    change the agent's configuration behind a test's back."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PYRITE_") and k not in ("PYRITE_BUILD_DIR", "PYRITE_SOURCE_DIR"))
           and not k.startswith("PYROSCOPE_")
           and k not in ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "JAVA_OPTIONS",
                         "CLASSPATH")}
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


@dataclass
class RunResult:
    cmd: List[str]
    env_extra: Dict[str, str]
    rc: Optional[int]
    stdout: str
    stderr: str
    wall_s: float
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def pyrite_lines(self) -> List[str]:
        return pyrite_lines(self.stderr)

    def describe(self) -> str:
        env = " ".join(f"{k}={shell_quote(v)}" for k, v in self.env_extra.items())
        return (f"$ {env + ' ' if env else ''}{' '.join(shell_quote(c) for c in self.cmd)}\n"
                f"  rc={self.rc} timed_out={self.timed_out} wall={self.wall_s:.2f}s\n"
                f"  stdout: {indent_tail(self.stdout)}\n  stderr: {indent_tail(self.stderr)}")


def shell_quote(s: str) -> str:
    return s if re.fullmatch(r"[\w@%+=:,./-]*", s) and s else "'" + s.replace("'", "'\\''") + "'"


def indent_tail(text: str, max_lines: int = 15) -> str:
    lines = text.rstrip("\n").splitlines()
    if len(lines) > max_lines:
        lines = [f"... ({len(lines) - max_lines} lines omitted)"] + lines[-max_lines:]
    return "\n          ".join(lines) if lines else "(empty)"


def run_cmd(cmd: List[str], env_extra: Optional[Dict[str, str]] = None, timeout: float = 60.0,
            cwd: Optional[str] = None) -> RunResult:
    """Run a command in its own process group; on timeout kill the group."""
    env_extra = dict(env_extra or {})
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", env=clean_env(env_extra), cwd=cwd, start_new_session=True)
    timed_out = False
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
    wall = time.monotonic() - t0
    return RunResult(cmd=cmd, env_extra=env_extra, rc=p.returncode, stdout=out, stderr=err,
                     wall_s=wall, timed_out=timed_out)


def java_cmd(jdk: Jdk, main: str, args: Sequence[str] = (), classpath: Optional[str] = None,
             agent: OptionsT = None, use_agent: bool = True, jvm_args: Sequence[str] = ()) -> List[str]:
    cmd = [jdk.java, "-Xshare:auto"]
    cmd += list(jvm_args)
    if use_agent and agent is not None:
        cmd.append(agent_arg(agent))
    if classpath:
        cmd += ["-cp", classpath]
    cmd.append(main)
    cmd += list(args)
    return cmd


def run_java(jdk: Jdk, main: str, args: Sequence[str] = (), *, agent: OptionsT = None,
             via: str = "agentpath", classpath: Optional[str] = None,
             env: Optional[Dict[str, str]] = None, jvm_args: Sequence[str] = (),
             timeout: float = 60.0) -> RunResult:
    """Run `main` on `jdk`.

    agent=None: no agent. Otherwise the agent is attached with these options,
    via="agentpath" (command line) or via="tool_options" (JAVA_TOOL_OPTIONS).
    """
    env = dict(env or {})
    classpath = classpath or compile_workloads()
    if agent is not None and via == "tool_options":
        env["JAVA_TOOL_OPTIONS"] = agent_arg(agent)
        cmd = java_cmd(jdk, main, args, classpath, None, False, jvm_args)
    elif agent is not None and via == "agentpath":
        cmd = java_cmd(jdk, main, args, classpath, agent, True, jvm_args)
    elif agent is None:
        cmd = java_cmd(jdk, main, args, classpath, None, False, jvm_args)
    else:
        raise ValueError(f"via={via!r}")
    return run_cmd(cmd, env, timeout=timeout)


# ------------------------------------------------------------------ agent's output

PYRITE_LINE_RE = re.compile(r"^\[pyrite\]")


def pyrite_lines(stderr: str) -> List[str]:
    return [ln for ln in stderr.splitlines() if PYRITE_LINE_RE.match(ln)]


def parse_kv(text: str) -> Dict[str, Union[int, float, str]]:
    """All key=value tokens of `text`; numeric values become int/float."""
    out: Dict[str, Union[int, float, str]] = {}
    for key, val in re.findall(r"([A-Za-z_][\w.\-]*)=(\S*)", text):
        out[key] = _num(val)
    return out


def _num(v: str) -> Union[int, float, str]:
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


STATS_RE = re.compile(r"^\[pyrite\]\s*info:\s*stats\b(.*)$")


def parse_stats(stderr: str) -> Optional[Dict[str, Union[int, float, str]]]:
    """The last `[pyrite] info: stats k=v ...` line as a dict, or None."""
    found = None
    for line in stderr.splitlines():
        m = STATS_RE.match(line)
        if m:
            found = parse_kv(m.group(1))
    return found


def agct_codes(stats: Dict[str, Union[int, float, str]]) -> Dict[str, Union[int, float, str]]:
    return {k: v for k, v in stats.items() if k.startswith("agct_")}


def parse_report(stdout: str, prefix: str) -> Optional[Dict[str, Union[int, float, str]]]:
    """Key=value pairs of the last stdout line starting with `prefix`
    (e.g. ``hotloop: done``)."""
    found = None
    for line in stdout.splitlines():
        if line.startswith(prefix):
            found = parse_kv(line[len(prefix):])
    return found


# ---------------------------------------------------------------------------- JFR

@dataclass(frozen=True)
class Frame:
    cls: str  # dotted, e.g. pyrite.it.HotLoop$Worker
    method: str
    line: Optional[int]
    bci: Optional[int]
    type: Optional[str]

    @property
    def qname(self) -> str:
        return f"{self.cls}.{self.method}"

    def __str__(self) -> str:
        return f"{self.qname}:{self.line}"


@dataclass
class Sample:
    thread: Optional[str]
    state: Optional[str]
    frames: List[Frame]  # leaf first, as JFR stores them
    truncated: Optional[bool]
    start: Optional[str] = None

    def top(self, n: int) -> List[Frame]:
        return self.frames[:n]


def _class_name(t) -> str:
    if isinstance(t, dict):
        n = t.get("name")
    else:
        n = t
    return (n or "?").replace("/", ".")


def _frame(fr: dict) -> Frame:
    m = fr.get("method") or {}
    return Frame(cls=_class_name(m.get("type")), method=m.get("name") or "?",
                 line=fr.get("lineNumber"), bci=fr.get("bytecodeIndex"), type=fr.get("type"))


def _thread_name(t) -> Optional[str]:
    if not isinstance(t, dict):
        return t
    return t.get("javaName") or t.get("osName")


def _state(s) -> Optional[str]:
    if isinstance(s, dict):
        return s.get("name")
    return s


class JfrError(Exception):
    pass


def jfr_print_json(jdk: Jdk, path: str, events: str = "jdk.ExecutionSample",
                   stack_depth: int = 4096, timeout: float = 300.0) -> List[dict]:
    """`jfr print --json --events EVENTS --stack-depth N PATH` -> list of events."""
    cmd = [jdk.jfr, "print", "--json", "--stack-depth", str(stack_depth), "--events", events, path]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout,
                       env=clean_env())
    if p.returncode != 0:
        raise JfrError(f"{' '.join(cmd)} -> rc={p.returncode}\n{p.stderr[-3000:]}{p.stdout[-1000:]}")
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise JfrError(f"{' '.join(cmd)}: output is not JSON ({e}); head: {p.stdout[:500]!r}")
    return doc.get("recording", {}).get("events", [])


def execution_samples(jdk: Jdk, path: str) -> List[Sample]:
    out = []
    for ev in jfr_print_json(jdk, path, "jdk.ExecutionSample"):
        if ev.get("type") != "jdk.ExecutionSample":
            continue
        v = ev.get("values", {})
        st = v.get("stackTrace") or {}
        out.append(Sample(thread=_thread_name(v.get("sampledThread")), state=_state(v.get("state")),
                          frames=[_frame(f) for f in (st.get("frames") or [])],
                          truncated=st.get("truncated"), start=v.get("startTime")))
    return out


@dataclass
class Summary:
    rc: int
    text: str
    chunks: Optional[int]
    counts: Dict[str, int]


def jfr_summary(jdk: Jdk, path: str, timeout: float = 120.0) -> Summary:
    p = subprocess.run([jdk.jfr, "summary", path], capture_output=True, text=True, errors="replace",
                       timeout=timeout, env=clean_env())
    counts: Dict[str, int] = {}
    chunks = None
    for line in p.stdout.splitlines():
        m = re.match(r"^\s*Chunks:\s*(\d+)", line)
        if m:
            chunks = int(m.group(1))
        m = re.match(r"^\s*([\w.$]+)\s+(\d+)\s+(\d+)\s*$", line)
        if m:
            counts[m.group(1)] = int(m.group(2))
    return Summary(rc=p.returncode, text=p.stdout + p.stderr, chunks=chunks, counts=counts)


# --------------------------------------------------------------- stack analysis

def is_hot(fr: Frame) -> bool:
    return fr.cls == HOT_CLASS and fr.method == HOT_METHOD


def hot_frame(s: Sample, depth: int = 3) -> Optional[Frame]:
    """The hot method's frame if it is among the top `depth` frames."""
    for fr in s.top(depth):
        if is_hot(fr):
            return fr
    return None


def histogram(items: Iterable) -> List[Tuple[object, int]]:
    counts: Dict[object, int] = {}
    for it in items:
        counts[it] = counts.get(it, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))


def fmt_hist(h: List[Tuple[object, int]], limit: int = 8) -> str:
    s = ", ".join(f"{k}: {n}" for k, n in h[:limit])
    return s + (f", ... ({len(h) - limit} more)" if len(h) > limit else "")


def parse_duration_ns(s: str) -> int:
    """Agent interval syntax: plain number = ns, or ns/us/ms/s suffix."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s)?", s)
    if not m:
        raise ValueError(s)
    mult = {None: 1, "ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}[m.group(2)]
    return int(float(m.group(1)) * mult)


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# ------------------------------------------------------- HotLoop profile checks

STATS_KEYS = ("samples", "dropped", "handler_p50_ns", "handler_p99_ns", "handler_max_ns",
              "ring_high_water", "agct_ok")


def check_hotloop_profile(ck: "Checks", jdk: Jdk, res: RunResult, jfr_path: str, interval_ns: int,
                          threads: int, *, min_hot_fraction: float = 0.5,
                          min_line_fraction: float = 0.9,
                          count_ratio: Tuple[float, float] = (0.3, 1.5)) -> List[Sample]:
    """The checks every HotLoop run with `file=` must pass (see test_agent_cpu.py)."""
    ck.require(res.ok, "JVM with the agent exits 0", f"rc={res.rc} wall={res.wall_s:.1f}s",
               on_fail=res.describe())
    report = parse_report(res.stdout, "hotloop: done")
    ck.require(report is not None and "worker_cpu_ns" in report,
               "workload ran to completion and printed its report", on_fail=res.describe())
    ck.measure("workload report", report)
    size = os.path.getsize(jfr_path) if os.path.isfile(jfr_path) else -1
    ck.require(size > 0, "JFR file written", f"{size} bytes", on_fail=res.describe())

    summ = jfr_summary(jdk, jfr_path)
    n_summary = summ.counts.get("jdk.ExecutionSample", 0)
    ck.check(summ.rc == 0, "`jfr summary` reads the file",
             f"rc={summ.rc} chunks={summ.chunks} ExecutionSample={n_summary}",
             on_fail=indent_tail(summ.text))
    try:
        samples = execution_samples(jdk, jfr_path)
    except JfrError as e:
        ck.require(False, "`jfr print --json` reads the file", str(e))
        raise AssertionError("unreachable")
    ck.check(True, "`jfr print --json` reads the file", f"{size} bytes, {len(samples)} ExecutionSample")
    ck.check(len(samples) == n_summary, "`jfr print --json` and `jfr summary` agree on the sample count",
             f"json={len(samples)} summary={n_summary}")
    ck.require(len(samples) > 0, "the recording has jdk.ExecutionSample events")

    # Where the samples are.
    leaf = histogram(str(s.frames[0].qname) if s.frames else "(no frames)" for s in samples)
    ck.measure("leaf frames", fmt_hist(leaf, 6))
    hot = [s for s in samples if hot_frame(s) is not None]
    leaf_hot = sum(1 for s in samples if s.frames and is_hot(s.frames[0]))
    frac = len(hot) / len(samples)
    ck.check(frac >= min_hot_fraction,
             f"{HOT_CLASS}.{HOT_METHOD} is in the top 3 frames of >= {min_hot_fraction:.0%} of samples",
             f"{len(hot)}/{len(samples)} = {frac:.1%} (leaf only: {leaf_hot / len(samples):.1%})")
    if not hot:
        return samples

    # Line numbers of the hot method.
    expected = set(hot_lines())
    lines = [hot_frame(s).line for s in hot]
    good = sum(1 for ln in lines if ln in expected)
    ck.check(good / len(lines) >= min_line_fraction,
             f"hot method's line numbers are the HOT-LINE source lines in >= {min_line_fraction:.0%}",
             f"{good}/{len(lines)} = {good / len(lines):.1%}; expected {sorted(expected)}, "
             f"got {fmt_hist(histogram(lines))}")

    # Thread state and names.
    states = histogram(s.state for s in samples)
    ck.check(all(s.state == "STATE_RUNNABLE" for s in samples), "every sample has state STATE_RUNNABLE",
             fmt_hist(states))
    hot_threads = histogram(s.thread for s in hot)
    ck.check(all(isinstance(t, str) and HOT_WORKER_RE.match(t) for t, _ in hot_threads),
             "samples in the hot method belong to threads named pyrite-hot-<i>", fmt_hist(hot_threads))
    want = {f"pyrite-hot-{i}" for i in range(threads)}
    seen = {t for t, _ in hot_threads}
    ck.check(want <= seen, f"every worker thread ({threads}) was sampled in the hot method",
             f"missing {sorted(want - seen)}" if not want <= seen else fmt_hist(hot_threads))

    # The stack under the hot method is complete: caller Worker.run, root Thread.run.
    def intact(s: Sample) -> bool:
        i = next(k for k, fr in enumerate(s.frames) if is_hot(fr))
        return (i + 1 < len(s.frames) and s.frames[i + 1].qname == HOT_CLASS + "$Worker.run"
                and s.frames[-1].qname == "java.lang.Thread.run")
    n_intact = sum(1 for s in hot if intact(s))
    example = " <- ".join(str(f) for f in hot[0].frames)
    ck.check(n_intact / len(hot) >= 0.9,
             "hot stacks are complete (caller HotLoop$Worker.run, root java.lang.Thread.run) in >= 90%",
             f"{n_intact}/{len(hot)}; e.g. {example}")

    # Plausible count: worker samples vs the workers' own CPU time / interval.
    worker_samples = sum(1 for s in samples if isinstance(s.thread, str) and HOT_WORKER_RE.match(s.thread))
    cpu_ns = int(report["worker_cpu_ns"])
    exp = cpu_ns / interval_ns
    ratio = worker_samples / exp if exp > 0 else float("inf")
    lo, hi = count_ratio
    ck.check(lo <= ratio <= hi,
             f"worker sample count within {lo}x..{hi}x of worker CPU time / interval",
             f"{worker_samples} samples, expected ~{exp:.0f} ({cpu_ns / 1e9:.2f} s CPU / "
             f"{interval_ns / 1e6:g} ms): ratio {ratio:.2f}")
    pcpu = report.get("process_cpu_ns")
    if isinstance(pcpu, int) and pcpu > 0:
        ck.measure("all samples vs process CPU / interval",
                   f"{len(samples)} vs {pcpu / interval_ns:.0f} (ratio {len(samples) / (pcpu / interval_ns):.2f})")
    return samples


def check_stats_line(ck: "Checks", res: RunResult, jfr_samples: Optional[int]) -> Optional[dict]:
    """With log=info: the exit stats line exists and is consistent."""
    stats = parse_stats(res.stderr)
    ck.require(stats is not None, "agent printed `[pyrite] info: stats ...` at exit (log=info)",
               on_fail=res.describe())
    missing = [k for k in STATS_KEYS if k not in stats]
    ck.check(not missing, "stats line has the contract's keys", f"missing {missing}" if missing else
             " ".join(f"{k}={stats[k]}" for k in STATS_KEYS))
    ck.measure("agct codes", agct_codes(stats))
    ck.measure("handler ns p50/p99/max",
               f"{stats.get('handler_p50_ns')}/{stats.get('handler_p99_ns')}/{stats.get('handler_max_ns')}")
    ck.check(stats.get("dropped") == 0, "no samples dropped", f"dropped={stats.get('dropped')}")
    ok = stats.get("agct_ok")
    ck.check(isinstance(ok, int) and ok > 0, "agct_ok > 0", f"agct_ok={ok}")
    p50, p99, mx = (stats.get(k) for k in ("handler_p50_ns", "handler_p99_ns", "handler_max_ns"))
    ck.check(all(isinstance(v, int) for v in (p50, p99, mx)) and 0 < p50 <= p99 <= mx,
             "handler percentiles are consistent: 0 < p50 <= p99 <= max",
             f"p50={p50} p99={p99} max={mx}")
    if jfr_samples is not None:
        # A timer overrun (event=cpu) may be recorded as extra events for the
        # same stack, so the JFR may hold up to samples + overruns events.
        n = stats.get("samples")
        over = stats.get("overruns", 0)
        over = over if isinstance(over, int) else 0
        ck.check(isinstance(n, int) and 0 < jfr_samples <= n + over,
                 "JFR ExecutionSample count <= stats samples= (+ overruns=)",
                 f"jfr={jfr_samples} samples={n} overruns={over}")
    return stats


# ------------------------------------------------------------- test bookkeeping

class CheckFailed(Exception):
    pass


class Checks:
    """Soft assertions: every check is printed; the test fails if any failed."""

    def __init__(self) -> None:
        self.failures: List[str] = []
        self.passed = 0
        self.context = ""

    def check(self, cond: bool, what: str, detail: str = "", on_fail: str = "") -> bool:
        """Record one assertion. `detail` is printed either way (what was
        measured); `on_fail` only when it fails (e.g. the command and output)."""
        tag = f"[{self.context}] " if self.context else ""
        if cond:
            self.passed += 1
            log(f"  ok    {tag}{what}" + (f"  ({detail})" if detail else ""))
        else:
            self.failures.append(f"{tag}{what}" + (f": {detail}" if detail else ""))
            extra = "\n".join(x for x in (detail, on_fail) if x)
            log(f"  FAIL  {tag}{what}" + (f"\n        {extra}" if extra else ""))
        return cond

    def require(self, cond: bool, what: str, detail: str = "", on_fail: str = "") -> None:
        """Like check, but stops the current test case when it fails."""
        if not self.check(cond, what, detail, on_fail):
            raise CheckFailed(what)

    def measure(self, what: str, value) -> None:
        tag = f"[{self.context}] " if self.context else ""
        log(f"  measured {tag}{what}: {value}")


    def step(self, name: str, fn: Callable[[], None]) -> None:
        """Run one independent part of a case under its own context; a failed
        `require` ends only this part."""
        saved = self.context
        self.context = name
        try:
            fn()
        except CheckFailed:
            pass
        finally:
            self.context = saved


TestFn = Callable[[Checks], None]


def main(cases: Sequence[Tuple[str, TestFn]]) -> None:
    """Run test cases (name, fn(checks)); argv filters by substring of name.

    Exit 0 if every check passed, 1 otherwise; SKIP_RC if the agent is missing.
    """
    require_agent()
    wanted = sys.argv[1:]
    ck = Checks()
    log(f"agent: {agent_path()}")
    t_all = time.monotonic()
    errors: List[str] = []
    ran = 0
    try:
        for name, fn in cases:
            if wanted and not any(w in name for w in wanted):
                continue
            ran += 1
            log(f"\n=== {name}")
            ck.context = name
            t0 = time.monotonic()
            try:
                fn(ck)
            except CheckFailed:
                pass
            except Exception as e:  # a bug in the test or an unexpected tool failure
                ck.failures.append(f"[{name}] exception: {e!r}")
                log(f"  ERROR {name}: {e!r}\n" + traceback.format_exc())
                errors.append(name)
            log(f"--- {name}: {time.monotonic() - t0:.1f}s")
    finally:
        cleanup_tempdirs()
    log(f"\n{ck.passed} checks passed, {len(ck.failures)} failed, {ran} cases, "
        f"{time.monotonic() - t_all:.0f}s")
    for f in ck.failures:
        log(f"FAILED: {f}")
    sys.exit(1 if ck.failures or ran == 0 else 0)
