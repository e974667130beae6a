#!/usr/bin/env python3
"""bench_query_http.py - query latency over real HTTP against a running pyrited.

bench_query (bench_query.c) times pyr_query_handle in-process: no socket, no
HTTP parsing, no worker hand-off.  This script measures what a client sees:
it starts the real pyrited on the store bench_query generated and times

  * GET /pyroscope/render (flamebearer JSON), and
  * POST /querier.v1.QuerierService/SelectMergeStacktraces (application/proto,
    what Grafana sends)

for the last 1 h and the last 24 h of the synthetic app, each request on a
new TCP connection (like curl), the response read to the end.  One cold run,
then --runs warm runs interleaved (render 1h, smst 1h, render 24h, smst 24h,
...); it prints p50 / min / max in ms.

Usage:
  build/tests/bench_query DIR --uploads 8640 --runs 9    # generates DIR/query-day
  tests/tools/bench_query_http.py --build build --store DIR/query-day [--runs 9]

pyrited runs with --retention 0 (the synthetic data is dated 2026-01-01 and
would otherwise be deleted by the startup sweep) on a copy-free, in-place
data dir; its startup sweep compacts every closed hour, so these numbers are
for compacted data (compare bench_query's "compacted" rows).  Python 3
standard library only.
"""

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

CPU = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
SELECTOR = '{service_name="orders"}'


# Protobuf encoders shared with the integration tests (server_it.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from server_it import parse_metrics, pb_bytes as pb_str, pb_int  # noqa: E402


def request(port, method, path, body=None, headers=None):
    """One request on a new connection; returns (status, body, seconds)."""
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, time.perf_counter() - t
    finally:
        conn.close()


def metrics(port):
    _, body, _ = request(port, "GET", "/metrics")
    return parse_metrics(body.decode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build dir with bin/pyrited")
    ap.add_argument("--store", required=True, help="bench_query's DIR/query-day")
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()

    pyrited = os.path.join(args.build, "bin", "pyrited")
    logf = tempfile.NamedTemporaryFile(prefix="bench-query-http-", suffix=".log", delete=False)
    proc = subprocess.Popen([pyrited, "--listen", "127.0.0.1:0", "--data-dir", args.store,
                             "--retention", "0"], stdout=logf, stderr=subprocess.STDOUT)
    try:
        port = 0
        deadline = time.time() + 300
        while time.time() < deadline and not port:
            if proc.poll() is not None:
                sys.exit(f"pyrited exited: see {logf.name}")
            m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)/", open(logf.name, "rb").read())
            port = int(m.group(1)) if m else 0
            time.sleep(0.05)
        while time.time() < deadline:
            try:
                if request(port, "GET", "/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        # Wait for the startup sweep (compaction) to settle: rows unchanged
        # for 3 s.
        last, since = None, time.time()
        while time.time() < deadline:
            rows = metrics(port).get("pyrited_store_rows")
            if rows != last:
                last, since = rows, time.time()
            elif time.time() - since > 3:
                break
            time.sleep(0.5)
        m = metrics(port)
        print(f"store       {args.store}: {m.get('pyrited_store_profiles', 0):.0f} profiles in "
              f"{m.get('pyrited_store_rows', 0):.0f} rows after the startup sweep")

        # The newest profile: GetProfileStats (JSON) gives its time in ms.
        _, body, _ = request(port, "POST", "/querier.v1.QuerierService/GetProfileStats", b"{}",
                             {"Content-Type": "application/json"})
        newest_ms = int(json.loads(body)["newestProfileTime"])
        end_ms = newest_ms + 1000

        cases = []
        for label, span_ms in (("1h", 3600 * 1000), ("24h", 86400 * 1000)):
            start_ms = end_ms - span_ms
            q = (f"/pyroscope/render?query={CPU}{SELECTOR}&from={start_ms}&until={end_ms}"
                 .replace('"', "%22").replace("{", "%7B").replace("}", "%7D"))
            cases.append((f"render {label}", "GET", q, None, {}))
            smst = pb_str(1, CPU) + pb_str(2, SELECTOR) + pb_int(3, start_ms) + pb_int(4, end_ms)
            cases.append((f"smst-pb {label}", "POST", "/querier.v1.QuerierService/SelectMergeStacktraces",
                          smst, {"Content-Type": "application/proto"}))

        times = {c[0]: [] for c in cases}
        sizes, cold = {}, {}
        for run in range(args.runs + 1):
            for name, method, path, body, hdrs in cases:
                st, data, secs = request(port, method, path, body, hdrs)
                if st != 200:
                    sys.exit(f"{name}: HTTP {st}: {data[:200]!r}")
                sizes[name] = len(data)
                if run == 0:
                    cold[name] = secs
                else:
                    times[name].append(secs)
        print(f"runs        1 cold + {args.runs} warm per case, interleaved, new connection each")
        for name, _, _, _, _ in cases:
            t = [x * 1000 for x in times[name]]
            print(f"{name:12s} cold {cold[name] * 1000:7.1f} ms | p50 {statistics.median(t):7.1f} ms"
                  f" | min {min(t):7.1f} | max {max(t):7.1f} | {sizes[name]} bytes")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        logf.close()
        os.unlink(logf.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
