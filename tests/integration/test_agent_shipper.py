#!/usr/bin/env python3
"""The agent's uploads (issue 4) against a scripted loopback HTTP server.

Cases (HotLoop with upload=1s unless noted; "ShipLoad" is a single-thread counting workload
defined in this file that prints how many fixed work units it did):
  wire        the request the Pyroscope Java agent sends: POST /ingest with name=app{sorted
              labels}, from < until in epoch seconds matching consecutive periods,
              sampleRate=100, spyName, format=jfr; multipart with a `jfr` file part holding
              gzip(JFR); Bearer token, X-Scope-OrgID and extra headers; the token never
              appears in the agent's output.
  down        ShipLoad 6 s, nothing listens on the port, the upload queue shrunk to 2 by the
              test hook PYRITE_TEST_UPLOAD_QUEUE: the queue really drops (queue_dropped > 0);
              exactly one "failed" line; every upload accounted for (sent + exhausted +
              rejected + dropped, one may be in flight); the app's work rate stays within 3x
              of a run without the agent, exit delay within the 2 s budget, the agent's
              threads stay the same set and the JVM's thread count and RSS stay flat
              (generous bounds, see flat_checks).
  slow        ShipLoad 5 s, the server accepts but never answers: same work-rate, thread,
              RSS and exit checks.
  recover     500, 500, then 200: one "failed" line, one "succeed again" line; the first
              period (same from/until, same body) arrives three times, later periods follow;
              nothing rejected or exhausted.
  throttled   429 on every request: retried - more requests than uploads submitted, the
              first period seen more than once, every request counted as a failed attempt,
              nothing rejected - and logged once.
  rejected    400 on every request: not retried (one attempt per upload).
  https_ok    HTTPS to a loopback Python ssl server with a self-signed certificate made by
              `openssl req`, trusted through cacert=: uploads arrive, nothing rejected, no
              warning. Skipped (visibly) when the openssl CLI is missing.
  https_untrusted  the same server without cacert=: exactly one warning line naming the
              certificate problem and cacert; nothing sent; one attempt per upload (failed
              attempts == rejected == TLS connections the server saw), nothing retried.
  proxy       http_proxy=<loopback recorder>, no_proxy empty, server=http://<unresolvable
              name>: the proxy receives the absolute-URI POSTs (the name is never resolved
              locally, so only the proxy path can deliver them) and the agent counts them sent.

Usage: python3 tests/integration/test_agent_shipper.py [filter...]
"""

import gzip
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402

HOT = "pyrite.it.HotLoop"
BUDGET_S = 2.0  # VMDEATH_BUDGET_MS in jvmti/agent.c


