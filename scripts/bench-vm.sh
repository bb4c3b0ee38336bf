#!/usr/bin/env bash
# VM-mode benchmark: our VMM against QEMU microvm on the same guest kernel and
# initramfs, `hvrun --vm` end to end, and the VMM's own memory overhead. As root.
#
#   scripts/bench-vm.sh [N]      (N paired iterations, default 10)
#
# Where /dev/kvm cannot boot Linux (this project's PVM dev/CI machines, see
# shared/notes/kvm-on-these-machines.md) the script runs itself inside the
# nested test host (scripts/vmhost); on a machine with VT-x/AMD-V it runs
# directly. Environment: HVRUN (binary, default build/cli/hvrun),
# BENCH_VM_TIMEOUT (seconds per boot, default 20), BENCH_VM_MEM (guest MiB,
# default 256), BENCH_VM_MEMRUNS (memory-sampling runs per VMM, default 3),
# BENCH_VM_CPUS (test-host CPUs, default 2), HVRUN_GUEST_KERNEL_DIR.
#
# (a) boot to guest init: our VMM executable, hvrun-vmm (what `hvrun --vm`
#     starts, and `hvrun vmm` execs), vs `qemu-system-x86_64 -M microvm`, the
#     same PVH vmlinux, the same cmdline, the same initramfs whose /init
#     (scripts/bench-vm-init.c) writes the boot-timer port 0x3f0, prints a
#     marker on ttyS0 and reboots. Timed from process start to the marker on
#     the serial output, and to process exit. Interleaved, order alternating.
# (b) `hvrun --vm --rm busybox /bin/true` and `--container` end to end.
# (c) memory: /proc/PID/smaps(_rollup) of the VMM process while the guest
#     sleeps after init: overhead = total Rss - Rss of the guest-RAM mapping.
# A boot that passes the time limit counts as hung (the nested test host hangs
# ~1 boot in 4) and is left out of the statistics, but reported.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || { echo "bench-vm.sh: N must be a positive number" >&2; exit 2; }
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
KDIR=${HVRUN_GUEST_KERNEL_DIR:-/var/cache/hvrun/kernels/guest}
WORK=$PWD/build/bench-vm
die() { echo "bench-vm.sh: $*" >&2; exit 1; }

