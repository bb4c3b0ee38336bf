#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/seed-*).

Deterministic (fixed names, modes and times), so rerunning it changes
nothing; the seeds are committed. Crash regression files (crash-*) that
scripts/fuzz.sh copies in are not written or touched here.
"""
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def tar_of(entries):
    """entries: (name, bytes | None for a dir | ('sym', target) | ('hard', target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, body in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if body is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
            elif isinstance(body, tuple):
                ti.type = tarfile.SYMTYPE if body[0] == "sym" else tarfile.LNKTYPE
                ti.linkname = body[1]
                ti.mode = 0o777
                t.addfile(ti)
            else:
                ti.mode = 0o644
                ti.size = len(body)
                t.addfile(ti, io.BytesIO(body))
    return buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def image_seeds():
    layer = tar_of([("bin/", None), ("bin/sh", b"#!fake\n"), ("etc/", None), ("etc/hostname", b"fuzz\n"),
                    ("etc/link", ("sym", "hostname")), ("etc/.wh.gone", b"")])
    layer2 = tar_of([("etc/", None), ("etc/.wh..wh..opq", b""), ("etc/new", b"2\n"), ("etc/hard", ("hard", "etc/new"))])
    put("image_import", "rootfs.tar", layer)
    put("image_import", "rootfs.tar.gz", gzip.compress(layer, mtime=0))
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/", "User": "0"},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer), "sha256:" + sha(layer2)]}}
    cfg = json.dumps(config, sort_keys=True).encode()
    # docker save: manifest.json, <config>.json, <layer>/layer.tar
    manifest = [{"Config": sha(cfg) + ".json", "RepoTags": ["fuzz:seed"],
                 "Layers": [sha(layer) + "/layer.tar", sha(layer2) + "/layer.tar"]}]
    put("image_import", "docker.tar", tar_of([
        ("manifest.json", json.dumps(manifest).encode()), (sha(cfg) + ".json", cfg),
        (sha(layer) + "/", None), (sha(layer) + "/layer.tar", layer),
        (sha(layer2) + "/", None), (sha(layer2) + "/layer.tar", layer2)]))
    # OCI layout: oci-layout, index.json, blobs/sha256/<manifest|config|layers>
    glayer = gzip.compress(layer, mtime=0)
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(cfg), "size": len(cfg)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + sha(glayer), "size": len(glayer)},
                      {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + sha(layer2), "size": len(layer2)}]}
    manb = json.dumps(man).encode()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manb),
                            "size": len(manb), "annotations": {"org.opencontainers.image.ref.name": "fuzz:oci"}}]}
    put("image_import", "oci.tar", tar_of([
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", json.dumps(index).encode()),
        ("blobs/", None), ("blobs/sha256/", None),
        ("blobs/sha256/" + sha(manb), manb), ("blobs/sha256/" + sha(cfg), cfg),
        ("blobs/sha256/" + sha(glayer), glayer), ("blobs/sha256/" + sha(layer2), layer2)]))
    put("image_json", "config.json", cfg)
    put("image_json", "manifest.json", manb)
    put("image_json", "index.json", json.dumps(index))
    put("image_json", "manifest-list.json", json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"digest": "sha256:" + "a" * 64, "platform": {"architecture": "amd64", "os": "linux"}}]}))


