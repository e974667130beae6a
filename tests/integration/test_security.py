#!/usr/bin/env python3
"""Security review checks (issue 8; docs/security.md cites each case).

Cases (each needs only loopback, temp dirs and, for the agent cases, JDK 17):

* agent.data: a JVM whose command-line arguments, system properties,
  environment and method arguments / local variables carry unique secret
  strings runs with the agent (file= and server= to a real pyrited with
  --auth-token and --multitenancy, log=debug).  None of the secrets may
  appear in the JFR file (raw, and gunzipped if compressed), in what the
  server stored (store_dump) or returns (every query API), in the agent's
  stderr or the server's log; the auth token must not be logged either.
  Positive controls show the scans work: a thread name carrying a marker
  and the workload's class name do appear (sent by design).
* agent.wire: the same JVM uploads to a capturing HTTP endpoint with HTTP
  Basic credentials (PYROSCOPE_BASIC_AUTH_* variables): the whole request
  (URL, headers, every multipart part, gunzipped) is scanned; the password
  appears only in the Authorization header and never on stderr at
  log=debug.
* auth: pyrited with --auth-token, --read-auth-token, --basic-auth and
  --multitenancy: every ingest and query route answers 401 (JSON error +
  WWW-Authenticate) without or with wrong credentials, 403 for a read-only
  token on ingest, 401 without X-Scope-OrgID; which routes are public.
* tenants: two tenants ingest; through every query route (render,
  render-diff, label names/values, each Connect method incl. the pprof
  export) tenant "evil" never sees tenant "acme"'s apps, labels or frames,
  also not by case games (ACME) or multi-tenant syntax (acme|evil, 401).
* bind: `pyrited --help` names 127.0.0.1:4040 as the default, and a
  server started without --listen (in a private network namespace, so
  port 4040 is free) listens on 127.0.0.1 only.
* ui: frame names, label values and app names containing HTML/JS are
  stored and returned as data: JSON APIs answer application/json and the
  names come back verbatim inside JSON strings; the UI page and scripts
  carry CSP (no inline script, trusted types), nosniff and frame denial,
  and the served scripts use no HTML-string sinks; no CORS headers.
  JSON APIs send nosniff; a cross-origin POST /ingest and a foreign Host
  (DNS rebinding) get 403, the server's own origin and loopback names 200.
* limits: every configurable input limit, exceeded, gives the documented
  4xx with a JSON {"code","message"} body.  The label limits fail today
  (500 "out of memory", docs/security.md finding 7) until server/ingest.c
  is fixed.

Budget: about 15-30 s (three short JVM runs, a few server starts).
"""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import zlib
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

JSON_CT = {"Content-Type": "application/json"}
QUERIER = "/querier.v1.QuerierService/"
CONNECT_METHODS = ["ProfileTypes", "LabelNames", "LabelValues", "Series", "SelectMergeStacktraces",
                   "SelectMergeProfile", "SelectSeries", "Diff", "GetProfileStats"]


def tok(what: str) -> str:
    """A unique, greppable secret."""
    return f"{what}{uuid.uuid4().hex[:16]}"


def q(params: Dict[str, str]) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def inflate_all(data: bytes) -> bytes:
    """data plus every gzip/zlib stream found in it, decompressed (so a scan
    sees through compressed parts wherever they start)."""
    out = [data]
    for m in re.finditer(rb"\x1f\x8b\x08", data):
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out.append(d.decompress(data[m.start():], 256 << 20))
        except zlib.error:
            pass
    return b"\n".join(out)


def found(blob: bytes, secret: str) -> bool:
    """ASCII/UTF-8 bytes, UTF-16 (JFR char arrays) or URL-encoded forms."""
    s = secret.encode()
    forms = [s, secret.encode("utf-16-le"), secret.encode("utf-16-be"),
             urllib.parse.quote(secret).encode()]
    return any(f in blob for f in forms)


# --------------------------------------------------------------------------- workload

SECRET_APP = r"""
package sec;

/* Carries secrets in every place a program keeps them; the agent must send
 * none of them.  args: ARG_SECRET, reversed LOCAL_SECRET, THREAD_MARK, ms. */
public class SecretApp {
    static volatile long sink;

    public static void main(String[] a) throws Exception {
        String password = a[0];
        String prop = System.getProperty("sec.prop");
        String env = System.getenv("SEC_ENV");
        // The local's value exists only in the heap: argv holds it reversed.
        String local = new StringBuilder(a[1]).reverse().toString();
        long ms = Long.parseLong(a[3]);
        Thread t = new Thread(() -> {
            long end = System.nanoTime() + ms * 1_000_000L;
            while (System.nanoTime() < end) sink += checkPassword(password, local, prop + env);
        }, "sec-worker-" + a[2]);
        t.start();
        t.join();
        System.out.println("done " + (sink & 1));
    }

    static long checkPassword(String password, String localSecret, String other) {
        long h = 0;
        for (int i = 0; i < 20000; i++) {
            h = h * 31 + password.charAt(i % password.length()) + localSecret.charAt(i % localSecret.length())
                + other.charAt(i % other.length());
            byte[] b = new byte[128]; // allocation samples
            h += b.length;
        }
        return h;
    }
}
"""

