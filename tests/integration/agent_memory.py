"""Where the agent's native memory goes (Python 3 stdlib only).

Used by tests/integration/test_agent_memory.py (a short regression bound) and,
run directly, the measurement behind docs/agent-memory.md:

    PYRITE_BUILD_DIR=build python3 tests/integration/agent_memory.py \
        --rounds 5 --seconds 28 --sample-at 18 --configs itimer-file,all-server \
        [--agent-b OTHER/libpyrite.so] [--quiet-jvm] [--gdb] [--libs]
    python3 tests/integration/agent_memory.py --noise 4 --threads 12 --seconds 12 --sample-at 10

It runs a JVM with a fixed, pre-touched heap (so heap growth cannot hide or
fake native growth) with and without the agent, interleaved (A B A B ...),
and reads /proc/<pid>/smaps_rollup and /proc/<pid>/smaps near the end of
each run.  Metrics:

* Rss: resident pages, shared library text included (text pages are shared
  with every other process mapping the same file, and are clean: the kernel
  can drop them without writing anything);
* Pss: Rss with each shared page divided by the number of processes mapping it;
* Private_Dirty: pages only this process has and has written to - memory the
  agent really costs the machine (it can only go to swap).

Each mapping of the with-agent JVM is put in one bucket: libpyrite.so, the
shared libraries loaded only because of the agent (libcurl, OpenSSL, ...),
the agent threads' stacks and other threads' stacks (the mapping holding each
thread's stack pointer, from /proc/<pid>/task/<tid>/syscall; the workload's
own threads are also called pyrite-*, so the names are matched exactly),
other file mappings, and other anonymous memory (malloc arenas, the ring
buffer, JVM native memory).  With --gdb, the agent's fixed buffers are also
located with gdb and their resident pages counted in /proc/<pid>/pagemap.

Not a test by itself (no test_ prefix, so CTest does not collect it); it only
reads /proc and, with --gdb, attaches gdb for a moment.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

MAIN = "pyrite.it.ModesWorkload"
HEAP = ["-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch"]
# Optional: the JVM's own native memory varies by 5-20 MiB from run to run
# with G1 and C2 (remembered sets, compiler arenas), far more than the
# agent's few MiB; with these flags four identical JVMs agreed within 0.5 MiB.
QUIET_JVM = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


def compile_workload(workdir: str) -> str:
    """javac ModesWorkload.java alone (faster than every workload); class dir."""
    out = os.path.join(workdir, "classes")
    os.makedirs(out, exist_ok=True)
    cmd = [it.javac_jdk().tool("javac"), "--release", "17", "-g", "-encoding", "UTF-8", "-d", out,
           it.workload_source("ModesWorkload.java")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=it.clean_env())
    if p.returncode != 0:
        raise RuntimeError(f"javac failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return out
FIELDS = ("Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean", "Anonymous")
AGENT_THREADS = ("pyrite-agg", "pyrite-wall", "pyrite-send")  # the agent's own pthreads

CONFIGS = {
    # name: (agent options without file=/server=, output kind)
    "itimer-file": ("event=itimer,interval=10ms", "file"),
    "all-file": ("event=cpu,interval=10ms,wall=50ms,alloc=512k,lock=10ms", "file"),
    "all-server": ("event=cpu,interval=10ms,wall=50ms,alloc=512k,lock=10ms,upload=10s", "server"),
}

_HDR = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def read_rollup(pid: int) -> Dict[str, int]:
    """smaps_rollup fields in bytes, plus VmRSS/VmHWM from status."""
    out: Dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0].endswith(":") and parts[2] == "kB":
                out[parts[0][:-1]] = int(parts[1]) * 1024
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def read_smaps(pid: int) -> List[dict]:
    maps: List[dict] = []
    cur: Optional[dict] = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = _HDR.match(line)
            if m:
                cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                       "perms": m.group(3), "path": m.group(4).strip()}
                maps.append(cur)
                continue
            parts = line.split()
            if cur is not None and len(parts) == 3 and parts[2] == "kB":
                cur[parts[0][:-1]] = int(parts[1]) * 1024
    return maps


def thread_sps(pid: int) -> Dict[str, int]:
    """thread name (tid-qualified for non-agent threads) -> stack pointer, for
    every thread blocked in a syscall (running threads have none)."""
    sps: Dict[str, int] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return sps
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                parts = f.read().split()
        except OSError:
            continue
        # "nr a0 .. a5 sp pc" while blocked; "running" or "-1 sp pc" otherwise.
        if len(parts) >= 3 and parts[0] != "running":
            sps[name if name in AGENT_THREADS else f"{name}#{tid}"] = int(parts[-2], 16)
    return sps


# The agent's own fixed buffers, located with gdb (libpyrite.so carries debug
# info) and their resident pages counted in /proc/<pid>/pagemap.  Each line
# prints "name address bytes"; sizes are the buffers' reserved sizes.
_P = "'profiler.c'::P"
_S = "'sampler.c'::S"
GDB_RANGES = [
    ("ring", f"{_P}.ring.data", f"{_P}.ring.capacity"),
    ("events", f"{_P}.events", f"262144 * sizeof(*{_P}.events)"),
    ("stackdb.entries", f"{_P}.stacks->entries", f"({_P}.stacks->max_stacks + 2) * sizeof(*{_P}.stacks->entries)"),
    ("stackdb.frames", f"{_P}.stacks->frames", f"{_P}.stacks->max_frames * sizeof(*{_P}.stacks->frames)"),
    ("stackdb.index", f"{_P}.stacks->index", f"{_P}.stacks->slots * 4"),
    ("symbols.slots", f"{_P}.symbols->slots", f"{_P}.symbols->max * sizeof(*{_P}.symbols->slots)"),
    ("symbols.index", f"{_P}.symbols->index.keys", f"{_P}.symbols->index.slots * 8"),
    ("symbols.index", f"{_P}.symbols->index.vals", f"{_P}.symbols->index.slots * 8"),
    ("wall.frames", f"{_P}.wall.frames", "65536 * 16"),
    ("wall.frames", f"{_P}.wall.spare", "65536 * 16"),
    ("wall maps", f"{_P}.wall.index.keys", f"{_P}.wall.index.slots * 8"),
    ("wall maps", f"{_P}.wall.index.vals", f"{_P}.wall.index.slots * 8"),
    ("wall maps", f"{_P}.wall.last_event.keys", f"{_P}.wall.last_event.slots * 8"),
    ("wall maps", f"{_P}.wall.last_event.vals", f"{_P}.wall.last_event.slots * 8"),
    ("sampler wall slots", f"{_S}.wall_slots", f"4096 * sizeof(*{_S}.wall_slots)"),
    ("classes.by_hash", "'classes.c'::by_hash.keys", "'classes.c'::by_hash.slots * 8"),
    ("classes.by_hash", "'classes.c'::by_hash.vals", "'classes.c'::by_hash.slots * 8"),
    ("classes.names (bss)", "&'classes.c'::names", "sizeof('classes.c'::names)"),
] + [("sampler stack stripes", f"{_S}.stripes[{i}].frames", f"{_S}.max_depth * 16") for i in range(16)]


def gdb_ranges(pid: int) -> List[Tuple[str, int, int]]:
    """(name, address, bytes) of the agent's fixed buffers; [] without gdb."""
    script = ["set pagination off", "handle all nostop noprint pass"]
    for name, addr, size in GDB_RANGES:
        script.append(f'printf "RANGE {name.replace(" ", "_")} %lu %lu\\n", '
                      f"(unsigned long)({addr}), (unsigned long)({size})")
    script += ["detach", "quit"]
    try:
        p = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx"] + sum((["-ex", c] for c in script), []),
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return []
    out = []
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "RANGE" and int(parts[2]) != 0:
            out.append((parts[1].replace("_", " "), int(parts[2]), int(parts[3])))
    return out