if [ "${BENCH_VM_INSIDE:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || die "run as root"
  [ -x "$HVRUN" ] || die "$HVRUN missing (build: ninja -C build hvrun hvrun-vmm hvrun-guest-init)"
  [ -f "$KDIR/vmlinux" ] || die "no guest kernel in $KDIR (scripts/build-kernel.sh)"
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found"
  # Everything that needs a compiler or many files is made here, not under TCG.
  mkdir -p "$WORK/initramfs/dev"
  gcc -static -O2 -s -o "$WORK/initramfs/init" scripts/bench-vm-init.c
  [ -e "$WORK/initramfs/dev/console" ] || mknod -m 600 "$WORK/initramfs/dev/console" c 5 1
  (cd "$WORK/initramfs" && printf '%s\n' dev dev/console init | cpio --quiet -o -H newc -R 0:0) > "$WORK/initramfs.cpio"
  scripts/make-busybox-rootfs.sh "$WORK/rootfs" >/dev/null
  if [ -d /sys/module/kvm_pvm ] || ! grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
    echo "bench-vm.sh: this /dev/kvm cannot boot Linux; running inside the nested test host (scripts/vmhost)"
    exec scripts/vmhost --timeout 900 --cpus "${BENCH_VM_CPUS:-2}" --env BENCH_VM_INSIDE=1 --env HVRUN="$HVRUN" \
      --env HVRUN_GUEST_KERNEL_DIR="$KDIR" -- "$0" "$N"
  fi
fi

[ -e /dev/kvm ] || die "no /dev/kvm"
export HVRUN_ROOT=/tmp/hvrun-bench-vm
rm -rf "$HVRUN_ROOT"
mkdir -p "$HVRUN_ROOT"
# The test host's root is an overlayfs, which cannot hold an overlay's upper
# dir: container mode needs the store on a real filesystem (tmpfs here).
if [ "${BENCH_VM_INSIDE:-}" = 1 ]; then mount -t tmpfs -o mode=0700 hvrun-bench "$HVRUN_ROOT" || die "tmpfs for the store"; fi
"$HVRUN" image import "$WORK/rootfs" --name busybox:latest >/dev/null || die "image import failed"

exec /usr/bin/python3 - "$N" "$HVRUN" "$KDIR/vmlinux" "$WORK/initramfs.cpio" <<'PY'
import os, re, select, signal, statistics, subprocess, sys, time

N, HV, KERNEL, INITRD = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
BOOT_FILES = {os.path.realpath(KERNEL), os.path.realpath(INITRD)}
TIMEOUT = float(os.environ.get("BENCH_VM_TIMEOUT", "20"))
MEM = int(os.environ.get("BENCH_VM_MEM", "256"))
MEMRUNS = int(os.environ.get("BENCH_VM_MEMRUNS", "3"))
MARK = b"BENCH-VM-INIT-REACHED"
CMDLINE = "console=ttyS0 reboot=t panic=-1 quiet"
HVRUN_VM_MEM = 256  # engine/vm_backend.cpp vm_guest_memory() without --memory

# The VMM executable itself, as QEMU's is run itself ($HVRUN_VMM, else the
# build's or the installed one, as the engine finds it).
VMM = os.environ.get("HVRUN_VMM") or next(
    (p for p in (os.path.join(os.path.dirname(HV), "..", "vmm", "tool", "hvrun-vmm"),
                 "/usr/local/lib/hvrun/hvrun-vmm") if os.access(p, os.X_OK)), None)
if not VMM:
    sys.exit("bench-vm.sh: no hvrun-vmm next to " + HV + " or in /usr/local/lib/hvrun (build or set HVRUN_VMM)")

def ours(extra=""):
    return [VMM, "--debug", "--kernel", KERNEL, "--initrd", INITRD,
            "--cmdline", CMDLINE + extra, "--mem", f"{MEM}M"]

def qemu(extra=""):
    return ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-cpu", "host", "-nodefaults",
            "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-m", f"{MEM}M",
            "-kernel", KERNEL, "-initrd", INITRD, "-append", CMDLINE + extra]

def run(argv, on_marker=None, timeout=TIMEOUT):
    """Runs argv; returns dict(hung, rc, mark_ms, exit_ms, out, err)."""
    errf = open(f"/tmp/bench-vm-stderr.{os.getpid()}", "w+b")
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf,
                         start_new_session=True)
    fd, out, mark, sample = p.stdout.fileno(), b"", None, None
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0: break
        r, _, _ = select.select([fd], [], [], left)
        if not r: continue
        chunk = os.read(fd, 65536)
        now = time.monotonic()
        if not chunk: break
        out += chunk
        if mark is None and MARK in out:
            mark = now
            if on_marker: sample = on_marker(p)
    hung = False
    try:
        p.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    end = time.monotonic()
    p.stdout.close()
    errf.seek(0); err = errf.read().decode(errors="replace"); errf.close()
    os.unlink(errf.name)
    ms = lambda t: None if t is None else (t - t0) * 1000
    return dict(hung=hung, rc=p.returncode, mark_ms=ms(mark), exit_ms=ms(end), out=out, err=err, sample=sample)

