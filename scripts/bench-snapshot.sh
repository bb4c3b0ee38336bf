#!/usr/bin/env bash
# microVM snapshot benchmark (issue 12), paired in one run. As root.
#
#   scripts/bench-snapshot.sh [N]      (N paired iterations, default 10)
#
# Where /dev/kvm cannot boot Linux (PVM, or no VT-x/AMD-V: see
# shared/notes/kvm-on-these-machines.md) the script runs itself inside the
# nested test host (scripts/vmhost). Environment: HVRUN (default
# build/cli/hvrun), BENCH_SNAP_MEM (guest MiB, default 256), BENCH_SNAP_CLONES
# (default 20), HVRUN_GUEST_KERNEL_DIR.
#
# The guest: the project's guest kernel and an initramfs whose /init
# (scripts/bench-snapshot-init.c) prints a marker as it starts, fills 64 MiB
# of heap, prints a second marker and then a '.' every 10 ms.
# (a) restore to running vs cold boot to guest init, interleaved, both timed
#     from process start: cold, to init's first marker on the serial
#     console; restored, to the first byte the guest prints (at most 10 ms
#     of guest time after it runs again). Goal: restore <= 0.1x cold boot.
# (b) `hvrun run --rm busybox /bin/true` end to end (process start to
#     exit, --net none), interleaved: --vm from the template snapshot (the
#     default; made by the first run) vs --vm cold (HVRUN_VM_TEMPLATE=off)
#     vs --container. Goal: template <= 0.25x cold; the ratio to the
#     container is reported (moonshot <= 3x).
# (c) BENCH_SNAP_CLONES clones of one snapshot running at once: each
#     clone's private memory (smaps: Private_Clean + Private_Dirty) in its
#     guest-RAM mapping, which maps the snapshot file copy-on-write, and in
#     the whole process, after 5 s of running (each clone writes a page of
#     its heap every 10 ms). Goal: guest private <= 10% of guest RAM.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || { echo "bench-snapshot.sh: N must be a positive number" >&2; exit 2; }
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
KDIR=${HVRUN_GUEST_KERNEL_DIR:-$(scripts/build-kernel.sh --print-path guest 2>/dev/null || echo /var/cache/hvrun/kernels/guest)}
WORK=$PWD/build/bench-snapshot
die() { echo "bench-snapshot.sh: $*" >&2; exit 1; }

if [ "${BENCH_SNAP_INSIDE:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || die "run as root"
  [ -x "$HVRUN" ] || die "$HVRUN missing (build: ninja -C build)"
  [ -f "$KDIR/vmlinux" ] || die "no guest kernel in $KDIR (scripts/build-kernel.sh guest)"
  mkdir -p "$WORK/initramfs/dev"
  gcc -static -O2 -s -o "$WORK/initramfs/init" scripts/bench-snapshot-init.c
  [ -e "$WORK/initramfs/dev/console" ] || mknod -m 600 "$WORK/initramfs/dev/console" c 5 1
  (cd "$WORK/initramfs" && printf '%s\n' dev dev/console init | cpio --quiet -o -H newc -R 0:0) > "$WORK/initramfs.cpio"
  if [ -d /sys/module/kvm_pvm ] || ! grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
    echo "bench-snapshot.sh: this /dev/kvm cannot boot Linux; running inside the nested test host (scripts/vmhost)"
    exec scripts/vmhost --timeout 900 --mem 3072 --cpus 2 --env BENCH_SNAP_INSIDE=1 --env HVRUN="$HVRUN" \
      --env HVRUN_GUEST_KERNEL_DIR="$KDIR" --env BENCH_SNAP_MEM="${BENCH_SNAP_MEM:-256}" \
      --env BENCH_SNAP_CLONES="${BENCH_SNAP_CLONES:-20}" -- "$0" "$N"
  fi
fi
[ -e /dev/kvm ] || die "no /dev/kvm"
# The snapshots on a tmpfs (the test host's root is an overlayfs).
mkdir -p /tmp/bench-snapshot
mountpoint -q /tmp/bench-snapshot || mount -t tmpfs -o size=2g bench-snapshot /tmp/bench-snapshot

exec /usr/bin/python3 - "$N" "$HVRUN" "$KDIR/vmlinux" "$WORK/initramfs.cpio" <<'PY'
import os, re, select, signal, statistics, subprocess, sys, time

N, HV, KERNEL, INITRD = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
MEM = int(os.environ.get("BENCH_SNAP_MEM", "256"))
CLONES = int(os.environ.get("BENCH_SNAP_CLONES", "20"))
MARK = b"BENCH-SNAP-READY"  # the heap is filled
SNAP = "/tmp/bench-snapshot/snap"
VMM = next((p for p in (os.path.join(os.path.dirname(HV), "..", "vmm", "tool", "hvrun-vmm"),
                        "/usr/local/lib/hvrun/hvrun-vmm") if os.access(p, os.X_OK)), None)
if not VMM: sys.exit("bench-snapshot.sh: no hvrun-vmm next to " + HV)
COLD = [VMM, "--debug", "--kernel", KERNEL, "--initrd", INITRD, "--cmdline", "console=ttyS0 reboot=t panic=-1 quiet",
        "--mem", f"{MEM}M"]
BOOT = re.compile(r"guest init reached after ([0-9.]+) ms")
READY = re.compile(r"ready to run after ([0-9.]+) ms")

def start(argv, out=subprocess.PIPE):
    errf = open(f"/tmp/bench-snapshot/err.{time.monotonic_ns()}", "w+b")
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=errf, start_new_session=True)
    p.errf, p.t0 = errf, t0
    return p

