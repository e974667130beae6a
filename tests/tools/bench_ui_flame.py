#!/usr/bin/env python3
"""bench_ui_flame.py - web UI flame graph timings with ~100k nodes.

Reproduces the numbers in docs/web-ui.md "Speed": starts the real pyrited
(free loopback port, temp data dir), ingests one synthetic folded profile
whose flame graph has about 100,000 nodes over 40 levels, opens the UI in
headless Chromium (the DevTools-pipe driver of
tests/integration/test_ui_browser.py) with ``maxNodes=200000`` so nothing
is folded into ``other``, and reads the page's test hook:

* ``__pyrite.timings``: fetchMs (render request), decodeMs (flamebearer ->
  typed arrays), showMs (first flame graph draw plus the table);
* ``__pyrite.timeDraw()``: one full redraw, repeated;
* ``__pyrite.nodes()``: the node count actually decoded.

The page is loaded --loads times (default 5), with --redraws redraws after
each (default 9); it prints medians, min and max.  Timings are reported,
never asserted.  Needs Chromium (Debian's ``chromium``).  Python 3 standard
library only.

Usage: tests/tools/bench_ui_flame.py --build build [--loads 5] [--redraws 9]
"""

import argparse
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def synthetic_folded(seed: int = 7) -> str:
    """3,200 stacks 40 frames deep: the first 8 levels fan out (shared
    prefixes), the other 32 are distinct per stack: about 3,200 x 32 +
    shared = ~103k nodes."""
    rnd = random.Random(seed)
    lines = []
    nstacks = 3200
    for i in range(nstacks):
        frames = ["main"]
        for lvl in range(1, 8):
            group = i * (2 ** lvl) // nstacks  # 2, 4, ..., 128 groups
            frames.append(f"com/example/l{lvl}/Svc{group}.call")
        for lvl in range(8, 40):
            frames.append(f"com/example/deep/S{i}.f{lvl}")
        lines.append(";".join(frames) + f" {rnd.randrange(1, 200)}\n")
    return "".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build dir with bin/pyrited")
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--redraws", type=int, default=9)
    args = ap.parse_args()
    os.environ["PYRITE_BUILD_DIR"] = os.path.abspath(args.build)

    import server_it as it  # noqa: E402  (reads PYRITE_BUILD_DIR at import)
    import test_ui_browser as ui  # noqa: E402

    exe = ui.find_chromium()
    if exe is None:
        print("chromium not installed (apt-get install -y chromium)")
        return 1
    body = synthetic_folded().encode()
    srv = it.Server(name="ui-bench")
    b = None
    try:
        srv.start()
        now = int(time.time())
        st, _, resp = srv.post(f"/ingest?name=bigapp&format=folded&from={now - 600}&until={now - 590}",
                               body, {"Content-Type": "text/plain"})
        if st != 200:
            print(f"ingest failed: {st} {resp[:200]!r}")
            return 1
        b = ui.Browser(exe)
        url = (f"http://127.0.0.1:{srv.port}/?app=bigapp&type={ui.CPU}"
               "&from=now-1h&until=now&maxNodes=200000")
        fetch, decode, show, redraw = [], [], [], []
        nodes = 0
        for i in range(args.loads):
            ui.goto(b, url, timeout=120)
            t = b.eval("__pyrite.timings")
            nodes = b.eval("__pyrite.nodes()")
            fetch.append(t["fetchMs"])
            decode.append(t["decodeMs"])
            show.append(t["showMs"])
            for _ in range(args.redraws):
                redraw.append(b.eval("__pyrite.timeDraw()"))
        drawn = len(b.eval("__pyrite.drawn") or [])
        print(f"profile     {len(body)} bytes folded, {nodes} nodes decoded, {drawn} frames drawn "
              f"(maxNodes=200000)")
        print(f"runs        {args.loads} page loads, {args.redraws} redraws after each")

        def line(name, xs):
            print(f"{name:10s}  p50 {statistics.median(xs):7.1f} ms | min {min(xs):7.1f} | max {max(xs):7.1f}")
        line("fetch", fetch)
        line("decode", decode)
        line("first draw", show)
        line("redraw", redraw)
    finally:
        if b is not None:
            b.close()
        srv.stop()
        srv.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
