#!/usr/bin/env python3
"""The agent's uploads (issue 4) against a scripted loopback HTTP server.

Cases (HotLoop with upload=1s unless noted):
  wire        the request the Pyroscope Java agent sends: POST /ingest with name=app{sorted
              labels}, from < until in epoch seconds matching consecutive periods,
              sampleRate=100, spyName, format=jfr; multipart with a `jfr` file part holding
              gzip(JFR); Bearer token, X-Scope-OrgID and extra headers; the token never
              appears in the agent's output.
  down        nothing listens on the port: the app runs and exits like without the agent
              (exit delay within the 2 s budget), exactly one "failed" line, no spam; every
              upload is accounted for (sent + exhausted + rejected + dropped + in flight).
  slow        the server accepts but never answers: the app still exits within the budget.
  recover     500, 500, then 200: one "failed" line, one "succeed again" line, data arrives.
  throttled   429 on every request: retried (failed attempts > uploads), never logged twice.
  rejected    400 on every request: not retried (one attempt per upload).

Usage: python3 tests/integration/test_agent_shipper.py [filter...]
"""

import gzip
import http.server
import os
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402

HOT = "pyrite.it.HotLoop"
BUDGET_S = 2.0  # VMDEATH_BUDGET_MS in jvmti/agent.c


class Recorder:
    """A loopback HTTP server whose answers follow a script."""

    def __init__(self, statuses=None, hang=False):
        self.statuses = list(statuses or [])
        self.hang = hang
        self.requests = []
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

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

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


def baseline_wall(jdk, seconds):
    res = it.run_java(jdk, HOT, ["--seconds", str(seconds)], agent=None)
    return res.wall_s


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


def down_case(jdk):
    def run(ck):
        port = free_port_without_listener()
        base = baseline_wall(jdk, 4)
        res, stats = hotloop(jdk, {"server": f"http://127.0.0.1:{port}", "upload": "1s",
                                   "log": "info"}, 4, ck)
        delay = res.wall_s - base
        ck.check(delay < BUDGET_S + 1.0, "exit delay within the budget", f"{delay:+.2f}s vs no agent")
        failed = down_lines(res)
        ck.check(len(failed) == 1, "exactly one 'failed' line", "\n".join(failed))
        ck.check(not recovery_lines(res), "no recovery line")
        sub = stats.get("uploads_submitted", 0)
        accounted = sum(stats.get(k, 0) for k in ("uploads_sent", "uploads_exhausted",
                                                    "uploads_rejected", "uploads_queue_dropped"))
        ck.check(sub >= 4 and sub - accounted in (0, 1), "every upload accounted for",
                 f"submitted={sub} accounted={accounted} (one may be in flight at exit)")
        ck.check(stats.get("uploads_sent", 0) == 0, "nothing sent")
    return run


def slow_case(jdk):
    def run(ck):
        srv = Recorder(hang=True)
        try:
            base = baseline_wall(jdk, 3)
            res, stats = hotloop(jdk, {"server": srv.url, "upload": "1s", "log": "info"}, 3, ck)
            delay = res.wall_s - base
            ck.check(delay < BUDGET_S + 1.0, "exit delay within the budget with a hung server",
                     f"{delay:+.2f}s vs no agent")
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
        finally:
            srv.close()
    return run


def throttled_case(jdk):
    def run(ck):
        srv = Recorder(statuses=[429] * 1000)
        try:
            res, stats = hotloop(jdk, {"server": srv.url, "upload": "1s", "log": "info"}, 4, ck)
            ck.check(stats.get("upload_failed_attempts", 0) >= 2, "429 is retried",
                     f"attempts={stats.get('upload_failed_attempts')} "
                     f"submitted={stats.get('uploads_submitted')}")
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
              (f"rejected.{jdk.label}", rejected_case(jdk))]
    it.main(cases)


if __name__ == "__main__":
    main()