KPF_ZERO_PAGE = 1 << 24


def resident_bytes(pid: int, addr: int, size: int) -> int:
    """Bytes of [addr, addr + size) in resident (or swapped) pages, from pagemap.
    Pages only ever read map the kernel's shared zero page: they cost nothing
    and smaps does not count them in Rss, so they are left out here too
    (recognised by /proc/kpageflags, which needs root; without it they count)."""
    page = 4096
    first, last = addr // page, (addr + size + page - 1) // page
    n = 0
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(first * 8)
        data = f.read((last - first) * 8)
    try:
        kflags = open("/proc/kpageflags", "rb")
    except OSError:
        kflags = None
    try:
        for i in range(0, len(data), 8):
            v = int.from_bytes(data[i:i + 8], "little")
            if not v >> 62:  # bit 63 present, bit 62 swapped
                continue
            pfn = v & ((1 << 55) - 1)
            if kflags is not None and v >> 63 and pfn:
                kflags.seek(pfn * 8)
                if int.from_bytes(kflags.read(8), "little") & KPF_ZERO_PAGE:
                    continue
            n += page
    finally:
        if kflags is not None:
            kflags.close()
    return n


def lib_name(path: str) -> str:
    return os.path.basename(path)


def bucket_of(m: dict, base_libs: set, stacks: Dict[int, str]) -> str:
    path = m["path"]
    if stacks.get(m["start"]) in AGENT_THREADS:
        return "agent thread stacks"
    if stacks.get(m["start"]):
        return "other thread stacks (JVM, app)"
    if path.endswith("libpyrite.so"):
        return "libpyrite.so"
    if path.startswith("/") and ".so" in path:
        if lib_name(path) not in base_libs:
            return "libraries loaded for the agent"
        return "other shared libraries"
    if path.startswith("/"):
        return "other files"
    return "anonymous (heap, arenas, ring, JVM)"