def guest_spec_seeds():
    spec = {"workload": {"id": "c1", "name": "web", "hostname": "web", "args": ["/bin/sh", "-c", "echo hi"],
                         "env": ["PATH=/bin", "A=b"], "cwd": "/", "user": "1000:1000", "lowerdirs": [""],
                         "mounts": [{"source": "", "target": "/data", "readonly": True}], "tty": True,
                         "tty_rows": 24, "tty_cols": 80, "memory_bytes": 67108864, "cpus": 1.5, "pids_limit": 100,
                         "cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"], "no_new_privileges": True, "net": "host",
                         "netcfg": {"network": "bridge", "ifname": "eth0", "address": "10.88.0.5", "prefix": 16,
                                    "gateway": "10.88.0.1", "mac": "02:42:0a:58:00:05", "hosts": ["10.88.0.5 web"],
                                    "dns": ["10.88.0.1"], "mtu": 1500}},
            "volumes": [{"target": "/data", "readonly": True, "file": False}], "hosts_share": True,
            "has_network": True, "network": {"mac": "02:42:0a:58:00:05", "ifname": "eth0", "address": "10.88.0.5",
                                             "prefix": 16, "gateway": "10.88.0.1", "mtu": 1500}}
    put("guest_spec", "full.json", json.dumps(spec))
    put("guest_spec", "min.json", '{"workload":{"args":["true"]}}')
    for i, line in enumerate(['{"signal":15}', '{"winsize":[40,120]}', '{"stdin_eof":true}', '{"freeze":true}',
                              '{"event":"ready"}', '{"event":"exit","code":3,"signal":0,"oom":false}',
                              '{"event":"frozen","frozen":true}',
                              '{"exec":{"id":1,"args":["sh","-c","id"],"env":["A=b"],"cwd":"/tmp","user":"nobody",'
                              '"tty":true,"stdin":true,"rows":24,"cols":80}}',
                              '{"exec_stdin":{"id":1,"data":"aGVsbG8K"}}', '{"exec_eof":1}',
                              '{"exec_signal":{"id":1,"signal":2}}', '{"exec_winsize":{"id":1,"rows":50,"cols":132}}',
                              '{"event":"exec_output","id":1,"fd":2,"data":"b29wcw=="}',
                              '{"event":"exec_exit","id":1,"code":127,"signal":0,"error":"not found"}',
                              '{"restored":{"time_ns":1764960000123456789,"seed":"' + "ab" * 32 + '",'
                              '"network":{"mac":"02:42:0a:58:00:07","ifname":"eth0","address":"10.88.0.7",'
                              '"prefix":16,"gateway":"10.88.0.1","mtu":1500}}}']):
        put("guest_spec", "control-%d" % i, line)


def launch_seeds():
    launch = {"kernel": "/k", "initrd": "/i", "cmdline": "console=ttyS0", "mem_bytes": 268435456, "vcpus": 2,
              "disks": [{"path": "/img", "readonly": True}], "consoles": [{"in": 10, "out": 11}, {"in": -1, "out": 12}],
              "nics": [{"tap_fd": 14, "mac": "02:42:0a:58:00:05"}],
              "shares": [{"path": "/srv/a", "tag": "hvrun-vol0", "readonly": False}],
              "serial_out_fd": 15, "serial_in_fd": -1, "raw_kernel": False, "debug": False,
              "relay": {"monitor": 16, "hvc2": 17, "hvc2_vmm": 13, "gate": 18, "input": 0, "tty": True},
              "file_binds": [{"source": "/etc/app.conf", "target": "/x/file", "readonly": True}], "result_fd": 19}
    put("vmm_launch", "launch.json", json.dumps(launch))
    put("vmm_launch", "args", "--kernel\n/k\n--mem=1G\n--cpus\n2\n--disk\n/img,ro\n--net-tap\ntap0,mac=02:42:0a:58:00:05,bridge=br0\n--share\n/srv,tag=t,ro\n--console-stdio")


def cli_seeds():
    values = [(0, "8080:80"), (0, "127.0.0.1:8080:80/udp"), (0, "80"), (1, "1000-1001:2000-2001\n53:53/udp"),
              (2, "/tmp:/data:ro"), (2, "/etc/hostname:/etc/hostname"), (3, "64m"), (3, "1.5g"), (3, "6291456"),
              (4, "0.5"), (4, "2"), (5, "100"), (5, "-1"), (6, "web-1.example"), (7, "bridge"), (7, "my_net"),
              (8, "K=V"), (8, "SET"), (9, "busybox"), (9, "localhost:5000/team/app:v2"),
              (9, "docker.io/library/alpine:3.19"), (10, "256M"), (10, "1GiB"),
              (11, "/run:size=64m,mode=755,exec"), (11, "/scratch"), (12, "nofile=1024:2048"), (12, "core=-1"),
              (13, "db.example:192.0.2.9"), (13, "v6=[2001:db8::1]"), (13, "gw:host-gateway"), (14, "2001:db8::53"),
              (15, "ndots:2"), (16, "on-failure:3"), (16, "unless-stopped"), (17, "SIGRTMIN+3"), (17, "usr1")]
    for i, (sel, v) in enumerate(values):
        put("cli_values", "%02d" % i, bytes([sel]) + v.encode())


