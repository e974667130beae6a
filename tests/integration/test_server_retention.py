# ctest-labels: sanitize
"""Integration test: retention and the disk-usage limit, end to end.

The store sweeps old data at startup and then every 5 minutes (there is no
flag for the period), so each case restarts pyrited on the same data
directory and waits for the startup sweep:

* retention: an upload 3 h old and a fresh one are ingested by a server
  keeping everything (``--retention 0``) and are both queryable; after a
  restart with ``--retention 1h`` the startup sweep deletes the old one
  (``pyrited_store_deleted_profiles_total`` = 1), it is gone from
  ``/pyroscope/render`` and the fresh one is intact.  (Started with
  ``--retention 1h`` from the beginning, the startup sweep may run before or
  after the uploads arrive, so the first phase keeps everything to make the
  test deterministic.)
* ``--max-disk-bytes``: twelve uploads five minutes apart (the same 3,000
  stacks, so the shared stack dictionary stops growing after the first and
  each upload adds only its values); after a restart with a limit half way
  between the size after one upload and after twelve, the oldest uploads
  are deleted, the newest stays, and ``pyrited_store_bytes_used`` is within
  the limit.  ``pyrited_store_bytes_used`` is computed when the store opens
  and during sweeps (not on every write), so sizes are read after restarts.

Runs in well under 30 s.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.parse
from typing import List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_it as it  # noqa: E402

CPU = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"


def render(srv: it.Server, app: str, t_from: str, t_until: str) -> dict:
    qs = urllib.parse.urlencode({"query": CPU + '{service_name="%s"}' % app,
                                 "from": t_from, "until": t_until})
    st, _, body = srv.get(f"/pyroscope/render?{qs}")
    if st != 200:
        raise RuntimeError(f"render -> {st}: {body[:200]!r}")
    return json.loads(body)["flamebearer"]


def ingest(c: it.Checks, srv: it.Server, app: str, t: int, folded: str, what: str) -> None:
    st, _, body = srv.post(f"/ingest?name={app}.cpu&from={t}&until={t + 10}&sampleRate=100&format=folded",
                           folded.encode())
    c.eq(st, 200, f"{what}: ingest ({body[:120]!r})")


def wait_metric(srv: it.Server, key: str, pred, timeout: float = 15.0) -> float:
    """Polls /metrics until pred(value) or the timeout; returns the last value."""
    deadline = time.time() + timeout
    v = srv.metrics().get(key, 0.0)
    while not pred(v) and time.time() < deadline:
        time.sleep(0.1)
        v = srv.metrics().get(key, 0.0)
    return v


def step_retention(c: it.Checks) -> None:
    srv = it.Server("--retention", "0", name="retention").start()
    try:
        now = int(time.time())
        ingest(c, srv, "ret", now - 3 * 3600, "main;old;frame 7\n", "3 h old upload")
        ingest(c, srv, "ret", now - 60, "main;fresh;frame 5\n", "fresh upload")
        fb = render(srv, "ret", "now-4h", "now")
        c.eq(fb["numTicks"], 12 * 10_000_000, "--retention 0: both uploads stored (12 samples)")
        c.eq(srv.stop(), 0, "retention: SIGTERM exit 0")

        srv.args = ["--retention", "1h"]
        srv.start()
        deleted = wait_metric(srv, "pyrited_store_deleted_profiles_total", lambda v: v >= 1)
        c.eq(deleted, 1.0, "startup sweep deleted exactly the old profile")
        fb = render(srv, "ret", "now-4h", "now")
        names = set(fb["names"])
        c.eq(fb["numTicks"], 5 * 10_000_000, "after the sweep: only the fresh upload's 5 samples")
        c.check("fresh" in names and "old" not in names, f"old frames gone, fresh kept ({sorted(names)})")
        c.eq(render(srv, "ret", str(now - 3 * 3600 - 60), str(now - 3 * 3600 + 60))["numTicks"], 0,
             "the old upload's own window is empty")
        c.eq(srv.stop(), 0, "retention: second SIGTERM exit 0")
    finally:
        srv.cleanup()


def upload_values(seed: int, nstacks: int = 3000) -> List[int]:
    """Pseudo-random values (seeded, so reproducible): they compress badly,
    so every upload adds several KB to the database."""
    rnd = random.Random(seed)
    return [rnd.randrange(1, 10**6) for _ in range(nstacks)]


def big_folded(seed: int) -> str:
    """The same stacks every time (one shared dictionary); values vary."""
    return "".join(f"main;pkg/Service{j % 37}.handle;pkg/Worker{j}.run;leaf{j % 11} {v}\n"
                   for j, v in enumerate(upload_values(seed)))


def step_disk_limit(c: it.Checks) -> None:
    srv = it.Server(name="disklimit").start()
    try:
        now = int(time.time())
        times = [now - 3600 + 300 * i for i in range(12)]  # oldest first, 5 min apart
        used_one = 0.0
        for i, t in enumerate(times):
            ingest(c, srv, "disk", t, big_folded(i), f"upload {i}")
            if i == 0:
                srv.stop()
                srv.start()
                used_one = srv.metrics().get("pyrited_store_bytes_used", 0.0)
        srv.stop()
        srv.start()
        m = srv.metrics()
        used_all = m.get("pyrited_store_bytes_used", 0.0)
        c.eq(m.get("pyrited_store_profiles"), 12.0, "12 profiles stored")
        c.check(used_all > used_one > 0, f"the database grew with each upload ({used_one:.0f} -> {used_all:.0f})")
        c.eq(srv.stop(), 0, "disk limit: SIGTERM exit 0")

        limit = int(used_one + (used_all - used_one) / 2)
        srv.args = ["--max-disk-bytes", str(limit)]
        srv.start()
        wait_metric(srv, "pyrited_store_deleted_profiles_total", lambda v: v >= 1)
        # The sweep deletes in passes; wait until the profile count settles.
        last, stable_since = -1.0, time.time()
        deadline = time.time() + 15
        while time.time() < deadline:
            n = srv.metrics().get("pyrited_store_profiles", -1.0)
            if n != last:
                last, stable_since = n, time.time()
            elif time.time() - stable_since > 1.0:
                break
            time.sleep(0.1)
        m = srv.metrics()
        left = m.get("pyrited_store_profiles", -1.0)
        deleted = m.get("pyrited_store_deleted_profiles_total", 0.0)
        c.check(0 < left < 12 and left + deleted == 12,
                f"limit {limit} B: some profiles deleted, some kept ({left:.0f} kept, {deleted:.0f} deleted)")
        c.check(m.get("pyrited_store_bytes_used", 1e18) <= limit,
                f"bytes used within the limit ({m.get('pyrited_store_bytes_used')} <= {limit})")
        newest = render(srv, "disk", str(times[-1] - 1), str(times[-1] + 11))
        c.eq(newest["numTicks"], sum(upload_values(11)) * 10_000_000, "the newest upload is intact")
        oldest = render(srv, "disk", str(times[0] - 1), str(times[0] + 11))
        c.eq(oldest["numTicks"], 0, "the oldest upload was deleted first")
        # Deletion goes oldest first: the kept uploads are the newest ones.
        kept = [i for i, t in enumerate(times) if render(srv, "disk", str(t - 1), str(t + 11))["numTicks"] > 0]
        c.eq(kept, list(range(12 - len(kept), 12)), "the kept uploads are the newest ones")
        c.eq(srv.stop(), 0, "disk limit: second SIGTERM exit 0")
    finally:
        srv.cleanup()


def main() -> int:
    it.require_binaries()
    c = it.Checks()
    c.run("retention", step_retention)
    c.run("disk-usage limit", step_disk_limit)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
