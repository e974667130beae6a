#!/usr/bin/env python3
"""Print the hottest methods of a JFR recording (self and total samples).

Reads the recording with the JDK's own ``jfr print --json`` (so it is a check
of the agent's JFR as well as a summary), counts for every method of every
sampled stack:

* self  - samples in which the method is the leaf (top) frame;
* total - samples in which the method appears anywhere in the stack
          (once per sample, however often it recurses),

and prints the top N by self samples.  ``jfr print --json`` repeats the full
class/loader/module description in every frame (~1.5 KB per frame), so the
JSON is decoded one event at a time instead of all at once.

Usage: jfr_top.py [--top N] [--event TYPE] [--jfr PATH] [--stack-depth N] FILE.jfr
       jfr_top.py --json FILE.json      (already printed by jfr print --json)
Exit status: 0 on success, 1 if there are no matching events or jfr failed.
Python 3 standard library only.
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys

CHUNK = 1 << 20


def iter_events(stream):
    """Yields the objects of the "events" array of jfr's JSON, one by one."""
    dec = json.JSONDecoder()
    buf = ""
    pos = 0
    eof = False

    def fill():
        nonlocal buf, pos, eof
        data = stream.read(CHUNK)
        if not data:
            eof = True
            return
        buf = buf[pos:] + data
        pos = 0

    # Find the start of the events array.
    marker = '"events"'
    while True:
        i = buf.find(marker, pos)
        if i >= 0:
            j = buf.find("[", i)
            if j >= 0:
                pos = j + 1
                break
        if eof:
            return
        # Keep a tail in case the marker straddles two chunks.
        pos = max(0, len(buf) - 64)
        fill()

    while True:
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) or eof:
                break
            fill()
        if pos >= len(buf) or buf[pos] == "]":
            return
        try:
            obj, end = dec.raw_decode(buf, pos)
        except json.JSONDecodeError:
            if eof:
                raise
            fill()  # the event is not complete yet
            continue
        pos = end
        yield obj


def method_name(frame):
    m = frame.get("method") or {}
    t = m.get("type") or {}
    cls = (t.get("name") or "").replace("/", ".")
    name = m.get("name") or "?"
    # Synthetic frames (e.g. "[C2 CompilerThre]" for a JVM thread) have no class.
    return cls + "." + name if cls else name


def find_jfr_tool():
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "jfr"), os.X_OK):
        return os.path.join(home, "bin", "jfr")
    return shutil.which("jfr")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", help="recording (.jfr), or JSON with --json")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--event", default="jdk.ExecutionSample")
    ap.add_argument("--jfr", help="path of the jfr tool (default: $JAVA_HOME/bin/jfr, then PATH)")
    ap.add_argument("--stack-depth", type=int, default=2048,
                    help="frames per stack to read (jfr print defaults to 5)")
    ap.add_argument("--json", action="store_true", help="FILE is jfr print --json output")
    args = ap.parse_args()

    proc = None
    if args.json:
        stream = open(args.file, encoding="utf-8")
    else:
        tool = args.jfr or find_jfr_tool()
        if not tool:
            print("jfr_top: cannot find the JDK's jfr tool (set JAVA_HOME or --jfr)",
                  file=sys.stderr)
            return 1
        cmd = [tool, "print", "--json", "--stack-depth", str(args.stack_depth),
               "--events", args.event, args.file]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, encoding="utf-8")
        stream = proc.stdout

    self_n = collections.Counter()
    total_n = collections.Counter()
    samples = 0
    truncated = 0
    try:
        for ev in iter_events(stream):
            if ev.get("type") != args.event:
                continue
            st = (ev.get("values") or {}).get("stackTrace") or {}
            frames = st.get("frames") or []
            samples += 1
            if st.get("truncated"):
                truncated += 1
            if not frames:
                continue
            names = [method_name(f) for f in frames]  # leaf first
            self_n[names[0]] += 1
            for n in set(names):
                total_n[n] += 1
    except json.JSONDecodeError as e:
        print(f"jfr_top: cannot parse jfr's JSON output: {e}", file=sys.stderr)
        return 1
    finally:
        stream.close()
        if proc is not None:
            rc = proc.wait()
            if rc != 0:
                print(f"jfr_top: jfr print exited with status {rc}", file=sys.stderr)
                return 1

    if samples == 0:
        print(f"jfr_top: no {args.event} events in {args.file}", file=sys.stderr)
        return 1

    print(f"Top {args.top} methods by self samples "
          f"({samples} {args.event} events in {os.path.basename(args.file)}"
          + (f", {truncated} truncated stacks" if truncated else "") + ")")
    print(f"{'self':>7} {'self%':>6} {'total':>7} {'total%':>6}  method")
    for name, n in sorted(self_n.items(), key=lambda kv: (-kv[1], kv[0]))[:args.top]:
        t = total_n[name]
        print(f"{n:7d} {100.0 * n / samples:5.1f}% {t:7d} {100.0 * t / samples:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