def builder_seeds():
    put("dockerfile", "basic", "# syntax=docker/dockerfile:1\nARG BASE=busybox\nFROM ${BASE} AS build\n"
        "ENV A=1 B=\"two words\"\nRUN echo $A \\\n  && echo done\nCOPY --from=build --chown=1:1 a b /dst/\n"
        "WORKDIR /app\nCMD [\"sh\", \"-c\", \"echo hi\"]\nLABEL k=v\nUSER 1000\nEXPOSE 80/tcp\n")
    put("dockerfile", "escape", "# escape=`\nFROM busybox\nRUN dir `\n  c:\\\nENTRYPOINT [\"a\"]\n")
    for i, (mode, text) in enumerate([(0, "$A ${A} ${EMPTY:-def} ${A:+alt} '$A' \"$SPACE\" \\$A"),
                                      (1, "`$A ${PATH}"), (6, "K=V K2=\"a b\" legacy value"),
                                      (2, "KEY value with spaces"), (0, "${A:?must} ${Q}")]):
        put("builder_expand", "%02d" % i, bytes([mode]) + text.encode())
    put("dockerignore", "basic", "# comment\n*.log\n!keep.log\n**/node_modules\nbuild/\n/tmp/*\n[a-c]?.txt\n"
        "\0x.log\nkeep.log\nsrc/node_modules/a\nbuild/out\nb1.txt\n")


def virtio_seeds():
    # A guest memory image: queue q's descriptor table at q*0x400, avail ring
    # at q*0x400+0x100, used ring at q*0x400+0x200, buffers from 0x1000.
    def desc(addr, ln, flags, nxt):
        return struct.pack("<QIHH", addr, ln, flags, nxt)

    def mem(queues, data):
        m = bytearray(0x1400)
        for q, chains in queues.items():
            base = q * 0x400
            for i, d in enumerate(chains["desc"]):
                m[base + 16 * i: base + 16 * i + 16] = d
            heads = chains["heads"]
            struct.pack_into("<HH", m, base + 0x100, 0, len(heads))
            for i, h in enumerate(heads):
                struct.pack_into("<H", m, base + 0x104 + 2 * i, h)
        for at, b in data:
            m[at:at + len(b)] = b
        return bytes(m)

    NEXT, WRITE, INDIRECT = 1, 2, 4
    # blk: read sector 1 (header, data, status), write sector 2, flush, get id
    blk = {0: {"desc": [desc(0x1000, 16, NEXT, 1), desc(0x1100, 512, NEXT | WRITE, 2), desc(0x1300, 1, WRITE, 0),
                        desc(0x1010, 16, NEXT, 4), desc(0x1100, 512, NEXT, 5), desc(0x1301, 1, WRITE, 0),
                        desc(0x1020, 16, NEXT, 7), desc(0x1302, 1, WRITE, 0),
                        desc(0x1030, 16, NEXT, 9), desc(0x1100, 20, NEXT | WRITE, 10), desc(0x1303, 1, WRITE, 0)],
               "heads": [0, 3, 6, 8]}}
    put("virtio_blk", "rw", mem(blk, [(0x1000, struct.pack("<IIQ", 0, 0, 1)), (0x1010, struct.pack("<IIQ", 1, 0, 2)),
                                      (0x1020, struct.pack("<IIQ", 4, 0, 0)), (0x1030, struct.pack("<IIQ", 8, 0, 0))]))
    # blk through an indirect table at 0x1200
    ind = {0: {"desc": [desc(0x1200, 48, INDIRECT, 0)], "heads": [0]}}
    table = desc(0x1000, 16, NEXT, 1) + desc(0x1100, 512, NEXT | WRITE, 2) + desc(0x1300, 1, WRITE, 0)
    put("virtio_blk", "indirect", mem(ind, [(0x1000, struct.pack("<IIQ", 0, 0, 0)), (0x1200, table)]))
    # net: rx buffers on queue 0, a tx packet (12-byte header + frame) on queue 1
    net = {0: {"desc": [desc(0x1000, 2048, WRITE, 0)], "heads": [0]},
           1: {"desc": [desc(0x1000 + 2048, 12, NEXT, 1), desc(0x1000 + 2060, 60, 0, 0)], "heads": [0]}}
    put("virtio_net", "rxtx", mem(net, [(0x1000 + 2060, b"\xff" * 6 + b"\x02\x42\x0a\x58\x00\x05" + b"\x08\x00" + b"x" * 46)]))
    # console: an rx buffer on queue 0, output on queue 1
    con = {0: {"desc": [desc(0x1000, 64, WRITE, 0)], "heads": [0]},
           1: {"desc": [desc(0x1100, 6, NEXT, 1), desc(0x1106, 6, 0, 0)], "heads": [0]}}
    put("virtio_console", "rxtx", mem(con, [(0x1100, b"hello world!")]))
    # virtqueue: the first 8 bytes give size 16 and the rings (virtqueue.cpp
    # scales them: desc 0x40*16 = 0x400, avail 0x500*2 = 0xa00, used 0x300*4 = 0xc00)
    q = bytearray(0x1400)
    struct.pack_into("<HHHH", q, 0, 16, 0x40, 0x500, 0x300)
    q[8] = 1  # indirect on
    for i, d in enumerate([desc(0x1000, 100, NEXT, 1), desc(0x1100, 100, WRITE, 0), desc(0x1200, 32, INDIRECT, 0)]):
        q[0x400 + 16 * i: 0x400 + 16 * i + 16] = d
    q[0x1200:0x1220] = desc(0x1000, 8, NEXT, 1) + desc(0x1010, 8, WRITE, 0)
    struct.pack_into("<HHHH", q, 0xa00, 0, 2, 0, 2)
    put("virtqueue", "chains", bytes(q))


