#!/usr/bin/env python3
"""The install step and the container images' contract, without Docker.

Docker cannot run on the build machines (no daemon), so the images
themselves are not built here. This test runs what the images are made of
instead, and reads the Dockerfile so the two cannot drift apart:

static (Dockerfile, docker-compose.yml, deploy/):
  - the stages build, agent, example and server exist, on debian:12,
    eclipse-temurin:17-jre and debian:12-slim; the build stage's packages are
    ones scripts/deps.sh installs; the install step is scripts/install.sh;
  - server: non-root USER, VOLUME /var/lib/pyrite, EXPOSE 4040, a HEALTHCHECK
    on /ready with curl, which the stage installs; every shared library the
    installed pyrited and pyrite need comes from a package the stage
    installs (NEEDED sonames -> `dpkg -S` on this Debian 12 host), and the
    agent stage likewise for libpyrite.so;
  - compose: pyrited from the server target with a volume, the example with
    the agent pushing to http://pyrited:4040, Grafana with the provisioned
    grafana-pyroscope-datasource pointing there;
dynamic (real processes, temporary prefix):
  - scripts/install.sh PREFIX $PYRITE_BUILD_DIR installs and verifies
    lib/libpyrite.so, bin/pyrited, bin/pyrite; `--check` fails on a prefix
    without them;
  - pyrited runs from PREFIX exactly as the server ENTRYPOINT says (plus a
    loopback --listen and a temporary --data-dir, which override it), and
    the HEALTHCHECK command succeeds against it;
  - a JDK 17 JVM runs with JAVA_TOOL_OPTIONS exactly as the agent stage's
    ENV sets it (only /opt/pyrite rewritten to PREFIX) and is configured only
    by PYROSCOPE_* variables, as a user of the agent image would; the data
    arrives: queried back over HTTP (label values, a CPU flame graph whose
    hot frame is the workload's, the allocation profile type).

Budget: ~20-40 s. Usage: python3 tests/integration/test_install_prefix.py
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrite_it as it  # noqa: E402
import server_it as sit  # noqa: E402

SRC = it.SOURCE_DIR
DOCKERFILE = os.path.join(SRC, "Dockerfile")
COMPOSE = os.path.join(SRC, "docker-compose.yml")
DATASOURCE = os.path.join(SRC, "deploy", "grafana", "provisioning", "datasources", "pyrite.yaml")
INSTALL_SH = os.path.join(SRC, "scripts", "install.sh")
IMAGE_PREFIX = "/opt/pyrite"
CPU_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"


# ------------------------------------------------------------------ Dockerfile

def dockerfile_stages(text):
    """{stage name: {"base": image, "instr": [(INSTRUCTION, argument)]}}.

    Joins backslash continuations and drops comments; enough of the Dockerfile
    grammar for the instructions this project uses."""
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # a comment inside a continued RUN
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append(cur + s)
        cur = ""
    stages, order, stage = {}, [], None
    for ln in lines:
        instr, _, arg = ln.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", arg.strip(), re.I)
            stage = m.group(2) or f"#{len(order)}"
            base = m.group(1)
            stages[stage] = {"base": base, "instr": []}
            order.append(stage)
        elif stage is not None:
            stages[stage]["instr"].append((instr, arg.strip()))
    return stages, order


def instr_args(stage, name):
    return [a for i, a in stage["instr"] if i == name]


def exec_form(arg):
    """JSON exec form (["a", "b"]) or shell form -> argv list."""
    arg = arg.strip()
    if arg.startswith("["):
        return json.loads(arg)
    return shlex.split(arg)


def apt_packages(stage):
    """Every package named after `apt-get install` in the stage's RUNs."""
    pkgs = set()
    for run in instr_args(stage, "RUN"):
        for m in re.finditer(r"apt-get install ([^&|;)]*)", run):
            pkgs.update(w for w in m.group(1).split() if not w.startswith("-"))
    return pkgs


def deps_sh_packages():
    with open(os.path.join(SRC, "scripts", "deps.sh")) as f:
        text = f.read()
    body = re.search(r"PKGS=\((.*?)\n\)", text, re.S).group(1)
    return {w for line in body.splitlines() for w in line.split("#")[0].split()}


