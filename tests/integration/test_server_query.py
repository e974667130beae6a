"""Integration test: pyrited's query API over real HTTP (docs/query-api.md).

Starts the real pyrited on a free loopback port with a temp data dir,
ingests real data, then checks every query endpoint against
../shared/reference/pyroscope-api.md §3-§9:

* data: the conformance recording dump1 exactly as the Pyroscope Java agent
  uploads it (app ``orders``, dynamic labels), example.jfr (app
  ``billing``), two Push uploads of a hand-made pprof that differ in one
  frame (app ``diffapp``), and, when the agent and a JDK are there, a real
  JVM (HotLoop) with ``server=...,upload=1s`` (app ``live``);
* /pyroscope/render (flamebearer, metadata, timeline, groups, maxNodes,
  collapsed, gzip'd pprof readable by ``go tool pprof`` or by a small
  Python decoder), render-diff (the changed frame), label-values,
  label-names;
* every QuerierService method in protobuf (hand-rolled encoder/decoder,
  as Grafana's backend sends it) and in JSON (protojson, camel and snake
  names): flame graphs equal render's, SelectSeries points sum to the
  render total, ProfileTypes answers Grafana's 1970 health check;
* errors: bad selectors/types/ranges -> 400 with a message naming the
  problem, GET on Connect -> 405, other content types -> 415;
* /metrics feeds the query latency histogram; a read-only token may query.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_it as it  # noqa: E402

CPU = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
T_ORDERS = 1706241880          # dump1 upload: from..until (epoch s)
T_BILLING = 1706241940
T_DIFF_A = 1706242000
T_DIFF_B = 1706242600
AGENT_QS = "&units=samples&aggregationType=sum&spyName=javaspy&sampleRate=100&format=jfr"
JSON_CT = {"Content-Type": "application/json"}
PROTO_CT = {"Content-Type": "application/proto"}


# --------------------------------------------------------------------------- protobuf

def pb_decode(buf: bytes) -> Dict[int, List]:
    """Minimal protobuf reader: field number -> list of ints (varint/fixed)
    or bytes (length-delimited)."""
    out: Dict[int, List] = {}
    i = 0
    while i < len(buf):
        key, i = _uv(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _uv(buf, i)
        elif wt == 1:
            v = struct.unpack_from("<q", buf, i)[0]
            i += 8
        elif wt == 2:
            n, i = _uv(buf, i)
            v = buf[i:i + n]
            i += n
        elif wt == 5:
            v = struct.unpack_from("<i", buf, i)[0]
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(field, []).append(v)
    return out


def _uv(buf: bytes, i: int) -> Tuple[int, int]:
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def packed(b: bytes) -> List[int]:
    out, i = [], 0
    while i < len(b):
        v, i = _uv(b, i)
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
    return out


def pb_double(field: int, v: float) -> bytes:
    return it._varint((field << 3) | 1) + struct.pack("<d", v)


def smst_request(ptype: str, selector: str, start: int = 0, end: int = 0, max_nodes: int = 0) -> bytes:
    return (it.pb_bytes(1, ptype) + it.pb_bytes(2, selector) + it.pb_int(3, start)
            + it.pb_int(4, end) + it.pb_int(5, max_nodes))


def decode_flamegraph(b: bytes) -> dict:
    f = pb_decode(b)
    return {"names": [x.decode() for x in f.get(1, [])],
            "levels": [packed(pb_decode(l).get(1, [b""])[0]) for l in f.get(2, [])],
            "total": f.get(3, [0])[0], "maxSelf": f.get(4, [0])[0],
            "leftTicks": f.get(5, [0])[0], "rightTicks": f.get(6, [0])[0]}


def json_flamegraph(fg: dict) -> dict:
    return {"names": fg.get("names", []),
            "levels": [[int(v) for v in l.get("values", [])] for l in fg.get("levels", [])],
            "total": int(fg.get("total", "0")), "maxSelf": int(fg.get("maxSelf", "0")),
            "leftTicks": int(fg.get("leftTicks", "0")), "rightTicks": int(fg.get("rightTicks", "0"))}


def decode_pprof(raw: bytes) -> Tuple[Dict[str, int], int]:
    """google.v1.Profile -> ({'root;...;leaf': value}, total)."""
    p = pb_decode(raw)
    strings = [s.decode() for s in p.get(6, [])]
    funcs = {}
    for fb in p.get(5, []):
        f = pb_decode(fb)
        funcs[f[1][0]] = strings[f.get(2, [0])[0]]
    locs = {}
    for lb in p.get(4, []):
        loc = pb_decode(lb)
        lines = [pb_decode(x) for x in loc.get(4, [])]
        locs[loc[1][0]] = [funcs[l[1][0]] for l in lines]
    stacks: Dict[str, int] = {}
    total = 0
    for sb in p.get(2, []):
        s = pb_decode(sb)
        ids = packed(s.get(1, [b""])[0]) if 1 in s else []
        vals = packed(s.get(2, [b""])[0])
        frames = []
        for lid in reversed(ids):  # leaf first -> root first
            frames += list(reversed(locs[lid]))
        key = ";".join(frames)
        stacks[key] = stacks.get(key, 0) + vals[0]
        total += vals[0]
    return stacks, total


# --------------------------------------------------------------------------- helpers

def q(params: Dict[str, str]) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def get_json(c: it.Checks, srv: it.Server, path: str, what: str):
    st, hdrs, body = srv.get(path)
    c.eq(st, 200, f"{what}: status")
    if st != 200:
        it.log(f"    body: {body[:300]!r}")
        return None
    c.check(hdrs.get("content-type", "").startswith("application/json"), f"{what}: JSON type")
    return json.loads(body)


def connect(srv: it.Server, method: str, body: bytes, ctype: Dict[str, str]):
    return srv.post(f"/querier.v1.QuerierService/{method}", body, ctype)


def cjson(c: it.Checks, srv: it.Server, method: str, obj, what: str):
    st, hdrs, body = connect(srv, method, json.dumps(obj).encode(), JSON_CT)
    c.eq(st, 200, f"{what}: status")
    if st != 200:
        it.log(f"    body: {body[:300]!r}")
        return None
    c.check(hdrs.get("content-type", "").startswith("application/json"), f"{what}: JSON answer")
    return json.loads(body)


def cproto(c: it.Checks, srv: it.Server, method: str, body: bytes, what: str):
    st, hdrs, resp = connect(srv, method, body, PROTO_CT)
    c.eq(st, 200, f"{what}: status")
    if st != 200:
        it.log(f"    body: {resp[:300]!r}")
        return None
    c.check(hdrs.get("content-type", "").startswith("application/proto"), f"{what}: proto answer")
    return resp


def expect_error(c: it.Checks, resp, status: int, what: str, needle: str = "") -> None:
    st, hdrs, body = resp
    c.eq(st, status, f"{what}: status")
    try:
        err = it.json_error(body)
        if needle:
            c.check(needle in err["message"], f"{what}: message mentions {needle!r} ({err['message']!r})")
    except Exception as e:  # noqa: BLE001
        c.check(False, f"{what}: JSON error body ({e}; {body[:200]!r})")


def expected_collapsed(name: str) -> Dict[str, int]:
    """The corpus' expected profile, lines dropped (flame graphs merge them)."""
    text = gzip.decompress(it.corpus(name)).decode()
    out: Dict[str, int] = {}
    for line in text.splitlines():
        stack, _, vals = line.rpartition(" [")
        frames = [f.rpartition(":")[0] if ":" in f else f for f in stack.split(";")]
        k = ";".join(frames)
        out[k] = out.get(k, 0) + int(vals.rstrip("]").split()[0])
    return out


