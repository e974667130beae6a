#!/usr/bin/env python3
"""make_seeds.py - writes the seed corpora of the fuzz targets other than
jfr into tests/fuzz/seeds/<target>/ (checked in; rerun after changing this
file).  Seeds are small valid inputs in each target's input layout (see the
header of fuzz_<target>.c): pprof and Push bodies built with the same
protobuf helpers the integration tests use (tests/integration/server_it.py),
the Java agent's multipart form, the conformance corpus's LabelsSnapshot,
and hand-written text for the text formats.  The jfr seeds are recordings
(tests/tools/jfr_synth output and two small conformance files) copied by
hand.  Standard library only.
"""
import base64
import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import server_it as it  # noqa: E402


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    # mtime=0: the same bytes on every run.
    return gzip.compress(data, mtime=0)


def cpu_pprof():
    return it.pprof([("samples", "count"), ("cpu", "nanoseconds")],
                    [(["main", "work", "leaf"], [3, 30_000_000], {"span_id": "ab12"}),
                     (["main", "idle"], [1, 10_000_000], {}),
                     (["main", "work", "leaf"], [2, 20_000_000], {"env": "prod"})],
                    time_nanos=1_700_000_000_000_000_000, lines={"leaf": 42})


def odd_pprof():
    """Locations with inlined lines, an address-only location, a function
    named only by system_name, a numeric label and a mapping."""
    s = ["", "alloc_space", "bytes", "space", "bytes", "inlined", "outer",
         "sys_only", "bytes_label", "k", "v", "libfoo.so"]
    msg = bytearray()
    msg += it.pb_bytes(1, it.pb_int(1, 1) + it.pb_int(2, 2))
    msg += it.pb_bytes(2, it.pb_packed(1, [1, 2, 3]) + it.pb_packed(2, [4096])
                       + it.pb_bytes(3, it.pb_int(1, 8) + it.pb_int(3, 77) + it.pb_int(4, 2))
                       + it.pb_bytes(3, it.pb_int(1, 9) + it.pb_int(2, 10)))
    msg += it.pb_bytes(3, it.pb_int(1, 1) + it.pb_int(2, 0x1000) + it.pb_int(3, 0x2000)
                       + it.pb_int(5, 11))
    msg += it.pb_bytes(4, it.pb_int(1, 1) + it.pb_int(2, 1) + it.pb_int(3, 0x1010)
                       + it.pb_bytes(4, it.pb_int(1, 1) + it.pb_int(2, 7))
                       + it.pb_bytes(4, it.pb_int(1, 2) + it.pb_int(2, 9)))
    msg += it.pb_bytes(4, it.pb_int(1, 2) + it.pb_int(3, 0x1234))
    msg += it.pb_bytes(4, it.pb_int(1, 3) + it.pb_bytes(4, it.pb_int(1, 3) + it.pb_int(2, 1)))
    msg += it.pb_bytes(5, it.pb_int(1, 1) + it.pb_int(2, 5))
    msg += it.pb_bytes(5, it.pb_int(1, 2) + it.pb_int(2, 6))
    msg += it.pb_bytes(5, it.pb_int(1, 3) + it.pb_int(3, 7))
    for x in s:
        msg += it.pb_bytes(6, x)
    msg += it.pb_bytes(11, it.pb_int(1, 3) + it.pb_int(2, 4)) + it.pb_int(12, 524288)
    return bytes(msg)


def pprof_seeds():
    write("pprof", "cpu.pb", cpu_pprof())
    write("pprof", "cpu.pb.gz", gz(cpu_pprof()))
    write("pprof", "odd.pb", odd_pprof())
    write("pprof", "empty.pb", b"")


def push_seeds():
    labels = {"__name__": "process_cpu", "service_name": "checkout", "env": "prod"}
    req = it.push_request([(labels, [gz(cpu_pprof())]),
                           ({"__name__": "memory", "service_name": "x"}, [odd_pprof()])])
    # Byte 0: bit 0 JSON, bit 1 Content-Encoding gzip (fuzz_push.c).
    write("push", "proto", b"\x00" + req)
    write("push", "proto.gz", b"\x02" + gz(req))
    # Deterministic sample IDs for the JSON ones (push_request_json uses uuid4).
    obj = {"series": [{"labels": [{"name": k, "value": v} for k, v in labels.items()],
                       "samples": [{"rawProfile": base64.b64encode(cpu_pprof()).decode(),
                                    "ID": "00000000-0000-0000-0000-000000000001"}]}]}
    write("push", "json", b"\x01" + json.dumps(obj).encode())
    obj["series"][0]["samples"][0] = {"raw_profile": base64.b64encode(gz(odd_pprof())).decode()}
    write("push", "json-snake", b"\x01" + json.dumps(obj).encode())


def multipart_seeds():
    # The Java agent: gzipped jfr and labels file parts, CRLF lines.
    jfr = gz(b"FLR\0\0\x02\0\0" + bytes(64))
    labels = gz(b"\x0a\x0a\x08\x01\x12\x06\x0a\x04\x08\x01\x10\x02"
                b"\x12\x05\x08\x01\x12\x01k\x12\x05\x08\x02\x12\x01v")
    b = "b7a8c9d0e1f2"
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"jfr\"; filename=\"jfr\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + jfr + \
           (f"\r\n--{b}\r\nContent-Disposition: form-data; name=\"labels\"; "
            f"filename=\"labels\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + \
        labels + f"\r\n--{b}--\r\n".encode()
    write("multipart", "java-agent", f"multipart/form-data; boundary={b}\n".encode() + body)
    # A Go SDK: profile + sample_type_config, quoted boundary, bare LF lines,
    # a preamble, padding after the delimiter and an epilogue.
    b = "go-sdk:boundary 1"
    cfg = json.dumps({"cpu": {"units": "samples", "display-name": "cpu"}})
    body = (f"preamble\n--{b}  \nContent-Disposition: form-data; name=\"profile\"; "
            f"filename=\"profile.pprof\"\n\n").encode() + cpu_pprof() + \
           (f"\n--{b}\nContent-Disposition: form-data; name=\"sample_type_config\"; "
            f"filename=\"sample_type_config.json\"\n\n{cfg}\n--{b}\n"
            f"Content-Disposition: form-data; name=\"field\"\n\nvalue\n--{b}--\nepilogue").encode()
    write("multipart", "go-sdk", f"multipart/form-data; boundary=\"{b}\"\n".encode() + body)
    write("multipart", "truncated",
          b"multipart/form-data; boundary=x\n--x\r\nContent-Disposition: form-data; name=a\r\n\r\nab")