_classes: Optional[str] = None


def secret_app() -> str:
    global _classes
    if _classes is None:
        d = it.make_tempdir("pyrite-sec-cls-")
        src = os.path.join(d, "sec")
        os.makedirs(src)
        with open(os.path.join(src, "SecretApp.java"), "w") as f:
            f.write(SECRET_APP)
        out = os.path.join(d, "classes")
        p = subprocess.run([it.javac_jdk().tool("javac"), "--release", "17", "-g", "-d", out,
                            os.path.join(src, "SecretApp.java")], capture_output=True, text=True,
                           timeout=120, env=it.clean_env())
        if p.returncode != 0:
            raise RuntimeError(f"javac: {p.stderr}")
        _classes = out
    return _classes


def jdk17() -> it.Jdk:
    for j in it.find_jdks():
        if j.home.rstrip("/") == it.JDK17_HOME:
            return j
    return it.find_jdks()[0]


class Secrets:
    def __init__(self) -> None:
        self.arg = tok("ArgPassw0rd")
        self.local = tok("LocalVal")
        self.prop = tok("SysPropVal")
        self.env = tok("EnvVarVal")
        self.jvmarg = tok("JvmArgVal")   # a -D flag that nobody reads
        self.thread = tok("ThreadMark")  # goes into a thread name: sent by design

    def hidden(self) -> Dict[str, str]:
        return {"argument": self.arg, "local variable": self.local, "system property": self.prop,
                "environment variable": self.env, "JVM flag": self.jvmarg}

    def run(self, agent: Dict[str, str], env: Dict[str, str], ms: int = 2500) -> it.RunResult:
        env = dict(env)
        env["SEC_ENV"] = self.env
        return it.run_java(jdk17(), "sec.SecretApp",
                           [self.arg, self.local[::-1], self.thread, str(ms)],
                           agent=agent, classpath=secret_app(), env=env,
                           jvm_args=[f"-Dsec.prop={self.prop}", f"-Dsec.unused={self.jvmarg}"],
                           timeout=60)


def scan(ck: it.Checks, where: str, blob: bytes, secrets: Dict[str, str]) -> None:
    leaked = [name for name, s in secrets.items() if found(blob, s)]
    ck.check(not leaked, f"{where}: no secret leaks", f"{len(blob)} bytes scanned"
             + (f"; LEAKED: {', '.join(leaked)}" if leaked else ""))


def query_everything(srv: sit.Server, hdrs: Dict[str, str]) -> Tuple[bytes, List[str]]:
    """Everything the query API returns for the tenant in hdrs (all types,
    all series, all label values, flame graphs and pprof of every type),
    concatenated, and the profile type ids."""
    out = bytearray()
    h = dict(hdrs, **JSON_CT)

    def cpost(m: str, obj) -> dict:
        st, _, body = srv.post(QUERIER + m, json.dumps(obj).encode(), h)
        out.extend(body)
        return json.loads(body) if st == 200 else {}

    types = [t["ID"] for t in cpost("ProfileTypes", {}).get("profileTypes", [])]
    names = cpost("LabelNames", {}).get("names", [])
    for n in names:
        cpost("LabelValues", {"name": n})
        st, _, body = srv.get(f"/pyroscope/label-values?{q({'label': n})}", hdrs)
        out.extend(body)
    st, _, body = srv.get("/pyroscope/label-names", hdrs)
    out.extend(body)
    cpost("Series", {"matchers": ["{}"]})
    cpost("GetProfileStats", {})
    for t in types:
        sel = "{}"
        for m in ("SelectMergeStacktraces", "SelectMergeProfile"):
            cpost(m, {"profileTypeID": t, "labelSelector": sel})
        cpost("SelectSeries", {"profileTypeID": t, "labelSelector": sel, "step": 60, "groupBy": names})
        st, _, body = srv.get(f"/pyroscope/render?{q({'query': t + sel, 'from': '0', 'until': 'now'})}", hdrs)
        out.extend(body)
    return bytes(out), types


# --------------------------------------------------------------------------- agent cases

