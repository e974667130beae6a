# ctest-labels: sanitize
"""Fault tests of a real pyrited: kill -9, disk full, slow clients, damaged files.

Each part runs its own pyrited (``--listen 127.0.0.1:0``, temporary data
directory) and checks what a client or an operator would see:

1. kill9: 4 client threads upload without pause; the server is SIGKILLed
   at a random moment, restarted on the same data directory, and that for
   KILL_CYCLES cycles (alternating --durability full/normal).  Every upload
   that got HTTP 200 must be in the query answer with both of its stacks
   and their exact values; an upload that was in flight may be there too,
   but only whole (no upload shows one stack without the other).
2. diskfull: writes to the data directory fail with ENOSPC, through the
   LD_PRELOAD shim tests/fault/enospc_shim.c (always), and through a real
   full 16 MiB tmpfs (only when running as root and mount works).  Ingest
   must answer 507 with a JSON error, /ready stays 200 but says degraded,
   the metrics count it, queries still return the old data unchanged, and
   ingest recovers by itself once space returns.
3. slowloris: connections from another loopback address (127.0.0.2)
   dribble headers and bodies byte by byte, oversized bodies are sent with
   Content-Length and chunked; meanwhile /ready and an upload from
   127.0.0.1 must succeed.  Checks the per-address connection limit, the
   idle timeout (a stalled connection is closed), 413 for both kinds of
   oversized bodies, and that the server's memory does not grow with them.
4. corrupt: damaged pyrite.db (truncated, garbage header, broken b-tree
   pages, missing with a WAL) and pyrite.db-wal (garbage header, a bad
   frame before committed ones) make pyrited exit non-zero with a message
   naming the file, without modifying it; a torn WAL tail (a crash) is
   accepted.  A profile block with a corrupt zstd frame makes the query
   touching it fail with a clear error while other queries still work.

Budget: ~20-30 s on the shared 2-core VM (measured 20.9 s at load ~35).  Exit 77 (skip) when pyrited or
the shim is not built.  PYRITE_FAULT_SEED sets the random seed,
PYRITE_FAULT_PARTS (e.g. "kill9,corrupt") selects parts.
"""

import hashlib
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_it as it  # noqa: E402

KILL_CYCLES = 6
CLIENTS = 4
CPU_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
# Upload i has from = BASE_T + i (seconds): recent, so that the default
# 7-day retention (swept at every start) keeps it.
BASE_T = int(time.time()) - 3 * 86400


def shim_path():
    return os.path.join(it.BUILD_DIR, "tests", "libenospc_shim.so")


# ----------------------------------------------------------------- helpers

def upload_body(uid):
    """Two stacks unique to upload uid; values 3 and 4 (x 1e7 ns at 100 Hz)."""
    return f"root;u{uid};a{uid} 3\nroot;u{uid};b{uid} 4\n".encode()


def upload(port, app, uid, timeout=30.0):
    path = (f"/ingest?name={app}&format=folded&from={BASE_T + uid}"
            f"&until={BASE_T + uid + 10}")
    st, _, body = it.request(port, "POST", path, upload_body(uid), timeout=timeout)
    return st, body


def collapsed(port, app, timeout=60.0):
    q = urllib.parse.quote(f'{CPU_TYPE}{{service_name="{app}"}}')
    st, _, body = it.request(
        port, "GET", f"/pyroscope/render?query={q}&format=collapsed"
        f"&from={BASE_T - 10}&until={BASE_T + 10_000_000}", timeout=timeout)
    return st, body


def parse_uploads(text):
    """collapsed text -> {uid: {"a": v, "b": v}}."""
    out = {}
    for line in text.decode().splitlines():
        stack, _, v = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) != 3 or frames[0] != "root" or not frames[1].startswith("u"):
            continue
        uid = int(frames[1][1:])
        out.setdefault(uid, {})[frames[2][0]] = int(v)
    return out