def p9_seeds():
    def msg(t, tag, body):
        return struct.pack("<IBH", 7 + len(body), t, tag) + body

    def s(x):
        return struct.pack("<H", len(x)) + x.encode()

    version = msg(100, 0xffff, struct.pack("<I", 8192) + s("9P2000.L"))
    attach = msg(104, 1, struct.pack("<II", 0, 0xffffffff) + s("root") + s("") + struct.pack("<I", 0))
    walk = msg(110, 2, struct.pack("<IIH", 0, 1, 1) + s("file"))
    lopen = msg(12, 3, struct.pack("<II", 1, 0))
    read = msg(116, 4, struct.pack("<IQI", 1, 0, 100))
    getattr_ = msg(24, 5, struct.pack("<IQ", 0, 0x7ff))
    walkd = msg(110, 6, struct.pack("<IIH", 0, 2, 1) + s("dir"))
    opend = msg(12, 7, struct.pack("<II", 2, 0o200000))
    readdir = msg(40, 8, struct.pack("<IQI", 2, 0, 4096))
    create = msg(14, 9, struct.pack("<I", 0) + s("x") + struct.pack("<III", 2, 0o644, 0))  # fid 0 becomes x
    write = msg(118, 10, struct.pack("<IQI", 0, 0, 5) + b"hello")
    clunk = msg(120, 11, struct.pack("<I", 1))
    walkdot = msg(110, 12, struct.pack("<IIH", 2, 3, 2) + s("..") + s(".."))
    readlink = msg(22, 13, struct.pack("<I", 3))
    put("p9_server", "session", version + attach + walk + lopen + read + getattr_ + walkd + opend + readdir + clunk +
        walkdot + create + write)
    wl = msg(110, 2, struct.pack("<IIH", 0, 1, 1) + s("link"))
    put("p9_server", "symlink", version + attach + wl + msg(22, 3, struct.pack("<I", 1)) + msg(12, 4, struct.pack("<II", 1, 0)) +
        msg(22, 5, struct.pack("<I", 1)))
    mk = msg(72, 2, struct.pack("<I", 0) + s("newdir") + struct.pack("<II", 0o755, 0))
    ren = msg(74, 3, struct.pack("<I", 0) + s("file") + struct.pack("<I", 0) + s("renamed"))
    unl = msg(76, 4, struct.pack("<I", 0) + s("renamed") + struct.pack("<I", 0))
    put("p9_server", "modify", version + attach + mk + ren + unl + msg(8, 5, struct.pack("<I", 0)))