def fb_stacks(fb: dict) -> Dict[str, int]:
    """Flamebearer -> collapsed stacks (self values), rebuilding parents by
    interval containment exactly as a flame graph UI does."""
    names, levels = fb["names"], fb["levels"]
    prev: List[Tuple[int, int, str]] = []
    out: Dict[str, int] = {}
    for li, lv in enumerate(levels):
        cur, x = [], 0
        for k in range(0, len(lv), 4):
            x += lv[k]
            total, self_, name = lv[k + 1], lv[k + 2], names[lv[k + 3]]
            path = name
            if li > 0:
                parent = next(p for p in prev if p[0] <= x and x + total <= p[0] + p[1])
                path = (parent[2] + ";" if parent[2] else "") + name
            else:
                path = ""
            if self_ and li > 0:
                out[path] = out.get(path, 0) + self_
            cur.append((x, total, path))
            x += total
        prev = cur
    return out


# --------------------------------------------------------------------------- data

def simple_pprof(stacks: Dict[Tuple[str, ...], int], t_ns: int) -> bytes:
    return it.pprof([("cpu", "nanoseconds")], [(list(s), [v], {}) for s, v in stacks.items()],
                    time_nanos=t_ns)


def ingest(c: it.Checks, srv: it.Server) -> None:
    name = urllib.parse.quote("orders{env=prod}")
    ct, body = it.java_agent_upload(it.corpus("dump1.jfr.gz"), it.corpus("dump1.labels.pb.gz"))
    st, _, resp = srv.post(f"/ingest?name={name}&from={T_ORDERS}&until={T_ORDERS + 10}{AGENT_QS}",
                           body, {"Content-Type": ct}, chunked=True)
    c.eq(st, 200, f"ingest dump1 as orders ({resp[:100]!r})")
    raw = gzip.decompress(it.corpus("example.jfr.gz"))
    st, _, resp = srv.post(f"/ingest?name=billing&from={T_BILLING}&until={T_BILLING + 10}{AGENT_QS}",
                           raw, {"Content-Type": "application/octet-stream"})
    c.eq(st, 200, f"ingest example.jfr as billing ({resp[:100]!r})")
    base = {("main", "serve", "parse"): 300_000_000, ("main", "serve", "render"): 200_000_000}
    changed = dict(base)
    changed[("main", "serve", "changedFrame")] = 500_000_000
    for t, stacks in ((T_DIFF_A, base), (T_DIFF_B, changed)):
        body = it.push_request([({"__name__": "process_cpu", "service_name": "diffapp"},
                                 [simple_pprof(stacks, t * 10**9)])])
        st, _, resp = srv.post("/push.v1.PusherService/Push", body, PROTO_CT)
        c.eq(st, 200, f"push diffapp at {t} ({resp[:100]!r})")