def java_tool_options(stage):
    for arg in instr_args(stage, "ENV"):
        m = re.match(r'JAVA_TOOL_OPTIONS=(?:"([^"]*)"|(\S+))\s*$', arg)
        if m:
            return m.group(1) if m.group(1) is not None else m.group(2)
    return None


def needed_packages(path):
    """Debian packages that provide the NEEDED sonames of an ELF file, on
    this host (Debian 12, the build image's distribution)."""
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True,
                         check=True).stdout
    ldd = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    pkgs = {}
    for so in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out):
        if so.startswith(("libc.so", "libm.so", "ld-linux", "libpthread", "libdl", "librt")):
            continue  # glibc: in every base image
        real = os.path.realpath(where.get(so, so))
        pkg = None
        for cand in (real, real.replace("/usr/lib/", "/lib/", 1), real.replace("/lib/", "/usr/lib/", 1)):
            p = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if p.returncode == 0:
                pkg = p.stdout.split(":")[0].strip()
                break
        pkgs[so] = pkg
    return pkgs


def check_dockerfile(ck, prefix):
    with open(DOCKERFILE) as f:
        stages, order = dockerfile_stages(f.read())
    for name, base in (("build", "debian:12"), ("agent", "eclipse-temurin:17-jre"),
                       ("example", "agent"), ("server", "debian:12-slim")):
        ck.check(name in stages and stages[name]["base"] == base, f"stage {name} FROM {base}",
                 str(stages.get(name, {}).get("base")))
    ck.require(all(n in stages for n in ("build", "agent", "server")), "stages present", str(order))
    ck.check(order[-1] == "server", "server is the default (last) target", order[-1])

    build = stages["build"]
    runs = " ".join(instr_args(build, "RUN"))
    ck.check(re.search(r"(^|\s)scripts/install\.sh /opt/pyrite\b", runs) is not None,
             "build installs with scripts/install.sh /opt/pyrite")
    extra = apt_packages(build) - deps_sh_packages()
    ck.check(not extra and apt_packages(build), "build stage installs only deps.sh packages",
             f"not in deps.sh: {sorted(extra)}" if extra else f"{len(apt_packages(build))} packages")
    ck.check("-DPYRITE_TESTS=OFF" in runs, "build stage builds without tests (no cmocka)")

    srv = stages["server"]
    users = instr_args(srv, "USER")
    ck.check(bool(users) and users[-1].split(":")[0] not in ("root", "0"), "server USER is not root",
             str(users))
    ck.check("/var/lib/pyrite" in " ".join(instr_args(srv, "VOLUME")), "server VOLUME /var/lib/pyrite")
    ck.check("4040" in " ".join(instr_args(srv, "EXPOSE")).split(), "server EXPOSE 4040")
    hc = instr_args(srv, "HEALTHCHECK")
    hc_cmd = None
    if hc:
        m = re.search(r"\bCMD\s+(.*)$", hc[-1])
        hc_cmd = exec_form(m.group(1)) if m else None
    ck.require(hc_cmd is not None and any(a.endswith(":4040/ready") for a in hc_cmd),
               "server HEALTHCHECK requests /ready on port 4040", str(hc_cmd))
    srv_pkgs = apt_packages(srv)
    ck.check(hc_cmd[0] in srv_pkgs, f"the health check's tool ({hc_cmd[0]}) is installed in the stage",
             str(sorted(srv_pkgs)))
    entry = exec_form(instr_args(srv, "ENTRYPOINT")[-1])
    ck.check(entry == ["/opt/pyrite/bin/pyrited", "--listen", "0.0.0.0:4040", "--data-dir",
                       "/var/lib/pyrite"], "server ENTRYPOINT runs pyrited on 0.0.0.0:4040, /var/lib/pyrite",
             str(entry))

    for stage_name, files in (("server", ("bin/pyrited", "bin/pyrite")), ("agent", ("lib/libpyrite.so",))):
        have = apt_packages(stages[stage_name])
        for f in files:
            need = needed_packages(os.path.join(prefix, f))
            # Ubuntu 24.04 (eclipse-temurin) renamed some libraries *t64.
            missing = {so: p for so, p in need.items()
                       if p is None or not ({p, p + "t64"} & have)}
            ck.check(not missing, f"{stage_name} stage installs the libraries {f} needs",
                     f"missing {missing}" if missing else ", ".join(sorted(set(need.values()))))

    agent = stages["agent"]
    jto = java_tool_options(agent)
    ck.require(jto is not None and f"-agentpath:{IMAGE_PREFIX}/lib/libpyrite.so" in jto,
               "agent stage presets JAVA_TOOL_OPTIONS with the agent", str(jto))
    copies = " ".join(instr_args(agent, "COPY"))
    ck.check(f"{IMAGE_PREFIX}/lib/libpyrite.so" in copies.split(), "agent stage copies libpyrite.so there")
    return stages, entry, hc_cmd, jto