def snapshot_seeds():
    """Snapshot files as vmm/snapshot_file.cpp writes them, origin fixed to
    the fuzz target's ("0.1.0", "fuzz cpu", "fuzz kernel")."""
    import zlib

    def text(s):
        return struct.pack("<H", len(s)) + s.encode()

    def snap(states, memory):
        sections, body, at = [], b"", 4096
        for typ, idx, data in states:
            sections.append((typ, idx, at, len(data), zlib.crc32(data)))
            body += data
            at += len(data)
        if memory is not None:
            pad = (-at) % 4096
            body += b"\0" * pad
            at += pad
            sections.append((7, 0, at, len(memory), zlib.crc32(memory)))
            body += memory
        head = b"HVRUNSNP" + struct.pack("<II", 1, len(sections))
        head += text("0.1.0") + text("fuzz cpu") + text("fuzz kernel")
        for typ, idx, off, ln, crc in sections:
            head += struct.pack("<IIQQII", typ, idx, off, ln, crc, 0)
        head = head.ljust(4092, b"\0")
        head += struct.pack("<I", zlib.crc32(head))
        return head + body

    put("snapshot_file", "full", snap([(1, 0, b'{"mem":8192}'), (2, 0, b"r" * 64), (2, 1, b"s" * 64),
                                       (3, 0, b"pic"), (4, 0, b"pit"), (5, 0, b"clock"), (6, 3, b"blk")],
                                      bytes(range(256)) * 32))
    put("snapshot_file", "no-memory", snap([(1, 0, b"{}")], None))
    put("snapshot_file", "empty-table", snap([], None))


def snapshot_state_seeds():
    """State blobs as vmm/ writes them (state_codec.hpp), the first byte
    picking the reader (tests/fuzz/snapshot_state.cpp). KVM struct sizes
    are x86-64 linux/kvm.h's."""
    def blob(tag, *parts):
        return tag + struct.pack("<I", 1) + b"".join(parts)

    def sized(n, fill=b"\0"):
        return struct.pack("<I", n) + (fill * n)[:n]

    def chip(chip_id):
        return struct.pack("<I", 520) + struct.pack("<I", chip_id) + b"\0" * 516

    vcpu = blob(b"VCPU", sized(144), sized(312), sized(4096), sized(392), sized(1024), sized(64), sized(128),
                sized(4), struct.pack("<I", 2), struct.pack("<IQ", 0x10, 12345), struct.pack("<IQ", 0x4b564d01, 0x1001))
    put("snapshot_state", "vcpu", b"\0" + vcpu)
    put("snapshot_state", "vm", b"\1" + blob(b"VMST", chip(0), chip(1), chip(2), sized(112), sized(48)))
    put("snapshot_state", "serial", b"\2" + blob(b"UART", bytes([1, 3, 0x0b, 0x5a, 1, 0, 0xc7, 1]), struct.pack("<I", 2) + b"hi"))
    put("snapshot_state", "i8042", b"\3" + blob(b"8042", bytes([0x47, 0]), struct.pack("<I", 1) + b"\x55"))
    put("snapshot_state", "cmos", b"\4" + blob(b"CMOS", bytes([0x0b])))

    def queue(base):
        return struct.pack("<HQQQBBHH", 16, base, base + 0x100, base + 0x200, 1, 0, 3, 3)

    def transport(device_id, features, dev_state=b""):
        return blob(b"VMIO", struct.pack("<IIIIIQII", device_id, 0x0f, 0, 0, 0, features, 1, 0), struct.pack("<I", 0),
                    struct.pack("<I", 2), queue(0), queue(0x400), struct.pack("<I", len(dev_state)) + dev_state)

    put("snapshot_state", "console", b"\5" + transport(3, 1 << 32))
    put("snapshot_state", "net", b"\6" + transport(1, (1 << 32) | (1 << 28) | (1 << 16) | (1 << 5)))
    blk = blob(b"VMIO", struct.pack("<IIIIIQII", 2, 0x0f, 0, 0, 0, (1 << 32) | (1 << 9), 0, 0), struct.pack("<I", 0),
               struct.pack("<I", 1), queue(0), struct.pack("<I", 16) + blob(b"VBLK", struct.pack("<Q", 4096)))
    put("snapshot_state", "blk", b"\7" + blk)

    def fid(fid_id, path, open_, flags):
        return (struct.pack("<I", fid_id) + struct.pack("<I", len(path)) + path + struct.pack("<IBBII", 0, 0, open_, flags, 0))
    fids = blob(b"9FID", struct.pack("<I", 3), fid(1, b"", 1, 0o200000), fid(2, b"f", 1, 0o2002), fid(3, b"d", 0, 0))
    put("snapshot_state", "p9", b"\x08" + blob(b"P9SN", struct.pack("<BI", 1, 65536), struct.pack("<I", len(fids)) + fids))


def main():
    image_seeds()
    guest_spec_seeds()
    launch_seeds()
    cli_seeds()
    builder_seeds()
    virtio_seeds()
    snapshot_seeds()
    snapshot_state_seeds()
    p9_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