def live_jvm(c: it.Checks, srv: it.Server) -> bool:
    """Runs a real JVM with the agent uploading every second (optional)."""
    # The agent is part of every build this test runs against: a missing
    # agent or JDK is a failure, not a silent pass of the live-JVM checks.
    import pyrite_it as pit
    if not c.check(os.path.isfile(pit.agent_path()), f"live JVM: agent built ({pit.agent_path()})"):
        return False
    try:
        jdk = pit.find_jdks()[0]
        opts = {"server": f"http://127.0.0.1:{srv.port}", "app": "live", "upload": "1s", "log": "warn"}
        res = pit.run_java(jdk, "pyrite.it.HotLoop", ["--seconds", "4"], agent=opts, timeout=90)
    except Exception as e:  # noqa: BLE001
        c.check(False, f"live JVM: could not run a JVM ({e})")
        return False
    c.check(res.ok, f"live JVM exits 0 ({res.describe() if not res.ok else ''})")
    return res.ok


# --------------------------------------------------------------------------- steps

def step_labels(c: it.Checks, srv: it.Server) -> None:
    types = get_json(c, srv, "/pyroscope/label-values?label=__name__", "label-values __name__")
    if types is not None:
        c.check(CPU in types and types == sorted(types), f"profile types sorted, include cpu ({types})")
        c.check("mutex:contentions:count:mutex:count" in types, "mutex type from example.jfr")
    svcs = get_json(c, srv, "/pyroscope/label-values?label=service_name", "label-values service_name")
    if svcs is not None:
        c.check({"orders", "billing", "diffapp"} <= set(svcs), f"services listed ({svcs})")
    names = get_json(c, srv, "/pyroscope/label-names", "label-names")
    if names is not None:
        c.check("service_name" in names and "__profile_type__" in names, "label names include private ones")
    expect_error(c, srv.get("/pyroscope/label-values"), 400, "label-values without label", "label is required")

    # Connect, both codecs
    r = cjson(c, srv, "ProfileTypes", {}, "ProfileTypes JSON")
    if r is not None:
        ids = [p["ID"] for p in r.get("profileTypes", [])]
        c.check(CPU in ids and ids == sorted(ids), "ProfileTypes: sorted ids")
        cpu = next((p for p in r["profileTypes"] if p["ID"] == CPU), {})
        c.eq((cpu.get("name"), cpu.get("sampleType"), cpu.get("sampleUnit"), cpu.get("periodType"),
              cpu.get("periodUnit")), ("process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds"),
             "ProfileTypes: parts")
    # Grafana's health check: a 1970 range, binary protobuf
    st, _, body = connect(srv, "ProfileTypes", it.pb_int(1, 1000) + it.pb_int(2, 4000), PROTO_CT)
    c.eq((st, body), (200, b""), "ProfileTypes 1970 health check (proto): 200, empty message")
    r = cjson(c, srv, "ProfileTypes", {"start": 1000, "end": 4000}, "ProfileTypes 1970 (JSON)")
    c.eq(r, {}, "ProfileTypes 1970: {}")
    body = cproto(c, srv, "ProfileTypes", b"", "ProfileTypes proto")
    if body is not None:
        ids = [pb_decode(x)[1][0].decode() for x in pb_decode(body).get(1, [])]
        c.check(CPU in ids, "ProfileTypes proto lists cpu")
    r = cjson(c, srv, "LabelValues", {"name": "service_name"}, "LabelValues JSON (no range)")
    if r is not None:
        c.check({"orders", "billing"} <= set(r.get("names", [])), f"LabelValues names ({r})")
    body = cproto(c, srv, "LabelValues", it.pb_bytes(1, "service_name")
                  + it.pb_bytes(2, '{service_name=~"ord.*"}'), "LabelValues proto with matcher")
    if body is not None:
        c.eq([x.decode() for x in pb_decode(body).get(1, [])], ["orders"], "LabelValues proto: regex matcher")
    r = cjson(c, srv, "LabelNames", {"matchers": ['{service_name="orders"}']}, "LabelNames JSON")
    if r is not None:
        c.check("env" in r.get("names", []), "LabelNames: static label env of orders")
    body = cproto(c, srv, "LabelNames", it.pb_bytes(1, '{service_name="billing"}'), "LabelNames proto")
    if body is not None:
        c.check(b"service_name" in pb_decode(body).get(1, []), "LabelNames proto")
    r = cjson(c, srv, "Series", {"matchers": ['{service_name="orders"}'],
                                 "labelNames": ["service_name", "__profile_type__"]}, "Series JSON")
    if r is not None:
        sets = r.get("labelsSet", [])
        c.check(len(sets) >= 1 and all(len(s["labels"]) == 2 for s in sets), "Series projected to 2 labels")
    body = cproto(c, srv, "Series", it.pb_bytes(1, '{service_name="orders"}') + it.pb_bytes(2, "service_name"),
                  "Series proto")
    if body is not None:
        c.eq(len(pb_decode(body).get(2, [])), 1, "Series proto: one projected label set")
    r = cjson(c, srv, "GetProfileStats", {}, "GetProfileStats")
    if r is not None:
        c.check(r.get("dataIngested") is True and int(r.get("oldestProfileTime", 0)) == T_ORDERS * 1000,
                f"GetProfileStats ({r})")
    # The same call in binary protobuf (what Grafana sends): an empty request,
    # GetProfileStatsResponse{1: data_ingested, 2: oldest ms, 3: newest ms}.
    body = cproto(c, srv, "GetProfileStats", b"", "GetProfileStats proto")
    if body is not None:
        f = pb_decode(body)
        got = (f.get(1, [0])[0], f.get(2, [0])[0], f.get(3, [0])[0])
        want_newest = int(r.get("newestProfileTime", 0)) if r is not None else got[2]
        c.eq(got, (1, T_ORDERS * 1000, want_newest),
             "GetProfileStats proto: data_ingested, oldest = first upload, newest = JSON's")
        c.check(got[2] >= T_DIFF_B * 1000, f"GetProfileStats proto: newest covers the last upload ({got[2]})")