def breakdown(maps: List[dict], base_libs: set, sps: Dict[str, int]) -> Tuple[Dict[str, Dict[str, int]], Dict[str, Dict[str, int]]]:
    """Per bucket sums of FIELDS, and per agent-only library sums."""
    stacks: Dict[int, str] = {}
    for name, sp in sps.items():
        for m in maps:
            if m["start"] <= sp < m["end"]:
                stacks[m["start"]] = name
    buckets: Dict[str, Dict[str, int]] = {}
    libs: Dict[str, Dict[str, int]] = {}
    for m in maps:
        b = bucket_of(m, base_libs, stacks)
        acc = buckets.setdefault(b, {k: 0 for k in FIELDS + ("mappings",)})
        for k in FIELDS:
            acc[k] += m.get(k, 0)
        acc["mappings"] += 1
        if b in ("libraries loaded for the agent", "libpyrite.so"):
            la = libs.setdefault(lib_name(m["path"]), {k: 0 for k in FIELDS})
            for k in FIELDS:
                la[k] += m.get(k, 0)
    return buckets, libs


def arenas(maps: List[dict]) -> int:
    """glibc non-main malloc heaps: 64 MiB-aligned anonymous rw mappings that,
    with their PROT_NONE tail, span exactly 64 MiB."""
    n = 0
    for i, m in enumerate(maps):
        if m["path"] or m["start"] % (64 << 20) or not m["perms"].startswith("rw"):
            continue
        end = m["end"]
        if i + 1 < len(maps) and maps[i + 1]["start"] == end and maps[i + 1]["perms"].startswith("---") \
                and not maps[i + 1]["path"]:
            end = maps[i + 1]["end"]
        if end - m["start"] == 64 << 20:
            n += 1
    return n


def workload_args(seconds: float, threads: int) -> List[str]:
    # "all" runs threads x (cpu, alloc, sleep, wait) plus 4 lock threads.
    return ["--mode", "all", "--threads", str(threads), "--seconds", str(seconds)]


