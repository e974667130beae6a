# ctest-labels: sanitize
"""kill -9 durability of pyrited's store (server/store*.c).

Drives tests/tools/store_crash.c: a child process writes uploads from
several threads and prints "ACK <id>" after each write returned OK.  The
test SIGKILLs it at a random moment, then reopens the store with
`store_crash verify`, which runs pyr_store_check (PRAGMA integrity_check,
every dictionary chunk and profile block decodes, counters match) and
lists the upload ids found.  Every acknowledged id must be there with all
3 of its profiles (uploads are atomic: no id may be partial), and
Python's own sqlite3 must find the database intact.

Rounds reuse one data directory, so later rounds also recover from the
state earlier kills left; ids continue across rounds.  Half of the rounds
use synchronous=NORMAL, which must survive a process kill too (only power
loss may drop the last commits in that mode).  Compaction runs all the
time in the child, so kills also land inside compaction transactions.

Environment: PYRITE_BUILD_DIR (CTest sets it); exits 77 (skip) when the
tool has not been built.  PYRITE_STORE_CRASH_ROUNDS overrides the rounds
(default 6), PYRITE_STORE_CRASH_SEED the random seed.
"""

import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

SKIP_RC = 77
ENTRIES = 3

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("PYRITE_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("PYRITE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
TOOL = os.path.join(BUILD_DIR, "tests", "store_crash")


def log(msg):
    print(msg, flush=True)


def run_round(tool, data_dir, start, normal, rng):
    """Starts a writer, kills it at a random moment; returns acked ids."""
    args = [tool, "write", data_dir, "--start", str(start), "--threads", "4"]
    if normal:
        args.append("--normal")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Wait for READY (the store opened, recovery of the previous kill done).
    line = proc.stdout.readline().decode(errors="replace").strip()
    if line != "READY":
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError("writer did not start: %r %s" % (line, err.decode(errors="replace")))
    delay = rng.uniform(0.2, 2.5)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    if proc.returncode != -signal.SIGKILL:
        raise AssertionError("writer exited on its own (rc %s): %s"
                             % (proc.returncode, err.decode(errors="replace")))
    acked = set()
    for ln in out.decode(errors="replace").splitlines():
        m = re.fullmatch(r"ACK (\d+)", ln)
        if m:  # a line cut by the kill has no newline and may be partial: skip it
            acked.add(int(m.group(1)))
    return acked, delay


def verify(tool, data_dir):
    p = subprocess.run([tool, "verify", data_dir], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    out = p.stdout.decode(errors="replace")
    have, bad, check = {}, [], None
    for ln in out.splitlines():
        if ln.startswith("HAVE "):
            _, i, n = ln.split()
            have[int(i)] = int(n)
        elif ln.startswith("BAD "):
            bad.append(ln)
        elif ln.startswith("CHECK "):
            check = ln[6:]
    return p.returncode, have, bad, check, p.stderr.decode(errors="replace")


def sqlite_integrity(data_dir):
    con = sqlite3.connect(os.path.join(data_dir, "pyrite.db"))
    try:
        res = con.execute("PRAGMA integrity_check").fetchall()
        rows = con.execute("SELECT count(*), coalesce(sum(k), 0) FROM profiles").fetchone()
    finally:
        con.close()
    return res, rows


def main():
    if not os.path.exists(TOOL):
        print("SKIP: %s not built" % TOOL)
        return SKIP_RC
    rounds = int(os.environ.get("PYRITE_STORE_CRASH_ROUNDS", "6"))
    seed = int(os.environ.get("PYRITE_STORE_CRASH_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    log("store crash test: %d rounds, seed %d" % (rounds, seed))
    data_dir = tempfile.mkdtemp(prefix="pyrite-store-crash-")
    failures = []
    all_acked = set()
    start = 0
    try:
        for rnd in range(rounds):
            normal = rnd % 2 == 1
            acked, delay = run_round(TOOL, data_dir, start, normal, rng)
            all_acked |= acked
            rc, have, bad, check, err = verify(TOOL, data_dir)
            missing = sorted(all_acked - set(have))
            partial = sorted(i for i, n in have.items() if n != ENTRIES)
            integ, rows = sqlite_integrity(data_dir)
            log("round %d (%s, killed after %.2fs): %d acked this round, %d ids stored,"
                " %d rows holding %d profiles, check: %s"
                % (rnd, "NORMAL" if normal else "FULL", delay, len(acked), len(have),
                   rows[0], rows[1], check))
            if not acked:
                failures.append("round %d: no upload acknowledged in %.2fs" % (rnd, delay))
            if missing:
                failures.append("round %d: %d acknowledged uploads lost, e.g. %s"
                                % (rnd, len(missing), missing[:10]))
            if partial:
                failures.append("round %d: %d uploads stored partially, e.g. %s"
                                % (rnd, len(partial), [(i, have[i]) for i in partial[:5]]))
            if bad:
                failures.append("round %d: %s" % (rnd, "; ".join(bad[:5])))
            if check != "ok" or rc != 0:
                failures.append("round %d: verify failed (rc %d, check %r) %s"
                                % (rnd, rc, check, err.strip()[:300]))
            if integ != [("ok",)]:
                failures.append("round %d: sqlite3 integrity_check: %r" % (rnd, integ[:5]))
            if rows[1] != ENTRIES * len(have):
                failures.append("round %d: %d profiles in rows, %d expected"
                                % (rnd, rows[1], ENTRIES * len(have)))
            start = (max(have) + 1 if have else start) + 1000
    finally:
        if os.environ.get("PYRITE_IT_KEEP") != "1":
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            log("kept %s" % data_dir)
    if failures:
        for f in failures:
            log("FAIL: " + f)
        return 1
    log("PASS: %d acknowledged uploads all survived %d kills" % (len(all_acked), rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