def step_render(c: it.Checks, srv: it.Server) -> Dict[str, object]:
    sel = '{service_name="orders"}'
    r = get_json(c, srv, f"/pyroscope/render?{q({'query': CPU + sel, 'from': str(T_ORDERS - 60), 'until': str(T_ORDERS + 60)})}",
                 "render orders")
    if r is None:
        return {}
    fb = r["flamebearer"]
    want = expected_collapsed("dump1_0_process_cpu_cpu__nanoseconds_expected_collapsed.txt.gz")
    total = sum(want.values())
    c.eq(fb["numTicks"], total, "render: numTicks = corpus total")
    c.eq(fb_stacks(fb), want, "render: flame graph = corpus stacks")
    c.eq(fb["names"][0], "total", "render: names[0]")
    c.eq(r["metadata"], {"format": "single", "spyName": "", "sampleRate": 1000000000,
                         "units": "samples", "name": "cpu"}, "render: metadata")
    tl = r["timeline"]
    c.eq(tl["durationDelta"], 15, "render: 2 min range -> 15 s steps")
    c.eq(tl["startTime"] % 15, 0, "render: startTime snapped to the step")
    c.eq(sum(tl["samples"]), total, "render: timeline sums to numTicks")
    c.check(r.get("groups") is None and "heatmap" in r and r.get("version") == 1, "render: envelope")

    # maxNodes truncation
    r2 = get_json(c, srv, f"/pyroscope/render?{q({'query': CPU + sel, 'max-nodes': '10'})}", "render maxNodes=10")
    if r2:
        fb2 = r2["flamebearer"]
        c.check("other" in fb2["names"], "maxNodes: small nodes folded into other")
        c.eq(fb2["numTicks"], total, "maxNodes: total kept")
        n = sum(len(l) // 4 for l in fb2["levels"])
        c.check(n < sum(len(l) // 4 for l in fb["levels"]), f"maxNodes: fewer nodes ({n})")
    # groupBy on a dynamic label of dump1, relative times
    r3 = get_json(c, srv, f"/pyroscope/render?{q({'query': CPU + '{}', 'groupBy': 'service_name', 'from': '0', 'until': 'now'})}",
                  "render groupBy service_name")
    if r3:
        groups = r3.get("groups") or {}
        c.check({"orders", "billing", "diffapp"} <= set(groups), f"groups keyed by service ({sorted(groups)})")
        c.eq(sum(sum(g["samples"]) for g in groups.values()), r3["flamebearer"]["numTicks"],
             "groups add up to the total")
    # collapsed
    st, hdrs, body = srv.get(f"/pyroscope/render?{q({'query': CPU + sel, 'format': 'collapsed'})}")
    c.eq(st, 200, "render collapsed: status")
    got = {}
    for line in body.decode().splitlines():
        k, _, v = line.rpartition(" ")
        got[k] = got.get(k, 0) + int(v)
    c.eq(got, want, "render collapsed = corpus stacks")
    # pprof
    st, hdrs, body = srv.get(f"/pyroscope/render?{q({'query': CPU + sel, 'format': 'pprof'})}")
    c.eq(st, 200, "render pprof: status")
    c.check(body[:2] == b"\x1f\x8b", "render pprof: gzip")
    stacks, ptotal = decode_pprof(gzip.decompress(body))
    c.eq(ptotal, total, "render pprof: total")
    merged: Dict[str, int] = {}
    for k, v in stacks.items():
        merged[k] = merged.get(k, 0) + v
    c.eq(merged, want, "render pprof: stacks = corpus")
    go_pprof(c, body, "render pprof")
    return {"total": total, "fb": fb}


def go_pprof(c: it.Checks, data: bytes, what: str) -> None:
    go = shutil.which("go")
    # scripts/deps.sh installs golang-go: without it this check cannot run,
    # and that must show as a failure rather than pass unnoticed.
    if not c.check(go is not None, f"{what}: go installed for go tool pprof (scripts/deps.sh: golang-go)"):
        return
    d = tempfile.mkdtemp(prefix="pyrite-pprof-")
    try:
        path = os.path.join(d, "profile.pb.gz")
        with open(path, "wb") as f:
            f.write(data)
        env = dict(os.environ, HOME=d, GOCACHE=os.path.join(d, "cache"), GOFLAGS="-mod=mod",
                   GOTOOLCHAIN="local", PPROF_TMPDIR=d)
        out = subprocess.run([go, "tool", "pprof", "-top", path], capture_output=True, timeout=180, env=env)
        text = out.stdout.decode(errors="replace")
        err = " ".join(out.stderr.decode(errors="replace").split())[-300:]
        c.check(out.returncode == 0 and "flat%" in text, f"{what}: go tool pprof -top reads it ({err})")
    except subprocess.TimeoutExpired:
        c.check(False, f"{what}: go tool pprof timed out")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def step_connect_flamegraph(c: it.Checks, srv: it.Server, ref: Dict[str, object]) -> None:
    if not ref:
        return
    sel = '{service_name="orders"}'
    fb = ref["fb"]
    # binary protobuf, as Grafana sends it
    body = cproto(c, srv, "SelectMergeStacktraces",
                  smst_request(CPU, sel, (T_ORDERS - 60) * 1000, (T_ORDERS + 60) * 1000),
                  "SelectMergeStacktraces proto")
    if body is not None:
        fg = decode_flamegraph(pb_decode(body)[1][0])
        c.eq(fg["names"], fb["names"], "proto flame graph: names = render's")
        c.eq(fg["levels"], fb["levels"], "proto flame graph: levels = render's")
        c.eq(fg["total"], ref["total"], "proto flame graph: total")
        c.eq(fg["maxSelf"], fb["maxSelf"], "proto flame graph: max_self")
    # JSON, the Java itest's snake names
    r = cjson(c, srv, "SelectMergeStacktraces",
              {"profile_typeID": CPU, "label_selector": sel, "start": (T_ORDERS - 60) * 1000,
               "end": str((T_ORDERS + 60) * 1000), "max_nodes": 8192}, "SelectMergeStacktraces JSON")
    if r is not None:
        fg = json_flamegraph(r["flamegraph"])
        c.eq((fg["names"], fg["levels"], fg["total"]), (fb["names"], fb["levels"], ref["total"]),
             "JSON flame graph = render's")
        c.check(isinstance(r["flamegraph"]["total"], str), "JSON: int64 as a string")
    # no range = all retained data
    r = cjson(c, srv, "SelectMergeStacktraces", {"profileTypeID": CPU, "labelSelector": sel},
              "SelectMergeStacktraces without range")
    if r is not None:
        c.eq(int(r["flamegraph"]["total"]), ref["total"], "no range: all data")
    # TREE format
    body = cproto(c, srv, "SelectMergeStacktraces", smst_request(CPU, sel) + it.pb_int(6, 2),
                  "SelectMergeStacktraces TREE")
    if body is not None:
        tree = pb_decode(body).get(2, [b""])[0]
        c.check(len(tree) > 10 and tree[:1] == b"\x00", "TREE bytes start with the virtual root")

    # SelectSeries: points sum to the render total (JSON, grouped) and proto
    r = cjson(c, srv, "SelectSeries", {"profileTypeID": CPU, "labelSelector": sel, "start": str((T_ORDERS - 60) * 1000),
                                       "end": str((T_ORDERS + 60) * 1000), "step": 15, "groupBy": ["env"]},
              "SelectSeries JSON")
    if r is not None:
        series = r.get("series", [])
        c.eq([s["labels"] for s in series], [[{"name": "env", "value": "prod"}]], "SelectSeries: grouped by env")
        pts = [p for s in series for p in s.get("points", [])]
        c.eq(sum(p["value"] for p in pts), ref["total"], "SelectSeries points sum = render total")
        c.check(all(isinstance(p["timestamp"], str) for p in pts), "SelectSeries: timestamps as strings")
    body = cproto(c, srv, "SelectSeries", it.pb_bytes(1, CPU) + it.pb_bytes(2, sel) + pb_double(6, 60.0),
                  "SelectSeries proto (no range)")
    if body is not None:
        tot = 0.0
        for sb in pb_decode(body).get(1, []):
            for pb in pb_decode(sb).get(2, []):
                tot += struct.unpack("<d", struct.pack("<q", pb_decode(pb)[1][0]))[0]
        c.eq(tot, ref["total"], "SelectSeries proto points sum")

    # SelectMergeProfile: pprof in proto, readable
    body = cproto(c, srv, "SelectMergeProfile", smst_request(CPU, sel), "SelectMergeProfile proto")
    if body is not None:
        stacks, total = decode_pprof(body)
        c.eq(total, ref["total"], "SelectMergeProfile: total")
        go_pprof(c, gzip.compress(body), "SelectMergeProfile")
    r = cjson(c, srv, "SelectMergeProfile", {"profileTypeID": CPU, "labelSelector": sel}, "SelectMergeProfile JSON")
    if r is not None:
        c.check(len(r.get("sample", [])) > 0 and r.get("stringTable", [""])[0] == "", "SelectMergeProfile JSON shape")


def step_diff(c: it.Checks, srv: it.Server) -> None:
    sel = '{service_name="diffapp"}'
    params = {"leftQuery": CPU + sel, "leftFrom": str(T_DIFF_A - 5), "leftUntil": str(T_DIFF_A + 5),
              "rightQuery": CPU + sel, "rightFrom": str(T_DIFF_B - 5), "rightUntil": str(T_DIFF_B + 5)}
    r = get_json(c, srv, f"/pyroscope/render-diff?{q(params)}", "render-diff")
    if r is not None:
        fb = r["flamebearer"]
        c.eq((r["leftTicks"], r["rightTicks"], fb["numTicks"]), (500_000_000, 1_000_000_000, 1_500_000_000),
             "render-diff ticks")
        c.eq(r["metadata"]["format"], "double", "render-diff: double")
        found = None
        for lv in fb["levels"]:
            for k in range(0, len(lv), 7):
                if fb["names"][lv[k + 6]] == "changedFrame":
                    found = (lv[k + 1], lv[k + 4])
        c.eq(found, (0, 500_000_000), "render-diff: changedFrame only on the right")
    expect_error(c, srv.get(f"/pyroscope/render-diff?{q({'leftQuery': CPU + '{}', 'rightQuery': 'wall:wall:nanoseconds:wall:nanoseconds{}'})}"),
                 400, "render-diff of different types", "same profile type")
    left = smst_request(CPU, sel, (T_DIFF_A - 5) * 1000, (T_DIFF_A + 5) * 1000)
    right = smst_request(CPU, sel, (T_DIFF_B - 5) * 1000, (T_DIFF_B + 5) * 1000)
    body = cproto(c, srv, "Diff", it.pb_bytes(1, left) + it.pb_bytes(2, right), "Diff proto")
    if body is not None:
        fg = decode_flamegraph(pb_decode(body)[1][0])
        c.eq((fg["leftTicks"], fg["rightTicks"]), (500_000_000, 1_000_000_000), "Diff proto ticks")
        c.check("changedFrame" in fg["names"], "Diff proto names the changed frame")
    r = cjson(c, srv, "Diff", {"left": {"profileTypeID": CPU, "labelSelector": sel, "start": (T_DIFF_A - 5) * 1000,
                                        "end": (T_DIFF_A + 5) * 1000},
                               "right": {"profile_typeID": CPU, "label_selector": sel, "start": (T_DIFF_B - 5) * 1000,
                                         "end": (T_DIFF_B + 5) * 1000}}, "Diff JSON")
    if r is not None:
        c.eq((r["flamegraph"].get("leftTicks"), r["flamegraph"].get("rightTicks")), ("500000000", "1000000000"),
             "Diff JSON ticks")


def step_live(c: it.Checks, srv: it.Server) -> None:
    if not live_jvm(c, srv):
        return
    live_q = q({"query": CPU + '{service_name="live"}', "from": "now-10m"})
    r = get_json(c, srv, f"/pyroscope/render?{live_q}", "render the live JVM")
    if r is None:
        return
    fb = r["flamebearer"]
    c.check(fb["numTicks"] > 0, f"live JVM: CPU time recorded ({fb['numTicks']})")
    c.check(any("HotLoop.spin" in n for n in fb["names"]), "live JVM: HotLoop.spin in the flame graph")
    body = cproto(c, srv, "SelectMergeStacktraces", smst_request(CPU, '{service_name="live"}'),
                  "live JVM via Connect proto")
    if body is not None:
        fg = decode_flamegraph(pb_decode(body)[1][0])
        c.eq(fg["total"], fb["numTicks"], "live JVM: Connect total = render total")


def step_errors(c: it.Checks, srv: it.Server) -> None:
    expect_error(c, srv.get("/pyroscope/render"), 400, "render without query", "missing query")
    expect_error(c, srv.get(f"/pyroscope/render?{q({'query': 'orders.cpu{}'})}"), 400, "OG-style query",
                 "name:sample_type:sample_unit:period_type:period_unit")
    expect_error(c, srv.get(f"/pyroscope/render?{q({'query': CPU + '{service_name=orders}'})}"), 400,
                 "unquoted selector value", "quoted string")
    bad_re = q({"query": CPU + '{a=~"("}'})
    expect_error(c, srv.get(f"/pyroscope/render?{bad_re}"), 400, "bad regex", "bad regex")
    expect_error(c, srv.get(f"/pyroscope/render?{q({'query': CPU + '{}', 'from': 'now', 'until': 'now-1h'})}"),
                 400, "from after until", "from is after until")
    expect_error(c, srv.get(f"/pyroscope/render?{q({'query': CPU + '{}', 'maxNodes': 'x'})}"), 400,
                 "bad maxNodes", "maxNodes")
    expect_error(c, srv.post("/pyroscope/render", b""), 405, "POST render")
    st, hdrs, _ = srv.get("/querier.v1.QuerierService/ProfileTypes")
    c.eq((st, hdrs.get("allow")), (405, "POST"), "GET on Connect: 405, Allow: POST")
    expect_error(c, connect(srv, "ProfileTypes", b"{}", {"Content-Type": "text/plain"}), 415, "text/plain", "content type")
    expect_error(c, connect(srv, "NoSuchMethod", b"{}", JSON_CT), 404, "unknown method")
    expect_error(c, connect(srv, "SelectMergeStacktraces", json.dumps({"profileTypeID": "cpu"}).encode(), JSON_CT),
                 400, "Connect bad type", "profile_typeID")
    expect_error(c, connect(srv, "SelectMergeStacktraces",
                            json.dumps({"profileTypeID": CPU, "labelSelector": "{a=\"x\""}).encode(), JSON_CT),
                 400, "Connect bad selector", "label_selector")
    expect_error(c, connect(srv, "SelectMergeStacktraces",
                            json.dumps({"profileTypeID": CPU, "start": 10, "end": 5}).encode(), JSON_CT),
                 400, "Connect bad range", "invalid time range")
    expect_error(c, connect(srv, "SelectMergeStacktraces",
                            json.dumps({"profileTypeID": CPU, "maxNodes": 2000000}).encode(), JSON_CT),
                 400, "Connect max_nodes too big", "max_nodes")
    expect_error(c, connect(srv, "LabelValues", b"{}", JSON_CT), 400, "LabelValues without name", "name is required")
    expect_error(c, connect(srv, "LabelValues", b"\xff\xff", PROTO_CT), 400, "garbage protobuf", "protobuf")
    # gzip'd Connect request
    st, _, body = connect(srv, "LabelValues", gzip.compress(b'{"name":"service_name"}'),
                          {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    c.check(st == 200 and b"orders" in body, "gzip'd Connect request")
    it.log("  server still ready after errors: " + str(srv.get("/ready")[0]))


QUERY_PATHS = {"/pyroscope/render", "/pyroscope/render-diff", "/pyroscope/label-values",
               "/pyroscope/label-names"} | {
    "/querier.v1.QuerierService/" + m for m in (
        "ProfileTypes", "LabelNames", "LabelValues", "Series", "SelectMergeStacktraces",
        "SelectMergeProfile", "SelectSeries", "Diff", "GetProfileStats", "other")}


def step_metrics(c: it.Checks, srv: it.Server) -> None:
    m = srv.metrics()
    hist_paths = {re.search(r'path="([^"]*)"', k).group(1) for k in m
                  if k.startswith("pyrited_query_duration_seconds_count{")}
    c.eq(hist_paths, QUERY_PATHS, "query latency histogram: one series per known query path")
    c.check(sum(v for k, v in m.items() if k.startswith("pyrited_query_duration_seconds_count{")) >= 20,
            "query latency histogram fed")
    c.check(m.get('pyrited_requests_total{path="/pyroscope/render",code="200"}', 0) >= 1,
            "requests counted by query route")
    c.check(m.get('pyrited_requests_total{path="/querier.v1.QuerierService/LabelValues",code="200"}', 0) >= 2,
            "Connect requests counted per method")
    # Exact deltas over a known set of requests.
    smst = "/querier.v1.QuerierService/SelectMergeStacktraces"
    keys = {
        "smst_200": f'pyrited_requests_total{{path="{smst}",code="200"}}',
        "smst_hist": f'pyrited_query_duration_seconds_count{{path="{smst}"}}',
        "other_404": 'pyrited_requests_total{path="/querier.v1.QuerierService/other",code="404"}',
        "other_hist": 'pyrited_query_duration_seconds_count{path="/querier.v1.QuerierService/other"}',
        "render_hist": 'pyrited_query_duration_seconds_count{path="/pyroscope/render"}',
    }
    before = {k: m.get(v, 0) for k, v in keys.items()}
    for _ in range(3):
        connect(srv, "SelectMergeStacktraces", json.dumps({"profileTypeID": CPU}).encode(), JSON_CT)
    connect(srv, "NoSuchMethodForMetrics", b"{}", JSON_CT)
    srv.get(f"/pyroscope/render?{q({'query': CPU + '{}'})}")
    srv.get(f"/pyroscope/render?{q({'query': CPU + '{}'})}")
    m2 = srv.metrics()
    delta = {k: m2.get(v, 0) - before[k] for k, v in keys.items()}
    c.eq(delta, {"smst_200": 3, "smst_hist": 3, "other_404": 1, "other_hist": 1, "render_hist": 2},
         "metrics deltas: per-method counter and histogram, unknown method -> other")
    c.check(not any("NoSuchMethod" in k for k in m2), "an unknown method name never becomes a label")
    req_paths = {re.search(r'path="([^"]*)"', k).group(1) for k in m2 if k.startswith("pyrited_requests_total{")}
    c.check(req_paths <= QUERY_PATHS | {"/ready", "/metrics", "/ingest", "/push.v1.PusherService/Push", "other"},
            f"requests_total path labels from the fixed set ({sorted(req_paths)})")


def step_auth() -> it.Checks:
    c = it.Checks()
    srv = it.Server("--auth-token", "writer", "--read-auth-token", "reader", name="query-auth")
    try:
        srv.start()
        st, _, _ = srv.get("/pyroscope/label-names")
        c.eq(st, 401, "auth: query without token")
        st, _, _ = srv.get("/pyroscope/label-names", {"Authorization": "Bearer reader"})
        c.eq(st, 200, "auth: read-only token may query")
        st, _, _ = connect(srv, "ProfileTypes", b"{}", {"Content-Type": "application/json",
                                                      "Authorization": "Bearer reader"})
        c.eq(st, 200, "auth: read-only token, Connect")
        st, _, _ = srv.post("/ingest?name=x&format=folded", b"a;b 1", {"Authorization": "Bearer reader"})
        c.eq(st, 403, "auth: read-only token may not ingest")
    finally:
        srv.stop()
        srv.cleanup()
    return c


def main() -> int:
    it.require_binaries()
    c = it.Checks()
    srv = it.Server(name="query")
    try:
        srv.start()
        c.run("ingest", ingest, srv)
        c.run("labels and types", step_labels, srv)
        ref: Dict[str, object] = {}

        def render_step(ck: it.Checks, s: it.Server) -> None:
            ref.update(step_render(ck, s))
        c.run("render", render_step, srv)
        c.run("Connect flame graphs and series", step_connect_flamegraph, srv, ref)
        c.run("diff", step_diff, srv)
        c.run("errors", step_errors, srv)
        c.run("live JVM", step_live, srv)
        c.run("metrics", step_metrics, srv)
    finally:
        srv.stop()
        srv.cleanup()
    a = step_auth()
    c.failures += a.failures
    c.passed += a.passed
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
