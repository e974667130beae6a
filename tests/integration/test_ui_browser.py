"""Integration test: the web UI in a real (headless) Chromium.

Starts the real pyrited (free loopback port, temp data dir), ingests folded
profiles with a known hot method in two time ranges (the second changes
which frame is hot, for the diff), then drives Chromium through the
DevTools protocol over ``--remote-debugging-pipe`` (fd 3/4, NUL-separated
JSON; Python stdlib only, no websocket needed) and checks:

* the static files: Content-Type, CSP, nosniff, ETag/304, 404, 405;
* label filters go through the selector (a filter matching nothing empties
  the graph, a regex one keeps it), Back undoes a change, and dragging on
  the timeline selects a custom range;
* the page loads without script errors or CSP violations, picks the app
  and the CPU profile type, and draws the timeline and the flame graph
  with ``hotMethod`` as the widest leaf (via ``window.__pyrite``, the
  page's test hook, and the top-functions table);
* search highlights exactly the matching frames and filters the table
  (substring and regex), and is kept in the URL;
* a real mouse click (Input.dispatchMouseEvent) on a frame zooms into it,
  the URL records the zoom, reloading the URL restores it, reset undoes it;
* hovering shows a tooltip with the frame's name, total and units;
* the table sorts when a header is clicked;
* a frame named ``<script>alert(1)</script>`` shows up as text in the
  table and tooltip, no dialog opens, no element is injected, and the
  page's Trusted Types policy rejects HTML string sinks;
* the diff view (render-diff) colours the frame that got hotter red and
  the one that got cooler green, and the table agrees.

Screenshots go to ``$PYRITE_BUILD_DIR/artifacts/ui.png`` and
``ui-diff.png``.  Without Chromium the test prints SKIP and exits 77.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_it as it  # noqa: E402

CPU = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
SCRIPT_NAME = "<script>alert(1)</script>"
APP = "uitest"

# Folded stacks (root first), in samples; folded ingest turns one sample
# into 1e9/sampleRate ns (10 ms at the default 100 Hz).
BASELINE = {
    "main;a;b;hotMethod": 900,
    "main;a;b;coolMethod": 100,
    "main;a;c;stableMethod": 500,
    f"main;a;c;{SCRIPT_NAME}": 50,
    "main;x;y;z": 40,
}
COMPARISON = {
    "main;a;b;hotMethod": 300,
    "main;a;b;coolMethod": 700,
    "main;a;c;stableMethod": 500,
    f"main;a;c;{SCRIPT_NAME}": 50,
}


def find_chromium() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium"):
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


# --------------------------------------------------------------------------- CDP

class CDPError(RuntimeError):
    pass


class Browser:
    """Headless Chromium driven over --remote-debugging-pipe.

    Chromium reads commands from fd 3 and writes replies and events to fd 4,
    each a JSON object terminated by a NUL byte.  One page target is
    attached in flat mode, so page commands carry its sessionId.
    """

    def __init__(self, exe: str, width: int = 1440, height: int = 1000):
        self.tmp = tempfile.mkdtemp(prefix="pyrite-ui-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._ev_r, ev_w = os.pipe()
        args = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            f"--user-data-dir={os.path.join(self.tmp, 'profile')}",
            f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank",
        ]

        def child_fds() -> None:  # runs in the child before exec
            os.dup2(cmd_r, 3)
            os.dup2(ev_w, 4)

        self.log_path = os.path.join(self.tmp, "chromium.log")
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     preexec_fn=child_fds, pass_fds=(3, 4))
        logf.close()
        os.close(cmd_r)
        os.close(ev_w)
        self._next = 0
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._replies: Dict[int, dict] = {}
        self.events: List[dict] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.session = ""
        self.expected: List[str] = []  # problems a check provoked on purpose
        self._attach(width, height)

    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._ev_r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cv:
                    self._closed = True
                    self._cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw.decode("utf-8", "replace"))
                with self._cv:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                        if msg.get("method") == "Page.javascriptDialogOpening":
                            # Never leave the page blocked on a dialog; the
                            # event itself is what the test looks for.
                            self._send_nowait("Page.handleJavaScriptDialog", {"accept": True},
                                              msg.get("sessionId", ""))
                    self._cv.notify_all()

    def _send_nowait(self, method: str, params: dict, session: str) -> int:
        self._next += 1
        mid = self._next
        msg: Dict[str, Any] = {"id": mid, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        return mid

    def call(self, method: str, params: Optional[dict] = None, session: Optional[str] = None,
             timeout: float = 30.0) -> dict:
        sess = self.session if session is None else session
        with self._cv:
            mid = self._send_nowait(method, params or {}, sess)
            deadline = time.time() + timeout
            while mid not in self._replies:
                if self._closed:
                    raise CDPError(f"chromium exited during {method}: {self.log_tail()}")
                left = deadline - time.time()
                if left <= 0:
                    raise CDPError(f"timeout waiting for {method}")
                self._cv.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _attach(self, width: int, height: int) -> None:
        targets = self.call("Target.getTargets", session="")["targetInfos"]
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            tid = pages[0]["targetId"]
        else:
            tid = self.call("Target.createTarget", {"url": "about:blank"}, session="")["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": tid, "flatten": True},
                                 session="")["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-15:])
        except OSError:
            return ""

    # -- page helpers

    def eval(self, expr: str, timeout: float = 30.0) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            raise CDPError(f"evaluate failed: {text}\n  in: {expr[:200]}")
        return r.get("result", {}).get("value")

    def wait_for(self, expr: str, timeout: float = 20.0, what: str = "") -> Any:
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.eval(expr)
            if last:
                return last
            time.sleep(0.05)
        raise CDPError(f"timed out waiting for {what or expr} (last {last!r})")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "buttons": 1 if kind == "mousePressed" else 0,
                                                   "clickCount": 1})

    def hover(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def screenshot(self, path: str) -> None:
        import base64
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def event_methods(self) -> List[str]:
        with self._cv:
            return [e.get("method", "") for e in self.events]

    def problems(self) -> List[str]:
        """Script errors, console errors and CSP violations seen so far."""
        out = []
        with self._cv:
            evs = list(self.events)
        for e in evs:
            m = e.get("method")
            p = e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                       for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                # The Connect calls (label names/values for the filter
                # editor) are optional by design: the UI falls back to
                # free text when a server lacks them.
                if entry.get("source") == "network" and "/querier.v1." in entry.get("url", ""):
                    continue
                out.append(f"log: {entry.get('text', '')} {entry.get('url', '')}")
        return [p for p in out if not any(e in p for e in self.expected)]

    def close(self) -> None:
        try:
            self.call("Browser.close", session="", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd_w, self._ev_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if os.environ.get("PYRITE_IT_KEEP") == "1":
            it.log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- helpers

def folded(stacks: Dict[str, int]) -> bytes:
    return "".join(f"{k} {v}\n" for k, v in stacks.items()).encode()


def ingest(srv: it.Server, stacks: Dict[str, int], t: int) -> None:
    name = urllib.parse.quote(f"{APP}{{env=test}}")
    st, _, body = srv.post(f"/ingest?name={name}&format=folded&from={t}&until={t + 10}",
                           folded(stacks), {"Content-Type": "text/plain"})
    if st != 200:
        raise RuntimeError(f"ingest failed: {st} {body[:300]!r}")


def wait_query_api(srv: it.Server) -> bool:
    st, _, body = srv.get("/pyroscope/label-values?label=__name__")
    return st == 200 and CPU.encode() in body


def page_ready(b: Browser, loads_before: int, timeout: float = 20.0) -> None:
    b.wait_for(f"window.__pyrite && __pyrite.loads > {loads_before} && "
               "(__pyrite.status === 'ready' || __pyrite.status === 'error')",
               timeout, "the page to finish loading")
    status = b.eval("__pyrite.status")
    if status != "ready":
        raise CDPError(f"page load failed: {b.eval('__pyrite.error')}")


def goto(b: Browser, url: str, timeout: float = 20.0) -> None:
    """Navigates and waits until the new page finished its first load (the
    marker set on the old page tells the two apart)."""
    b.eval("window.__leaving = true")
    b.navigate(url)
    b.wait_for("!window.__leaving && window.__pyrite && __pyrite.loads > 0 && "
               "(__pyrite.status === 'ready' || __pyrite.status === 'error')",
               timeout, f"{url} to load")
    status = b.eval("__pyrite.status")
    if status != "ready":
        raise CDPError(f"page load failed: {b.eval('__pyrite.error')}")


def loads(b: Browser) -> int:
    return b.eval("window.__pyrite ? __pyrite.loads : 0") or 0


def drawn(b: Browser) -> List[dict]:
    return b.eval("__pyrite.drawn")


def frames(b: Browser, name: str) -> List[dict]:
    return [f for f in drawn(b) if f["name"] == name]


def canvas_origin(b: Browser) -> Dict[str, float]:
    return b.eval("(() => { const c = document.getElementById('flame'); c.scrollIntoView({block:'nearest'});"
                  " const r = c.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width}; })()")


def centre(b: Browser, f: dict) -> tuple:
    o = canvas_origin(b)
    return o["x"] + f["x"] + min(f["w"], 400) / 2, o["y"] + f["y"] + f["h"] / 2


def query_of(b: Browser) -> Dict[str, List[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlparse(b.eval("location.href")).query)


def rgb(color: str) -> tuple:
    m = re.match(r"rgb\((\d+),(\d+),(\d+)\)", color.replace(" ", ""))
    if m:
        return tuple(int(x) for x in m.groups())
    m = re.match(r"#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$", color, re.I)
    if m:
        return tuple(int(x, 16) for x in m.groups())
    return (0, 0, 0)


# --------------------------------------------------------------------------- checks

def check_static(c: it.Checks, srv: it.Server) -> None:
    st, h, body = srv.get("/")
    c.eq(st, 200, "GET / status")
    c.check(h.get("content-type", "").startswith("text/html"), "GET / is text/html")
    csp = h.get("content-security-policy", "")
    c.check("default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp,
            f"strict CSP on / ({csp})")
    c.check("require-trusted-types-for 'script'" in csp, "CSP enforces Trusted Types")
    c.eq(h.get("x-content-type-options"), "nosniff", "nosniff on /")
    c.check(b"<script type=\"module\" src=\"/static/app.js\">" in body, "index.html loads /static/app.js")
    c.check(not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", body), "index.html has no inline script")
    st, h, body = srv.get("/static/app.js")
    c.eq(st, 200, "GET /static/app.js status")
    c.check(h.get("content-type", "").startswith("text/javascript"), "app.js is text/javascript")
    c.eq(h.get("cache-control"), "no-cache", "app.js Cache-Control")
    etag = h.get("etag", "")
    c.check(bool(re.fullmatch(r'"[0-9a-f]{20}"', etag)), f"app.js has a strong ETag ({etag})")
    st, h, body = srv.get("/static/app.js", {"If-None-Match": etag})
    c.check(st == 304 and body == b"", f"matching If-None-Match gives 304 (got {st})")
    st, h, _ = srv.get("/static/style.css")
    c.check(st == 200 and h.get("content-type", "").startswith("text/css"), "style.css served as text/css")
    st, h, body = srv.request("HEAD", "/")
    c.check(st == 200 and body == b"", "HEAD / is 200 without a body")
    st, h, body = srv.get("/static/nope.js")
    c.check(st == 404 and it.json_error(body)["code"] == "not_found", "unknown static file is a JSON 404")
    st, h, body = srv.get("/static/../CMakeLists.txt")
    c.check(st == 404, f"no path traversal under /static/ (got {st})")
    st, h, body = srv.post("/", b"x")
    c.check(st == 405 and "GET" in h.get("allow", ""), f"POST / is 405 with Allow (got {st})")


def check_single(c: it.Checks, b: Browser, base: str, artifacts: str) -> None:
    goto(b, f"{base}/?from=now-1h&until=now")
    state = b.eval("__pyrite.state")
    c.eq(state["app"], APP, "the app is picked from service_name values")
    c.eq(state["type"], CPU, "the CPU profile type is preferred")
    c.eq(b.eval("document.getElementById('app').value"), APP, "app select shows the app")
    tl = b.eval("__pyrite.timeline()")
    c.check(bool(tl) and sum(tl.get("samples") or []) > 0, "timeline has samples")

    hot = frames(b, "hotMethod")
    c.check(len(hot) == 1, "flame graph drew hotMethod")
    root = frames(b, "total")
    if hot and root:
        leafs = [f for f in drawn(b) if f["name"] in ("hotMethod", "coolMethod", "stableMethod", "z")]
        c.check(max(leafs, key=lambda f: f["w"])["name"] == "hotMethod", "hotMethod is the widest leaf")
        # 1200 of 3140 samples: its width is that share of the root's.
        share = hot[0]["w"] / root[0]["w"]
        c.check(abs(share - 1200 / 3140) < 0.02, f"hotMethod width share {share:.3f} ~ {1200 / 3140:.3f}")
    c.check(b.eval("__pyrite.tableRows[0]") == "hotMethod", "table is sorted by self, hotMethod first")
    status = b.eval("document.getElementById('status').textContent")
    c.check("31.4 s" in status, f"status shows the total in seconds ({status!r})")
    b.screenshot(os.path.join(artifacts, "ui.png"))

    # Tooltip with units.
    if hot:
        x, y = centre(b, hot[0])
        b.hover(x, y)
        tip = b.wait_for("(() => { const t = document.getElementById('tooltip');"
                         " return t.hidden ? '' : t.textContent; })()", 5, "tooltip")
        c.check("hotMethod" in tip and "12.0 s" in tip and "%" in tip, f"tooltip shows name, total, share: {tip!r}")

    # Sorting by clicking a header.
    b.eval("document.querySelector('#top th[data-key=\"total\"]').click()")
    c.eq(b.eval("document.querySelector('#top th[data-key=\"total\"]').getAttribute('aria-sort')"),
         "descending", "clicking Total sorts by total")
    c.eq(b.eval("__pyrite.tableRows[0]"), "main", "sorted by total, the root frame comes first")
    c.eq(query_of(b).get("sort"), ["-total"], "sort is kept in the URL")
    b.eval("document.querySelector('#top th[data-key=\"total\"]').click()")
    c.eq(b.eval("document.querySelector('#top th[data-key=\"total\"]').getAttribute('aria-sort')"),
         "ascending", "clicking again reverses the order")


def type_search(b: Browser, text: str, regex: bool) -> None:
    """Types into the search box like a user (Input.insertText)."""
    b.eval(f"(() => {{ const r = document.getElementById('regex'); if (r.checked !== {str(regex).lower()}) r.click();"
           " const s = document.getElementById('search'); s.value = ''; s.focus();"
           " s.dispatchEvent(new Event('input')); })()")
    if text:
        b.call("Input.insertText", {"text": text})
    b.wait_for(f"__pyrite.state.search === {json.dumps(text)}", 5, "search to apply")


def check_search(c: it.Checks, b: Browser) -> None:
    type_search(b, "hotmeth", False)
    d = drawn(b)
    lit = sorted({f["name"] for f in d if f["highlighted"]})
    c.eq(lit, ["hotMethod"], "substring search (case-insensitive) highlights only hotMethod")
    dims = [f for f in d if not f["highlighted"]]
    c.check(bool(dims) and all(f["color"] == "#dcdcdc" for f in dims), "non-matching frames are dimmed")
    c.eq(b.eval("__pyrite.tableRows"), ["hotMethod"], "search filters the table")
    c.eq(query_of(b).get("search"), ["hotmeth"], "search is kept in the URL")
    c.check("38.22%" in b.eval("document.getElementById('search-info').textContent"),
            "search reports the matched share")
    type_search(b, "^(cool|stable)Method$", True)
    lit = sorted({f["name"] for f in drawn(b) if f["highlighted"]})
    c.eq(lit, ["coolMethod", "stableMethod"], "regex search highlights both matches")
    c.eq(query_of(b).get("regex"), ["1"], "regex flag is kept in the URL")
    type_search(b, "(", True)
    c.check(b.eval("document.getElementById('search').classList.contains('invalid')"),
            "an invalid regex is flagged, not thrown")
    type_search(b, "", False)
    c.check(not any(f["highlighted"] for f in drawn(b)), "clearing the search clears highlights")


def check_zoom(c: it.Checks, b: Browser, base: str) -> None:
    bf = frames(b, "b")
    if not c.check(len(bf) == 1, "frame b is drawn"):
        return
    canvas_w = canvas_origin(b)["w"]
    x, y = centre(b, bf[0])
    b.click(x, y)
    b.wait_for("__pyrite.state.zoom.join(';') === 'main;a;b'", 5, "zoom after click")
    c.eq(query_of(b).get("zoom"), ["main;a;b"], "zoom path is in the URL")
    nb = frames(b, "b")
    c.check(len(nb) == 1 and nb[0]["w"] >= canvas_w - 2, "the clicked frame fills the width")
    hot, cool = frames(b, "hotMethod"), frames(b, "coolMethod")
    if hot and cool and nb:
        c.check(abs(hot[0]["w"] / nb[0]["w"] - 1200 / 2000) < 0.02, "children scale to the zoomed frame")
    c.eq(frames(b, "stableMethod"), [], "frames outside the zoomed subtree are not drawn")
    c.check(b.eval("!document.getElementById('reset-zoom').disabled"), "reset is enabled while zoomed")
    crumbs = b.eval("[...document.querySelectorAll('#crumbs button')].map(b => b.textContent)")
    c.eq(crumbs, ["all", "main", "a", "b"], "breadcrumbs show the zoom path")

    # The URL alone restores the view (zoom + search).
    url = b.eval("location.href") + "&search=cool"
    goto(b, url)
    c.eq(b.eval("__pyrite.state.zoom"), ["main", "a", "b"], "zoom restored from the URL")
    nb = frames(b, "b")
    c.check(len(nb) == 1 and nb[0]["w"] >= canvas_w - 2, "reloading the URL restores the zoom")
    c.eq(sorted({f["name"] for f in drawn(b) if f["highlighted"]}), ["coolMethod"],
         "reloading the URL restores the search")
    c.eq(b.eval("document.getElementById('search').value"), "cool", "search box shows the restored search")

    b.eval("document.getElementById('reset-zoom').click()")
    b.wait_for("__pyrite.state.zoom.length === 0", 5, "reset")
    c.check(len(frames(b, "stableMethod")) == 1, "reset zoom shows the whole graph again")
    c.check("zoom" not in query_of(b), "reset removes zoom from the URL")
    b.eval("document.getElementById('search').value = ''; "
           "document.getElementById('search').dispatchEvent(new Event('input'))")
    b.wait_for("__pyrite.state.search === ''", 5, "search cleared")


def check_controls(c: it.Checks, b: Browser) -> None:
    """Label filters (end to end through the selector), history, brushing."""
    def add_filter(name: str, op: str, value: str) -> None:
        before = loads(b)
        b.eval(f"document.getElementById('f-name').value = {json.dumps(name)};"
               f"document.getElementById('f-op').value = {json.dumps(op)};"
               f"document.getElementById('f-value').value = {json.dumps(value)};"
               "document.querySelector('#filter-form button[type=submit]').click()")
        page_ready(b, before)

    add_filter("env", "=", "nope")
    c.eq(query_of(b).get("f"), ['env="nope"'], "a filter is kept in the URL as a matcher")
    c.check(b.eval("!document.getElementById('empty').hidden"), "a filter matching nothing shows 'no profiles'")
    c.eq(frames(b, "hotMethod"), [], "and draws no frames")
    before = loads(b)
    b.eval("document.querySelector('#filter-chips .chip button').click()")
    page_ready(b, before)
    c.check(len(frames(b, "hotMethod")) == 1, "removing the filter brings the graph back")
    add_filter("env", "=~", "te.t")
    c.check(len(frames(b, "hotMethod")) == 1, "a regex filter matching the series keeps the graph")
    before = loads(b)
    b.eval("history.back()")
    page_ready(b, before)
    c.eq(b.eval("__pyrite.state.filters.length"), 0, "Back undoes the last filter change")

    # Drag across the middle of the timeline: a custom range.
    r = b.eval("(() => { const c = document.getElementById('timeline'); c.scrollIntoView({block:'nearest'});"
               " const r = c.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; })()")
    y = r["y"] + r["h"] / 2
    x0, x1 = r["x"] + 64 + (r["w"] - 72) * 0.1, r["x"] + 64 + (r["w"] - 72) * 0.95
    before = loads(b)
    b.call("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x0, "y": y, "button": "left",
                                        "buttons": 1, "clickCount": 1})
    b.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x1, "y": y, "button": "left", "buttons": 1})
    b.call("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x1, "y": y, "button": "left",
                                        "buttons": 0, "clickCount": 1})
    page_ready(b, before)
    st = b.eval("__pyrite.state")
    now = time.time()
    ok = st["from"].isdigit() and st["until"].isdigit() and \
        now - 3600 - 60 < int(st["from"]) < int(st["until"]) < now + 60
    c.check(ok, f"dragging on the timeline selects a range ({st['from']} .. {st['until']})")
    c.eq(b.eval("document.getElementById('range').value"), "custom", "the range selector shows custom")
    c.eq(query_of(b).get("from"), [st["from"]], "the selected range is in the URL")
    c.check(len(frames(b, "hotMethod")) == 1, "the comparison profile (10 min ago) is in the selected range")


def check_untrusted_names(c: it.Checks, b: Browser) -> None:
    rows = b.eval("__pyrite.tableRows")
    c.check(SCRIPT_NAME in rows, "the script-named frame is listed in the table")
    cell = b.eval("(() => { const tr = [...document.querySelectorAll('#top tbody tr')]"
                  f".find(r => r.dataset.name === {json.dumps(SCRIPT_NAME)});"
                  " return tr ? tr.querySelector('td.fn').textContent : null; })()")
    c.eq(cell, SCRIPT_NAME, "its table cell holds the name as text")
    c.eq(b.eval("document.querySelectorAll('script').length"), 1, "no script element was injected")
    c.eq(b.eval("document.querySelectorAll('#top script, #tooltip script, #crumbs script').length"), 0,
         "no script element inside data-bearing elements")
    sf = frames(b, SCRIPT_NAME)
    if c.check(len(sf) == 1, "the script-named frame is drawn on the canvas"):
        x, y = centre(b, sf[0])
        b.hover(x, y)
        b.wait_for(f"document.querySelector('#tooltip .tip-title') && "
                   f"document.querySelector('#tooltip .tip-title').textContent === {json.dumps(SCRIPT_NAME)}",
                   5, "tooltip of the script-named frame")
        c.eq(b.eval("document.querySelector('#tooltip').children.length"), 3,
             "tooltip structure unchanged (title, table, hint)")
        c.eq(b.eval("document.querySelectorAll('#tooltip script').length"), 0, "tooltip holds no script element")
    # Trusted Types (from the CSP): HTML string sinks throw in this page
    # (and Chromium logs the violation, which is expected here).
    b.expected.append("requires 'TrustedHTML' assignment")
    blocked = b.eval("(() => { try { document.createElement('div').innerHTML = '<b>x</b>'; return 'assigned'; }"
                     " catch (e) { return e.name; } })()")
    c.eq(blocked, "TypeError", "innerHTML with a string is rejected by Trusted Types")
    c.check("Page.javascriptDialogOpening" not in b.event_methods(), "no alert dialog was opened")


def check_diff(c: it.Checks, b: Browser, base: str, t_base: int, t_cmp: int, artifacts: str) -> None:
    q = urllib.parse.urlencode({
        "app": APP, "type": CPU, "mode": "diff", "from": "now-1h", "until": "now",
        "leftFrom": t_base - 300, "leftUntil": t_base + 300,
        "rightFrom": t_cmp - 300, "rightUntil": t_cmp + 300,
    })
    goto(b, f"{base}/?{q}")
    b.wait_for("__pyrite.state.mode === 'diff' && __pyrite.drawn.length > 0", 10, "diff view drawn")
    c.check(b.eval("!document.getElementById('diff-ranges').hidden"), "diff range editor is shown")
    cool, hot, z = frames(b, "coolMethod"), frames(b, "hotMethod"), frames(b, "z")
    if c.check(len(cool) == 1 and len(hot) == 1, "diff view drew both changed frames"):
        r, g, _ = rgb(cool[0]["color"])
        c.check(r > g + 60, f"coolMethod got hotter: red ({cool[0]['color']})")
        r, g, _ = rgb(hot[0]["color"])
        c.check(g > r + 60, f"hotMethod got cooler: green ({hot[0]['color']})")
    if c.check(len(z) == 1, "a frame only in the baseline is drawn"):
        r, g, _ = rgb(z[0]["color"])
        c.check(g > r + 60, f"removed frame is green ({z[0]['color']})")
    cls = b.eval("Object.fromEntries([...document.querySelectorAll('#top tbody tr')].map(tr =>"
                 " [tr.dataset.name, tr.lastElementChild.className]))")
    c.check("up" in cls.get("coolMethod", ""), "table marks coolMethod as up")
    c.check("down" in cls.get("hotMethod", ""), "table marks hotMethod as down")
    c.check(b.eval("!document.getElementById('legend').hidden"), "diff legend is shown")
    sf = frames(b, SCRIPT_NAME)
    c.check(len(sf) == 1, "the script-named frame is drawn in the diff too")
    b.screenshot(os.path.join(artifacts, "ui-diff.png"))

    # Back to single mode through the mode button; the URL follows.
    before = loads(b)
    b.eval("document.getElementById('mode-single').click()")
    page_ready(b, before)
    c.check("mode" not in query_of(b), "single mode drops mode= from the URL")


def main() -> int:
    it.require_binaries()
    exe = find_chromium()
    if exe is None:
        it.log("SKIP: chromium not installed (apt-get install -y chromium)")
        return it.SKIP_RC
    artifacts = os.path.join(it.BUILD_DIR, "artifacts")
    c = it.Checks()
    srv = it.Server(name="ui")
    b: Optional[Browser] = None
    try:
        srv.start()
        now = int(time.time())
        t_base, t_cmp = now - 50 * 60, now - 10 * 60
        ingest(srv, BASELINE, t_base)
        ingest(srv, COMPARISON, t_cmp)
        if not wait_query_api(srv):
            it.log("SKIP: pyrited has no query API yet (/pyroscope/label-values)")
            return it.SKIP_RC
        c.run("static files", check_static, srv)
        try:
            b = Browser(exe)
        except Exception as e:  # a browser that cannot start is an environment problem
            it.log(f"SKIP: chromium does not start: {e}")
            return it.SKIP_RC
        base = f"http://127.0.0.1:{srv.port}"
        c.run("single view", check_single, b, base, artifacts)
        c.run("search", check_search, b)
        c.run("click to zoom", check_zoom, b, base)
        c.run("filters, history, brushing", check_controls, b)
        c.run("untrusted frame names", check_untrusted_names, b)
        c.run("diff view", check_diff, b, base, t_base, t_cmp, artifacts)
        problems = b.problems()
        c.check(not problems, "no script errors, console errors or CSP violations: "
                + ("; ".join(problems) if problems else "none"))
        it.log(f"screenshots: {os.path.join(artifacts, 'ui.png')}, {os.path.join(artifacts, 'ui-diff.png')}")
    finally:
        if b is not None:
            b.close()
        srv.stop()
        srv.cleanup()
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