def case_agent_data(ck: it.Checks) -> None:
    s = Secrets()
    token = tok("AuthTok")
    srv = sit.Server("--auth-token", token, "--multitenancy", name="sec-agent").start()
    tmp = it.make_tempdir("pyrite-sec-")
    jfr = os.path.join(tmp, "out.jfr")
    try:
        opts = {"server": f"http://127.0.0.1:{srv.port}", "app": "secapp", "authtoken": token,
                "tenant": "tenant-a", "file": jfr, "upload": "1s", "alloc": "64k", "wall": "20ms",
                "log": "debug", "label.team": "sec"}
        res = s.run(opts, {})
        ck.require(res.ok, "SecretApp with the agent exits 0", f"{res.wall_s:.1f}s", res.describe())
        stats = it.parse_stats(res.stderr) or {}
        ck.check(stats.get("uploads_sent", 0) >= 1 and stats.get("uploads_rejected", 1) == 0,
                 "uploads accepted by pyrited with auth and tenant",
                 f"sent={stats.get('uploads_sent')} rejected={stats.get('uploads_rejected')}")
        secrets = dict(s.hidden(), **{"auth token": token})
        # 1. the JFR file
        with open(jfr, "rb") as f:
            raw = f.read()
        blob = inflate_all(raw)
        ck.check(found(blob, "sec/SecretApp") or found(blob, "sec.SecretApp"),
                 "control: the JFR names the workload's class (scan works)")
        ck.check(found(blob, s.thread), "control: the JFR holds the thread name (sent by design)")
        ck.check(found(blob, "checkPassword"), "control: the JFR holds method names (sent by design)")
        scan(ck, "JFR file", blob, secrets)
        events = set(re.findall(rb"jdk\.[A-Za-z]+", raw))
        allowed = {b"jdk.ExecutionSample", b"jdk.ObjectAllocationInNewTLAB", b"jdk.ObjectAllocationOutsideTLAB",
                   b"jdk.JavaMonitorEnter", b"jdk.ThreadPark", b"jdk.ActiveSetting", b"jdk.types",
                   b"jdk.jfr", b"jdk.WallClockSample"}
        ck.check(not {e for e in events if not any(e.startswith(a) for a in allowed)},
                 "JFR declares only sample events + settings (no jdk.JVMInformation, "
                 "InitialSystemProperty, InitialEnvironmentVariable, OSInformation...)",
                 ", ".join(sorted(e.decode() for e in events)))
        for bad in (b"JVMInformation", b"InitialSystemProperty", b"InitialEnvironmentVariable",
                    b"OSInformation", b"CPUInformation", b"jvmArguments"):
            ck.check(bad not in raw, f"JFR has no {bad.decode()}")
        # 2. the agent's stderr at log=debug
        err = res.stderr.encode()
        scan(ck, "agent stderr (log=debug)", err, secrets)
        ck.check(b"debug" in err.lower() or len(res.pyrite_lines()) > 0,
                 "control: the agent did log at debug", f"{len(res.pyrite_lines())} [pyrite] lines")
        # 3. what the server returns to the tenant
        hdrs = {"Authorization": f"Bearer {token}", "X-Scope-OrgID": "tenant-a"}
        answers, types = query_everything(srv, hdrs)
        ck.check(b"secapp" in answers and found(answers, "checkPassword"),
                 "control: queries return the app and its frames", f"{len(types)} profile types")
        scan(ck, "query answers", answers, s.hidden())
        thread_in_answers = found(answers, s.thread)
        ck.measure("thread name visible through the query API", thread_in_answers)
    finally:
        srv.stop()
        with open(srv.log_path, "rb") as f:
            scan(ck, "pyrited log", f.read(), {"auth token": token})
    try:
        dumped = json.dumps(sit.store_dump(srv.data_dir, tenants=("tenant-a",), lines=True)).encode()
        ck.check(b"secapp" in dumped, "control: store_dump shows the stored app")
        scan(ck, "stored profiles (store_dump)", dumped, secrets)
    finally:
        srv.cleanup()