def check_compose(ck, stages):
    with open(COMPOSE) as f:
        compose = f.read()
    with open(DATASOURCE) as f:
        ds = f.read()
    ck.check(re.search(r"^\s+type:\s*grafana-pyroscope-datasource\s*$", ds, re.M) is not None
             and re.search(r"^\s+url:\s*http://pyrited:4040\s*$", ds, re.M) is not None,
             "Grafana datasource: grafana-pyroscope-datasource at http://pyrited:4040")
    ck.check(re.search(r"^  pyrited:\s*$", compose, re.M) is not None
             and re.search(r"target:\s*server\b", compose) is not None
             and re.search(r":/var/lib/pyrite\s*$", compose, re.M) is not None,
             "compose: pyrited from the server target with a data volume")
    ck.check("PYROSCOPE_SERVER_ADDRESS: http://pyrited:4040" in compose
             and re.search(r"target:\s*example\b", compose) is not None,
             "compose: the example pushes to http://pyrited:4040")
    ck.check(re.search(r"image:\s*grafana/grafana", compose) is not None
             and "./deploy/grafana/provisioning:/etc/grafana/provisioning" in compose,
             "compose: Grafana with deploy/grafana/provisioning mounted")
    # Every Java main class the images and compose start must exist in examples/.
    example = stages.get("example", {"instr": []})
    text = compose + " ".join(a for _, a in example["instr"])
    for cls in sorted(set(re.findall(r"\bpyrite\.examples\.[\w.]+", text))):
        src = os.path.join(SRC, "examples", "src", *cls.split(".")) + ".java"
        ck.check(os.path.isfile(src), f"main class {cls} exists in examples/", src)


# ------------------------------------------------------------------- processes

def start_server(argv, data_dir, log_path, timeout=30.0):
    logf = open(log_path, "wb")
    proc = subprocess.Popen(argv + ["--listen", "127.0.0.1:0", "--data-dir", data_dir],
                            stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        with open(log_path, "rb") as f:
            m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)/", f.read())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    with open(log_path, "r", errors="replace") as f:
        raise RuntimeError(f"pyrited from the prefix did not start: {f.read()[-2000:]}")


def get_json(port, path):
    st, _, body = sit.request(port, "GET", path)
    if st != 200:
        raise RuntimeError(f"GET {path} -> {st}: {body[:300]!r}")
    return json.loads(body)


