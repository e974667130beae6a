#!/usr/bin/env python3
"""Reads files made by the agent's JFR writer with the JDK's own `jfr` tool.

Runs ${PYRITE_BUILD_DIR}/tests/jfr_synth to write synthetic recordings (one
chunk; three chunks; three chunks with edge cases) and checks them with
`jfr summary`, `jfr print` and `jfr print --json` from JDK 17 (required) and
from every JDK >= 21 installed under /usr/lib/jvm (JDK 25 here): event counts
per type, method names, line numbers, thread names, thread state, timestamps
and the multi-chunk layout.  See docs/jfr-writer.md.

Python 3 standard library only.  Exits non-zero with a message on failure.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

JDK17 = "/usr/lib/jvm/java-17-openjdk-amd64"
JVM_DIR = "/usr/lib/jvm"

# Per chunk, as written by tests/tools/jfr_synth.c.
PER_CHUNK = {
    "jdk.ExecutionSample": 6,
    "profiler.WallClockSample": 1,
    "jdk.ObjectAllocationInNewTLAB": 1,
    "jdk.ObjectAllocationOutsideTLAB": 1,
    "jdk.JavaMonitorEnter": 1,
    "jdk.ThreadPark": 1,
    "jdk.ActiveSetting": 1,
}
# Field values of the other events (JSON form; durations as ISO-8601).
EXPECTED_VALUES = {
    "profiler.WallClockSample": {"state": "STATE_SLEEPING", "samples": 5,
                                 "timeSpan": "PT0.05S",
                                 "sampledThread": "worker-1"},
    "jdk.ObjectAllocationInNewTLAB": {"allocationSize": 24, "tlabSize": 524288,
                                      "objectClass": "java/lang/String",
                                      "eventThread": "main"},
    "jdk.ObjectAllocationOutsideTLAB": {"allocationSize": 1048576,
                                       "objectClass": "java/lang/Object"},
    "jdk.JavaMonitorEnter": {"duration": "PT0.015S",
                             "monitorClass": "java/lang/Object",
                             "eventThread": "worker-1"},
    "jdk.ThreadPark": {"duration": "PT0.02S",
                       "parkedClass": "java/util/concurrent/locks/ReentrantLock$NonfairSync"},
}
EDGE_SAMPLES = 3  # extra ExecutionSamples per chunk with --edge
CHUNK_SECONDS = 10
# jfr_synth: chunk i starts at epoch 1700000000 s + 10 s * i = 22:13:20 UTC.
FIRST_SAMPLE = "2023-11-14T22:13:{:02d}.01"

errors = []


def fail(msg):
    errors.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def run(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def jdk_major(home):
    try:
        with open(os.path.join(home, "release"), encoding="utf-8") as f:
            m = re.search(r'JAVA_VERSION="(\d+)', f.read())
            return int(m.group(1)) if m else None
    except OSError:
        return None


def find_jdks():
    """JDK 17 (required) plus every distinct JDK >= 21 with a jfr tool."""
    jdks = []
    if not os.access(os.path.join(JDK17, "bin", "jfr"), os.X_OK):
        print("FAIL: JDK 17 jfr tool not found at %s/bin/jfr" % JDK17,
              file=sys.stderr)
        sys.exit(1)
    jdks.append(("17", os.path.join(JDK17, "bin", "jfr")))
    seen = {os.path.realpath(JDK17)}
    for name in sorted(os.listdir(JVM_DIR)):
        home = os.path.join(JVM_DIR, name)
        real = os.path.realpath(home)
        tool = os.path.join(home, "bin", "jfr")
        major = jdk_major(home)
        if real in seen or not major or major < 21 or not os.access(tool, os.X_OK):
            continue
        seen.add(real)
        jdks.append((str(major), tool))
    return jdks


def check_layout(path, chunks):
    """Walks the chunk headers: sizes must tile the file exactly."""
    with open(path, "rb") as f:
        data = f.read()
    off, n = 0, 0
    while off < len(data):
        if len(data) - off < 68:
            fail("%s: %d trailing bytes after chunk %d" % (path, len(data) - off, n))
            return
        magic, major, minor, size, cp, meta = struct.unpack(">4sHHQQQ", data[off:off + 32])
        tps = struct.unpack(">Q", data[off + 56:off + 64])[0]
        if magic != b"FLR\0" or (major, minor) != (2, 0) or meta != 68 or tps != 10**9:
            fail("%s chunk %d: bad header %r %d.%d meta=%d tps=%d"
                 % (path, n, magic, major, minor, meta, tps))
        if data[off + 64:off + 68] != b"\x00\x00\x00\x01":
            fail("%s chunk %d: flags %s" % (path, n, data[off + 64:off + 68].hex()))
        if not 68 < cp < size or off + size > len(data):
            fail("%s chunk %d: size %d / checkpoint %d out of range" % (path, n, size, cp))
            return
        if data[off + cp + 5] != 1:  # 5-byte padded size, then type 1
            fail("%s chunk %d: checkpoint offset does not point at type 1" % (path, n))
        off += size
        n += 1
    if n != chunks:
        fail("%s: %d chunks in the file, want %d" % (path, n, chunks))


def expected_counts(chunks, edge):
    want = {k: v * chunks for k, v in PER_CHUNK.items()}
    if edge:
        want["jdk.ExecutionSample"] += EDGE_SAMPLES * chunks
    return want


def check_summary(jdk, tool, path, chunks, edge):
    rc, out, err = run([tool, "summary", path])
    if rc != 0 or "Exception" in out + err:
        fail("JDK %s jfr summary %s: rc=%d\n%s%s" % (jdk, path, rc, out, err))
        return
    m = re.search(r"Chunks:\s+(\d+)", out)
    if not m or int(m.group(1)) != chunks:
        fail("JDK %s summary %s: want 'Chunks: %d'\n%s" % (jdk, path, chunks, out))
    if not re.search(r"Version:\s+2\.0", out):
        fail("JDK %s summary %s: want 'Version: 2.0'\n%s" % (jdk, path, out))
    counts = {m.group(1): int(m.group(2))
              for m in re.finditer(r"^\s*(\S+)\s+(\d+)\s+\d+\s*$", out, re.M)}
    for event, n in expected_counts(chunks, edge).items():
        if counts.get(event) != n:
            fail("JDK %s summary %s: %s count %s, want %d"
                 % (jdk, path, event, counts.get(event), n))
    if counts.get("jdk.Metadata") != chunks:
        fail("JDK %s summary %s: jdk.Metadata %s, want %d"
             % (jdk, path, counts.get("jdk.Metadata"), chunks))


def frame_name(frame):
    method = frame["method"]
    cls = method["type"]["name"].replace("/", ".")
    return "%s.%s%s" % (cls, method["name"], method["descriptor"])


def check_demo_stack(jdk, path, ev):
    frames = (ev["values"].get("stackTrace") or {}).get("frames") or []
    got = [(frame_name(f), f["lineNumber"]) for f in frames]
    want = [("com.example.Demo.leaf()V", 10),
            ("com.example.Demo.main([Ljava/lang/String;)V", 20)]
    if got != want:
        fail("JDK %s json %s: %s stack %r, want %r" % (jdk, path, ev["type"], got, want))


def is_unknown_stack(values):
    """The --edge sample whose only frame had method key 0."""
    frames = (values.get("stackTrace") or {}).get("frames") or []
    return [(frame_name(f), f["lineNumber"]) for f in frames] == [("unknown.unknown()V", -1)]


def check_json(jdk, tool, path, chunks, edge):
    rc, out, err = run([tool, "print", "--json", path])
    if rc != 0:
        fail("JDK %s jfr print --json %s: rc=%d\n%s" % (jdk, path, rc, err))
        return
    try:
        events = json.loads(out)["recording"]["events"]
    except (ValueError, KeyError) as e:
        fail("JDK %s json %s: unparsable (%s)" % (jdk, path, e))
        return
    counts = {}
    for ev in events:
        counts[ev["type"]] = counts.get(ev["type"], 0) + 1
    for event, n in expected_counts(chunks, edge).items():
        if counts.get(event) != n:
            fail("JDK %s json %s: %s count %s, want %d"
                 % (jdk, path, event, counts.get(event), n))
    threads = set()
    edge_seen = 0
    for ev in events:
        v = ev["values"]
        if ev["type"] == "jdk.ExecutionSample" and v["sampledThread"] and \
                v["sampledThread"]["javaName"] in ("main", "worker-1"):
            threads.add(v["sampledThread"]["javaName"])
            if edge and is_unknown_stack(v):
                edge_seen += 1
                if v["state"] != "STATE_DEFAULT" or not v["stackTrace"]["truncated"]:
                    fail("JDK %s json %s: edge sample %r" % (jdk, path, v))
                continue
            if v["state"] != "STATE_RUNNABLE":
                fail("JDK %s json %s: state %r" % (jdk, path, v["state"]))
            check_demo_stack(jdk, path, ev)
        elif ev["type"] in EXPECTED_VALUES:
            check_demo_stack(jdk, path, ev)
            for field, want in EXPECTED_VALUES[ev["type"]].items():
                got = v.get(field)
                if isinstance(got, dict):  # a thread or a class
                    got = got.get("javaName") or got.get("name")
                if got != want:
                    fail("JDK %s json %s: %s.%s = %r, want %r"
                         % (jdk, path, ev["type"], field, got, want))
        elif ev["type"] == "jdk.ActiveSetting":
            if (v["name"], v["value"]) != ("event", "itimer"):
                fail("JDK %s json %s: ActiveSetting %r=%r" % (jdk, path, v["name"], v["value"]))
    if edge and edge_seen != chunks:
        fail("JDK %s json %s: %d samples with the placeholder frame, want %d"
             % (jdk, path, edge_seen, chunks))
    if threads != {"main", "worker-1"}:
        fail("JDK %s json %s: sample threads %r" % (jdk, path, sorted(threads)))
    starts = [ev["values"]["startTime"] for ev in events if ev["type"] == "jdk.ExecutionSample"]
    for i in range(chunks):
        prefix = FIRST_SAMPLE.format(20 + CHUNK_SECONDS * i)
        if not any(s.startswith(prefix) for s in starts):
            fail("JDK %s json %s: no sample at %s... (chunk %d); got %r"
                 % (jdk, path, prefix, i, starts[:3]))


def check_print(jdk, tool, path, chunks, edge):
    rc, out, err = run([tool, "print", path])
    if rc != 0 or "Exception" in out + err:
        fail("JDK %s jfr print %s: rc=%d\n%s" % (jdk, path, rc, err[-2000:]))
        return
    n = out.count("jdk.ExecutionSample {")
    want = expected_counts(chunks, edge)["jdk.ExecutionSample"]
    if n != want:
        fail("JDK %s print %s: %d ExecutionSample, want %d" % (jdk, path, n, want))
    needles = ["com.example.Demo.leaf() line: 10",
               "com.example.Demo.main(String[]) line: 20",
               'sampledThread = "main" (javaThreadId = 1)',
               'sampledThread = "worker-1" (javaThreadId = 12)',
               'state = "STATE_RUNNABLE"']
    if edge:
        needles += ["unknown.unknown()",
                    'sampledThread = "GC Thread#0" (osThreadId = 1003)']
    for needle in needles:
        if needle not in out:
            fail("JDK %s print %s: missing %r" % (jdk, path, needle))
    if jdk == "17" and chunks == 1 and not edge:
        m = re.search(r"jdk\.ExecutionSample \{.*?\n\}", out, re.S)
        print("JDK %s jfr print, first sample:\n%s" % (jdk, m.group(0) if m else "?"))


def main():
    build = os.environ.get("PYRITE_BUILD_DIR")
    if not build:
        print("FAIL: PYRITE_BUILD_DIR is not set (run through ctest)", file=sys.stderr)
        return 1
    synth = os.path.join(build, "tests", "jfr_synth")
    if not os.access(synth, os.X_OK):
        print("FAIL: %s not built" % synth, file=sys.stderr)
        return 1
    jdks = find_jdks()
    print("JDKs: " + ", ".join("%s (%s)" % j for j in jdks))
    with tempfile.TemporaryDirectory(prefix="pyrite-jfr-") as tmp:
        cases = [(1, False), (3, False), (3, True)]
        for chunks, edge in cases:
            path = os.path.join(tmp, "synth-%d%s.jfr" % (chunks, "-edge" if edge else ""))
            cmd = [synth, path, "--chunks", str(chunks)] + (["--edge"] if edge else [])
            rc, _, err = run(cmd)
            if rc != 0:
                fail("%s: rc=%d %s" % (" ".join(cmd), rc, err))
                continue
            check_layout(path, chunks)
            for jdk, tool in jdks:
                check_summary(jdk, tool, path, chunks, edge)
                check_json(jdk, tool, path, chunks, edge)
                check_print(jdk, tool, path, chunks, edge)
    if errors:
        print("%d check(s) failed" % len(errors), file=sys.stderr)
        return 1
    print("OK: %d files x %d JDKs" % (len(cases), len(jdks)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