class Recorder:
    """A loopback HTTP(S) server whose answers follow a script.

    tls=(certfile, keyfile) serves HTTPS; `connections` counts accepted TCP
    connections, TLS handshakes that fail included."""

    def __init__(self, statuses=None, hang=False, tls=None):
        self.statuses = list(statuses or [])
        self.hang = hang
        self.requests = []
        self.connections = 0
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server naming)
                body = self._body()
                with rec.lock:
                    rec.requests.append({"path": self.path, "headers": dict(self.headers),
                                         "body": body, "t": time.time()})
                    code = rec.statuses.pop(0) if rec.statuses else 200
                if rec.hang:
                    time.sleep(30)
                    return
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def log_message(self, *args):
                pass

        ctx = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                with rec.lock:
                    rec.connections += 1
                if ctx is not None:
                    # A handshake the client rejects raises ssl.SSLError (an
                    # OSError), which socketserver treats as "no request".
                    try:
                        sock = ctx.wrap_socket(sock, server_side=True)
                    except OSError:
                        sock.close()
                        raise
                return sock, addr

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self):
        return f"https://127.0.0.1:{self.port}"

    def froms(self):
        with self.lock:
            return [int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r["path"]).query))
                        .get("from", -1)) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port_without_listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_multipart(headers, body):
    ctype = headers.get("Content-Type", "")
    boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
    parts = {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        disp = [ln for ln in head.decode().split("\r\n") if ln.lower().startswith("content-disposition")]
        params = dict(p.strip().split("=", 1) for p in disp[0].split(";")[1:]) if disp else {}
        name = params.get("name", "").strip('"')
        parts[name] = {"filename": params.get("filename", "").strip('"'), "data": data[:-2]}
    return parts


def down_lines(res):
    return [ln for ln in res.pyrite_lines() if "] warn: upload to " in ln and " failed: " in ln]


def recovery_lines(res):
    return [ln for ln in res.pyrite_lines() if "] warn: uploads to " in ln and "succeed again" in ln]


def hotloop(jdk, opts, seconds, ck, timeout=60):
    res = it.run_java(jdk, HOT, ["--seconds", str(seconds)], agent=opts, timeout=timeout)
    ck.require(res.ok, "app exits 0", f"wall {res.wall_s:.2f}s", res.describe())
    stats = it.parse_stats(res.stderr) or {}
    return res, stats


def wire_case(jdk):
    def run(ck):
        srv = Recorder()
        try:
            opts = {"server": srv.url, "app": "shop", "label.zone": "b", "label.env": "test",
                    "upload": "1s", "log": "info", "authtoken": "s3cr3t-token", "tenant": "team-a",
                    "header.X-Extra": "yes"}
            res, stats = hotloop(jdk, opts, 4, ck)
            reqs = srv.requests
            ck.require(len(reqs) >= 3, "at least 3 uploads in 4 s with upload=1s", f"{len(reqs)}")
            ck.check(stats.get("uploads_sent") == len(reqs), "agent counts what the server got",
                     f"sent={stats.get('uploads_sent')} server={len(reqs)}")
            prev_until = None
            for i, r in enumerate(reqs):
                u = urllib.parse.urlsplit(r["path"])
                q = dict(urllib.parse.parse_qsl(u.query))
                ck.check(u.path == "/ingest", f"#{i} path /ingest", u.path)
                ck.check(q.get("name") == "shop{env=test,zone=b}", f"#{i} name with sorted labels",
                         q.get("name", ""))
                ck.check(q.get("format") == "jfr" and q.get("spyName") == "javaspy"
                         and q.get("sampleRate") == "100", f"#{i} format/spyName/sampleRate", str(q))
                frm, until = int(q["from"]), int(q["until"])
                ck.check(frm < until and until - frm <= 3 and abs(until - r["t"]) < 5,
                         f"#{i} from < until, near now", f"{frm}..{until}")
                if prev_until is not None:
                    ck.check(frm in (prev_until - 1, prev_until, prev_until + 1),
                             f"#{i} periods are consecutive", f"prev until {prev_until}, from {frm}")
                prev_until = until
                h = r["headers"]
                ck.check(h.get("Authorization") == "Bearer s3cr3t-token", f"#{i} bearer token")
                ck.check(h.get("X-Scope-OrgID") == "team-a", f"#{i} tenant header")
                ck.check(h.get("X-Extra") == "yes", f"#{i} extra header")
                parts = parse_multipart(h, r["body"])
                jfr = parts.get("jfr")
                ck.require(jfr is not None, f"#{i} has a jfr part", str(list(parts)))
                ck.check(jfr["filename"] != "", f"#{i} jfr part has a filename", jfr["filename"])
                ck.check(jfr["data"][:2] == b"\x1f\x8b", f"#{i} jfr part is gzip")
                raw = gzip.decompress(jfr["data"])
                ck.check(raw[:4] == b"FLR\x00", f"#{i} gunzips to a JFR chunk", f"{len(raw)} bytes")
            ck.check("s3cr3t-token" not in res.stderr and "s3cr3t-token" not in res.stdout,
                     "the token is never printed")
            ck.measure("upload bytes (gzip) per 1 s period",
                       sorted(len(parse_multipart(r["headers"], r["body"])["jfr"]["data"]) for r in reqs))
        finally:
            srv.close()
    return run


# ------------------------------------------------------------- ShipLoad runs

SHIPLOAD_SRC = """
public final class ShipLoad {
    public static void main(String[] args) {
        long end = System.nanoTime() + (long) (Double.parseDouble(args[0]) * 1e9);
        long ops = 0, x = 1;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 20_000; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
                x ^= x >>> 29;
            }
            ops++;
        }
        System.out.println("shipload: ops=" + ops + " x=" + x);
    }
}
"""
_shipload_dir = []

# Generous bounds: they catch a shipper that stalls the app, leaks a thread
# per retry or buffers every upload, not a few percent of noise on a shared VM.
MIN_RATE_RATIO = 1 / 3     # app work rate with the agent vs without
MAX_THREAD_DRIFT = 4       # JVM threads: max - min after warm-up
MAX_RSS_GROWTH_KB = 64 * 1024
WARMUP_S = 1.5


def shipload_classes():
    if not _shipload_dir:
        out = it.make_tempdir("pyrite-it-shipload-")
        src = os.path.join(out, "ShipLoad.java")
        with open(src, "w") as f:
            f.write(SHIPLOAD_SRC)
        p = subprocess.run([it.javac_jdk().tool("javac"), "--release", "17", "-d", out, src],
                           capture_output=True, text=True, timeout=120, env=it.clean_env())
        if p.returncode != 0:
            raise RuntimeError(f"javac ShipLoad failed:\n{p.stdout}{p.stderr}")
        _shipload_dir.append(out)
    return _shipload_dir[0]


def proc_sample(pid):
    """(JVM threads, RSS kB, names of the agent's threads) or None once gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
        names = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                continue
            if name.startswith("pyrite"):
                names.append(name)
        return int(st["Threads"]), int(st["VmRSS"].split()[0]), sorted(names)
    except (OSError, KeyError, ValueError):
        return None


class ShipRun:
    def __init__(self, rc, out, err, wall_s, samples, timed_out, seconds):
        self.rc, self.stdout, self.stderr, self.wall_s = rc, out, err, wall_s
        self.seconds = seconds
        self.samples, self.timed_out = samples, timed_out  # [(t, threads, rss_kb, names)]
        m = [ln for ln in out.splitlines() if ln.startswith("shipload: ops=")]
        self.ops = int(m[-1].split()[1].split("=")[1]) if m else None

    @property
    def ok(self):
        return self.rc == 0 and not self.timed_out and self.ops is not None

    def pyrite_lines(self):
        return it.pyrite_lines(self.stderr)

    def after_warmup(self):
        """Samples while the workload surely runs: it starts after the JVM
        (t > 0 here) and ends `seconds` later, so t < seconds is inside it;
        the exit phase, where threads wind down, is left out."""
        return [x for x in self.samples if WARMUP_S <= x[0] < self.seconds]

    def describe(self):
        return (f"rc={self.rc} timed_out={self.timed_out} wall={self.wall_s:.2f}s ops={self.ops}\n"
                f"  stderr: {it.indent_tail(self.stderr)}")


def run_shipload(jdk, seconds, opts=None, env=None):
    cmd = [jdk.java, "-Xshare:auto"] + ([it.agent_arg(opts)] if opts is not None else [])
    cmd += ["-cp", shipload_classes(), "ShipLoad", str(seconds)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", env=it.clean_env(env), start_new_session=True)
    samples, result = [], {}

    def reader():
        result["out"], result["err"] = p.communicate()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    timed_out = False
    while t.is_alive():
        x = proc_sample(p.pid)
        if x:
            samples.append((time.monotonic() - t0,) + x)
        t.join(0.25)
        if time.monotonic() - t0 > seconds + 60:
            timed_out = True
            os.killpg(p.pid, 9)
            t.join()
    return ShipRun(p.returncode, result.get("out", ""), result.get("err", ""),
                   time.monotonic() - t0, samples, timed_out, seconds)


_baselines = {}


def shipload_baseline(jdk, seconds):
    key = (jdk.label, seconds)
    if key not in _baselines:
        _baselines[key] = run_shipload(jdk, seconds)
    return _baselines[key]


def flat_checks(ck, res, base):
    """The app is unaffected: work rate, exit, threads and memory."""
    ck.require(base.ok, "baseline run without the agent works", base.describe())
    ck.require(res.ok, "the app exits 0 with its output", res.describe())
    ratio = res.ops / max(1, base.ops)
    ck.check(ratio >= MIN_RATE_RATIO, f"work rate within {1 / MIN_RATE_RATIO:.0f}x of no agent",
             f"ops {res.ops} vs {base.ops} without the agent (ratio {ratio:.2f})")
    delay = res.wall_s - base.wall_s
    ck.check(delay < BUDGET_S + 1.0, "exit delay within the budget", f"{delay:+.2f}s vs no agent")
    late = res.after_warmup()
    ck.require(len(late) >= 4, "enough /proc samples after warm-up", str(len(late)))
    threads = [x[1] for x in late]
    ck.check(max(threads) - min(threads) <= MAX_THREAD_DRIFT, "JVM thread count flat",
             f"{min(threads)}..{max(threads)} after {WARMUP_S}s")
    base_late = base.after_warmup() or base.samples
    base_max = max(x[1] for x in base_late) if base_late else 0
    ck.check(max(threads) <= base_max + 4, "at most a few more threads than without the agent",
             f"max {max(threads)} vs {base_max} without the agent")
    agent_sets = {tuple(x[3]) for x in late}
    ck.check(len(agent_sets) == 1, "the agent's threads are the same set throughout",
             "; ".join(",".join(a) for a in sorted(agent_sets)))
    rss = [x[2] for x in late]
    ck.check(max(rss) - rss[0] < MAX_RSS_GROWTH_KB, "RSS flat",
             f"{rss[0] // 1024}..{max(rss) // 1024} MB after {WARMUP_S}s")
    ck.measure("JVM threads / agent threads / RSS MB (after warm-up)",
               f"{min(threads)}..{max(threads)} / {sorted(agent_sets)[0] if agent_sets else ()} / "
               f"{min(rss) // 1024}..{max(rss) // 1024}")


def down_case(jdk):
    def run(ck):
        port = free_port_without_listener()
        base = shipload_baseline(jdk, 6)
        res = run_shipload(jdk, 6, {"server": f"http://127.0.0.1:{port}", "upload": "1s",
                                    "log": "info"}, env={"PYRITE_TEST_UPLOAD_QUEUE": "2"})
        flat_checks(ck, res, base)
        stats = it.parse_stats(res.stderr) or {}
        failed = down_lines(res)
        ck.check(len(failed) == 1, "exactly one 'failed' line", "\n".join(failed))
        ck.check(not recovery_lines(res), "no recovery line")
        sub = stats.get("uploads_submitted", 0)
        accounted = sum(stats.get(k, 0) for k in ("uploads_sent", "uploads_exhausted",
                                                    "uploads_rejected", "uploads_queue_dropped"))
        ck.check(sub >= 5 and sub - accounted in (0, 1), "every upload accounted for",
                 f"submitted={sub} accounted={accounted} (one may be in flight at exit)")
        ck.check(stats.get("uploads_sent", 0) == 0, "nothing sent")
        ck.check(stats.get("uploads_queue_dropped", 0) > 0, "the full queue dropped uploads",
                 f"dropped={stats.get('uploads_queue_dropped')} submitted={sub} (queue of 2)")
    return run


def slow_case(jdk):
    def run(ck):
        srv = Recorder(hang=True)
        try:
            base = shipload_baseline(jdk, 5)
            res = run_shipload(jdk, 5, {"server": srv.url, "upload": "1s", "log": "info"})
            flat_checks(ck, res, base)
            ck.check(len(srv.requests) >= 1, "the server saw the request", f"{len(srv.requests)}")
        finally:
            srv.close()
    return run


def recover_case(jdk):
    def run(ck):
        srv = Recorder(statuses=[500, 500])
        try:
            res, stats = hotloop(jdk, {"server": srv.url, "upload": "1s", "log": "info"}, 6, ck)
            ck.check(len(down_lines(res)) == 1, "one 'failed' line", "\n".join(res.pyrite_lines()))
            ck.check(len(recovery_lines(res)) == 1, "one recovery line")
            ck.check(stats.get("uploads_sent", 0) >= 3, "uploads resumed",
                     f"sent={stats.get('uploads_sent')} requests={len(srv.requests)}")
            ck.check(stats.get("upload_failed_attempts") == 2, "two failed attempts counted",
                     str(stats.get("upload_failed_attempts")))
            ck.check(stats.get("uploads_rejected", -1) == 0 and stats.get("uploads_exhausted", -1) == 0,
                     "nothing rejected or exhausted",
                     f"rejected={stats.get('uploads_rejected')} exhausted={stats.get('uploads_exhausted')}")
            froms = srv.froms()
            ck.require(len(froms) >= 4, "at least 4 requests", str(froms))
            ck.check(froms[0] == froms[1] == froms[2],
                     "the first period was retried after each 500 (same from, three times)", str(froms))
            bodies = [r["body"] for r in srv.requests[:3]]
            same = all(parse_multipart(r["headers"], r["body"])["jfr"]["data"]
                       == parse_multipart(srv.requests[0]["headers"], bodies[0])["jfr"]["data"]
                       for r in srv.requests[:3])
            ck.check(same, "the retries carry the same JFR")
            ck.check(all(b > a for a, b in zip(froms[2:], froms[3:])),
                     "later periods follow in order, each once", str(froms))
        finally:
            srv.close()
    return run


def throttled_case(jdk):
    def run(ck):
        srv = Recorder(statuses=[429] * 1000)
        try:
            res, stats = hotloop(jdk, {"server": srv.url, "upload": "1s", "log": "info"}, 4, ck)
            froms = srv.froms()
            sub = stats.get("uploads_submitted", 0)
            ck.check(len(froms) > sub >= 2, "429 is retried: more requests than uploads",
                     f"requests={len(froms)} submitted={sub}")
            ck.check(len(froms) >= 2 and froms.count(froms[0]) >= 2,
                     "the first period was sent more than once", str(froms))
            ck.check(stats.get("upload_failed_attempts") == len(froms),
                     "every 429 counted as a failed attempt",
                     f"attempts={stats.get('upload_failed_attempts')} requests={len(froms)}")
            ck.check(stats.get("uploads_rejected", -1) == 0, "429 never rejects an upload",
                     str(stats.get("uploads_rejected")))
            ck.check(len(down_lines(res)) == 1, "logged once", "\n".join(down_lines(res)))
        finally:
            srv.close()
    return run


def rejected_case(jdk):
    def run(ck):
        srv = Recorder(statuses=[400] * 1000)
        try:
            res, stats = hotloop(jdk, {"server": srv.url, "upload": "1s", "log": "info"}, 3, ck)
            ck.check(stats.get("uploads_rejected", 0) >= 2, "400 drops the upload",
                     str(stats.get("uploads_rejected")))
            ck.check(len(srv.requests) == stats.get("uploads_rejected"), "no retries on 400",
                     f"requests={len(srv.requests)} rejected={stats.get('uploads_rejected')}")
        finally:
            srv.close()
    return run


# ------------------------------------------------------------------ HTTPS, proxy

_certs = {}


def self_signed_cert():
    """(cert.pem, key.pem) for CN=localhost, SAN IP:127.0.0.1, or None without openssl."""
    if "pair" not in _certs:
        openssl = shutil.which("openssl")
        pair = None
        if openssl:
            d = it.make_tempdir("pyrite-it-tls-")
            cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            p = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                               capture_output=True, text=True, timeout=60)
            if p.returncode == 0:
                pair = (cert, key)
            else:
                it.log(f"  openssl req failed: {p.stderr.strip()}")
        _certs["pair"] = pair
    return _certs["pair"]


def https_ok_case(jdk):
    def run(ck):
        pair = self_signed_cert()
        # scripts/deps.sh installs openssl: without it this is a failure, not a skip.
        ck.require(pair is not None, "a self-signed certificate (openssl req)")
        srv = Recorder(tls=pair)
        try:
            res, stats = hotloop(jdk, {"server": srv.https_url, "upload": "1s", "log": "info",
                                       "cacert": pair[0]}, 3, ck)
            ck.check(len(srv.requests) >= 2 and stats.get("uploads_sent") == len(srv.requests),
                     "uploads arrive over HTTPS",
                     f"server={len(srv.requests)} sent={stats.get('uploads_sent')}")
            ck.check(stats.get("uploads_rejected", -1) == 0 and stats.get("upload_failed_attempts", -1) == 0,
                     "nothing rejected or failed", str({k: v for k, v in stats.items() if "upload" in k}))
            ck.check(not [ln for ln in res.pyrite_lines() if " warn: " in ln or " error: " in ln],
                     "no warning", "\n".join(res.pyrite_lines()))
            if srv.requests:
                parts = parse_multipart(srv.requests[0]["headers"], srv.requests[0]["body"])
                ck.check("jfr" in parts and gzip.decompress(parts["jfr"]["data"])[:4] == b"FLR\x00",
                         "the HTTPS upload carries the gzipped JFR")
        finally:
            srv.close()
    return run


def https_untrusted_case(jdk):
    def run(ck):
        pair = self_signed_cert()
        # scripts/deps.sh installs openssl: without it this is a failure, not a skip.
        ck.require(pair is not None, "a self-signed certificate (openssl req)")
        srv = Recorder(tls=pair)
        try:
            res, stats = hotloop(jdk, {"server": srv.https_url, "upload": "1s", "log": "info"}, 3, ck)
            warns = [ln for ln in res.pyrite_lines() if " warn: " in ln or " error: " in ln]
            ck.check(len(warns) == 1, "exactly one warning line", "\n".join(warns))
            ck.check(len(warns) == 1 and "certificate" in warns[0] and "cacert" in warns[0],
                     "it names the certificate problem and cacert=", warns[0] if warns else "")
            ck.check(stats.get("uploads_sent", -1) == 0 and not srv.requests, "nothing sent")
            rej, att = stats.get("uploads_rejected", 0), stats.get("upload_failed_attempts", -1)
            ck.check(rej >= 2 and att == rej and stats.get("uploads_exhausted", -1) == 0,
                     "one attempt per upload, dropped and counted, never retried",
                     f"rejected={rej} attempts={att} exhausted={stats.get('uploads_exhausted')}")
            ck.check(srv.connections == att, "the server saw one TLS connection per upload",
                     f"connections={srv.connections} attempts={att}")
        finally:
            srv.close()
    return run


def proxy_case(jdk):
    def run(ck):
        proxy = Recorder()
        upstream = "http://pyrite-upstream.invalid:4040"
        try:
            env = {"http_proxy": proxy.url, "no_proxy": "", "NO_PROXY": ""}
            res = it.run_java(jdk, HOT, ["--seconds", "3"], timeout=60, env=env,
                              agent={"server": upstream, "app": "viaproxy", "upload": "1s",
                                     "log": "info"})
            ck.require(res.ok, "app exits 0", res.describe())
            stats = it.parse_stats(res.stderr) or {}
            paths = [r["path"] for r in proxy.requests]
            ck.check(len(paths) >= 2 and all(p.startswith(upstream + "/ingest?") for p in paths),
                     "the proxy got absolute-URI POSTs for the upstream server", "\n".join(paths[:3]))
            ck.check(all(r["headers"].get("Host") == "pyrite-upstream.invalid:4040"
                         for r in proxy.requests), "Host header names the upstream")
            ck.check(stats.get("uploads_sent") == len(paths), "the agent counts them sent",
                     f"sent={stats.get('uploads_sent')} proxy={len(paths)}")
        finally:
            proxy.close()
    return run


def main():
    it.require_agent()
    jdks = it.find_jdks()
    cases = []
    for jdk in jdks:
        cases.append((f"wire.{jdk.label}", wire_case(jdk)))
    jdk = jdks[0]
    cases += [(f"down.{jdk.label}", down_case(jdk)), (f"slow.{jdk.label}", slow_case(jdk)),
              (f"recover.{jdk.label}", recover_case(jdk)),
              (f"throttled.{jdk.label}", throttled_case(jdk)),
              (f"rejected.{jdk.label}", rejected_case(jdk)),
              (f"https_ok.{jdk.label}", https_ok_case(jdk)),
              (f"https_untrusted.{jdk.label}", https_untrusted_case(jdk)),
              (f"proxy.{jdk.label}", proxy_case(jdk))]
    it.main(cases)


if __name__ == "__main__":
    main()