def wait_output(p, mark, timeout=60):
    """ms from process start to `mark` (b"": any byte) on its stdout, or None."""
    fd, out, deadline = p.stdout.fileno(), b"", time.monotonic() + timeout
    while not out or mark not in out:
        left = deadline - time.monotonic()
        if left <= 0: return None
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk: return None
            out += chunk
    return (time.monotonic() - p.t0) * 1000

def stop(p, sig=signal.SIGTERM):
    try: os.kill(p.pid, sig)
    except ProcessLookupError: pass
    try: p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.wait()
    p.errf.seek(0); err = p.errf.read().decode(errors="replace"); p.errf.close(); os.unlink(p.errf.name)
    return err

def cold_boot():
    p = start(COLD)
    ms = wait_output(p, b"BENCH-SNAP-INIT")
    err = stop(p)
    m = BOOT.search(err)
    return ms, (float(m.group(1)) if m else None)

def restore():
    p = start([VMM, "--debug", "--restore", SNAP])
    ms = wait_output(p, b"")
    err = stop(p)
    r = READY.search(err)
    if ms is None: print("  restore: the restored guest printed nothing:", err.strip().splitlines()[-3:])
    return ms, (float(r.group(1)) if r else None)

print(f"bench-snapshot: guest {MEM} MiB, kernel {KERNEL}, {N} paired iterations, {CLONES} clones")
# The snapshot: boot, wait for the second marker, SIGUSR2 (snapshot and stop).
p = start(COLD + ["--snapshot-to", SNAP])
if wait_output(p, MARK) is None: sys.exit("bench-snapshot.sh: the guest never printed its marker: " + stop(p, signal.SIGKILL))
time.sleep(0.3)
os.kill(p.pid, signal.SIGUSR2)
err = stop(p)
w = re.search(r"snapshot written to \S+ in ([0-9.]+) ms", err)
if not w: sys.exit("bench-snapshot.sh: no snapshot: " + err)
print(f"snapshot of the running guest written in {w.group(1)} ms ({os.path.getsize(SNAP) >> 20} MiB file)")

cold, cold_vmm, rest, ready = [], [], [], []
for i in range(N):
    for kind in (("cold", "restore") if i % 2 == 0 else ("restore", "cold")):
        if kind == "cold":
            ms, vmm = cold_boot()
            if ms is None: print(f"  iteration {i}: cold boot failed or hung (left out)")
            else: cold.append(ms)
            if vmm is not None: cold_vmm.append(vmm)
        else:
            ms, r = restore()
            if ms is not None: rest.append(ms)
            if r is not None: ready.append(r)