def verify_uploads(c, port, apps_ids, what):
    """Every acked id is stored whole; any stored id is whole."""
    total_acked = total_found = 0
    for app, acked in apps_ids.items():
        st, body = collapsed(port, app)
        if not c.check(st == 200, f"{what}: query {app} -> {st}"):
            continue
        got = parse_uploads(body)
        missing = [u for u in acked if u not in got]
        partial = [u for u, v in got.items()
                   if set(v) != {"a", "b"} or v["a"] <= 0 or v["a"] * 4 != v["b"] * 3]
        c.check(not missing, f"{what}: {app}: {len(acked)} acknowledged uploads all stored"
                + (f" (missing {missing[:10]})" if missing else ""))
        c.check(not partial, f"{what}: {app}: no partial upload among {len(got)} stored"
                + (f" (partial {partial[:10]})" if partial else ""))
        total_acked += len(acked)
        total_found += len(got)
    return total_acked, total_found


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sha(path):
    """Content hash; None for a missing or empty file (SQLite may create and
    delete an empty WAL on open and close: no data changes)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_expect_fail(data_dir, timeout=30):
    """Starts pyrited on data_dir; returns (exit code, output) or (None, out)."""
    proc = subprocess.Popen([it.pyrited_path(), "--listen", "127.0.0.1:0",
                             "--data-dir", data_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return None, out.decode(errors="replace")


# ------------------------------------------------------------ 1. kill -9

def part_kill9(c, rng):
    srv = it.Server(name="faults-kill9")
    apps = [f"kc{i}" for i in range(CLIENTS)]
    acked = {a: [] for a in apps}
    next_id = [1]
    lock = threading.Lock()
    kills = 0
    try:
        for cycle in range(KILL_CYCLES):
            srv.args = ["--durability", "normal"] if cycle % 2 else []
            srv.start()
            stop = threading.Event()
            attempts = [0]

            def client(app):
                while not stop.is_set():
                    with lock:
                        uid = next_id[0]
                        next_id[0] += 1
                        attempts[0] += 1
                    try:
                        st, _ = upload(srv.port, app, uid, timeout=10)
                    except OSError:
                        return  # the server was killed under us
                    if st == 200:
                        with lock:
                            acked[app].append(uid)

            threads = [threading.Thread(target=client, args=(a,)) for a in apps]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.8, 2.0))
            before = sum(len(v) for v in acked.values())
            srv.kill9()
            kills += 1
            stop.set()
            for t in threads:
                t.join(30)
            it.log(f"  cycle {cycle}: killed after {before} acknowledged so far "
                   f"({attempts[0]} attempts this cycle)")
        # Restart once more: recovery of the last kill, then verify.
        srv.args = []
        srv.start()
        c.check(srv.get("/ready")[0] == 200, "kill9: restarted server is ready")
        st, _ = upload(srv.port, "kc-after", 900_000)
        c.check(st == 200, f"kill9: upload after the last restart -> {st}")
        n_acked, n_found = verify_uploads(c, srv.port, acked, "kill9")
        c.check(n_acked >= 50, f"kill9: enough uploads acknowledged to mean something ({n_acked})")
        it.log(f"  RESULT kill9: {kills} kill -9 cycles, {n_acked} uploads acknowledged, "
               f"all verified; {n_found} stored (in-flight extras: {n_found - n_acked})")
        c.eq(srv.stop(), 0, "kill9: clean stop after verification")
    finally:
        srv.cleanup()


# ----------------------------------------------------------- 2. disk full

def diskfull_scenario(c, srv, make_full, make_space, label):
    """srv is started; make_full()/make_space() toggle the fault."""
    base_ids = list(range(1, 21))
    base_codes = [upload(srv.port, "df", uid)[0] for uid in base_ids]
    c.eq(base_codes, [200] * len(base_ids), f"{label}: baseline uploads")
    st, before = collapsed(srv.port, "df")
    c.check(st == 200 and len(parse_uploads(before)) == len(base_ids),
            f"{label}: baseline stored ({len(parse_uploads(before))} uploads)")

    make_full()
    codes = []
    bodies = []
    for i in range(40):
        st, body = upload(srv.port, "df", 1000 + i)
        codes.append(st)  # tmpfs: a few 200s may still fit in the last pages
        bodies.append(body)
    n507 = codes.count(507)
    other = [s for s in codes if s not in (200, 507)]
    c.check(n507 > 0 and not other, f"{label}: uploads while full -> 507 "
            f"({n507} x 507, {codes.count(200)} x 200 before full, others {other})")
    if label.endswith("shim"):
        c.eq(codes.count(200), 0, f"{label}: no upload acknowledged while writes fail")
    if n507:
        err = it.json_error(bodies[codes.index(507)])
        c.check(err["code"] == "resource_exhausted" and "storage full" in err["message"],
                f"{label}: 507 body is a JSON error: {err}")
    acked_full = [1000 + i for i, s in enumerate(codes) if s == 200]
    st, _, body = srv.get("/ready")
    c.check(st == 200 and b"degraded" in body and b"full" in body,
            f"{label}: /ready while full -> {st} {body.strip()[:80]!r}")
    m = srv.metrics()
    c.eq(m.get("pyrited_store_disk_full"), 1.0, f"{label}: pyrited_store_disk_full while full")
    c.check(m.get("pyrited_store_disk_full_errors_total", 0) >= 1,
            f"{label}: disk_full_errors_total = {m.get('pyrited_store_disk_full_errors_total')}")
    c.eq(m.get('pyrited_requests_total{path="/ingest",code="507"}'), float(n507),
         f"{label}: 507s counted in pyrited_requests_total")
    st, during = collapsed(srv.port, "df")
    got = parse_uploads(during)
    c.check(st == 200 and all(got.get(u) == v for u, v in parse_uploads(before).items()),
            f"{label}: queries while full return the old data unchanged")

    make_space()
    deadline = time.time() + 15
    while time.time() < deadline and srv.metrics().get("pyrited_store_disk_full") != 0.0:
        time.sleep(0.2)
    c.eq(srv.metrics().get("pyrited_store_disk_full"), 0.0,
         f"{label}: disk_full gauge clears by itself once space returns")
    recovered = [upload(srv.port, "df", 5000 + i)[0] for i in range(5)]
    c.eq(recovered, [200] * 5, f"{label}: ingest recovered")
    st, _, body = srv.get("/ready")
    c.check(st == 200 and body == b"ready", f"{label}: /ready back to plain ready")
    c.eq(srv.stop(), 0, f"{label}: clean stop")
    srv.start()
    got = parse_uploads(collapsed(srv.port, "df")[1])
    want = base_ids + acked_full + [5000 + i for i in range(5)]
    c.check(all(u in got for u in want) and
            all(set(v) == {"a", "b"} for v in got.values()),
            f"{label}: after restart all {len(want)} acknowledged uploads stored, none partial")
    it.log(f"  RESULT {label}: {len(base_ids)} before, {n507} x 507 while full, "
           f"{len(acked_full)} acknowledged while filling, 5 after; {len(got)} stored")
    c.eq(srv.stop(), 0, f"{label}: clean stop after restart")


def part_diskfull(c, rng):
    del rng
    # Always: the LD_PRELOAD shim.
    srv = it.Server(name="faults-full")
    ctl = os.path.join(srv.tmp, "full")
    asan = os.environ.get("ASAN_OPTIONS")
    # An ASan build insists on its runtime coming first; the shim only
    # wraps libc calls, so the order does not matter here.
    os.environ.update(PYRITE_FAULT_ENOSPC_FILE=ctl, PYRITE_FAULT_DIR=srv.data_dir,
                      LD_PRELOAD=shim_path(),
                      ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
    try:
        srv.start()
    finally:
        for k in ("PYRITE_FAULT_ENOSPC_FILE", "PYRITE_FAULT_DIR", "LD_PRELOAD"):
            os.environ.pop(k, None)
        if asan is None:
            os.environ.pop("ASAN_OPTIONS", None)
        else:
            os.environ["ASAN_OPTIONS"] = asan
    try:
        diskfull_scenario(c, srv, lambda: open(ctl, "w").close(), lambda: os.unlink(ctl),
                          "diskfull-shim")
    finally:
        srv.cleanup()

    # Root only: a real full file system (a 16 MiB tmpfs).
    if os.geteuid() != 0:
        it.log("  (tmpfs variant skipped: not root)")
        return
    mnt = tempfile.mkdtemp(prefix="pyrite-fault-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt],
                       capture_output=True)
    if r.returncode != 0:
        it.log(f"  (tmpfs variant skipped: mount failed: {r.stderr.decode().strip()})")
        os.rmdir(mnt)
        return
    srv = it.Server(name="faults-tmpfs", data_dir=os.path.join(mnt, "data"))
    filler = os.path.join(mnt, "filler")
    try:
        srv.start()

        def fill():
            # Leave a few pages: the next commits hit ENOSPC for real.
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            with open(filler, "r+b") as f:
                f.truncate(max(0, os.path.getsize(filler) - 16384))

        diskfull_scenario(c, srv, fill, lambda: os.unlink(filler), "diskfull-tmpfs")
    finally:
        srv.cleanup()
        subprocess.run(["umount", mnt], capture_output=True)
        os.rmdir(mnt)


# ----------------------------------------------------------- 3. slowloris

def attacker_socket(port, src="127.0.0.2"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def closed_by_server(s, wait):
    """True if the peer closes s (EOF or reset) within wait seconds."""
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def part_slowloris(c, rng):
    del rng
    timeout_s = 3
    per_ip = 32
    srv = it.Server("--connection-timeout", f"{timeout_s}s", "--max-connections-per-ip",
                    str(per_ip), "--max-body-bytes", "1m", name="faults-slow")
    socks = []
    stop = threading.Event()
    try:
        srv.start()
        pid = srv.proc.pid
        rss0 = rss_kb(pid)
        # (a) Many connections from 127.0.0.2 dribbling headers and bodies.
        n_conn = 3 * per_ip
        for i in range(n_conn):
            try:
                s = attacker_socket(srv.port)
            except OSError:
                continue
            if i % 2:
                s.send(b"POST /ingest?name=slow&format=folded HTTP/1.1\r\nHost: localhost\r\n"
                       b"Content-Length: 100000\r\n\r\n")
            else:
                s.send(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            socks.append(s)

        def drip():
            while not stop.is_set():
                for s in list(socks):
                    try:
                        s.send(b"a")
                    except OSError:
                        socks.remove(s)
                stop.wait(1.0)

        dripper = threading.Thread(target=drip)
        dripper.start()
        time.sleep(1.5)
        alive = len(socks)
        c.check(alive <= per_ip + 2, f"slowloris: {n_conn} attack connections, "
                f"{alive} still open after the per-address limit ({per_ip})")
        # Other clients are served meanwhile.
        t0 = time.time()
        st_ready = srv.get("/ready")[0]
        st_up, _ = upload(srv.port, "legit", 1)
        c.check(st_ready == 200 and st_up == 200,
                f"slowloris: /ready {st_ready} and an upload {st_up} during the attack "
                f"({time.time() - t0:.2f} s)")
        stop.set()
        dripper.join()

        # (b) Stalled connections (headers or body half sent) are closed
        #     after the idle timeout.
        stalled = []
        for req in (b"GET /ready HTTP/1.1\r\nHost: localhost\r\n",
                    b"POST /ingest?name=x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\n\r\nab"):
            s = attacker_socket(srv.port, "127.0.0.3")
            s.send(req)
            stalled.append(s)
        closed = [closed_by_server(s, timeout_s + 10) for s in stalled]
        c.eq(closed, [True, True], f"slowloris: stalled connections closed after the "
             f"{timeout_s} s idle timeout")
        for s in stalled:
            s.close()

        # (c) Oversized bodies: Content-Length and chunked, both 413.
        big = b"x" * (3 << 20)
        st, _, body = srv.request("POST", "/ingest?name=big&format=folded", big)
        c.check(st == 413 and it.json_error(body)["code"] == "resource_exhausted",
                f"slowloris: Content-Length body over --max-body-bytes -> {st}")
        st, _, body = srv.request("POST", "/ingest?name=big&format=folded", big,
                                  chunked=True, chunk_size=65536)
        c.check(st == 413, f"slowloris: chunked body over --max-body-bytes -> {st}")
        # A client that waits for 100-continue gets the 413 before sending.
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"POST /ingest?name=big&format=folded HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(big))
        status = s.recv(64).split(b"\r\n")[0]
        s.close()
        c.check(status.startswith(b"HTTP/1.1 413"),
                f"slowloris: Content-Length with Expect: 100-continue -> {status!r}")
        # Memory: 12 concurrent oversized chunked bodies (36 MiB sent).
        results = []

        def send_big():
            try:
                results.append(srv.request("POST", "/ingest?name=big&format=folded", big,
                                           chunked=True, chunk_size=65536)[0])
            except OSError as e:
                results.append(str(e))

        ts = [threading.Thread(target=send_big) for _ in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        rss1 = rss_kb(pid)
        c.eq(results, [413] * 12, "slowloris: 12 concurrent oversized chunked bodies -> 413")
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        sanitized = "libasan" in maps or "libtsan" in maps
        limit_mb = 256 if sanitized else 48  # sanitizers keep freed memory in quarantine
        c.check(rss1 - rss0 < limit_mb * 1024,
                f"slowloris: server RSS {rss0} -> {rss1} KiB while refusing "
                f"{12 * len(big) >> 20} MiB of bodies (< {limit_mb} MiB growth)")
        c.check(srv.get("/ready")[0] == 200 and upload(srv.port, "legit", 2)[0] == 200,
                "slowloris: server still serves after the attack")
        it.log(f"  RESULT slowloris: {n_conn} attack connections -> {alive} held; "
               f"stalled closed {closed}; RSS {rss0} -> {rss1} KiB")
        c.eq(srv.stop(), 0, "slowloris: clean stop")
    finally:
        stop.set()
        for s in socks:
            s.close()
        srv.cleanup()


# -------------------------------------------------------------- 4. corrupt

def part_corrupt(c, rng):
    work = tempfile.mkdtemp(prefix="pyrite-it-faults-corrupt-")
    try:
        _part_corrupt(c, rng, work)
    finally:
        if os.environ.get("PYRITE_IT_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


def copy_store(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def expect_refused(c, data_dir, what, name="pyrite.db"):
    files = {f: sha(os.path.join(data_dir, f)) for f in ("pyrite.db", "pyrite.db-wal")}
    rc, out = run_expect_fail(data_dir)
    path = os.path.join(data_dir, name)
    c.check(rc not in (None, 0), f"corrupt: {what}: pyrited exits non-zero (rc {rc})")
    c.check(path in out and "damaged" in out or "missing or empty" in out,
            f"corrupt: {what}: message names {name}: {out.strip().splitlines()[-1][:160]!r}")
    after = {f: sha(os.path.join(data_dir, f)) for f in ("pyrite.db", "pyrite.db-wal")}
    c.eq(after, files, f"corrupt: {what}: files left unmodified")


def _part_corrupt(c, rng, work):
    # A store with a few hundred uploads, cleanly closed (no WAL left).
    srv = it.Server(name="faults-corrupt", data_dir=os.path.join(work, "clean"))
    try:
        srv.start()
        for uid in range(1, 301):
            upload(srv.port, "cc", uid)
        # A bigger upload whose block is zstd-compressed (for part e).
        big = "".join(f"root;deep{j % 7};leaf{j} {j % 5 + 1}\n" for j in range(400)).encode()
        st, _, _ = srv.request("POST", f"/ingest?name=zz&format=folded&from={BASE_T}"
                               f"&until={BASE_T + 10}", big)
        c.eq(st, 200, "corrupt: setup upload with a compressed block")
        c.eq(srv.stop(), 0, "corrupt: setup store closed")
    finally:
        if srv.proc is not None:
            srv.kill9()
    clean = srv.data_dir
    db = lambda d: os.path.join(d, "pyrite.db")  # noqa: E731
    size = os.path.getsize(db(clean))
    with open(db(clean), "rb") as f:
        pgsz = int.from_bytes(f.read(18)[16:18], "big") or 65536

    # a. truncated (page-aligned: header says more pages; not aligned).
    d = copy_store(clean, os.path.join(work, "trunc"))
    os.truncate(db(d), (size // pgsz // 2) * pgsz)
    expect_refused(c, d, "database truncated to half")
    d = copy_store(clean, os.path.join(work, "trunc2"))
    os.truncate(db(d), size - 100)
    expect_refused(c, d, "database truncated mid-page")
    # b. garbage header.
    d = copy_store(clean, os.path.join(work, "garbage"))
    with open(db(d), "r+b") as f:
        f.write(bytes(rng.getrandbits(8) for _ in range(100)))
    expect_refused(c, d, "database header overwritten with garbage")
    # c. broken b-tree pages (page headers of pages 2.. flipped).
    d = copy_store(clean, os.path.join(work, "bitflip"))
    with open(db(d), "r+b") as f:
        for pg in range(1, size // pgsz):
            f.seek(pg * pgsz)
            b = f.read(1)
            f.seek(pg * pgsz)
            f.write(bytes([b[0] ^ 0x5a]))
    expect_refused(c, d, "b-tree page headers bit-flipped")
    # d. WAL damage: a store killed with commits still in its WAL.
    walsrv = it.Server(name="faults-wal", data_dir=os.path.join(work, "walsrc"))
    try:
        walsrv.start()
        wal_acked = [u for u in range(1, 101) if upload(walsrv.port, "ww", u)[0] == 200]
        walsrv.kill9()
    finally:
        walsrv.cleanup()
    src = walsrv.data_dir
    wal = lambda d: os.path.join(d, "pyrite.db-wal")  # noqa: E731
    if not c.check(os.path.exists(wal(src)) and os.path.getsize(wal(src)) > 32,
                   "corrupt: killed store has a WAL with frames"):
        return
    with open(wal(src), "rb") as f:
        wpg = int.from_bytes(f.read(12)[8:12], "big")
    frame = 24 + wpg
    nframes = (os.path.getsize(wal(src)) - 32) // frame
    d = copy_store(src, os.path.join(work, "walflip"))
    with open(wal(d), "r+b") as f:  # a bit in the first frame's page data
        f.seek(32 + 24 + 100)
        b = f.read(1)
        f.seek(32 + 24 + 100)
        f.write(bytes([b[0] ^ 0x01]))
    expect_refused(c, d, f"WAL frame 1 of {nframes} bit-flipped", "pyrite.db-wal")
    d = copy_store(src, os.path.join(work, "walgarbage"))
    with open(wal(d), "r+b") as f:
        f.write(bytes(rng.getrandbits(8) for _ in range(32)))
    expect_refused(c, d, "WAL header overwritten with garbage", "pyrite.db-wal")
    d = copy_store(src, os.path.join(work, "dbgone"))
    os.unlink(db(d))
    expect_refused(c, d, "database missing next to a WAL with frames")
    # A torn tail (a crash in the middle of the last frame) is normal.
    d = copy_store(src, os.path.join(work, "waltorn"))
    os.truncate(wal(d), os.path.getsize(wal(d)) - wpg // 2)
    s2 = it.Server(name="faults-torn", data_dir=d)
    try:
        s2.start()
        got = parse_uploads(collapsed(s2.port, "ww")[1])
        # The cut may only remove the last transaction (one upload).
        c.check(len([u for u in wal_acked if u not in got]) <= 1,
                f"corrupt: torn WAL tail accepted ({len(got)} of {len(wal_acked)} uploads)")
        c.eq(s2.stop(), 0, "corrupt: torn WAL tail: clean stop")
    finally:
        s2.cleanup()
    # The untouched killed store recovers everything (kill -9 again).
    s3 = it.Server(name="faults-walok", data_dir=copy_store(src, os.path.join(work, "walok")))
    try:
        s3.start()
        verify_uploads(c, s3.port, {"ww": wal_acked}, "corrupt: killed store, intact WAL")
        s3.stop()
    finally:
        s3.cleanup()

    # e. a block whose zstd frame is corrupt: the query touching it fails
    #    with a clear error, other queries and ingest still work.
    d = copy_store(clean, os.path.join(work, "zstd"))
    con = sqlite3.connect(db(d))
    sid = [r[0] for r in con.execute("SELECT id, labels FROM series")
           if b"service_name\0zz\0" in r[1]]
    row = con.execute("SELECT id, blob FROM profiles WHERE series = ?", (sid[0],)).fetchone()
    blob = bytearray(row[1])
    blob[len(blob) - 6] ^= 0xff
    con.execute("UPDATE profiles SET blob = ? WHERE id = ?", (bytes(blob), row[0]))
    con.commit()
    con.close()
    s4 = it.Server(name="faults-zstd", data_dir=d)
    try:
        s4.start()
        st, body = collapsed(s4.port, "zz")
        err = it.json_error(body) if st >= 400 else {"message": body[:80]}
        c.check(st == 500 and "corrupt" in err["message"],
                f"corrupt: query over the damaged block -> {st} {err['message'][:100]!r}")
        st, body = collapsed(s4.port, "cc")
        c.check(st == 200 and len(parse_uploads(body)) == 300,
                f"corrupt: other series still answer ({len(parse_uploads(body))} uploads)")
        c.eq(upload(s4.port, "zz", 777)[0], 200, "corrupt: ingest into the damaged series works")
        c.check(s4.metrics().get("pyrited_store_corrupt_reads_total", 0) >= 1,
                "corrupt: pyrited_store_corrupt_reads_total counts it")
        c.check("damaged data" in s4.log_tail(50), "corrupt: the log names the damaged block")
        c.eq(s4.stop(), 0, "corrupt: clean stop")
    finally:
        s4.cleanup()


def main():
    it.require_binaries(shim_path())
    seed = int(os.environ.get("PYRITE_FAULT_SEED", str(int(time.time()))))
    it.log(f"seed {seed}")
    rng = random.Random(seed)
    parts = {"kill9": part_kill9, "diskfull": part_diskfull, "slowloris": part_slowloris,
             "corrupt": part_corrupt}
    want = os.environ.get("PYRITE_FAULT_PARTS", ",".join(parts)).split(",")
    c = it.Checks()
    for name in want:
        t0 = time.time()
        c.run(name, parts[name], rng)
        it.log(f"  ({name}: {time.time() - t0:.1f} s)")
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
