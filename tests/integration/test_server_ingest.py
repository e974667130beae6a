# ctest-labels: sanitize
"""Integration test: pyrited's ingest side, end to end over real HTTP.

Starts the real pyrited on a free loopback port and checks, against the
contract in docs/ingest.md and ../shared/reference/pyroscope-api.md §1-2:

* the exact upload of the Pyroscope Java agent (chunked transfer encoding,
  multipart with gzipped ``jfr`` and ``labels`` file parts) of the
  conformance recording dump1: 200, one series per dynamic label set with
  the §1.6 series labels, and the merged stacks equal the corpus' expected
  profile;
* raw JFR, raw and gzip pprof, the SDK multipart pprof form (with
  sample_type_config), folded and lines text, Push (protobuf, JSON with
  camelCase and snake_case, gzip Content-Encoding);
* bad inputs (bad name, garbage JFR, truncated gzip, oversized bodies by
  Content-Length and chunked, wrong content types, unsupported formats,
  missing file name, prev_profile, missing tenant, bad/read-only token):
  the right 4xx with a JSON {"code","message"}, and the server keeps
  serving with earlier data intact;
* tenants kept apart; /metrics counters and histograms; graceful SIGTERM;
  acknowledged uploads survive kill -9;
* graceful drain: SIGTERM in the middle of a chunked upload, the rest of the
  body is sent afterwards and answered 200, exit status 0, new connections
  refused, and the upload is stored.

Stored data is read back with tests/store_dump after stopping the server.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_it as it  # noqa: E402

AGENT_QS = ("&units=samples&aggregationType=sum&from=1706241880&until=1706241890"
            "&spyName=javaspy&sampleRate=100&format=jfr")
NAME = "myapp%7Benv%3Dprod%2Cotel.scope.name%3Dcom.grafana.pyroscope%2Fjava%7D"


def expected_collapsed(name: str) -> dict:
    text = gzip.decompress(it.corpus(name)).decode()
    out = {}
    for line in text.splitlines():
        stack, _, vals = line.rpartition(" [")
        out[stack] = int(vals.rstrip("]").split()[0])
    return out


def merged(series) -> dict:
    out: dict = {}
    for s in series:
        for k, v in s["stacks"].items():
            out[k] = out.get(k, 0) + v
    return {k: v for k, v in out.items() if v}


def expect_error(c: it.Checks, resp, status: int, what: str, needle: str = "") -> None:
    st, hdrs, body = resp
    c.eq(st, status, f"{what}: status")
    try:
        err = it.json_error(body)
        c.check(hdrs.get("content-type", "").startswith("application/json"),
                f"{what}: JSON content type")
        if needle:
            c.check(needle in err["message"], f"{what}: message mentions {needle!r} ({err['message']!r})")
    except Exception as e:  # noqa: BLE001
        c.check(False, f"{what}: JSON error body ({e}; {body[:200]!r})")


def still_serving(c: it.Checks, srv: it.Server, what: str) -> None:
    st, _, body = srv.get("/ready")
    c.check(st == 200 and body == b"ready", f"{what}: server still ready")


# --------------------------------------------------------------------------- steps

def step_java_agent(c: it.Checks, srv: it.Server) -> None:
    ct, body = it.java_agent_upload(it.corpus("dump1.jfr.gz"), it.corpus("dump1.labels.pb.gz"))
    st, _, resp = srv.post(f"/ingest?name={NAME}{AGENT_QS}", body,
                           {"Content-Type": ct, "User-Agent": "pyroscope-java"}, chunked=True)
    c.eq(st, 200, "java agent multipart upload (chunked, gzipped parts) -> 200")
    c.eq(resp, b"", "empty 200 body")
    # Same upload on the alias path, other app.
    st, _, _ = srv.post(f"/pyroscope/ingest?name=other{AGENT_QS}", body, {"Content-Type": ct},
                        chunked=True)
    c.eq(st, 200, "/pyroscope/ingest alias -> 200")


def step_raw_jfr(c: it.Checks, srv: it.Server) -> None:
    raw = gzip.decompress(it.corpus("wall_tick_sample.jfr.gz"))
    st, _, _ = srv.post("/ingest?name=rawjfr&format=jfr&from=1706241880&until=1706241890&sampleRate=100",
                        raw, {"Content-Type": "application/octet-stream"})
    c.eq(st, 200, "raw (uncompressed) JFR body -> 200")


def step_pprof(c: it.Checks, srv: it.Server) -> None:
    prof = it.pprof([("samples", "count"), ("cpu", "nanoseconds")],
                    [(["main", "work", "leaf"], [1, 10_000_000], {}),
                     (["main", "work"], [2, 20_000_000], {"integration": "redis"})],
                    time_nanos=1_700_000_000_000_000_000)
    st, _, _ = srv.post("/ingest?name=gosvc%7Bteam%3Dx%7D&format=pprof&spyName=gospy", prof)
    c.eq(st, 200, "raw pprof -> 200")
    st, _, _ = srv.post("/ingest?name=gzsvc&format=pprof", gzip.compress(prof))
    c.eq(st, 200, "gzip pprof -> 200")
    # The Go SDK's multipart form, without a format parameter.
    mem = it.pprof([("contentions", "count"), ("delay", "nanoseconds")],
                   [(["main", "lock"], [3, 300], {})], period_type=("contentions", "count"),
                   period=1)
    stc = json.dumps({"contentions": {"units": "lock_samples", "display-name": "mutex_count"},
                      "delay": {"units": "lock_nanoseconds", "display-name": "mutex_duration"}}).encode()
    ct, body = it.multipart([("profile", "profile.pprof", "application/octet-stream", gzip.compress(mem)),
                             ("sample_type_config", "sample_type_config.json", "application/octet-stream", stc)])
    st, _, _ = srv.post("/ingest?name=formsvc&from=1700000000&until=1700000010&units=samples"
                        "&aggregationType=sum&sampleRate=100&spyName=gospy", body, {"Content-Type": ct},
                        chunked=True)
    c.eq(st, 200, "SDK multipart pprof form (sample_type_config) -> 200")


def step_text(c: it.Checks, srv: it.Server) -> None:
    st, _, _ = srv.post("/ingest?name=foldsvc.cpu%7Benv%3Dstaging%7D&from=now-10s&until=now&sampleRate=100",
                        b"main;work;leaf 3\nmain;work 2\r\nmain;other 1\n")
    c.eq(st, 200, "folded (default format) -> 200")
    st, _, _ = srv.post("/ingest?name=linesvc.alloc_space&format=lines", b"a;b;c\na;b;c\na;b\n")
    c.eq(st, 200, "lines -> 200")
    st, _, _ = srv.post("/ingest?name=collapsed&format=collapsed", b"x;y 5\n", chunked=True)
    c.eq(st, 200, "format=collapsed (folded), chunked -> 200")


def step_push(c: it.Checks, srv: it.Server) -> None:
    prof = it.pprof([("cpu", "nanoseconds")], [(["main", "pushed"], [50_000_000], {})],
                    time_nanos=1_700_000_000_000_000_000)
    labels = {"__name__": "process_cpu", "service_name": "pushsvc", "__delta__": "false", "k": "v"}
    st, hdrs, body = srv.post("/push.v1.PusherService/Push", it.push_request([(labels, [gzip.compress(prof)])]),
                              {"Content-Type": "application/proto"})
    c.eq(st, 200, "Push application/proto (gzipped raw_profile) -> 200")
    c.check(hdrs.get("content-type", "").startswith("application/proto"), "Push proto answer type")
    st, hdrs, body = srv.post("/push.v1.PusherService/Push",
                              gzip.compress(it.push_request_json([({"__name__": "godeltaprof_memory",
                                                                     "service_name": "jsonsvc"},
                                                                    [it.pprof([("alloc_space", "bytes")],
                                                                              [(["a", "b"], [1024], {})],
                                                                              period_type=("space", "bytes"))])])),
                              {"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"})
    c.eq(st, 200, "Push application/json + Content-Encoding gzip -> 200")
    c.eq(body, b"{}", "Push JSON answer is {}")
    st, _, _ = srv.post("/push.v1.PusherService/Push",
                        it.push_request_json([({"__name__": "wall"}, [it.pprof(
                            [("samples", "count"), ("cpu", "nanoseconds")], [(["w"], [1, 10], {})])])],
                            snake=True), {"Content-Type": "application/json"})
    c.eq(st, 200, "Push JSON with snake_case raw_profile, no service_name -> 200")


def step_bad_inputs(c: it.Checks, srv: it.Server) -> None:
    before = srv.metrics().get("pyrited_store_profiles", -1)
    expect_error(c, srv.post("/ingest?name=bad%20name%7B%7D", b"a 1\n"), 400, "bad app name", "invalid service name")
    expect_error(c, srv.post("/ingest?name=app%7Bbad-key%3Dv%7D", b"a 1\n"), 400, "bad label name", "invalid label name")
    expect_error(c, srv.post("/ingest", b"a 1\n"), 400, "missing name", "service name is required")
    expect_error(c, srv.post("/ingest?name=app.unknownsuffix", b"a 1\n"), 400, "unknown legacy suffix",
                 "unknown profile type")
    expect_error(c, srv.post("/ingest?name=app", b"a;b notanumber\n"), 422, "bad folded count", "line 1")
    ct, body = it.java_agent_upload(gzip.compress(b"this is not a JFR recording at all" * 10), None)
    expect_error(c, srv.post(f"/ingest?name=garbage{AGENT_QS}", body, {"Content-Type": ct}, chunked=True),
                 422, "garbage JFR", "jfr")
    jfr_gz = it.corpus("dump1.jfr.gz")
    ct, body = it.java_agent_upload(jfr_gz[: len(jfr_gz) // 2], None)
    expect_error(c, srv.post(f"/ingest?name=trunc{AGENT_QS}", body, {"Content-Type": ct}, chunked=True),
                 422, "truncated gzip part", "truncated")
    ct, body = it.multipart([("jfr", None, None, jfr_gz)])
    expect_error(c, srv.post(f"/ingest?name=nofile{AGENT_QS}", body, {"Content-Type": ct}),
                 422, "jfr part without filename", "file part")
    ct, body = it.multipart([("labels", "labels", None, b"")])
    expect_error(c, srv.post(f"/ingest?name=nojfr{AGENT_QS}", body, {"Content-Type": ct}),
                 422, "missing jfr part", "jfr field is required")
    expect_error(c, srv.post(f"/ingest?name=badmp{AGENT_QS}", b"--x\r\nnot closed",
                             {"Content-Type": "multipart/form-data; boundary=x"}), 422,
                 "truncated multipart body", "multipart")
    ct, body = it.multipart([("profile", "profile.pprof", None, b"\x0a\x00"),
                             ("prev_profile", "profile.pprof", None, b"\x0a\x00")])
    expect_error(c, srv.post("/ingest?name=oldgo", body, {"Content-Type": ct}), 422,
                 "prev_profile part", "pyroscope-go")
    expect_error(c, srv.post("/ingest?name=app&format=pprof", b"\xff\xff\xff\xff\x0f"), 422, "garbage pprof",
                 "pprof")
    expect_error(c, srv.post("/ingest?name=app&format=trie", b"x"), 415, "format=trie", "not supported")
    expect_error(c, srv.post("/ingest?name=app", b"x", {"Content-Type": "binary/octet-stream+tree"}), 415,
                 "tree content type", "not supported")
    expect_error(c, srv.post("/ingest?name=app&format=speedscope", b"{}"), 415, "speedscope", "not supported")
    # Huge bodies (this server runs with --max-body-bytes 1m).
    big = b"a;b 1\n" * 200_000
    expect_error(c, srv.post("/ingest?name=big", big), 413, "oversized body (Content-Length)", "too large")
    expect_error(c, srv.post("/ingest?name=big", big, chunked=True), 413, "oversized body (chunked)", "too large")
    # Decompression bomb: 64 MiB of zeros in a tiny gzip (limit 8m here).
    bomb = gzip.compress(b"\0" * (64 << 20))
    ct, body = it.java_agent_upload(bomb, None)
    expect_error(c, srv.post(f"/ingest?name=bomb{AGENT_QS}", body, {"Content-Type": ct}), 413,
                 "gzip bomb", "max-decompressed-bytes")
    # Push errors.
    expect_error(c, srv.post("/push.v1.PusherService/Push", b"{}", {"Content-Type": "text/plain"}), 415,
                 "Push wrong content type", "content type")
    expect_error(c, srv.post("/push.v1.PusherService/Push", b"{}", {"Content-Type": "application/json"}), 400,
                 "Push without series", "no profiles received")
    expect_error(c, srv.post("/push.v1.PusherService/Push", b"\xff\xff\xff", {"Content-Type": "application/proto"}),
                 400, "Push garbage protobuf", "invalid")
    expect_error(c, srv.post("/push.v1.PusherService/Push",
                             it.push_request([({"service_name": "x"}, [b"\x0a\x00"])]),
                             {"Content-Type": "application/proto"}), 400, "Push without __name__", "__name__")
    expect_error(c, srv.post("/push.v1.PusherService/Push",
                             it.push_request([({"__name__": "process_cpu", "service_name": "x"},
                                               [b"\x1f\x8b\x08\x00garbage"])]),
                             {"Content-Type": "application/proto"}), 400, "Push truncated gzip raw_profile")
    expect_error(c, srv.post("/push.v1.PusherService/Push", b"x",
                             {"Content-Type": "application/proto", "Content-Encoding": "br"}), 415,
                 "Push unsupported Content-Encoding", "Content-Encoding")
    expect_error(c, srv.get("/push.v1.PusherService/Push"), 405, "GET on Push")
    expect_error(c, srv.get("/no/such/thing"), 404, "unknown path")
    still_serving(c, srv, "after bad inputs")
    after = srv.metrics().get("pyrited_store_profiles", -2)
    c.eq(after, before, "no profile stored by any rejected upload")
    # And good uploads still work afterwards.
    st, _, _ = srv.post("/ingest?name=afterbad", b"ok;still 1\n")
    c.eq(st, 200, "good upload after the bad ones -> 200")


def step_metrics(c: it.Checks, srv: it.Server) -> None:
    m = srv.metrics()
    c.check(m.get('pyrited_requests_total{path="/ingest",code="200"}', 0) >= 8, "requests_total by route+status")
    c.check(m.get('pyrited_requests_total{path="/ingest",code="413"}', 0) >= 3, "413s counted")
    c.check(m.get('pyrited_ingest_uploads_total{format="jfr"}', 0) >= 3, "jfr uploads counted")
    c.check(m.get('pyrited_ingest_received_bytes_total{format="jfr"}', 0) > 100_000, "jfr bytes counted")
    c.check(m.get('pyrited_ingest_profiles_total{format="push"}', 0) >= 3, "push profiles counted")
    c.check(m.get('pyrited_ingest_samples_total{format="jfr"}', 0) > 0, "samples counted")
    c.check(m.get('pyrited_ingest_parse_errors_total{format="jfr"}', 0) >= 2, "jfr parse errors counted")
    c.check(m.get('pyrited_ingest_duration_seconds_count', 0) >= 10, "ingest latency histogram")
    c.check('pyrited_ingest_duration_seconds_bucket{le="+Inf"}' in m, "histogram +Inf bucket")
    c.check('pyrited_query_duration_seconds_count{path="/pyroscope/render"}' in m
            and 'pyrited_query_duration_seconds_count{path="/querier.v1.QuerierService/SelectMergeStacktraces"}' in m,
            "query latency histogram registered per path")
    c.check(m.get("pyrited_store_bytes_on_disk", 0) > 0, "storage size from the store")
    st, _, body = srv.request("HEAD", "/ready")
    c.eq(st, 200, "HEAD /ready")


def verify_default(c: it.Checks, data_dir: str) -> None:
    series = it.store_dump(data_dir, lines=True)
    app = it.series_matching(series, service_name="myapp")
    c.check(len(app) >= 2, f"dump1 split into series by dynamic labels ({len(app)})")
    common = {"__name__": "process_cpu", "__profile_type__": "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
              "__type__": "cpu", "__unit__": "nanoseconds", "__period_type__": "cpu",
              "__period_unit__": "nanoseconds", "__service_name__": "myapp", "service_name": "myapp",
              "pyroscope_spy": "javaspy", "jfr_event": "itimer", "env": "prod",
              "otel.scope.name": "com.grafana.pyroscope/java"}
    c.check(all(all(s["labels"].get(k) == v for k, v in common.items()) for s in app),
            "JFR series labels (§1.6): user + pyroscope_spy + jfr_event + __name__ + service_name + private")
    c.check(all("__delta__" not in s["labels"] for s in series), "__delta__ is not stored")
    c.check(any("thread_name" in s["labels"] for s in app), "dynamic labels from the labels part become series labels")
    want = expected_collapsed("dump1_0_process_cpu_cpu__nanoseconds_expected_collapsed.txt.gz")
    got = merged(app)
    c.eq(len(got), len(want), "dump1 distinct stacks vs conformance corpus")
    c.check(got == want, "dump1 merged stacks equal the conformance corpus' expected profile")
    c.check(len(it.series_matching(series, service_name="other")) >= 1, "alias upload stored")

    raw = it.series_matching(series, service_name="rawjfr")
    types = sorted(s["labels"]["__profile_type__"] for s in raw)
    c.eq(types, ["process_cpu:cpu:nanoseconds:cpu:nanoseconds", "wall:wall:nanoseconds:wall:nanoseconds"],
         "raw JFR profile types")

    go = it.series_matching(series, service_name="gosvc")
    c.eq(sorted(s["labels"]["__profile_type__"] for s in go),
         ["process_cpu:cpu:nanoseconds:cpu:nanoseconds", "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
          "process_cpu:samples:count:cpu:nanoseconds", "process_cpu:samples:count:cpu:nanoseconds"],
         "pprof: one series per sample type and per sample-label set")
    c.check(all(s["labels"].get("team") == "x" and s["labels"].get("pyroscope_spy") == "gospy" for s in go),
            "pprof series labels")
    cpu = it.series_matching(go, __type__="cpu")
    c.eq(merged(cpu), {"main:0;work:0;leaf:0": 10_000_000, "main:0;work:0": 20_000_000}, "pprof stacks/values")
    c.check(any(s["labels"].get("integration") == "redis" for s in cpu), "pprof sample label -> series label")
    c.eq(len(it.series_matching(series, service_name="gzsvc")), 4, "gzip pprof stored")
    form = it.series_matching(series, service_name="formsvc")
    c.eq(sorted(s["labels"]["__profile_type__"] for s in form),
         ["mutex:contentions:count:contentions:count", "mutex:delay:nanoseconds:contentions:count"],
         "multipart pprof: __name__ guessed from sample_type_config display names")

    fold = it.series_matching(series, service_name="foldsvc")
    c.eq(len(fold), 1, "folded series")
    if fold:
        f = fold[0]
        c.eq(f["labels"]["__profile_type__"], "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "folded .cpu type")
        c.eq(f["labels"].get("env"), "staging", "folded user label")
        c.eq(f["stacks"].get("main:0;work:0;leaf:0"), 30_000_000, "folded counts x 1e9/sampleRate")
    lines = it.series_matching(series, service_name="linesvc")
    c.eq([s["labels"]["__profile_type__"] for s in lines], ["memory:alloc_space:bytes::"], "lines legacy type")
    if lines:
        c.eq(lines[0]["stacks"], {"a:0;b:0;c:0": 2, "a:0;b:0": 1}, "lines counts")
    c.eq(len(it.series_matching(series, service_name="collapsed")), 1, "collapsed stored")

    push = it.series_matching(series, service_name="pushsvc")
    c.eq(len(push), 1, "Push proto series")
    if push:
        c.eq(push[0]["labels"].get("k"), "v", "Push labels as sent")
        c.eq(push[0]["stacks"], {"main:0;pushed:0": 50_000_000}, "Push stacks")
    js = it.series_matching(series, service_name="jsonsvc")
    c.eq([s["labels"]["__profile_type__"] for s in js], ["memory:alloc_space:bytes:space:bytes"],
         "Push JSON: godeltaprof_ prefix stripped")
    unk = it.series_matching(series, service_name="unknown_service")
    c.eq(sorted(s["labels"]["__profile_type__"] for s in unk),
         ["process_cpu:cpu:nanoseconds:cpu:nanoseconds", "wall:samples:count:cpu:nanoseconds"],
         "Push: service_name fallback, wall+cpu relabelled to process_cpu")
    c.eq(len(it.series_matching(series, service_name="afterbad")), 1, "upload after errors stored")
    for bad in ("garbage", "trunc", "nofile", "nojfr", "big", "bomb", "oldgo"):
        c.eq(it.series_matching(series, service_name=bad), [], f"nothing stored for rejected '{bad}'")


def step_auth_tenancy(c: it.Checks) -> None:
    srv = it.Server("--multitenancy", "--auth-token", "s3cret", "--read-auth-token", "reader",
                    "--basic-auth", "agent:pw", name="auth").start()
    try:
        body = b"a;b 1\n"
        expect_error(c, srv.post("/ingest?name=t", body, {"X-Scope-OrgID": "team-a"}), 401,
                     "no credentials", "authentication required")
        st, hdrs, _ = srv.post("/ingest?name=t", body, {"X-Scope-OrgID": "team-a"})
        c.check("www-authenticate" in hdrs, "401 carries WWW-Authenticate")
        expect_error(c, srv.post("/ingest?name=t", body, {"X-Scope-OrgID": "team-a",
                                                           "Authorization": "Bearer wrong"}), 401, "bad token")
        # A whole agent upload (chunked, ~50 KB) with a bad token: the body
        # is drained so the client reads the 401 instead of a broken pipe.
        ct, jbody = it.java_agent_upload(it.corpus("dump1.jfr.gz") * 4, it.corpus("dump1.labels.pb.gz"))
        expect_error(c, srv.post(f"/ingest?name=t{AGENT_QS}", jbody,
                                 {"Content-Type": ct, "X-Scope-OrgID": "team-a",
                                  "Authorization": "Bearer wrong"}, chunked=True),
                     401, "bad token on a 200 KB chunked agent upload", "invalid bearer token")
        expect_error(c, srv.post("/ingest?name=t", body, {"X-Scope-OrgID": "team-a",
                                                           "Authorization": "Bearer reader"}), 403,
                     "read-only token cannot ingest", "only read")
        expect_error(c, srv.post("/ingest?name=t", body, {"Authorization": "Bearer s3cret"}), 401,
                     "missing tenant with multitenancy", "X-Scope-OrgID")
        expect_error(c, srv.post("/ingest?name=t", body, {"Authorization": "Bearer s3cret",
                                                           "X-Scope-OrgID": "../x"}), 401, "invalid tenant")
        st, _, _ = srv.post("/ingest?name=svc_a", body, {"Authorization": "Bearer s3cret",
                                                          "X-Scope-OrgID": "team-a"})
        c.eq(st, 200, "bearer + tenant team-a -> 200")
        st, _, _ = srv.post("/ingest?name=svc_b", b"c;d 2\n",
                            {"Authorization": "Basic YWdlbnQ6cHc=", "X-Scope-OrgID": "team-b"})
        c.eq(st, 200, "basic auth + tenant team-b -> 200")
        prof = it.pprof([("cpu", "nanoseconds")], [(["p"], [1], {})])
        st, _, _ = srv.post("/push.v1.PusherService/Push",
                            it.push_request([({"__name__": "process_cpu", "service_name": "svc_push"}, [prof])]),
                            {"Content-Type": "application/proto", "Authorization": "Bearer s3cret",
                             "X-Scope-OrgID": "team-a"})
        c.eq(st, 200, "Push with auth + tenant -> 200")
        st, _, _ = srv.get("/ready")
        c.eq(st, 200, "/ready needs no credentials")
        st, _, _ = srv.get("/metrics")
        c.eq(st, 200, "/metrics needs no credentials")
        c.eq(srv.stop(), 0, "auth server: SIGTERM exit code 0")
        a = it.store_dump(srv.data_dir, tenants=["team-a"])
        b = it.store_dump(srv.data_dir, tenants=["team-b"])
        anon = it.store_dump(srv.data_dir, tenants=["anonymous"])
        c.eq(sorted({s["labels"]["service_name"] for s in a}), ["svc_a", "svc_push"], "tenant team-a sees its own")
        c.eq(sorted({s["labels"]["service_name"] for s in b}), ["svc_b"], "tenant team-b sees its own")
        c.eq(anon, [], "nothing in tenant anonymous")
    finally:
        srv.cleanup()


def step_kill9(c: it.Checks) -> None:
    srv = it.Server(name="kill9").start()
    try:
        ct, body = it.java_agent_upload(it.corpus("dump1.jfr.gz"), it.corpus("dump1.labels.pb.gz"))
        acked = 0
        for i in range(20):
            st, _, _ = srv.post(f"/ingest?name=durable{AGENT_QS}", body, {"Content-Type": ct}, chunked=True)
            acked += st == 200
        c.eq(acked, 20, "20 uploads acknowledged")
        srv.kill9()
        series = it.store_dump(srv.data_dir)
        n = sum(s["profiles"] for s in it.series_matching(series, service_name="durable"))
        nseries = len(it.series_matching(series, service_name="durable"))
        c.check(nseries > 0 and n == 20 * nseries, f"every acknowledged upload survives kill -9 ({n} profiles)")
        srv.start()
        st, _, _ = srv.post("/ingest?name=restarted", b"x 1\n")
        c.eq(st, 200, "restart after kill -9 serves again")
        c.eq(srv.stop(), 0, "SIGTERM after restart")
    finally:
        srv.cleanup()


def http_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (an empty one ends the body)."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


def step_graceful_drain(c: it.Checks) -> None:
    """SIGTERM while a chunked upload is half sent: the upload completes with
    200, the process exits 0, a request opened after the signal is never
    served, new connections are refused after exit, and the upload (both
    chunks) was stored."""
    srv = it.Server(name="drain").start()
    port = srv.port
    sock = None
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        sock.sendall(b"POST /ingest?name=drained&format=folded&sampleRate=100 HTTP/1.1\r\n"
                     b"Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(http_chunk(b"main;work;hot 5\n"))
        # Let MHD read the headers and the first chunk, so the request is in
        # flight when the signal arrives.
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        c.check(srv.alive(), "drain: pyrited still running while an upload is in flight")
        # A request on a new connection during the drain is not served: MHD
        # stops accepting (MHD_quiesce_daemon), though the kernel may still
        # complete the TCP handshake on the listen socket until exit.
        probe = None
        try:
            probe = socket.create_connection(("127.0.0.1", port), timeout=5)
            probe.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        except OSError:
            probe = None
        sock.sendall(http_chunk(b"main;work;cold 2\n") + http_chunk(b""))
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = sock.recv(4096)
            if not chunk:
                break
            resp += chunk
        status = resp.split(b"\r\n", 1)[0]
        c.check(status.startswith(b"HTTP/1.1 200"), f"drain: in-flight upload answered 200 ({status!r})")
        rc = srv.proc.wait(30)
        srv.proc = None
        c.eq(rc, 0, "drain: exit status 0 after SIGTERM")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            refused_after = False
        except OSError:
            refused_after = True
        c.check(refused_after, "drain: new connection refused after exit")
        probe_answer = b""
        if probe is not None:
            try:
                probe_answer = probe.recv(4096)
            except OSError:
                pass
            probe.close()
        c.eq(probe_answer, b"", "drain: a request on a connection opened after SIGTERM is never served")
        stored = merged(it.series_matching(it.store_dump(srv.data_dir), service_name="drained"))
        # sampleRate=100: one sample is 10 ms of CPU, stored in nanoseconds.
        c.eq(stored, {"main;work;hot": 5 * 10_000_000, "main;work;cold": 2 * 10_000_000},
             "drain: the drained upload was stored whole (both chunks)")
    finally:
        if sock is not None:
            sock.close()
        srv.cleanup()


def main() -> int:
    it.require_binaries(it.store_dump_path())
    c = it.Checks()
    srv = it.Server("--max-body-bytes", "1m", "--max-decompressed-bytes", "8m", name="main").start()
    try:
        for name, fn in [("java agent upload", step_java_agent), ("raw JFR", step_raw_jfr),
                         ("pprof", step_pprof), ("folded/lines", step_text), ("push", step_push),
                         ("bad inputs", step_bad_inputs), ("metrics", step_metrics)]:
            c.run(name, fn, srv)
        c.eq(srv.stop(), 0, "SIGTERM: graceful stop, exit code 0")
        c.run("stored data", verify_default, srv.data_dir)
    finally:
        srv.cleanup()
    c.run("auth and tenants", step_auth_tenancy)
    c.run("kill -9 durability", step_kill9)
    c.run("graceful drain on SIGTERM", step_graceful_drain)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