def s(xs): return f"median {statistics.median(xs):8.2f} ms  min {min(xs):8.2f}  max {max(xs):8.2f}  (n={len(xs)})" if xs else "no samples"
print("(a) restore to running vs cold boot to guest init, from process start")
print(f"    cold boot to guest init:   {s(cold)}")
print(f"      (VMM boot timer, run_vm() to init's port write: {s(cold_vmm)})")
print(f"    restore to running guest:  {s(rest)}")
print(f"      of which VMM restore work before the vCPU runs: {s(ready)}")
if cold and rest:
    ratio = statistics.median(rest) / statistics.median(cold)
    print(f"    ratio restore/cold: {ratio:.3f}x (goal <= 0.1x): {'MET' if ratio <= 0.1 else 'NOT MET'}")

# (b) hvrun end to end: a template start vs a cold boot vs a container.
STORE = "/tmp/bench-snapshot/store"
env = dict(os.environ, HVRUN_ROOT=STORE, HVRUN_NETWORK="none")
subprocess.run(["rm", "-rf", STORE, "/tmp/bench-snapshot/rootfs"], check=True)
subprocess.run([os.path.join(os.getcwd(), "scripts/make-busybox-rootfs.sh"), "/tmp/bench-snapshot/rootfs"],
               check=True, stdout=subprocess.DEVNULL)
subprocess.run([HV, "image", "import", "/tmp/bench-snapshot/rootfs", "--name", "busybox"], check=True, env=env,
               stdout=subprocess.DEVNULL)
RUNS = {"template": (["--vm"], {}), "cold": (["--vm"], {"HVRUN_VM_TEMPLATE": "off"}), "container": (["--container"], {})}
def hv_true(kind):
    flags, extra = RUNS[kind]
    t0 = time.monotonic()
    r = subprocess.run([HV, "run", "--rm"] + flags + ["busybox", "/bin/true"], env=dict(env, **extra),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    ms = (time.monotonic() - t0) * 1000
    if r.returncode != 0:
        print(f"  {kind}: status {r.returncode}: {r.stderr.decode(errors='replace').strip()[-200:]} (left out)")
        return None
    return ms
t0 = time.monotonic()
first = hv_true("template")  # makes the template (a boot and a snapshot), then starts from it
print(f"(b) first template run (makes the template, once per kernel/guest-init/VMM/RAM): "
      f"{first if first is None else round(first)} ms")
hv_true("cold"); hv_true("container")  # warm the page cache of each path
times = {k: [] for k in RUNS}
order = list(RUNS)
for i in range(N):
    for kind in order[i % 3:] + order[:i % 3]:
        ms = hv_true(kind)
        if ms is not None: times[kind].append(ms)
print("    hvrun run --rm busybox /bin/true, end to end (process start to exit), interleaved")
for k in RUNS: print(f"    {k:10s} {s(times[k])}")
if times["template"] and times["cold"] and times["container"]:
    t, c, k = (statistics.median(times[x]) for x in ("template", "cold", "container"))
    print(f"    ratio template/cold:      {t / c:.3f}x (goal <= 0.25x): {'MET' if t / c <= 0.25 else 'NOT MET'}")
    print(f"    ratio template/container: {t / k:.2f}x (moonshot <= 3x); cold/container: {c / k:.2f}x")

# (c) clones at once.
clones = [start([VMM, "--restore", SNAP], out=subprocess.DEVNULL) for _ in range(CLONES)]
time.sleep(5)
def private(pid):
    tot, guest = 0, 0
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m: cur = m.group(1).strip(); continue
            k = line.split(":")[0]
            if k in ("Private_Clean", "Private_Dirty"):
                v = int(line.split()[1]); tot += v
                if cur == SNAP: guest += v
    return tot, guest
alive = [c for c in clones if c.poll() is None]
samples = []
for c in alive:
    try: samples.append(private(c.pid))
    except OSError: pass
for c in clones: stop(c)
print(f"(c) {CLONES} clones of one {MEM} MiB snapshot at once ({len(alive)} running after 5 s)")
if samples:
    g = [x[1] / 1024 for x in samples]; t = [x[0] / 1024 for x in samples]
    print(f"    private guest RAM per clone: median {statistics.median(g):.1f} MiB, max {max(g):.1f} MiB"
          f" = {100 * statistics.median(g) / MEM:.1f}% of guest RAM (goal <= 10%): {'MET' if max(g) <= MEM * 0.1 else 'NOT MET'}")
    print(f"    private memory per clone process (guest + VMM): median {statistics.median(t):.1f} MiB")
PY