def labels_seeds():
    # Byte 0 bit 0 clear: a LabelsSnapshot (fuzz_labels.c).
    corpus = os.path.join(HERE, "..", "data", "jfr-parser-corpus", "dump1.labels.pb.gz")
    with open(corpus, "rb") as f:
        snap = f.read()
    write("labels", "dump1-snapshot.gz", b"\x00" + snap)
    write("labels", "dump1-snapshot", b"\x00" + gzip.decompress(snap))
    # A repeated context id and string id (the last one wins).
    write("labels", "dup-snapshot",
          b"\x00\x0a\x0a\x08\x01\x12\x06\x0a\x04\x08\x01\x10\x02"
          b"\x0a\x0a\x08\x01\x12\x06\x0a\x04\x08\x02\x10\x01"
          b"\x12\x05\x08\x01\x12\x01k\x12\x05\x08\x02\x12\x01v\x12\x05\x08\x02\x12\x01w")
    # Bit 0 set: the `name` parameter.
    write("labels", "name", b"\x01my.app.cpu{env=prod, region = eu-west-1,pod=web-1}")
    write("labels", "name-odd", b"\x01 app {a=1,a=2,b.c=x,,=y,d=} trailing")
    write("labels", "name-bare", b"\x01app.alloc_objects")


def folded_seeds():
    # Byte 0: bit 0 lines format, bits 1-2 sample rate (fuzz_folded.c).
    write("folded", "collapsed", b"\x00app.cpu{env=prod}\nmain;work;leaf 3\nmain;idle 1\r\n"
          b"no-count-line\n\nmain;work;leaf +2\n")
    write("folded", "lines", b"\x01app.alloc_objects\nmain;work;leaf\nmain;idle\nmain;work;leaf\n")
    write("folded", "wall-rate", b"\x06app.wall\nthread;a b;c 10\n;;; 1\n")
    write("folded", "bad-count", b"\x00app.inuse_space\nmain;leaf 12x\n")


def selector_seeds():
    write("selector", "simple", '{service_name="checkout", env!="dev"}')
    write("selector", "regex", '{pod=~"web-[0-9]+", region!~"us-.*",}')
    write("selector", "query", 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="a"}')
    write("selector", "name-matcher",
          '{__name__="memory:alloc_space:bytes:space:bytes:delta", "utf8.name"=`raw\\`}')
    write("selector", "escapes", '{a="\\x41\\u00e9\\101\\n\\"", b=\'\\\'q\'}')


def timeparse_seeds():
    for name, s in [("now", "now-1h"), ("offsets", "now-1d2h30m+1w"), ("unix-s", "1700000000"),
                    ("unix-ms", "1700000000123"), ("unix-ns", "1_700_000_000_123_456_789"),
                    ("date", "20240126"), ("rfc3339", "2024-01-26T10:04:40.5+02:00"),
                    ("units", "-1mon2y3min4s")]:
        write("timeparse", name, s)


def protojson_seeds():
    # Byte 0 picks the message (fuzz_protojson.c's table).
    write("protojson", "profile-types", b"\x00" + json.dumps(
        {"start": "1700000000000", "end": 1700003600000}).encode())
    write("protojson", "label-values", b"\x02" + json.dumps(
        {"name": "service_name", "matchers": ['{env="prod"}'], "start": 1, "end": "2"}).encode())
    write("protojson", "merge-stacktraces", b"\x04" + json.dumps(
        {"profile_typeID": "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
         "labelSelector": '{service_name="a"}', "start": "0", "end": "1000", "maxNodes": 8192,
         "format": "PROFILE_FORMAT_TREE"}).encode())
    write("protojson", "select-series", b"\x06" + json.dumps(
        {"profileTypeID": "a:b:c:d:e", "labelSelector": "{}", "start": 0, "end": 10,
         "groupBy": ["pod", "env"], "step": 15.5, "aggregation": 1, "limit": "10"}).encode())
    write("protojson", "diff", b"\x07" + json.dumps(
        {"left": {"profileTypeID": "a:b:c:d:e", "labelSelector": "{}", "start": 0, "end": 1},
         "right": None}).encode())
    write("protojson", "push", b"\x09" + json.dumps(
        {"series": [{"labels": [{"name": "a", "value": "\u00e9\ud83d\ude00"}],
                     "samples": [{"rawProfile": "AAEC", "ID": "x"}]}]}).encode())
    write("protojson", "flamegraph", b"\x0a" + json.dumps(
        {"flamegraph": {"names": ["total", "a"], "levels": [{"values": ["0", "1", "1", "0"]}],
                        "total": "1", "maxSelf": 1}}).encode())


def main():
    pprof_seeds()
    push_seeds()
    multipart_seeds()
    labels_seeds()
    folded_seeds()
    selector_seeds()
    timeparse_seeds()
    protojson_seeds()


if __name__ == "__main__":
    main()