def smaps(pid, guest_mib):
    """(total Rss, guest-RAM Rss, total private, guest private) in KiB."""
    tot = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"): tot[k] = int(v.split()[0])
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16), "path": m.group(3).strip(), "line": line.strip()}
                cur["size"] = cur["end"] - cur["start"]
                maps.append(cur)
            elif cur is not None and line.split(":")[0] in ("Rss", "Private_Clean", "Private_Dirty"):
                cur[line.split(":")[0]] = int(line.split()[1])
    want = guest_mib << 20
    guest = [m for m in maps if m["size"] == want]
    if not guest:
        # Our VMM maps the kernel's and initrd's whole pages from their files
        # into guest RAM (copy-on-write), which splits its mapping: guest RAM
        # is then a run of adjacent mappings, spanning exactly guest_mib,
        # that includes the kernel or initrd file.
        for i in range(len(maps)):
            j, run = i, [maps[i]]
            while run[-1]["end"] - run[0]["start"] < want and j + 1 < len(maps) and maps[j + 1]["start"] == run[-1]["end"]:
                j += 1
                run.append(maps[j])
            if run[-1]["end"] - run[0]["start"] == want and any(m["path"] in BOOT_FILES or os.path.basename(m["path"]) in ("vmlinux", "initramfs.cpio") for m in run):
                merged = {"size": want, "line": f"{len(run)} adjacent mappings from {run[0]['line']}"}
                for k in ("Rss", "Private_Clean", "Private_Dirty"): merged[k] = sum(m.get(k, 0) for m in run)
                guest = [merged]
                break
    if not guest:  # a merged VMA: the smallest anonymous one that can hold guest RAM
        big = sorted((m for m in maps if want <= m["size"] <= want + (64 << 20)), key=lambda m: m["size"])
        guest = big[:1]
        if guest: print(f"  note: pid {pid}: no {guest_mib} MiB mapping; guest RAM taken as {guest[0]['line']}")
    if len(guest) != 1:
        print(f"  note: pid {pid}: {len(guest)} candidate guest-RAM mappings; sample dropped")
        return None
    g = guest[0]
    priv = lambda d: d.get("Private_Clean", 0) + d.get("Private_Dirty", 0)
    return (tot["Rss"], g.get("Rss", 0), priv(tot), priv(g))

def sample_self(p):
    time.sleep(0.6)
    try: return smaps(p.pid, MEM)
    except OSError as e: print(f"  note: sampling failed: {e}"); return None

def sample_vmm_child(p):
    time.sleep(0.6)
    try:
        # (no /proc/PID/task/TID/children in the test-host kernel: scan)
        vmm = []
        for k in filter(str.isdigit, os.listdir("/proc")):
            try:
                if open(f"/proc/{k}/comm").read().strip() == "hvrun-vmm": vmm.append(k)
            except OSError: pass
        if not vmm: print("  note: no hvrun-vmm child found"); return None
        return smaps(int(vmm[0]), HVRUN_VM_MEM)
    except OSError as e: print(f"  note: sampling failed: {e}"); return None

TOOLS = {
    "ours": lambda: run(ours()),
    "qemu": lambda: run(qemu()),
    "hvrun-vm": lambda: run([HV, "--vm", "--rm", "busybox", "/bin/true"]),
    "hvrun-container": lambda: run([HV, "--container", "--rm", "busybox", "/bin/true"]),
}
res = {t: [] for t in TOOLS}
bad = {t: 0 for t in TOOLS}
hung = {t: 0 for t in TOOLS}
shown = set()

def record(t, r, need_mark):
    ok = r["rc"] == 0 and (r["mark_ms"] is not None or not need_mark)
    if r["hung"]: hung[t] += 1; ok = False
    elif not ok:
        bad[t] += 1
        if t not in shown:
            shown.add(t)
            print(f"  {t}: failed (rc={r['rc']}, marker={'yes' if r['mark_ms'] else 'no'}); output tail:")
            print("   ", (r["out"][-600:].decode(errors="replace") + r["err"][-600:]).replace("\n", "\n    "))
    if ok: res[t].append(r)
    return ok

need = {"ours": True, "qemu": True, "hvrun-vm": False, "hvrun-container": False}
t_start = time.monotonic()
print(f"warm-up (one run each, not counted)...", flush=True)
for t in TOOLS: TOOLS[t]()
for i in range(N):
    order = list(TOOLS) if i % 2 == 0 else ["qemu", "ours", "hvrun-container", "hvrun-vm"]
    for t in order:
        record(t, TOOLS[t](), need[t])
    print(f"  iteration {i+1}/{N} done ({time.monotonic()-t_start:.0f} s)", flush=True)

mem = {"ours": [], "qemu": [], "hvrun-vm": []}
for i in range(MEMRUNS):
    for t, fn in (("ours", lambda: run(ours(" benchsleep=1500"), sample_self)),
                  ("qemu", lambda: run(qemu(" benchsleep=1500"), sample_self)),
                  ("hvrun-vm", lambda: run([HV, "--vm", "--rm", "busybox", "sh", "-c",
                                            "echo BENCH-VM-INIT-REACHED; sleep 2"], sample_vmm_child))):
        r = fn()
        if r["hung"]: hung[t] += 1
        elif r["sample"]: mem[t].append(r["sample"])
