#!/usr/bin/env python3
"""Build every Containerfile of tests/build/corpus with podman and with
`hvrun build` from the same busybox base, and compare the results: the final
file trees (paths, types, modes, owners, symlink targets, file digests and
which files are hard links of each other; mtimes aside) and the image configs
(Env, Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts, Volumes,
StopSignal). hvrun's config is read from `hvrun save` (the stored config
blob); where `hvrun image inspect` shows a field differently, or not at all,
that is printed as a note.

A case is a directory corpus/NN-name/ with a Containerfile and its context.
Optional files in it (removed from the context before building):
  setup.sh      run with sh in the copy of the case: files git cannot hold
                (hard links, modes, owners, archives)
  build-args    K=V lines, passed as --build-arg to both builders
  target        the stage to build (--target)
  expect-differ lines `KEY: reason` for a difference that is Docker's
                documented behaviour; KEY is a path as printed (/x/y) or
                config.FIELD. A listed difference is reported, not failed.

Exit status: 0 every case agrees (or differs only as expected), 1 an
unexplained difference or a failed build, 77 skipped (not root, no podman,
or an hvrun without `build`).

Usage: compare.py [--hvrun PATH] [--case NAME]... [--isolation vm] [--keep]
                  [--peer-only]
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
META_FILES = ("setup.sh", "build-args", "target", "expect-differ")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Paths left out of the tree comparison, each with why. Exact paths:
IGNORED_PATHS = {
    "etc/hosts": "bind-mounted by the runtime into every RUN and run; the mount point left behind is the runtime's",
    "etc/resolv.conf": "bind-mounted by the runtime (DNS); the mount point left behind is the runtime's",
    "etc/hostname": "bind-mounted by the runtime (container name); the mount point left behind is the runtime's",
    "run/.containerenv": "podman's marker file that says 'this is a podman container'",
}
# Directories whose contents are not compared (the directory itself is):
IGNORED_CONTENTS = {
    "proc": "procfs is mounted there at run time; anything below is the kernel's",
    "sys": "sysfs is mounted there at run time; anything below is the kernel's",
    "dev": "each runtime mounts its own /dev (tmpfs with device nodes) and may leave nodes or mount points",
}
# Directories ignored when empty on each side that has them:
IGNORED_IF_EMPTY = {
    "run": "mount point of the tmpfs a runtime mounts on /run during RUN (buildah does; not part of the image's content)",
}
# podman's own label, which hvrun has no reason to write.
IGNORED_LABELS = {"io.buildah.version": "the buildah version podman stamps on every image it builds"}
CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "StopSignal")


def log(msg):
    print(msg, flush=True)


def run(cmd, cwd=None, timeout=600, check=False):
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    out = p.stdout.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(cmd), p.returncode, tail(out)))
    return p.returncode, out, time.monotonic() - t0


def tail(text, n=25):
    lines = text.rstrip("\n").split("\n")
    return "\n".join("    | " + l for l in lines[-n:])


# ---------------------------------------------------------------- base image

def make_busybox_rootfs(path):
    """The rootfs tests/integration/harness.cpp busybox_rootfs() makes."""
    bb = shutil.which("busybox") or "/bin/busybox"
    for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(bb, os.path.join(path, "bin/busybox"))
    _, applets, _ = run([os.path.join(path, "bin/busybox"), "--list"], check=True)
    for a in applets.split():
        link = os.path.join(path, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(path, "etc/group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")


def build_flags(build_args, target):
    """--build-arg and --target, as both builders take them."""
    extra = []
    for a in build_args:
        extra += ["--build-arg", a]
    return extra + (["--target", target] if target else [])


class Podman:
    def __init__(self, work, exe, isolation):
        self.isolation = isolation
        self.base = [exe, "--root", work + "/storage", "--runroot", work + "/run", "--tmpdir", work + "/tmp",
                     "--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "file"]

    def __call__(self, *args, **kw):
        return run(self.base + list(args), **kw)

    def import_base(self, tar, config):
        changes = []
        for e in config.get("Env") or []:
            changes += ["--change", "ENV " + e]
        if config.get("Cmd"):
            changes += ["--change", "CMD " + json.dumps(config["Cmd"])]
        if config.get("Entrypoint"):
            changes += ["--change", "ENTRYPOINT " + json.dumps(config["Entrypoint"])]
        self("import", *changes, tar, "busybox:latest", check=True)
        # podman names it localhost/busybox:latest; FROM busybox looks for docker.io/library/busybox.
        self("tag", "localhost/busybox:latest", "docker.io/library/busybox:latest", check=True)

    def build(self, ctx, tag, build_args, target):
        extra = build_flags(build_args, target)
        # oci (runc, as root) takes --network none; chroot isolation refuses it.
        net = ["--network", "none"] if self.isolation != "chroot" else []
        # --format docker: buildah honours SHELL (and HEALTHCHECK) only in
        # Docker-format images; in OCI format it ignores SHELL with a warning.
        return self("build", "--layers", "--format", "docker", "--isolation", self.isolation, *net, "-t", tag, *extra,
                    "-f", os.path.join(ctx, "Containerfile"), ctx, timeout=900)

    def export(self, tag, name, tar):
        self("rm", "-f", name)
        self("create", "--name", name, tag, "true", check=True)
        try:
            self("export", "-o", tar, name, check=True)
        finally:
            self("rm", "-f", name)

    def config(self, tag):
        _, out, _ = self("image", "inspect", tag, check=True)
        return json.loads(out)[0].get("Config") or {}


class Hvrun:
    def __init__(self, work, exe, isolation, store="hv"):
        self.base = [exe, "--root", work + "/" + store]
        self.isolation = isolation

    def __call__(self, *args, **kw):
        return run(self.base + list(args), **kw)

    def has_build(self):
        rc, out, _ = self("build", "--help")
        return rc == 0 and "build" in out.lower()

    def import_base(self, rootfs):
        self("image", "import", rootfs, "--name", "busybox:latest", check=True)

    def build(self, ctx, tag, build_args, target):
        extra = build_flags(build_args, target)
        if self.isolation:
            extra += ["--isolation", self.isolation]
        return self("build", "-t", tag, "--progress", "plain", *extra, "-f", os.path.join(ctx, "Containerfile"),
                    ctx, timeout=900)

    def export(self, tag, name, tar):
        self("rm", "-f", name)
        # `true` exits at once; with an ENTRYPOINT it is only that program's argument.
        self("run", "--name", name, "--network", "none", tag, "true", timeout=300)
        try:
            self("export", name, "-o", tar, check=True)
        finally:
            self("rm", "-f", name)

    def config(self, tag, scratch):
        """The image's config as stored (read back from `hvrun save`: the
        config blob is what save, push and a registry give), and the lines
        where `image inspect` does not show the same."""
        if os.path.exists(scratch):
            os.remove(scratch)
        self("save", tag, "-o", scratch, check=True)
        with tarfile.open(scratch) as tf:
            manifest = json.load(tf.extractfile("manifest.json"))
            blob = json.load(tf.extractfile(manifest[0]["Config"]))
        os.remove(scratch)
        stored = blob.get("config") or {}
        _, out, _ = self("image", "inspect", tag, check=True)
        shown = json.loads(out)[0].get("Config") or {}
        a, b = norm_config(stored), norm_config(shown)
        notes = []
        for k in CONFIG_FIELDS:
            if k not in shown:
                if a[k] is not None:
                    notes.append("image inspect shows no %s (the stored config has %s)" % (k, json.dumps(a[k])))
            elif a[k] != b[k]:
                notes.append("image inspect shows %s=%s, the stored config %s" % (k, json.dumps(b[k]), json.dumps(a[k])))
        return stored, notes


class HvrunPeer(Hvrun):
    """hvrun build with container isolation as the peer: proves that
    --isolation vm (RUN steps in microVMs) makes the same images."""

    def __init__(self, work, exe, rootfs_of):
        super().__init__(work, exe, "container", store="hv-peer")
        self.rootfs_of = rootfs_of
        self.work = work

    def import_base(self, tar, config):
        Hvrun.import_base(self, self.rootfs_of(tar))

    def config(self, tag):
        return Hvrun.config(self, tag, os.path.join(self.work, "peer-save.tar"))[0]


# ---------------------------------------------------------------- trees

def norm(name):
    while name.startswith("./") or name.startswith("/"):
        name = name[1:] if name.startswith("/") else name[2:]
    return name.rstrip("/")


def read_tree(tar_path):
    """{path: entry} from a flattened rootfs tar; hard links resolved to their
    target's content and grouped (entry['links'] = other names of the file)."""
    entries = {}
    link_of = {}
    with tarfile.open(tar_path) as tf:
        for m in tf:
            p = norm(m.name)
            if p in ("", "."):
                continue
            e = {"mode": "%04o" % (m.mode & 0o7777), "uid": m.uid, "gid": m.gid}
            if m.isdir():
                e["type"] = "dir"
            elif m.issym():
                e["type"] = "symlink"
                e["target"] = m.linkname
            elif m.islnk():
                tgt = norm(m.linkname)
                link_of[p] = tgt
                base = entries.get(tgt)
                e["type"] = "file"
                e["sha256"] = base["sha256"] if base else None
                e["size"] = base["size"] if base else None
            elif m.isreg():
                e["type"] = "file"
                h = hashlib.sha256()
                f = tf.extractfile(m)
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
                e["sha256"] = h.hexdigest()
                e["size"] = m.size
            elif m.ischr() or m.isblk():
                e["type"] = "chardev" if m.ischr() else "blockdev"
                e["dev"] = "%d:%d" % (m.devmajor, m.devminor)
            elif m.isfifo():
                e["type"] = "fifo"
            else:
                e["type"] = "other"
            entries[p] = e
    # Hard-link groups: every name of one inode knows the others.
    root = {}

    def find(x):
        while root.get(x, x) != x:
            x = root[x]
        return x
    for a, b in link_of.items():
        ra, rb = find(a), find(b)
        if ra != rb:
            root[ra] = rb
    groups = {}
    for p in set(link_of) | set(link_of.values()):
        groups.setdefault(find(p), set()).add(p)
    for g in groups.values():
        for p in g:
            if p in entries:
                entries[p]["links"] = sorted(g - {p})
    return entries


