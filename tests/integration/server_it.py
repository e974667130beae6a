"""Shared helpers for pyrited integration tests (Python 3 stdlib only).

The tests start the real ``$PYRITE_BUILD_DIR/bin/pyrited`` on a free
loopback port (``--listen 127.0.0.1:0``; the bound port is read from the
server's start-up line) with a temporary data directory, wait for
``GET /ready``, talk HTTP to it and stop it with SIGTERM. This module knows
how to:

* find the binaries and skip cleanly (exit ``SKIP_RC`` with a ``SKIP:``
  line) when they have not been built;
* run a server (:class:`Server`): start, wait until ready, restart on the
  same data directory, stop gracefully or ``kill -9``;
* send requests, also with ``Transfer-Encoding: chunked`` (:func:`request`);
* build multipart/form-data bodies exactly like the Pyroscope Java agent and
  the Go SDK (:func:`multipart`);
* encode small protobufs by hand: pprof profiles (:func:`pprof`) and Push
  requests (:func:`push_request`), so no protobuf library is needed;
* read back what was stored with ``tests/store_dump`` (:func:`store_dump`;
  the server must be stopped, the store is single-process) and parse
  ``/metrics`` (:func:`parse_metrics`);
* collect soft assertions (:class:`Checks`) so one run reports every failure.

Environment: ``PYRITE_BUILD_DIR`` and ``PYRITE_SOURCE_DIR`` (set by CTest);
without them the paths are derived from this file's location.
``PYRITE_IT_KEEP=1`` keeps temp dirs and server logs.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

SKIP_RC = 77

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("PYRITE_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("PYRITE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
# The conformance corpus is vendored in tests/data (Apache-2.0, see its LICENSE).
CORPUS_DIR = os.environ.get("PYRITE_CONFORMANCE_DIR") or os.path.join(
    SOURCE_DIR, "tests", "data", "jfr-parser-corpus")


def log(msg: str = "") -> None:
    print(msg, flush=True)


def pyrited_path() -> str:
    return os.path.join(BUILD_DIR, "bin", "pyrited")


def store_dump_path() -> str:
    return os.path.join(BUILD_DIR, "tests", "store_dump")


def require_binaries(*extra: str) -> None:
    """Exit with SKIP_RC if pyrited (or an extra tool) has not been built."""
    for path in (pyrited_path(),) + extra:
        if not os.path.isfile(path):
            log(f"SKIP: not built: {path} (cmake --build, or set PYRITE_BUILD_DIR)")
            sys.exit(SKIP_RC)


def corpus(name: str) -> bytes:
    with open(os.path.join(CORPUS_DIR, name), "rb") as f:
        return f.read()


# --------------------------------------------------------------------------- server

class Server:
    """A pyrited process on 127.0.0.1 with its own data directory."""

    def __init__(self, *args: str, data_dir: Optional[str] = None, name: str = "pyrited"):
        self.args = list(args)
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"pyrite-it-{name}-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.starts = 0

    def start(self, timeout: float = 30.0) -> "Server":
        self.starts += 1
        logf = open(self.log_path, "ab")
        cmd = [pyrited_path(), "--listen", "127.0.0.1:0", "--data-dir", self.data_dir] + self.args
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.time() + timeout
        pat = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)/")
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pyrited exited with {self.proc.returncode}: {self.log_tail()}")
            with open(self.log_path, "rb") as f:
                found = pat.findall(f.read())
            if len(found) >= self.starts:
                self.port = int(found[-1])
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(f"pyrited did not start: {self.log_tail()}")
        while time.time() < deadline:
            try:
                st, _, _ = self.get("/ready")
                if st == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"pyrited never became ready: {self.log_tail()}")

    def log_tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("pyrited did not stop on SIGTERM")
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        if self.proc is not None:
            self.kill9()
        if os.environ.get("PYRITE_IT_KEEP") == "1":
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # HTTP shortcuts
    def request(self, method: str, path: str, body: Union[bytes, None] = None,
                headers: Optional[Dict[str, str]] = None, chunked: bool = False,
                chunk_size: int = 8192, timeout: float = 60.0):
        return request(self.port, method, path, body, headers, chunked, chunk_size, timeout)

    def get(self, path: str, headers: Optional[Dict[str, str]] = None):
        return self.request("GET", path, None, headers)

    def post(self, path: str, body: bytes, headers: Optional[Dict[str, str]] = None,
             chunked: bool = False):
        return self.request("POST", path, body, headers, chunked)

    def metrics(self) -> Dict[str, float]:
        st, _, body = self.get("/metrics")
        if st != 200:
            raise RuntimeError(f"/metrics -> {st}")
        return parse_metrics(body.decode())


def request(port: int, method: str, path: str, body: Union[bytes, None] = None,
            headers: Optional[Dict[str, str]] = None, chunked: bool = False,
            chunk_size: int = 8192, timeout: float = 60.0) -> Tuple[int, Dict[str, str], bytes]:
    """One request on a fresh connection; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if chunked and body is not None:
            def gen() -> Iterable[bytes]:
                for i in range(0, len(body), chunk_size):
                    yield body[i:i + chunk_size]
            conn.request(method, path, body=gen(), headers=hdrs, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def parse_metrics(text: str) -> Dict[str, float]:
    """Prometheus text -> {'name{labels}': value} (label order as printed)."""
    out: Dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        try:
            out[key] = float(val)
        except ValueError:
            pass
    return out


def json_error(body: bytes) -> Dict[str, str]:
    """Parses a JSON error body; raises if it is not {"code","message"}."""
    obj = json.loads(body.decode())
    if not isinstance(obj, dict) or "code" not in obj or "message" not in obj:
        raise ValueError(f"not a JSON error body: {body[:200]!r}")
    return obj


# --------------------------------------------------------------------------- bodies

def multipart(parts: Sequence[Tuple[str, Optional[str], Optional[str], bytes]],
              boundary: Optional[str] = None) -> Tuple[str, bytes]:
    """parts: (name, filename or None, content type or None, data).
    Returns (Content-Type, body) formatted like Java's/Go's writers."""
    b = boundary or str(uuid.uuid4())
    out = bytearray()
    for name, filename, ctype, data in parts:
        out += f"--{b}\r\n".encode()
        disp = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out += disp.encode() + b"\r\n"
        if ctype is not None:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    out += f"--{b}--\r\n".encode()
    return f"multipart/form-data; boundary={b}", bytes(out)


def java_agent_upload(jfr_gz: bytes, labels_gz: Optional[bytes]) -> Tuple[str, bytes]:
    """The Pyroscope Java agent's form: gzipped `jfr` and `labels` file parts."""
    parts = [("jfr", "jfr", None, jfr_gz)]
    if labels_gz is not None:
        parts.append(("labels", "labels", "application/x-protobuf", labels_gz))
    return multipart(parts)


# --------------------------------------------------------------------------- protobuf

def _varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_int(field: int, v: int) -> bytes:
    return _varint(field << 3) + _varint(v) if v else b""


def pb_bytes(field: int, data: Union[bytes, str]) -> bytes:
    if isinstance(data, str):
        data = data.encode()
    return _varint((field << 3) | 2) + _varint(len(data)) + data


def pb_packed(field: int, values: Sequence[int]) -> bytes:
    if not values:
        return b""
    return pb_bytes(field, b"".join(_varint(v) for v in values))


def pprof(sample_types: Sequence[Tuple[str, str]],
          samples: Sequence[Tuple[Sequence[str], Sequence[int], Dict[str, str]]],
          period_type: Tuple[str, str] = ("cpu", "nanoseconds"), period: int = 10_000_000,
          time_nanos: int = 0, duration_nanos: int = 10_000_000_000,
          lines: Optional[Dict[str, int]] = None) -> bytes:
    """A google.v1.Profile: samples are (stack root first, values, labels).
    Every distinct frame name gets one function and one location."""
    strings: List[str] = [""]
    index: Dict[str, int] = {"": 0}

    def s(x: str) -> int:
        if x not in index:
            index[x] = len(strings)
            strings.append(x)
        return index[x]

    msg = bytearray()
    for t, u in sample_types:
        msg += pb_bytes(1, pb_int(1, s(t)) + pb_int(2, s(u)))
    frames: Dict[str, int] = {}
    for stack, _, _ in samples:
        for f in stack:
            frames.setdefault(f, len(frames) + 1)
    for stack, values, labels in samples:
        body = pb_packed(1, [frames[f] for f in reversed(stack)])  # leaf first
        body += pb_packed(2, list(values))
        for k, v in labels.items():
            body += pb_bytes(3, pb_int(1, s(k)) + pb_int(2, s(v)))
        msg += pb_bytes(2, body)
    for f, fid in frames.items():
        line = (lines or {}).get(f, 0)
        msg += pb_bytes(4, pb_int(1, fid) + pb_bytes(4, pb_int(1, fid) + pb_int(2, line)))
    for f, fid in frames.items():
        msg += pb_bytes(5, pb_int(1, fid) + pb_int(2, s(f)))
    names = [s(period_type[0]), s(period_type[1])]
    for x in strings:
        msg += pb_bytes(6, x)
    msg += pb_int(9, time_nanos) + pb_int(10, duration_nanos)
    msg += pb_bytes(11, pb_int(1, names[0]) + pb_int(2, names[1]))
    msg += pb_int(12, period)
    return bytes(msg)


def push_request(series: Sequence[Tuple[Dict[str, str], Sequence[bytes]]]) -> bytes:
    """push.v1.PushRequest: series of (labels, raw profiles)."""
    msg = bytearray()
    for labels, raws in series:
        body = bytearray()
        for k, v in labels.items():
            body += pb_bytes(1, pb_bytes(1, k) + pb_bytes(2, v))
        for raw in raws:
            body += pb_bytes(2, pb_bytes(1, raw) + pb_bytes(2, str(uuid.uuid4())))
        msg += pb_bytes(1, bytes(body))
    return bytes(msg)


def push_request_json(series: Sequence[Tuple[Dict[str, str], Sequence[bytes]]],
                      snake: bool = False) -> bytes:
    raw_key = "raw_profile" if snake else "rawProfile"
    obj = {"series": [
        {"labels": [{"name": k, "value": v} for k, v in labels.items()],
         "samples": [{raw_key: base64.b64encode(r).decode(), "ID": str(uuid.uuid4())} for r in raws]}
        for labels, raws in series]}
    return json.dumps(obj).encode()


# --------------------------------------------------------------------------- storage

def store_dump(data_dir: str, tenants: Sequence[str] = ("anonymous",),
               lines: bool = False) -> List[dict]:
    """Series stored under data_dir (pyrited must be stopped)."""
    cmd = [store_dump_path(), data_dir]
    for t in tenants:
        cmd += ["--tenant", t]
    if lines:
        cmd.append("--lines")
    out = subprocess.run(cmd, capture_output=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"store_dump failed: {out.stderr.decode(errors='replace')}")
    return [json.loads(l) for l in out.stdout.decode().splitlines() if l.strip()]


def series_matching(series: List[dict], **labels: str) -> List[dict]:
    return [s for s in series if all(s["labels"].get(k) == v for k, v in labels.items())]


# --------------------------------------------------------------------------- checks

class Checks:
    """Soft assertions: record failures, keep going, report at the end."""

    def __init__(self) -> None:
        self.failures: List[str] = []
        self.passed = 0

    def check(self, cond: bool, what: str) -> bool:
        if cond:
            self.passed += 1
            log(f"  ok   {what}")
        else:
            self.failures.append(what)
            log(f"  FAIL {what}")
        return cond

    def eq(self, got, want, what: str) -> bool:
        return self.check(got == want, f"{what}: got {got!r}, want {want!r}" if got != want else what)

    def run(self, name: str, fn, *args) -> None:
        log(f"== {name}")
        try:
            fn(self, *args)
        except Exception:  # a crashed step is one failure; later steps still run
            self.failures.append(f"{name}: exception")
            log(traceback.format_exc())

    def finish(self) -> int:
        log(f"\n{self.passed} checks passed, {len(self.failures)} failed")
        for f in self.failures:
            log(f"  FAILED: {f}")
        return 1 if self.failures else 0