class Capture(http.server.BaseHTTPRequestHandler):
    requests: List[Tuple[str, Dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers.get("Content-Length", "0") or 0)
        if n:
            body = self.rfile.read(n)
        else:  # chunked
            body = bytearray()
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
            body = bytes(body)
        Capture.requests.append((self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a) -> None:  # silence
        pass


def case_agent_wire(ck: it.Checks) -> None:
    s = Secrets()
    user, password = "agentuser", tok("BasicPw")
    Capture.requests = []
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Capture)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    try:
        opts = {"server": f"http://127.0.0.1:{httpd.server_address[1]}", "app": "wireapp",
                "upload": "1s", "alloc": "64k", "log": "debug"}
        res = s.run(opts, {"PYROSCOPE_BASIC_AUTH_USER": user, "PYROSCOPE_BASIC_AUTH_PASSWORD": password},
                    ms=2000)
        ck.require(res.ok, "SecretApp with the agent exits 0", f"{res.wall_s:.1f}s", res.describe())
    finally:
        httpd.shutdown()
        httpd.server_close()
    reqs = list(Capture.requests)
    ck.require(len(reqs) >= 1, "the agent uploaded", f"{len(reqs)} requests")
    cred = base64.b64encode(f"{user}:{password}".encode()).decode()
    with_frames = 0  # the last upload (at exit) may hold no sample of the hot method
    for i, (path, hdrs, body) in enumerate(reqs):
        auth = {k.lower(): v for k, v in hdrs.items()}.get("authorization", "")
        ck.check(auth == f"Basic {cred}", f"upload {i}: Basic credentials in the Authorization header")
        rest = path.encode() + b"\n" + "\n".join(f"{k}: {v}" for k, v in hdrs.items()
                                                 if k.lower() != "authorization").encode()
        rest += b"\n" + inflate_all(body)
        scan(ck, f"upload {i} (URL, other headers, body gunzipped)", rest,
             dict(s.hidden(), **{"basic password": password, "basic credential": cred}))
        with_frames += found(rest, "checkPassword")
        if i == 0:
            ck.measure("thread name in the upload (by design)", found(rest, s.thread))
        if i == 0:
            qs = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
            ck.measure("upload query parameters", sorted(qs))
            ck.measure("upload headers", sorted(k.lower() for k in hdrs))
    ck.check(with_frames >= 1, "control: the uploads hold frame names (scan works)",
             f"{with_frames} of {len(reqs)} uploads")
    scan(ck, "agent stderr (log=debug)", res.stderr.encode(),
         {"basic password": password, "basic credential": cred})
    # Known, low: a server= value the agent rejects is quoted whole in the
    # error line, URL userinfo included (docs/security.md section 2).
    pw = tok("UrlPw")
    bad = it.run_cmd([jdk17().java, it.agent_arg({"server": f"htp://u:{pw}@127.0.0.1:1"}), "-version"], timeout=60)
    ck.measure("rejected server= URL echoes its userinfo on stderr", pw in bad.stderr)


# --------------------------------------------------------------------------- auth and tenants

def all_routes(ptype: str, sel: str) -> List[Tuple[str, str, bytes, Dict[str, str], str]]:
    """(method, path, body, headers, kind) for every route of server/http.c;
    kind is 'ingest' or 'query'."""
    now = int(time.time())
    rq = {"profileTypeID": ptype, "labelSelector": sel, "start": (now - 3600) * 1000, "end": (now + 60) * 1000}
    connect_bodies = {
        "ProfileTypes": {}, "LabelNames": {}, "LabelValues": {"name": "service_name"},
        "Series": {"matchers": [sel]}, "SelectMergeStacktraces": rq, "SelectMergeProfile": rq,
        "SelectSeries": dict(rq, step=60), "Diff": {"left": rq, "right": rq}, "GetProfileStats": {},
    }
    routes = [
        ("POST", "/ingest?name=authprobe&format=folded", b"a;b 1", {}, "ingest"),
        ("POST", "/pyroscope/ingest?name=authprobe&format=folded", b"a;b 1", {}, "ingest"),
        ("POST", "/push.v1.PusherService/Push", b"{}", JSON_CT, "ingest"),
        ("GET", f"/pyroscope/render?{q({'query': ptype + sel, 'from': 'now-1h', 'until': 'now'})}", b"", {}, "query"),
        ("GET", "/pyroscope/render-diff?" + q({"leftQuery": ptype + sel, "leftFrom": "now-1h", "leftUntil": "now",
                                               "rightQuery": ptype + sel, "rightFrom": "now-1h",
                                               "rightUntil": "now"}), b"", {}, "query"),
        ("GET", "/pyroscope/label-values?label=service_name", b"", {}, "query"),
        ("GET", "/pyroscope/label-names", b"", {}, "query"),
    ]
    for m in CONNECT_METHODS:
        routes.append(("POST", QUERIER + m, json.dumps(connect_bodies[m]).encode(), JSON_CT, "query"))
    return routes


def call(srv: sit.Server, method: str, path: str, body: bytes, hdrs: Dict[str, str]):
    return srv.request(method, path, body if method == "POST" else None, hdrs)


def is_json_error(body: bytes) -> bool:
    try:
        sit.json_error(body)
        return True
    except Exception:  # noqa: BLE001
        return False


def case_auth(ck: it.Checks) -> None:
    rw, ro = tok("rw"), tok("ro")
    srv = sit.Server("--auth-token", rw, "--read-auth-token", ro, "--basic-auth", "alice:wonder",
                     "--multitenancy", name="sec-auth").start()
    try:
        org = {"X-Scope-OrgID": "acme"}
        bad_creds = {
            "no credentials": {},
            "wrong bearer": {"Authorization": "Bearer " + rw[:-1] + "x"},
            "bearer prefix of the token": {"Authorization": "Bearer " + rw[:-2]},
            "token as basic": {"Authorization": "Basic " + base64.b64encode(rw.encode()).decode()},
            "wrong basic password": {"Authorization": "Basic " + base64.b64encode(b"alice:wonde").decode()},
            "unknown scheme": {"Authorization": "Token " + rw},
        }
        for method, path, body, extra, kind in all_routes("process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                                                          '{service_name="acme-app"}'):
            short = path.split("?")[0]
            for what, cred in bad_creds.items():
                st, hdrs, rb = call(srv, method, path, body, dict(extra, **org, **cred))
                ck.check(st == 401 and "www-authenticate" in hdrs and is_json_error(rb),
                         f"{method} {short}: {what} -> 401 JSON + WWW-Authenticate", f"got {st}")
            st, _, rb = call(srv, method, path, body, dict(extra, **org, Authorization=f"Bearer {ro}"))
            want = 403 if kind == "ingest" else 200
            ck.check(st == want and (want == 200 or is_json_error(rb)),
                     f"{method} {short}: read-only token -> {want}", f"got {st} {rb[:120]!r}")
            st, _, rb = call(srv, method, path, body, dict(extra, Authorization=f"Bearer {rw}"))
            ck.check(st == 401 and is_json_error(rb), f"{method} {short}: no X-Scope-OrgID -> 401", f"got {st}")
            st, _, rb = call(srv, method, path, body, dict(extra, **org, Authorization=f"Bearer {rw}"))
            ck.check(st in (200, 400) and st != 401, f"{method} {short}: valid token accepted", f"got {st}")
            basic = "Basic " + base64.b64encode(b"alice:wonder").decode()
            st, _, rb = call(srv, method, path, body, dict(extra, **org, Authorization=basic))
            ck.check(st in (200, 400), f"{method} {short}: valid basic accepted", f"got {st}")
        # Public routes: no data behind them (documented in docs/security.md).
        for path in ("/ready", "/", "/metrics"):
            st, _, body = srv.get(path)
            ck.check(st == 200, f"GET {path} is public (no credentials needed)", f"got {st}")
        st, _, body = srv.get("/metrics")
        # pyrited /metrics carries route/status counters, no tenant or app names.
        ck.check(b"acme" not in body and b"authprobe" not in body, "/metrics names no tenant and no app")
        # The server never echoes a credential back.
        st, _, body = srv.get("/pyroscope/label-names", {"Authorization": "Bearer " + rw + "zz", **org})
        ck.check(rw.encode() not in body, "401 body does not echo the presented token")
    finally:
        srv.stop()
        with open(srv.log_path, "rb") as f:
            log = f.read()
        ck.check(rw.encode() not in log and ro.encode() not in log and b"wonder" not in log,
                 "server log holds no credential")
        srv.cleanup()


def folded_ingest(srv: sit.Server, tenant: str, name: str, body: str, hdrs: Dict[str, str]) -> int:
    now = int(time.time())
    path = f"/ingest?{q({'name': name, 'format': 'folded', 'from': str(now - 20), 'until': str(now - 10)})}"
    st, _, rb = srv.post(path, body.encode(), dict(hdrs, **{"X-Scope-OrgID": tenant}))
    if st != 200:
        it.log(f"    ingest {name} as {tenant}: {st} {rb[:200]!r}")
    return st


def case_tenants(ck: it.Checks) -> None:
    token = tok("tenanttok")
    srv = sit.Server("--auth-token", token, "--multitenancy", name="sec-tenants").start()
    auth = {"Authorization": f"Bearer {token}"}
    try:
        ck.require(folded_ingest(srv, "acme", "acme-app.cpu{acme_only=acmevalue}",
                                 "main;acmeSecretFrame;acmeLeaf 100\nmain;acmeOther 50\n", auth) == 200,
                   "tenant acme ingests")
        ck.require(folded_ingest(srv, "evil", "evil-app.cpu{team=evil}", "main;evilFrame 10\n", auth) == 200,
                   "tenant evil ingests")
        acme, types = query_everything(srv, dict(auth, **{"X-Scope-OrgID": "acme"}))
        ck.require(b"acme-app" in acme and b"acmeSecretFrame" in acme and b"acmevalue" in acme,
                   "control: acme sees its own app, frames and labels", f"types {types}")
        for tenant in ("evil", "ACME", "acme.", "Acme", "other"):
            hdrs = dict(auth, **{"X-Scope-OrgID": tenant})
            got, _ = query_everything(srv, hdrs)
            # Targeted queries for acme's series, by name, on every route.
            ptype = types[0] if types else "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
            for method, path, body, extra, kind in all_routes(ptype, '{service_name="acme-app"}'):
                if kind == "query":
                    st, _, rb = call(srv, method, path, body, dict(extra, **hdrs))
                    got += rb
            for needle in (b"acme-app", b"acmeSecretFrame", b"acmevalue", b"acme_only"):
                ck.check(needle not in got, f"tenant {tenant!r} never sees {needle.decode()}",
                         f"{len(got)} bytes of answers")
            if tenant == "evil":
                ck.check(b"evil-app" in got, "control: evil sees its own app")
        for bad in ("acme|evil", "..", "", "a" * 151, "acme/../evil", "acme evil"):
            st, _, rb = srv.post(QUERIER + "LabelValues", b'{"name":"service_name"}',
                                 dict(auth, **JSON_CT, **{"X-Scope-OrgID": bad}))
            ck.check(st == 401 and b"acme-app" not in rb, f"X-Scope-OrgID {bad[:20]!r} -> 401", f"got {st}")
    finally:
        srv.stop()
        srv.cleanup()


# --------------------------------------------------------------------------- bind

def listening(pid: int) -> List[Tuple[str, int]]:
    out = []
    for fn, v6 in (("tcp", False), ("tcp6", True)):
        try:
            with open(f"/proc/{pid}/net/{fn}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            parts = ln.split()
            if parts[3] != "0A":  # LISTEN
                continue
            addr, port = parts[1].split(":")
            out.append((addr, int(port, 16)))
    return out


def case_bind(ck: it.Checks) -> None:
    p = subprocess.run([sit.pyrited_path(), "--help"], capture_output=True, text=True, timeout=10)
    ck.check("default 127.0.0.1:4040" in (p.stdout + p.stderr), "--help: default listen is 127.0.0.1:4040")
    if shutil.which("unshare") is None:
        ck.measure("default bind", "SKIPPED: no unshare")
        return
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        ck.measure("default bind", f"SKIPPED: unshare -rn not permitted ({probe.stderr[:80]!r})")
        return
    tmp = it.make_tempdir("pyrite-sec-bind-")
    logp = os.path.join(tmp, "log")
    with open(logp, "wb") as lf:
        # A private network namespace: its own loopback, port 4040 surely free.
        proc = subprocess.Popen(["unshare", "-rn", sit.pyrited_path(), "--data-dir", os.path.join(tmp, "d")],
                                stdout=lf, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        socks: List[Tuple[str, int]] = []
        text = b""
        while time.time() < deadline and proc.poll() is None:
            with open(logp, "rb") as f:
                text = f.read()
            # Read the sockets only once pyrited said it listens: before
            # `unshare` has entered the new namespace, /proc/PID/net/tcp is
            # the host's table (e.g. another service's 0.0.0.0 port).
            if b"listening on" in text:
                socks = listening(proc.pid)
                if socks:
                    break
            time.sleep(0.05)
        ck.check(b"listening on http://127.0.0.1:4040/" in text, "start-up line says 127.0.0.1:4040",
                 text[:200].decode(errors="replace"))
        ck.check(socks == [("0100007F", 4040)], "the only listening socket is 127.0.0.1:4040", str(socks))
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- ui

XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "</script><svg onload=alert(3)>",
       "javascript:alert(4)", "{{constructor.constructor('alert(5)')()}}"]


def case_ui(ck: it.Checks) -> None:
    srv = sit.Server(name="sec-ui").start()
    try:
        frames = "\n".join(f"main;{x.replace(';', ',').replace(' ', '_')} {10 + i}" for i, x in enumerate(XSS))
        now = int(time.time())
        # HTML in a label value and in the app name (URL-escaped by the client).
        for name in ("xssapp.cpu{note=<b>bold</b>}", '<img src=x onerror=alert(6)>.cpu'):
            st, _, rb = srv.post(f"/ingest?{q({'name': name, 'format': 'folded', 'from': str(now - 20), 'until': str(now - 10)})}",
                                 frames.encode())
            ck.measure(f"ingest name={name!r}", f"{st} {rb[:100]!r}")
        st, hdrs, body = srv.get(f"/pyroscope/label-values?{q({'label': 'service_name'})}")
        ck.check(st == 200 and hdrs.get("content-type", "").startswith("application/json"),
                 "label-values is application/json")
        apps = json.loads(body) if st == 200 else []
        ck.check("xssapp" in apps, "control: the app was stored", str(apps))
        st, hdrs, body = srv.get(f"/pyroscope/label-values?{q({'label': 'note'})}")
        ck.check(json.loads(body) == ["<b>bold</b>"] if st == 200 else False,
                 "an HTML label value comes back verbatim as JSON data", body[:100].decode(errors="replace"))
        st, _, body = srv.post(QUERIER + "ProfileTypes", b"{}", JSON_CT)
        types = [t["ID"] for t in json.loads(body).get("profileTypes", [])] if st == 200 else []
        ck.require(types, "profile types listed", str(types))
        render_q = q({"query": types[0] + '{service_name="xssapp"}', "from": "0", "until": "now"})
        st, hdrs, body = srv.get(f"/pyroscope/render?{render_q}")
        ck.check(st == 200 and hdrs.get("content-type", "").startswith("application/json"),
                 "render is application/json", f"{st} {hdrs.get('content-type')}")
        names = json.loads(body)["flamebearer"]["names"] if st == 200 else []
        for x in XSS:
            want = x.replace(";", ",").replace(" ", "_")
            ck.check(want in names, f"frame {want[:30]!r} returned verbatim as a JSON string")
        # Error bodies reflect client input only as JSON-escaped text.
        st, hdrs, body = srv.get("/nope<script>alert(7)</script>")
        ck.check(st == 404 and hdrs.get("content-type", "").startswith("application/json"),
                 "404 with reflected path is application/json", f"{st} {hdrs.get('content-type')}")
        ck.check(hdrs.get("x-content-type-options") == "nosniff", "JSON API answers carry X-Content-Type-Options: nosniff",
                 hdrs.get("x-content-type-options", "(absent)"))
        # The UI page and its scripts.
        st, hdrs, page = srv.get("/")
        csp = hdrs.get("content-security-policy", "")
        ck.check(st == 200 and hdrs.get("content-type", "").startswith("text/html"), "UI page is text/html")
        for directive in ("script-src 'self'", "object-src 'none'", "frame-ancestors 'none'",
                          "require-trusted-types-for 'script'", "base-uri 'none'"):
            ck.check(directive in csp, f"UI CSP has {directive}")
        ck.check("unsafe-inline" not in csp and "unsafe-eval" not in csp, "UI CSP allows no inline/eval")
        ck.check(hdrs.get("x-content-type-options") == "nosniff", "UI: X-Content-Type-Options nosniff")
        ck.check(hdrs.get("x-frame-options") == "DENY", "UI: X-Frame-Options DENY")
        inline = [m for m in re.findall(rb"<script\b[^>]*>", page) if b"src=" not in m]
        ck.check(not inline, "UI page has no inline <script>", str(inline))
        ck.check(not re.search(rb"\son[a-z]+\s*=", page), "UI page has no on*= handlers")
        scripts = re.findall(rb'<script[^>]*src="([^"]+)"', page)
        ck.check(len(scripts) >= 1, "UI page loads its scripts from files", str(scripts))
        seen, todo = set(), [s.decode() for s in scripts]
        while todo:  # follow ES module imports
            path = urllib.parse.urljoin("/", todo.pop())
            if path in seen:
                continue
            seen.add(path)
            st, hdrs, js = srv.get(path)
            ck.check(st == 200 and "javascript" in hdrs.get("content-type", ""), f"{path} served as JavaScript")
            sinks = re.findall(rb"\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\(", js)
            ck.check(not sinks, f"{path}: no HTML-string sinks or eval", str(sinks))
            base = path.rsplit("/", 1)[0] + "/"
            for imp in re.findall(rb"""(?:from|import)\s*['"](\.[^'"]+)['"]""", js):
                todo.append(urllib.parse.urljoin(base, imp.decode()))
        ck.measure("UI scripts checked", len(seen))
        # Browser-borne requests (docs/security.md, findings 8 and 9): a
        # cross-site "simple" POST (no preflight) and a foreign Host header
        # (what a DNS-rebinding page sends) are refused with 403 JSON, while
        # the same requests from the server's own origin still work.
        st, hdrs, body = srv.post(f"/ingest?{q({'name': 'csrfapp', 'from': str(now - 20), 'until': str(now - 10)})}",
                                  b"main;csrf 1", {"Origin": "http://evil.example", "Content-Type": "text/plain"})
        ck.check(st == 403 and b"cross-origin" in body, "cross-origin POST /ingest (Origin: http://evil.example) -> 403",
                 f"{st} {body[:120]!r}")
        st, _, body = srv.get(f"/pyroscope/label-values?{q({'label': 'service_name'})}")
        ck.check(st == 200 and b"csrfapp" not in body, "and nothing of it was stored", f"{st} {body[:120]!r}")
        st, hdrs, body = srv.get(f"/pyroscope/label-values?{q({'label': 'service_name'})}", {"Host": "evil.example:4040"})
        ck.check(st == 403 and b"DNS rebinding" in body, "query with Host: evil.example:4040 -> 403", f"{st} {body[:120]!r}")
        own = f"http://127.0.0.1:{srv.port}"
        st, _, _ = srv.post(f"/ingest?{q({'name': 'sameorigin', 'from': str(now - 20), 'until': str(now - 10)})}",
                            b"main;ok 1", {"Origin": own, "Content-Type": "text/plain"})
        ck.check(st == 200, "same-origin POST (the UI's own origin) -> 200", str(st))
        st, _, _ = srv.get(f"/pyroscope/label-values?{q({'label': 'service_name'})}", {"Host": f"localhost:{srv.port}"})
        ck.check(st == 200, "Host: localhost -> 200", str(st))
        st, hdrs, _ = srv.get(f"/pyroscope/label-values?{q({'label': 'service_name'})}", {"Origin": "http://evil.example"})
        ck.check("access-control-allow-origin" not in hdrs, "no CORS header: other origins cannot read answers",
                 str({k: v for k, v in hdrs.items() if k.startswith("access-control")}))
    finally:
        srv.stop()
        srv.cleanup()


# --------------------------------------------------------------------------- limits

def expect(ck: it.Checks, resp, statuses, what: str) -> None:
    st, hdrs, body = resp
    ok = st in statuses and hdrs.get("content-type", "").startswith("application/json") and is_json_error(body)
    ck.check(ok, f"{what} -> {'/'.join(map(str, statuses))} JSON error",
             f"got {st}: {body[:160].decode(errors='replace').strip()}")


def case_limits(ck: it.Checks) -> None:
    srv = sit.Server("--max-body-bytes", "64k", "--max-decompressed-bytes", "256k", "--max-labels", "3",
                     "--max-label-name-length", "16", "--max-label-value-length", "32",
                     name="sec-limits").start()
    now = int(time.time())
    tq = f"&from={now - 20}&until={now - 10}"
    try:
        big = b"main;x 1\n" * (80 * 1024 // 9)
        expect(ck, srv.post(f"/ingest?name=lim&format=folded{tq}", big), (413,),
               "--max-body-bytes: 80 KiB body (Content-Length)")
        expect(ck, srv.post(f"/ingest?name=lim&format=folded{tq}", big, chunked=True), (413,),
               "--max-body-bytes: 80 KiB chunked body")
        bomb = gzip.compress(b"\0" * (1 << 20))
        expect(ck, srv.post(f"/ingest?name=lim&format=pprof{tq}", bomb), (413,),
               "--max-decompressed-bytes: pprof gzip inflating to 1 MiB")
        ctype, mp = sit.java_agent_upload(gzip.compress(b"\0" * (1 << 20)), None)
        expect(ck, srv.post(f"/ingest?name=lim&format=jfr{tq}", mp, {"Content-Type": ctype}), (413,),
               "--max-decompressed-bytes: JFR part inflating to 1 MiB")
        push = sit.push_request([({"service_name": "lim", "__name__": "process_cpu"}, [bomb])])
        expect(ck, srv.post("/push.v1.PusherService/Push", push, {"Content-Type": "application/proto"}), (413,),
               "--max-decompressed-bytes: Push raw_profile inflating to 1 MiB")
        # Counted labels: service_name, __name__, pyroscope_spy (3, the limit).
        ok = srv.post(f"/ingest?{q({'name': 'lim', 'format': 'folded'})}{tq}", b"main;x 1")
        ck.check(ok[0] == 200, "control: an upload at the label limit is accepted", f"got {ok[0]} {ok[2][:100]!r}")
        # docs/ingest.md: invalid series labels on /ingest are 422 (400 on Push).
        expect(ck, srv.post(f"/ingest?{q({'name': 'lim{a=1,b=2,c=3,d=4}', 'format': 'folded'})}{tq}", b"main;x 1"),
               (422,), "--max-labels 3: /ingest with 7 labels")
        expect(ck, srv.post(f"/ingest?{q({'name': 'lim{' + 'n' * 17 + '=1}', 'format': 'folded'})}{tq}", b"main;x 1"),
               (422,), "--max-label-name-length 16: /ingest 17-byte name")
        expect(ck, srv.post(f"/ingest?{q({'name': 'lim{a=' + 'v' * 33 + '}', 'format': 'folded'})}{tq}", b"main;x 1"),
               (422,), "--max-label-value-length 32: /ingest 33-byte value")
        prof = sit.pprof([("cpu", "nanoseconds")], [(["main", "x"], [10], {})])
        for what, labels in (("7 labels", {f"l{i}": "v" for i in range(5)}), ("17-byte name", {"n" * 17: "v"}),
                             ("33-byte value", {"a": "v" * 33})):
            lab = dict({"service_name": "lim", "__name__": "process_cpu"}, **labels)
            expect(ck, srv.post("/push.v1.PusherService/Push", sit.push_request([(lab, [prof])]),
                                {"Content-Type": "application/proto"}), (400,), f"label limits: Push with {what}")
        parts = [(f"p{i}", None, None, b"x") for i in range(20)]
        ctype, mp = sit.multipart(parts)
        expect(ck, srv.post(f"/ingest?name=lim&format=jfr{tq}", mp, {"Content-Type": ctype}), (422,),
               "multipart: 20 parts (limit 16)")
        expect(ck, srv.post(f"/ingest?name=lim&format=folded&from={'9' * 200}", b"main;x 1"), (400,),
               "/ingest: 200-character from (limit 128)")
        cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        expect(ck, srv.get(f"/pyroscope/render?{q({'query': cpu + '{}', 'from': 'now-1h', 'until': 'now', 'maxNodes': '2000000'})}"),
               (400,), "render maxNodes 2,000,000 (limit 1,048,576)")
        expect(ck, srv.post(QUERIER + "SelectMergeStacktraces",
                            json.dumps({"profileTypeID": cpu, "labelSelector": "{}", "maxNodes": 2000000}).encode(),
                            JSON_CT), (400,), "SelectMergeStacktraces maxNodes 2,000,000")
        expect(ck, srv.post(QUERIER + "SelectMergeStacktraces",
                            json.dumps({"profileTypeID": cpu, "labelSelector": "{}", "start": 2000, "end": 1000}).encode(),
                            JSON_CT), (400,), "query range start after end")
        many = "{" + ",".join(f'l{i}="v"' for i in range(65)) + "}"
        expect(ck, srv.post(QUERIER + "SelectMergeStacktraces",
                            json.dumps({"profileTypeID": cpu, "labelSelector": many}).encode(), JSON_CT),
               (400,), "selector with 65 matchers (limit 64)")
        longsel = '{a="' + "x" * 17000 + '"}'
        expect(ck, srv.post(QUERIER + "Series", json.dumps({"matchers": [longsel]}).encode(), JSON_CT),
               (400, 413), "selector of 17,000 bytes (limit 16,384)")
        expect(ck, srv.post(QUERIER + "ProfileTypes", b"{" + b" " * (70 * 1024) + b"}", JSON_CT), (413,),
               "Connect body over --max-body-bytes")
        expect(ck, srv.get("/pyroscope/render?query=" + urllib.parse.quote(cpu + "{}") + "&from=now-1h&until=now&maxNodes=-1"),
               (400,), "render maxNodes -1")
    finally:
        srv.stop()
        srv.cleanup()
    # The Connect request cap (4 MiB) is below the default body limit.
    srv = sit.Server(name="sec-limits2").start()
    try:
        expect(ck, srv.post(QUERIER + "ProfileTypes", b"{" + b" " * (5 << 20) + b"}", JSON_CT), (413,),
               "Connect body over 4 MiB (PYR_QUERIER_MAX_REQUEST)")
    finally:
        srv.stop()
        srv.cleanup()


def main() -> None:
    sit.require_binaries(sit.store_dump_path())
    cases = [("agent.data", case_agent_data), ("agent.wire", case_agent_wire), ("auth", case_auth),
             ("tenants", case_tenants), ("bind", case_bind), ("ui", case_ui), ("limits", case_limits)]
    it.main(cases)


if __name__ == "__main__":
    main()