def filter_tree(tree, volumes=()):
    """The tree less the ignored paths; `volumes` (the image's VOLUME paths)
    are dropped where they are empty directories: a runtime makes the mount
    point of an anonymous volume when it creates or runs the container."""
    out = {}
    for p, e in tree.items():
        if p in IGNORED_PATHS:
            continue
        top = p.split("/", 1)[0]
        if top in IGNORED_CONTENTS and "/" in p:
            continue
        if "links" in e:
            e = dict(e)
            e["links"] = [l for l in e["links"] if l in tree and l not in IGNORED_PATHS]
            if not e["links"]:
                del e["links"]
        out[p] = e
    for d in list(IGNORED_IF_EMPTY) + [norm(v) for v in volumes]:
        if d in out and out[d]["type"] == "dir" and not any(q.startswith(d + "/") for q in out):
            del out[d]
    return out


def describe(e):
    if e is None:
        return "absent"
    s = "%s %s %d:%d" % (e["type"], e["mode"], e["uid"], e["gid"])
    if e["type"] == "symlink":
        s += " -> " + e["target"]
    if e["type"] == "file":
        s += " size=%s sha256=%s" % (e.get("size"), (e.get("sha256") or "?")[:12])
    if e.get("dev"):
        s += " dev=" + e["dev"]
    if e.get("links"):
        s += " hardlinked-with=" + ",".join("/" + l for l in e["links"])
    return s