def case_install_and_run(ck):
    tmp = it.make_tempdir("pyrite-it-install-")
    prefix = os.path.join(tmp, "opt", "pyrite")

    # 1. The shared install step.
    p = subprocess.run(["bash", INSTALL_SH, prefix, it.BUILD_DIR], capture_output=True, text=True,
                       timeout=120)
    ck.require(p.returncode == 0, "scripts/install.sh PREFIX BUILD_DIR succeeds", f"rc={p.returncode}",
               p.stdout + p.stderr)
    for f, mode in (("lib/libpyrite.so", None), ("bin/pyrited", 0o111), ("bin/pyrite", 0o111)):
        path = os.path.join(prefix, f)
        ok = os.path.isfile(path) and (mode is None or os.stat(path).st_mode & mode == mode)
        ck.check(ok, f"installed {f}")
    ck.check("ok: lib/libpyrite.so bin/pyrited bin/pyrite" in p.stderr, "install.sh verified the prefix",
             p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "")
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    p = subprocess.run(["bash", INSTALL_SH, "--check", empty], capture_output=True, text=True)
    ck.check(p.returncode == 1 and "missing:" in p.stderr, "install.sh --check fails on an empty prefix",
             f"rc={p.returncode}")

    # 2. Static checks that need the installed binaries.
    stages, entry, hc_cmd, jto = check_dockerfile(ck, prefix)
    check_compose(ck, stages)

    # 3. The server as the image starts it.
    argv = [a.replace(IMAGE_PREFIX, prefix, 1) if a.startswith(IMAGE_PREFIX) else a for a in entry]
    data = os.path.join(tmp, "data")
    proc, port = start_server(argv, data, os.path.join(tmp, "pyrited.log"))
    try:
        hc = [a.replace(":4040/", f":{port}/") for a in hc_cmd]
        deadline = time.time() + 20
        while True:
            r = subprocess.run(hc, capture_output=True, text=True, timeout=10)
            if r.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.1)
        ck.check(r.returncode == 0, "the HEALTHCHECK command succeeds against the running server",
                 " ".join(hc), r.stderr)

        # 4. A JVM configured like an app in an image built FROM the agent stage.
        tool_opts = jto.replace(f"-agentpath:{IMAGE_PREFIX}/", f"-agentpath:{prefix}/")
        app = f"install-it-{os.getpid()}"
        env = {"JAVA_TOOL_OPTIONS": tool_opts,
               "PYROSCOPE_SERVER_ADDRESS": f"http://127.0.0.1:{port}",
               "PYROSCOPE_APPLICATION_NAME": app,
               "PYROSCOPE_LABELS": "env=container-test",
               "PYROSCOPE_PROFILER_ALLOC": "256k",
               "PYROSCOPE_UPLOAD_INTERVAL": "2s",
               "PYROSCOPE_LOG_LEVEL": "info"}
        jdk = it.javac_jdk()
        classes = it.compile_workloads()
        res = it.run_cmd([jdk.java, "-cp", classes, "pyrite.it.HotLoop", "--seconds", "4",
                          "--alloc-kb-per-s", "4096"], env, timeout=60)
        ck.require(res.ok, "the JVM runs with the image's JAVA_TOOL_OPTIONS", f"wall {res.wall_s:.1f}s",
                   res.describe())
        ck.check(f"Picked up JAVA_TOOL_OPTIONS: {tool_opts}" in res.stderr,
                 "the JVM picked up JAVA_TOOL_OPTIONS unchanged", tool_opts)
        stats = it.parse_stats(res.stderr) or {}
        ck.check(stats.get("uploads_sent", 0) >= 2 and stats.get("upload_failed_attempts", 1) == 0
                 and stats.get("uploads_rejected", 1) == 0,
                 "uploads sent to the server named by PYROSCOPE_SERVER_ADDRESS",
                 f"sent={stats.get('uploads_sent')} failed={stats.get('upload_failed_attempts')} "
                 f"rejected={stats.get('uploads_rejected')}", res.describe())

        # 5. The data is there, read back through the query API.
        apps = get_json(port, "/pyroscope/label-values?label=service_name")
        ck.check(app in apps, "service_name from PYROSCOPE_APPLICATION_NAME", str(apps))
        envs = get_json(port, "/pyroscope/label-values?label=env")
        ck.check("container-test" in envs, "label from PYROSCOPE_LABELS", str(envs))
        types = get_json(port, "/pyroscope/label-values?label=__name__")
        ck.check(CPU_TYPE in types and any(t.startswith("memory:alloc_in_new_tlab_bytes:") for t in types),
                 "CPU and allocation (PYROSCOPE_PROFILER_ALLOC) profiles stored", str(types))
        q = urllib.parse.quote(f'{CPU_TYPE}{{service_name="{app}"}}')
        fg = get_json(port, f"/pyroscope/render?query={q}&from=now-1h&until=now")
        ticks = fg["flamebearer"]["numTicks"]
        names = fg["flamebearer"]["names"]
        ck.check(ticks > 0 and any("HotLoop.spin" in n for n in names),
                 "the CPU flame graph holds the workload's hot method",
                 f"numTicks={ticks} ({ticks / 1e9:.2f} CPU-s), {len(names)} names")
    finally:
        proc.terminate()
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        ck.check(rc == 0, "pyrited from the prefix stops cleanly on SIGTERM", f"rc={rc}")


def main():
    for tool in ("readelf", "ldd", "dpkg", "curl"):
        if shutil.which(tool) is None:
            it.log(f"SKIP: {tool} not found (Debian 12 host expected)")
            sys.exit(it.SKIP_RC)
    sit.require_binaries(os.path.join(it.BUILD_DIR, "bin", "pyrite"),
                         os.path.join(it.BUILD_DIR, "lib", "libpyrite.so"))
    it.main([("install_prefix", case_install_and_run)])


if __name__ == "__main__":
    main()
