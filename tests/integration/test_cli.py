# ctest-labels: sanitize
"""Integration test: the `pyrite` query subcommands against a real pyrited.

Starts pyrited on a free loopback port, ingests folded profiles with known
numbers through ``POST /ingest`` and runs ``build/bin/pyrite``:

* ``top``: the hot function comes first with the right share, totals count
  a recursive function once, ``--by total``, ``--json`` parses, aliases
  resolve to what folded uploads store, unknown apps and types fail with the
  right exit codes;
* ``diff``: between two ranges the grown function is named first (``new``),
  the shrunk one is negative; ``--per-second``; ``--from/--until`` pairs;
  ``--json``;
* ``bottleneck``: CPU-, allocation-, lock- and wait-bound apps are told
  apart and the dominant dimension's top function is named;
* ``render``: standalone HTML whose embedded frame names are escaped (no
  raw ``</script>`` breakout) and collapsed text; ``pprof`` when the server
  offers it (checked with ``go tool pprof`` if Go is installed);
* errors: connection refused (one line, exit 1), a server 4xx (its JSON
  message shown, exit 1), usage errors (exit 2), ``--help`` (exit 0);
  ``--tenant``/``--token`` against a server with multitenancy and tokens.

Numbers: folded counts are samples at the default sampleRate 100, so one
count is 10 ms of CPU (or wall) time; lock and allocation uploads carry raw
nanoseconds and bytes.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_it as it  # noqa: E402

NOW = int(time.time())
T_BEFORE = NOW - 2 * 3600     # the "before deploy" upload
T_AFTER = NOW - 30 * 60       # the "after deploy" upload
WIN = 300                     # query windows are T +- WIN seconds
EVIL = "evil</script><script>alert(1)</script><!--"


def pyrite_path() -> str:
    return os.path.join(it.BUILD_DIR, "bin", "pyrite")


def window(t: int) -> str:
    return f"{t - WIN}..{t + WIN}"


def run(srv, *args: str, server: str = "") -> subprocess.CompletedProcess:
    url = server or f"http://127.0.0.1:{srv.port}"
    cmd = [pyrite_path(), args[0], "--server", url] + list(args[1:])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    it.log(f"  $ pyrite {' '.join(args)} -> {p.returncode}")
    for line in (p.stdout + p.stderr).splitlines()[:14]:
        it.log(f"      {line}")
    return p


def ingest(srv, name: str, t: int, folded: str, headers=None) -> None:
    path = f"/ingest?name={urllib.parse.quote(name)}&format=folded&from={t}&until={t + 10}"
    st, _, body = srv.post(path, folded.encode(), headers)
    if st != 200:
        raise RuntimeError(f"ingest {name} -> {st} {body[:200]!r}")


def load(srv) -> None:
    # cliapp: before, hot = 70% of 1000 s CPU; after, hot shrank and grown
    # appeared with 60% of the profile.
    ingest(srv, "cliapp", T_BEFORE,
           "main;com/example/App.handle;com/example/App.hot 70000\n"
           "main;com/example/App.handle;com/example/App.cold 20000\n"
           "main;com/example/App.handle 10000\n")
    ingest(srv, "cliapp", T_AFTER,
           "main;com/example/App.handle;com/example/App.hot 30000\n"
           "main;com/example/App.handle;com/example/App.grown 60000\n"
           "main;com/example/App.handle 10000\n")
    # recapp: rec is on every stack, three deep on most.
    ingest(srv, "recapp", T_AFTER,
           "main;com/example/R.rec;com/example/R.rec;com/example/R.rec;com/example/R.leaf 8\n"
           "main;com/example/R.rec 2\n")
    # evilapp: a frame name that would end a <script> block.
    ingest(srv, "evilapp", T_AFTER, f"main;{EVIL} 5\nmain;com/example/Ok.fine 5\n")
    # lockapp: little CPU, 2 threads blocked on average in the query window
    # (2 * 600 s of delay).
    ingest(srv, "lockapp", T_AFTER, "main;com/example/Store.read 10\n")
    ingest(srv, "lockapp.mutex_duration", T_AFTER,
           "main;com/example/Store.update 1000000000000\n"
           "main;com/example/Store.flush 200000000000\n")
    # waitapp: 1.5 threads reading sockets; the idle pool is ignored.
    ingest(srv, "waitapp", T_AFTER, "main;com/example/Client.parse 100\n")
    ingest(srv, "waitapp.wall", T_AFTER,
           "main;com/example/Client.fetch;java/net/SocketInputStream.socketRead0 90000\n"
           "main;java/util/concurrent/ThreadPoolExecutor.getTask;jdk/internal/misc/Unsafe.park 900000\n")
    # allocapp: ~0.3 cores of CPU, 2 GiB/s of allocation.
    ingest(srv, "allocapp", T_AFTER, "main;com/example/Buf.fill 20000\n")
    ingest(srv, "allocapp.alloc_in_new_tlab_bytes", T_AFTER,
           f"main;com/example/Buf.grow;java/util/Arrays.copyOf {2 * 1024 ** 3 * 600}\n"
           f"main;com/example/Buf.small {1024 ** 2}\n")


def table_rows(out: str):
    """Rows after the header line that starts with SELF/BEFORE/APP."""
    lines = out.splitlines()
    for i, l in enumerate(lines):
        if l.split()[:1] in (["SELF"], ["BEFORE"], ["APP"]):
            rows = []
            for r in lines[i + 1:]:
                if not r.strip():  # the table ends at the first blank line
                    break
                rows.append(r.split())
            return rows
    return []


def check_aligned(c: it.Checks, out: str, align: str, what: str) -> None:
    """Asserts the table's column offsets: the header line (first word SELF,
    BEFORE or APP) gives each column's start (left-aligned, 'l') or end
    (right-aligned, 'r'), and every row must have a cell edge exactly there:
    a left cell starts after the two-space separator, a right cell ends
    right before it (or at the end of the line)."""
    lines = out.splitlines()
    hi = next((i for i, l in enumerate(lines) if l.split()[:1] in (["SELF"], ["BEFORE"], ["APP"])), None)
    if not c.check(hi is not None, f"{what}: table header found"):
        return
    header = lines[hi]
    # Columns are at least two spaces apart; a header cell may hold one
    # space ("TOP FUNCTION").
    cols = [(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    if not c.eq(len(cols), len(align), f"{what}: header has {len(align)} columns"):
        return
    rows = []
    for r in lines[hi + 1:]:
        if not r.strip():
            break
        rows.append(r)
    bad = []
    for r in rows:
        for (start, end), a in zip(cols, align):
            if a == "l":
                ok = len(r) > start and r[start] != " " and (start == 0 or r[start - 2:start] == "  ")
            else:
                ok = len(r) >= end and r[end - 1] != " " and r[end:end + 2] in ("", "  ")
            if not ok:
                bad.append((r, start, end, a))
    c.check(bool(rows) and not bad, f"{what}: {len(rows)} rows aligned to the header's columns "
                                    f"({bad[:1]})")
    c.check(not any(l != l.rstrip() for l in [header] + rows if align[-1] == "l"),
            f"{what}: no trailing spaces after the last column")


# --------------------------------------------------------------------------- steps

def step_top(c: it.Checks, srv) -> None:
    p = run(srv, "top", "--app", "cliapp", "--type", "cpu", "--from", str(T_BEFORE - WIN),
            "--until", str(T_BEFORE + WIN))
    c.eq(p.returncode, 0, "top: exit 0")
    rows = table_rows(p.stdout)
    check_aligned(c, p.stdout, "rrrrl", "top: columns")
    c.check(bool(rows) and rows[0][-1] == "com/example/App.hot", "top: hot function first")
    c.check(bool(rows) and rows[0][2] == "70.0%", f"top: hot self 70.0% ({rows[0] if rows else None})")
    c.check(bool(rows) and rows[0][:2] == ["11.7", "min"], "top: 700 s shown as 11.7 min")
    c.check("total 16.7 min" in p.stdout, "top: range total 1000 s = 16.7 min")
    c.check("process_cpu:cpu:nanoseconds:cpu:nanoseconds" in p.stdout, "top: alias cpu resolved")
    handle = [r for r in rows if r[-1] == "com/example/App.handle"]
    c.check(bool(handle) and handle[0][-2] == "100.0%", "top: App.handle total 100%")

    p = run(srv, "top", "--app", "cliapp", "--from", str(T_BEFORE - WIN), "--until",
            str(T_BEFORE + WIN), "--json", "--limit", "2", "--by", "total")
    c.eq(p.returncode, 0, "top --json: exit 0")
    c.check(p.stdout.lstrip().startswith("{") and "SELF%" not in p.stdout,
            "top --json: a JSON document, no table text")
    try:
        j = json.loads(p.stdout)
        c.eq(len(j["functions"]), 2, "top --json: --limit 2")
        c.eq(j["total"], 1000 * 10 ** 9, "top --json: total in ns")
        c.eq(j["unit"], "nanoseconds", "top --json: unit")
        c.check(j["functions"][0]["name"] in ("main", "com/example/App.handle")
                and j["functions"][0]["total_percent"] == 100.0, "top --json --by total: 100% first")
    except (ValueError, KeyError, IndexError) as e:
        c.check(False, f"top --json parses ({e})")

    p = run(srv, "top", "--app", "recapp", "--from", str(T_AFTER - WIN), "--until",
            str(T_AFTER + WIN), "--json", "--by", "total")
    try:
        funcs = {f["name"]: f for f in json.loads(p.stdout)["functions"]}
        rec = funcs["com/example/R.rec"]
        c.eq(rec["total"], 10 * 10 ** 7, "top: recursive rec total counted once (10 samples)")
        c.eq(rec["total_percent"], 100.0, "top: recursive rec total 100%, not 280%")
        c.eq(rec["self"], 2 * 10 ** 7, "top: rec self")
    except (ValueError, KeyError) as e:
        c.check(False, f"top recapp --json ({e})")

    # Aliases find what folded uploads store (no period type for lock).
    p = run(srv, "top", "--app", "lockapp", "--type", "lock", "--from", str(T_AFTER - WIN),
            "--until", str(T_AFTER + WIN))
    rows = table_rows(p.stdout)
    c.check(p.returncode == 0 and bool(rows) and rows[0][-1] == "com/example/Store.update",
            "top --type lock: resolves to the stored mutex delay type")

    p = run(srv, "top", "--app", "nosuchapp", "--from", str(T_AFTER - WIN), "--until",
            str(T_AFTER + WIN))
    c.eq(p.returncode, 1, "top: unknown app -> exit 1")
    c.check("nosuchapp" in p.stderr and "cliapp" in p.stderr, "top: unknown app lists known apps")
    p = run(srv, "top", "--app", "cliapp", "--from", str(T_BEFORE - 7200), "--until",
            str(T_BEFORE - 3600))
    c.eq(p.returncode, 0, "top: empty range of a known app -> exit 0")
    c.check("no samples" in p.stdout, "top: empty range says no samples")


def step_diff(c: it.Checks, srv) -> None:
    p = run(srv, "diff", "--app", "cliapp", "--before", window(T_BEFORE), "--after", window(T_AFTER))
    c.eq(p.returncode, 0, "diff: exit 0")
    rows = table_rows(p.stdout)
    check_aligned(c, p.stdout, "rrrrl", "diff: columns")
    c.check(bool(rows) and rows[0][-1] == "com/example/App.grown", "diff: grown function first")
    c.check(bool(rows) and rows[0][:4] == ["0.0%", "60.0%", "+60.0pp", "new"],
            f"diff: grown 0% -> 60% (+60pp, new) ({rows[0] if rows else None})")
    hot = [r for r in rows if r[-1] == "com/example/App.hot"]
    c.check(bool(hot) and hot[0][:4] == ["70.0%", "30.0%", "-40.0pp", "-57%"], "diff: hot shrank 70% -> 30%")
    cold = [r for r in rows if r[-1] == "com/example/App.cold"]
    c.check(bool(cold) and cold[0][3] == "gone", "diff: cold is gone")

    p = run(srv, "diff", "--app", "cliapp", "--from", str(T_BEFORE - WIN), "--until",
            str(T_BEFORE + WIN), "--from", str(T_AFTER - WIN), "--until", str(T_AFTER + WIN),
            "--per-second", "--json")
    c.eq(p.returncode, 0, "diff --from/--until pairs --per-second --json: exit 0")
    try:
        j = json.loads(p.stdout)
        first = j["functions"][0]
        c.eq(first["name"], "com/example/App.grown", "diff --json: grown first")
        c.eq(j["normalisation"], "per_second", "diff --json: normalisation")
        c.check(abs(first["after"] - 600e9 / (2 * WIN)) < 1, "diff --json: grown 600 s over 600 s = 1 s/s")
        c.check(first["relative"] is None, "diff --json: new function has relative null")
        c.eq(j["before"]["total"], 1000 * 10 ** 9, "diff --json: before total")
    except (ValueError, KeyError, IndexError) as e:
        c.check(False, f"diff --json parses ({e})")

    p = run(srv, "diff", "--app", "cliapp", "--before", window(T_BEFORE))
    c.eq(p.returncode, 2, "diff without --after: usage error")


def step_bottleneck(c: it.Checks, srv) -> None:
    args = ("--from", str(T_AFTER - WIN), "--until", str(T_AFTER + WIN))
    p = run(srv, "bottleneck", *args)
    c.eq(p.returncode, 0, "bottleneck: exit 0")
    rows = {r[0]: r for r in table_rows(p.stdout)}
    check_aligned(c, p.stdout, "llrrrrrl", "bottleneck: columns")
    c.check("CPU-bound" in " ".join(rows.get("cliapp", [])), "bottleneck: cliapp CPU-bound")
    c.check("lock-bound" in " ".join(rows.get("lockapp", [])), "bottleneck: lockapp lock-bound")
    c.check("wait-bound" in " ".join(rows.get("waitapp", [])), "bottleneck: waitapp wait-bound")
    c.check("allocation/GC-bound" in " ".join(rows.get("allocapp", [])),
            "bottleneck: allocapp allocation/GC-bound")

    p = run(srv, "bottleneck", *args, "--json")
    try:
        apps = {a["app"]: a for a in json.loads(p.stdout)["apps"]}
        want = {"cliapp": ("cpu", "com/example/App.grown"),
                "lockapp": ("lock", "com/example/Store.update"),
                "waitapp": ("wait", "com/example/Client.fetch"),
                "allocapp": ("alloc", "java/util/Arrays.copyOf")}
        for app, (verdict, top) in want.items():
            a = apps.get(app, {})
            c.eq(a.get("verdict"), verdict, f"bottleneck --json: {app} verdict")
            c.eq((a.get("top") or {}).get("name"), top, f"bottleneck --json: {app} top function")
        c.check(abs(apps["lockapp"]["scores"]["lock"] - 2.0) < 0.01, "bottleneck: lockapp 2 threads blocked")
        c.check(abs(apps["waitapp"]["scores"]["wait"] - 1.5) < 0.01,
                "bottleneck: waitapp 1.5 threads waiting (idle pool left out)")
        c.check(abs(apps["cliapp"]["scores"]["cpu"] - 1000 / 600) < 0.01, "bottleneck: cliapp cores")
    except (ValueError, KeyError) as e:
        c.check(False, f"bottleneck --json parses ({e})")

    p = run(srv, "bottleneck", *args, "--app", "lockapp")
    rows = table_rows(p.stdout)
    c.check(p.returncode == 0 and len(rows) == 1 and rows[0][0] == "lockapp", "bottleneck --app: one app")


def step_render(c: it.Checks, srv, tmp: str) -> None:
    args = ("--app", "evilapp", "--from", str(T_AFTER - WIN), "--until", str(T_AFTER + WIN))
    html = os.path.join(tmp, "evil.html")
    p = run(srv, "render", *args, "--output", html)
    c.eq(p.returncode, 0, "render html: exit 0")
    page = open(html, encoding="utf-8").read() if os.path.exists(html) else ""
    c.eq(page.count("</script>"), 2, "render html: only the page's own </script> tags")
    c.check("alert(1)</script>" not in page and "<!--" not in page, "render html: no raw breakout")
    c.check("evil\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in page, "render html: name embedded escaped")
    c.check("com/example/Ok.fine" in page, "render html: other names present")
    c.check("http://" not in page and "https://" not in page, "render html: no network references")
    data = page.split('id="pyrite-data">', 1)[-1].split("</script>", 1)[0]
    try:
        d = json.loads(data)
        c.check(EVIL in d["names"], "render html: embedded JSON decodes to the original name")
    except ValueError as e:
        c.check(False, f"render html: embedded JSON parses ({e})")

    txt = os.path.join(tmp, "cliapp.txt")
    p = run(srv, "render", "--app", "cliapp", "--from", str(T_BEFORE - WIN), "--until",
            str(T_BEFORE + WIN), "--output", txt)
    c.eq(p.returncode, 0, "render collapsed: exit 0")
    lines = open(txt).read().splitlines() if os.path.exists(txt) else []
    c.check("main;com/example/App.handle;com/example/App.hot 700000000000" in lines,
            "render collapsed: hot stack with its value")
    c.eq(len(lines), 3, "render collapsed: one line per stack")
    p = run(srv, "render", *args, "--output", "-", "--format", "collapsed")
    c.check(p.returncode == 0 and f"main;{EVIL} 50000000" in p.stdout, "render --output - --format collapsed")


def step_pprof(c: it.Checks, srv, tmp: str) -> None:
    out = os.path.join(tmp, "cliapp.pb.gz")
    p = run(srv, "pprof", "--app", "cliapp", "--from", str(T_BEFORE - WIN), "--until",
            str(T_BEFORE + WIN), "--output", out)
    if p.returncode != 0:
        c.check("does not support pprof export" in p.stderr, "pprof: unsupported server named clearly")
        c.eq(p.returncode, 1, "pprof: unsupported -> exit 1")
        return
    data = open(out, "rb").read()
    c.check(data[:2] == b"\x1f\x8b", "pprof: .gz output is gzip")
    raw = gzip.decompress(data)
    c.check(len(raw) > 0 and b"com/example/App.hot" in raw, "pprof: profile names the hot function")
    go = shutil.which("go")
    # scripts/deps.sh installs golang-go; a missing go is a failure, not a pass.
    if c.check(go is not None, "pprof: go installed for go tool pprof (scripts/deps.sh: golang-go)"):
        g = subprocess.run([go, "tool", "pprof", "-top", out], capture_output=True, text=True, timeout=300)
        c.check(g.returncode == 0 and "com/example/App.hot" in g.stdout,
                f"go tool pprof -top reads it ({g.stderr.strip()[:200]})")


def step_errors(c: it.Checks, srv) -> None:
    # A port nothing listens on.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = run(srv, "top", "--app", "x", server=f"http://127.0.0.1:{port}")
    c.eq(p.returncode, 1, "connection refused: exit 1")
    c.check(len(p.stderr.strip().splitlines()) == 1 and "Connection refused" in p.stderr,
            "connection refused: one line")
    # A server-side 400 shows the server's message.
    p = run(srv, "top", "--app", "cliapp", "--type", "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            "--labels", '{service_name=~"("}')
    c.eq(p.returncode, 1, "HTTP 400: exit 1")
    c.check("HTTP 400" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
            "HTTP 400: one line with the status and the server's message")
    # Usage errors.
    for args, what in [(("top",), "top without --app"), (("top", "--app", "a", "--bogus"), "unknown option"),
                       (("top", "--app", "a", "--type", "nope"), "unknown type"),
                       (("top", "--app", "a", "--limit", "0"), "bad --limit"),
                       (("top", "--app", "a", "--labels", "{x"), "bad --labels"),
                       (("top", "--app", "a", "--from", "now", "--until", "now-1h"), "empty range"),
                       (("render", "--app", "a"), "render without --output")]:
        p = run(srv, *args)
        c.eq(p.returncode, 2, f"usage: {what} -> exit 2")
    for cmd in ("top", "diff", "bottleneck", "render", "pprof"):
        p = subprocess.run([pyrite_path(), cmd, "--help"], capture_output=True, text=True)
        c.check(p.returncode == 0 and p.stdout.startswith("Usage: pyrite " + cmd), f"{cmd} --help")
    p = subprocess.run([pyrite_path(), "top", "--app", "cliapp", "--from", str(T_BEFORE - WIN),
                        "--until", str(T_BEFORE + WIN)],
                       capture_output=True, text=True, env=dict(os.environ, PYRITE_SERVER=f"http://127.0.0.1:{srv.port}/"))
    c.check(p.returncode == 0 and "com/example/App.hot" in p.stdout, "$PYRITE_SERVER is the default --server")


def step_auth(c: it.Checks) -> None:
    srv = it.Server("--multitenancy", "--auth-token", "s3cret", "--read-auth-token", "reader",
                    name="cli-auth").start()
    try:
        ingest(srv, "tenantapp", T_AFTER, "main;com/example/T.work 100\n",
               {"Authorization": "Bearer s3cret", "X-Scope-OrgID": "team-a"})
        args = ("--app", "tenantapp", "--from", str(T_AFTER - WIN), "--until", str(T_AFTER + WIN))
        p = run(srv, "top", *args, "--tenant", "team-a", "--token", "reader")
        c.check(p.returncode == 0 and "com/example/T.work" in p.stdout, "--tenant/--token: data visible")
        p = run(srv, "top", *args, "--tenant", "team-a")
        c.eq(p.returncode, 1, "no token: exit 1")
        c.check("HTTP 401" in p.stderr, "no token: the server's 401 is shown")
        p = run(srv, "top", *args, "--tenant", "team-b", "--token", "reader")
        c.eq(p.returncode, 1, "other tenant: the app is unknown there")
    finally:
        srv.cleanup()


def main() -> int:
    it.require_binaries(pyrite_path())
    c = it.Checks()
    srv = it.Server(name="cli").start()
    tmp = srv.tmp
    try:
        c.run("load data", lambda cc: load(srv))
        c.run("top", step_top, srv)
        c.run("diff", step_diff, srv)
        c.run("bottleneck", step_bottleneck, srv)
        c.run("render", step_render, srv, tmp)
        c.run("pprof", step_pprof, srv, tmp)
        c.run("errors", step_errors, srv)
    finally:
        srv.cleanup()
    c.run("tenants and tokens", step_auth)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