def diff_trees(peer, ours):
    diffs = []
    for p in sorted(set(peer) | set(ours)):
        a, b = peer.get(p), ours.get(p)
        if a == b:
            continue
        if a is not None and b is not None:
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            what = ", ".join("%s podman=%s hvrun=%s" % (k, a.get(k), b.get(k)) for k in keys)
        else:
            what = "podman: %s | hvrun: %s" % (describe(a), describe(b))
        diffs.append(("/" + p, what))
    return diffs


# ---------------------------------------------------------------- configs

def norm_config(c):
    out = {}
    for k in CONFIG_FIELDS:
        v = c.get(k)
        if k == "Labels" and v:
            v = {lk: lv for lk, lv in v.items() if lk not in IGNORED_LABELS}
        if k in ("ExposedPorts", "Volumes") and v:
            v = sorted(v.keys())
        if v in (None, "", [], {}):
            v = None
        out[k] = v
    return out


def diff_configs(peer, ours):
    a, b = norm_config(peer), norm_config(ours)
    return [("config." + k, "podman=%s hvrun=%s" % (json.dumps(a[k]), json.dumps(b[k])))
            for k in CONFIG_FIELDS if a[k] != b[k]]


# ---------------------------------------------------------------- cases

def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def prepare_context(case_dir, dest):
    shutil.copytree(case_dir, dest, symlinks=True)
    if os.path.exists(os.path.join(dest, "setup.sh")):
        run(["sh", "-e", "setup.sh"], cwd=dest, check=True)
    for m in META_FILES:
        if os.path.exists(os.path.join(dest, m)):
            os.remove(os.path.join(dest, m))