print(f"memory runs done ({time.monotonic()-t_start:.0f} s)\n", flush=True)

def stats(v):
    return (statistics.median(v), min(v), max(v)) if v else (float("nan"),) * 3

uname = os.uname().release
qv = subprocess.run(["qemu-system-x86_64", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
print(f"bench-vm: N={N} interleaved iterations, host kernel {uname}, {os.cpu_count()} CPU(s), {qv}")
print(f"guest: {KERNEL} ({MEM} MiB, 1 vCPU), cmdline '{CMDLINE}', boot time limit {TIMEOUT:.0f} s\n")
print("(a) boot to guest init, ms (process start -> marker on ttyS0; start -> process exit)")
print(f"{'':22}{'ok':>4}{'hung':>5}{'fail':>5}{'median':>10}{'min':>9}{'max':>9}")
med = {}
for t in ("ours", "qemu"):
    for what, key in (("to init", "mark_ms"), ("whole cycle", "exit_ms")):
        m, lo, hi = stats([r[key] for r in res[t]])
        med[(t, key)] = m
        print(f"{t + ' ' + what:22}{len(res[t]):>4}{hung[t]:>5}{bad[t]:>5}{m:>10.1f}{lo:>9.1f}{hi:>9.1f}")
bn = [float(x) for r in res["ours"] for x in re.findall(r"guest init reached after ([0-9.]+) ms", r["err"])]
if bn:
    m, lo, hi = stats(bn)
    print(f"{'ours boot_ns (in VMM)':22}{len(bn):>4}{'':>5}{'':>5}{m:>10.1f}{lo:>9.1f}{hi:>9.1f}")
print(f"ratio ours/qemu: to init {med[('ours','mark_ms')]/med[('qemu','mark_ms')]:.2f}x, "
      f"whole cycle {med[('ours','exit_ms')]/med[('qemu','exit_ms')]:.2f}x   (goal: to init <= 0.5x)\n")

print("(b) end to end: hvrun --rm busybox /bin/true, ms")
print(f"{'':22}{'ok':>4}{'hung':>5}{'fail':>5}{'median':>10}{'min':>9}{'max':>9}")
for t in ("hvrun-vm", "hvrun-container"):
    m, lo, hi = stats([r["exit_ms"] for r in res[t]])
    med[(t, "exit_ms")] = m
    print(f"{t.replace('hvrun-', '--'):22}{len(res[t]):>4}{hung[t]:>5}{bad[t]:>5}{m:>10.1f}{lo:>9.1f}{hi:>9.1f}")
print(f"ratio --vm/--container: {med[('hvrun-vm','exit_ms')]/med[('hvrun-container','exit_ms')]:.1f}x\n")

print("(c) VMM memory while the guest idles after init, MiB (median of runs; overhead = total - guest RAM)")
print(f"{'':22}{'runs':>5}{'Rss':>8}{'guest':>8}{'overhead':>10}{'private ovh':>13}")
ovh = {}
for t, label in (("ours", "hvrun-vmm"), ("qemu", "qemu microvm"), ("hvrun-vm", "hvrun --vm (hvrun-vmm)")):
    s = mem[t]
    if not s: print(f"{label:22}{0:>5}  (no sample)"); continue
    f = lambda i: statistics.median(x[i] for x in s) / 1024
    o = statistics.median((x[0] - x[1]) for x in s) / 1024
    po = statistics.median((x[2] - x[3]) for x in s) / 1024
    ovh[t] = o
    print(f"{label:22}{len(s):>5}{f(0):>8.1f}{f(1):>8.1f}{o:>10.2f}{po:>13.2f}")
if "ours" in ovh and "qemu" in ovh:
    print(f"ratio ours/qemu overhead: {ovh['ours']/ovh['qemu']:.2f}x   (goal: hvrun overhead <= 3 MiB)")
print(f"\nhung boots (time limit hit, excluded above): " + ", ".join(f"{t} {hung[t]}" for t in hung) +
      f"; total time {time.monotonic()-t_start:.0f} s")
PY