def run_one(jdk: it.Jdk, classes: str, agent_opts: Optional[str], seconds: float, threads: int,
            sample_at: float, work: str, extra_env: Optional[Dict[str, str]] = None,
            lib: Optional[str] = None, with_gdb: bool = False,
            jvm_flags: Optional[List[str]] = None) -> dict:
    """Run the workload; read smaps at `sample_at` s after start (and VmHWM)."""
    cmd = [jdk.java, "-Xshare:auto"] + HEAP + list(jvm_flags or [])
    if agent_opts is not None:
        cmd.append(f"-agentpath:{lib or it.agent_path()}={agent_opts}")
    cmd += ["-cp", classes, MAIN] + workload_args(seconds, threads)
    errf = open(os.path.join(work, "stderr.txt"), "w+")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, env=it.clean_env(extra_env))
    res: dict = {"cmd": cmd}
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < sample_at and p.poll() is None:
            time.sleep(0.1)
        if p.poll() is None:
            sps = thread_sps(p.pid)
            res["maps"] = read_smaps(p.pid)
            res["rollup"] = read_rollup(p.pid)
            res["sps"] = sps
            if with_gdb and agent_opts is not None:
                try:
                    res["buffers"] = [(name, size, resident_bytes(p.pid, addr, size))
                                      for name, addr, size in gdb_ranges(p.pid)]
                except OSError:  # the JVM ended while gdb was attaching
                    res["buffers"] = []
        p.wait(timeout=seconds + 60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    errf.seek(0)
    res["stderr"] = errf.read()
    errf.close()
    res["rc"] = p.returncode
    return res


def agent_options(config: str, work: str, server_url: Optional[str]) -> str:
    opts, out = CONFIGS[config]
    if out == "file":
        return f"{opts},log=info,file={os.path.join(work, 'out.jfr')}"
    return f"{opts},log=info,server={server_url},app=memtest"


def mib(b: float) -> str:
    return f"{b / 2**20:+.1f}"


def measure(args: argparse.Namespace) -> int:
    it.require_agent()
    jdk = it.find_jdks()[0]
    classes = compile_workload(it.make_tempdir("pyrite-mem-classes-"))
    srv = None
    if any(CONFIGS[c][1] == "server" for c in args.configs):
        sit.require_binaries()
        srv = sit.Server().start()
    url = f"http://127.0.0.1:{srv.port}" if srv else None
    # label -> (config, library); "<config>/B" runs the --agent-b library.
    runs: Dict[str, Tuple[Optional[str], Optional[str]]] = {"none": (None, None)}
    for c in args.configs:
        if args.agent_b:
            runs[f"{c}/B"] = (c, args.agent_b)
        runs[c] = (c, None)
    results: Dict[str, List[dict]] = {label: [] for label in runs}
    try:
        for r in range(args.rounds):
            order = list(runs)
            if r % 2:
                order.reverse()
            for c in order:
                work = it.make_tempdir("pyrite-mem-")
                cfg, lib = runs[c]
                opts = None if cfg is None else agent_options(cfg, work, url)
                res = run_one(jdk, classes, opts, args.seconds, args.threads, args.sample_at, work,
                              lib=lib, with_gdb=args.gdb,
                              jvm_flags=QUIET_JVM if args.quiet_jvm else [])
                if "rollup" not in res:
                    print(f"round {r} {c}: JVM ended early rc={res['rc']}\n{res['stderr'][-2000:]}")
                    return 1
                ru = res["rollup"]
                print(f"round {r} {c:12s} VmRSS {ru['VmRSS'] / 2**20:7.1f} MiB  Pss {ru['Pss'] / 2**20:7.1f}"
                      f"  Private_Dirty {ru['Private_Dirty'] / 2**20:7.1f}  rc={res['rc']}", flush=True)
                results[c].append(res)
    finally:
        if srv:
            srv.stop()
            srv.cleanup()
    print_report(args, results)
    return 0


def print_report(args: argparse.Namespace, results: Dict[str, List[dict]]) -> None:
    base = results["none"]
    base_libs = {lib_name(m["path"]) for r in base for m in r["maps"] if m["path"].startswith("/")}
    keys = ("VmRSS", "Rss", "Pss", "Private_Dirty", "Private_Clean", "Anonymous")
    print(f"\nmedians over {args.rounds} interleaved rounds, read {args.sample_at:g} s into a "
          f"{args.seconds:g} s run, {args.threads * 4 + 4} workload threads; MiB")
    med_base = {k: statistics.median(r["rollup"].get(k, 0) for r in base) for k in keys}
    print("config        " + "  ".join(f"{k:>14s}" for k in keys))
    print("none          " + "  ".join(f"{med_base[k] / 2**20:14.1f}" for k in keys))
    for c, runs in results.items():
        if c == "none":
            continue
        med = {k: statistics.median(r["rollup"].get(k, 0) for r in runs) for k in keys}
        spread = {k: (min(r["rollup"].get(k, 0) for r in runs), max(r["rollup"].get(k, 0) for r in runs))
                  for k in keys}
        print(f"{c:13s} " + "  ".join(f"{med[k] / 2**20:14.1f}" for k in keys))
        print(f"  delta       " + "  ".join(f"{mib(med[k] - med_base[k]):>14s}" for k in keys))
        print(f"  range       " + "  ".join(
            f"{spread[k][0] / 2**20:6.1f}-{spread[k][1] / 2**20:6.1f}".rjust(14) for k in keys))
    # Per-bucket breakdown: median over runs, with vs without agent.
    for c, runs in results.items():
        bks: Dict[str, Dict[str, List[int]]] = {}
        libs: Dict[str, Dict[str, List[int]]] = {}
        nar: List[int] = []
        for r in runs:
            b, l = breakdown(r["maps"], base_libs, r.get("sps", {}))
            nar.append(arenas(r["maps"]))
            for name, v in b.items():
                for k, x in v.items():
                    bks.setdefault(name, {}).setdefault(k, []).append(x)
            for name, v in l.items():
                for k, x in v.items():
                    libs.setdefault(name, {}).setdefault(k, []).append(x)
        seen = sorted(n for n in runs[-1].get("sps", {}) if n in AGENT_THREADS)
        print(f"\n[{c}] buckets (median MiB): malloc heaps (64 MiB arenas) {statistics.median(nar):g};"
              f" agent threads seen: {seen}")
        print(f"  {'bucket':40s} {'Rss':>8s} {'Pss':>8s} {'Priv_Dirty':>10s} {'Priv_Clean':>10s} {'maps':>5s}")
        for name in sorted(bks):
            v = {k: statistics.median(xs) for k, xs in bks[name].items()}
            print(f"  {name:40s} {v['Rss'] / 2**20:8.2f} {v['Pss'] / 2**20:8.2f} "
                  f"{v['Private_Dirty'] / 2**20:10.2f} {v['Private_Clean'] / 2**20:10.2f} {v['mappings']:5.0f}")
        if libs and args.libs:
            for name in sorted(libs, key=lambda n: -statistics.median(libs[n]["Rss"])):
                v = {k: statistics.median(xs) for k, xs in libs[name].items()}
                print(f"    {name:38s} {v['Rss'] / 1024:8.0f}K {v['Pss'] / 1024:7.0f}K "
                      f"{v['Private_Dirty'] / 1024:9.0f}K {v['Private_Clean'] / 1024:9.0f}K")
    for label, rs in results.items():
        if not any(r.get("buffers") for r in rs):
            continue
        acc: Dict[str, List[Tuple[int, int]]] = {}
        for r in rs:
            per: Dict[str, List[int]] = {}
            for name, size, res in r.get("buffers", []):
                v = per.setdefault(name, [0, 0])
                v[0] += size
                v[1] += res
            for name, (size, res) in per.items():
                acc.setdefault(name, []).append((size, res))
        print(f"\n[{label}] agent buffers: reserved, resident (median over runs), KiB")
        tot_r = 0.0
        for name, v in acc.items():
            size = statistics.median(x[0] for x in v)
            res = statistics.median(x[1] for x in v)
            tot_r += res
            print(f"  {name:28s} {size / 1024:10.0f} {res / 1024:10.0f}")
        print(f"  {'total':28s} {'':10s} {tot_r / 1024:10.0f}")
    for label, rs in results.items():
        hw = [int(m.group(1)) for r in rs for m in [re.search(r"ring_high_water=(\d+)", r["stderr"])] if m]
        if hw:
            print(f"[{label}] ring_high_water (bytes, per run, from the stats line): {hw}")


def noise(args: argparse.Namespace) -> int:
    """N identical no-agent JVMs side by side, with the default JVM and with
    QUIET_JVM: how much the JVM's own Private_Dirty varies."""
    jdk = it.find_jdks()[0]
    classes = compile_workload(it.make_tempdir("pyrite-mem-classes-"))
    for flags in ([], QUIET_JVM):
        cmd = [jdk.java, "-Xshare:auto"] + HEAP + flags + ["-cp", classes, MAIN] + \
            workload_args(args.seconds, args.threads)
        ps = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=it.clean_env()) for _ in range(args.noise)]
        time.sleep(args.sample_at)
        vals = [read_rollup(p.pid)["Private_Dirty"] / 2**20 for p in ps if p.poll() is None]
        for p in ps:
            p.wait()
        print(f"{' '.join(flags) or 'default JVM'}: Private_Dirty MiB "
              f"{', '.join(f'{v:.1f}' for v in vals)} (spread {max(vals) - min(vals):.1f})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=25.0)
    ap.add_argument("--sample-at", type=float, default=None,
                    help="seconds after start to read smaps (default: seconds - 3)")
    ap.add_argument("--threads", type=int, default=49, help="T: the workload runs 4 T + 4 threads")
    ap.add_argument("--configs", default="itimer-file,all-server")
    ap.add_argument("--libs", action="store_true", help="list each agent-only library")
    ap.add_argument("--quiet-jvm", action="store_true",
                    help="add " + " ".join(QUIET_JVM) + " to every JVM (less JVM noise)")
    ap.add_argument("--noise", type=int, default=0,
                    help="instead: run N no-agent JVMs side by side, default and --quiet-jvm")
    ap.add_argument("--gdb", action="store_true",
                    help="also count the resident pages of the agent's own buffers (gdb + pagemap)")
    ap.add_argument("--agent-b", default=None,
                    help="a second libpyrite.so (e.g. before a change), run interleaved as <config>/B")
    args = ap.parse_args()
    args.configs = [c for c in args.configs.split(",") if c]
    for c in args.configs:
        if c not in CONFIGS:
            sys.exit(f"unknown config {c}: {', '.join(CONFIGS)}")
    if args.sample_at is None:
        args.sample_at = max(1.0, args.seconds - 3)
    try:
        return noise(args) if args.noise else measure(args)
    finally:
        it.cleanup_tempdirs()


if __name__ == "__main__":
    sys.exit(main())