def summarize(tree, base_tree, config):
    lines = []
    for p in sorted(tree):
        if base_tree.get(p) != tree[p]:
            lines.append("    /%s  %s" % (p, describe(tree[p])))
    for p in sorted(set(base_tree) - set(tree)):
        lines.append("    /%s  deleted" % p)
    c = norm_config(config)
    for k in CONFIG_FIELDS:
        if c[k] is not None:
            lines.append("    config.%s = %s" % (k, json.dumps(c[k])))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hvrun", default=shutil.which("hvrun") or "hvrun")
    ap.add_argument("--podman", default="podman")
    ap.add_argument("--peer-isolation", default="oci", choices=["oci", "chroot"],
                    help="podman build --isolation (default oci: runc, as root)")
    ap.add_argument("--case", action="append", default=[], help="a case's directory name (repeatable)")
    ap.add_argument("--isolation", choices=["container", "vm"], help="passed through to hvrun build")
    ap.add_argument("--keep", action="store_true", help="keep the work directory and say where")
    ap.add_argument("--peer-only", action="store_true", help="build with podman only and print what each case made")
    ap.add_argument("--workdir", help="work here instead of a new temporary directory")
    ap.add_argument("--peer", default="podman", choices=["podman", "hvrun-container"],
                    help="what hvrun build is compared with: podman build (default), or hvrun build with "
                         "--isolation container (with --isolation vm: the same images from RUN steps in microVMs); "
                         "expect-differ files are about podman and apply only to it")
    args = ap.parse_args()

    if os.geteuid() != 0:
        log("SKIP: needs root (podman and hvrun with their own stores)")
        return 77
    if args.peer == "podman" and not shutil.which(args.podman):
        log("SKIP: no podman on this host (the peer the corpus is compared against)")
        return 77

    cases = sorted(d for d in os.listdir(CORPUS) if os.path.isfile(os.path.join(CORPUS, d, "Containerfile")))
    if args.case:
        unknown = [c for c in args.case if c not in cases]
        if unknown:
            log("unknown case(s): %s (have: %s)" % (", ".join(unknown), ", ".join(cases)))
            return 2
        cases = [c for c in cases if c in args.case]

    work = args.workdir or tempfile.mkdtemp(prefix="hvrun-build-corpus-")
    os.makedirs(work, exist_ok=True)
    rootfs = os.path.join(work, "busybox-rootfs")
    if args.peer == "podman":
        podman = Podman(work, args.podman, args.peer_isolation)
    else:
        podman = HvrunPeer(work, args.hvrun, lambda _tar: rootfs)
        podman.isolation = "container"
    hv = None
    if not args.peer_only:
        hv = Hvrun(work, args.hvrun, args.isolation)
        if not hv.has_build():
            log("SKIP: %s has no `build` subcommand yet" % args.hvrun)
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
            return 77

    failed, explained = [], []
    try:
        make_busybox_rootfs(rootfs)
        base_tar = os.path.join(work, "busybox.tar")
        run(["tar", "--numeric-owner", "-C", rootfs, "-cf", base_tar, "."], check=True)
        base_config = {"Env": [DEFAULT_PATH], "Cmd": ["/bin/sh"]}
        if hv:
            hv.import_base(rootfs)
            base_config, _ = hv.config("busybox:latest", os.path.join(work, "base-save.tar"))
        podman.import_base(base_tar, base_config)
        base_diff = diff_configs(podman.config("busybox:latest"), base_config)
        if base_diff:
            log("FAIL base image configs differ before any build:")
            for k, w in base_diff:
                log("    %s: %s" % (k, w))
            failed.append("(base)")
        podman.export("busybox:latest", "corpus-base", os.path.join(work, "base.tar"))
        base_tree = filter_tree(read_tree(os.path.join(work, "base.tar")))

        for name in cases:
            case_dir = os.path.join(CORPUS, name)
            build_args = read_lines(os.path.join(case_dir, "build-args"))
            target = (read_lines(os.path.join(case_dir, "target")) or [None])[0]
            expected = {}
            for l in (read_lines(os.path.join(case_dir, "expect-differ")) if args.peer == "podman" else []):
                k, _, why = l.partition(":")
                expected[k.strip()] = why.strip()
            cw = os.path.join(work, "cases", name)
            ctx = os.path.join(cw, "ctx")
            os.makedirs(cw)
            prepare_context(case_dir, ctx)
            tag = "corpus-%s:1" % name.lower()

            rc, out, secs = podman.build(ctx, tag, build_args, target)
            with open(os.path.join(cw, "podman-build.log"), "w") as f:
                f.write(out)
            if rc != 0:
                log("FAIL %s: podman build failed (exit %d; isolation %s)\n%s" % (name, rc, podman.isolation, tail(out)))
                failed.append(name)
                continue
            peer_tar = os.path.join(cw, "podman.tar")
            podman.export(tag, "corpus-" + name.lower(), peer_tar)
            peer_config = podman.config(tag)
            peer_tree = filter_tree(read_tree(peer_tar), (peer_config.get("Volumes") or {}).keys())
            if args.peer_only:
                log("BUILT %s with podman (%.1fs, isolation %s)" % (name, secs, podman.isolation))
                for l in summarize(peer_tree, base_tree, peer_config):
                    log(l)
                continue

            rc, out, hsecs = hv.build(ctx, tag, build_args, target)
            with open(os.path.join(cw, "hvrun-build.log"), "w") as f:
                f.write(out)
            if rc != 0:
                log("FAIL %s: hvrun build failed (exit %d)\n%s" % (name, rc, tail(out)))
                failed.append(name)
                continue
            ours_tar = os.path.join(cw, "hvrun.tar")
            try:
                hv.export(tag, "corpus-" + name.lower(), ours_tar)
            except RuntimeError as e:
                log("FAIL %s: exporting hvrun's image failed: %s" % (name, e))
                failed.append(name)
                continue
            ours_config, inspect_notes = hv.config(tag, os.path.join(cw, "hvrun-save.tar"))
            volumes = set((peer_config.get("Volumes") or {}).keys()) | set((ours_config.get("Volumes") or {}).keys())
            peer_tree = filter_tree(read_tree(peer_tar), volumes)
            diffs = diff_trees(peer_tree, filter_tree(read_tree(ours_tar), volumes))
            diffs += diff_configs(peer_config, ours_config)
            bad = [d for d in diffs if d[0] not in expected]
            ok = [d for d in diffs if d[0] in expected]
            status = "FAIL" if bad else "PASS"
            log("%s %s (%s %.1fs, hvrun %.1fs)" % (status, name, args.peer, secs, hsecs))
            for k, w in bad:
                log("    %s: %s" % (k, w))
            for k, w in ok:
                log("    expected difference %s: %s (%s)" % (k, w, expected[k]))
                explained.append(name)
            for n in inspect_notes:
                log("    note: " + n)
            for k in sorted(set(expected) - {d[0] for d in diffs}):
                log("    note: expected difference %s not seen (%s)" % (k, expected[k]))
            if bad:
                failed.append(name)
    finally:
        if args.keep:
            log("kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)

    if args.peer_only:
        log("%d case(s) built with podman; %d failed" % (len(cases), len(failed)))
    else:
        log("%d case(s): %d passed, %d failed%s" % (
            len(cases), len(cases) - len([f for f in failed if f != "(base)"]),
            len([f for f in failed if f != "(base)"]),
            (" (%d with expected differences)" % len(set(explained))) if explained else ""))
    if failed:
        log("failed: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
