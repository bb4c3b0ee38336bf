#!/usr/bin/env python3
"""Where does a guest's boot time go? Boots the bench initramfs (built by
scripts/bench-vm.sh into build/bench-vm/initramfs.cpio) under our VMM and
under QEMU microvm with `quiet benchdmesg=1` and extra kernel parameters, and
prints, per run: host-side times (process start -> first serial byte ->
marker), the guest's printk time when init was reached (so the part before
the guest's clock started is marker - that), the largest gaps between
consecutive kernel messages, and (with initcall_debug) the slowest initcalls.
Run it where /dev/kvm boots Linux (inside scripts/vmhost on PVM machines):

  scripts/vmhost -- scripts/boot-profile.py [--runs N] [--vmm ours,qemu]
                    [--extra 'initcall_debug'] [--top 15]
"""
import argparse, os, re, select, signal, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=1)
ap.add_argument("--vmm", default="ours,qemu")
ap.add_argument("--extra", default="initcall_debug")
ap.add_argument("--ours-extra", default="", help="only for our VMM")
ap.add_argument("--qemu-extra", default="", help="only for QEMU")
ap.add_argument("--top", type=int, default=12)
ap.add_argument("--mem", default="256")
ap.add_argument("--hvrun", default=os.environ.get("HVRUN", "build/cli/hvrun"))
ap.add_argument("--kernel", default=os.environ.get("HVRUN_GUEST_KERNEL_DIR", "/var/cache/hvrun/kernels/guest") + "/vmlinux")
ap.add_argument("--initrd", default="build/bench-vm/initramfs.cpio")
ap.add_argument("--full", action="store_true", help="print the whole kernel log")
ap.add_argument("--timeout", type=float, default=30)
a = ap.parse_args()

BASE = "console=ttyS0 reboot=t panic=-1 quiet benchdmesg=1"

def argv(vmm, extra):
    cl = f"{BASE} {a.extra} {extra}".strip()
    if vmm == "ours":
        return [a.hvrun, "--debug", "vmm", "--kernel", a.kernel, "--initrd", a.initrd, "--cmdline", cl, "--mem", f"{a.mem}M"]
    return ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-cpu", "host", "-nodefaults", "-no-user-config",
            "-nographic", "-serial", "stdio", "-no-reboot", "-m", f"{a.mem}M", "-kernel", a.kernel, "-initrd", a.initrd,
            "-append", cl]

def run(cmd):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    out, first, mark, fd = b"", None, None, p.stdout.fileno()
    deadline = t0 + a.timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r: continue
        c = os.read(fd, 65536)
        now = time.monotonic()
        if not c: break
        if first is None: first = now
        out += c
        if mark is None and b"BENCH-VM-INIT-REACHED" in out: mark = now
    try: p.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.wait()
    end = time.monotonic()
    err = p.stderr.read().decode(errors="replace")
    ms = lambda t: None if t is None else (t - t0) * 1000
    return ms(first), ms(mark), ms(end), out.decode(errors="replace"), err

LINE = re.compile(r"^<(\d+)>\[\s*(\d+\.\d+)\] (.*)$")
for i in range(a.runs):
    for vmm in a.vmm.split(","):
        extra = a.ours_extra if vmm == "ours" else a.qemu_extra
        first, mark, end, out, err = run(argv(vmm, extra))
        log = out.split("BENCH-VM-DMESG-BEGIN", 1)[-1].split("BENCH-VM-DMESG-END", 1)[0] if "BENCH-VM-DMESG-BEGIN" in out else ""
        msgs = []
        for l in log.splitlines():
            m = LINE.match(l.strip("\r"))
            if m: msgs.append((float(m.group(2)), m.group(3)))
        tinit = next((t for t, s in msgs if "bench-vm-init: init reached" in s), None)
        f = lambda v: "-" if v is None else f"{v:.0f}"
        print(f"== {vmm} run {i+1}: first serial byte {f(first)} ms, marker {f(mark)} ms, exit {f(end)} ms; "
              f"guest clock at init {f(tinit*1000 if tinit is not None else None)} ms"
              + (f" -> before the guest clock: {mark - tinit*1000:.0f} ms" if tinit is not None and mark else ""))
        bt = re.findall(r"guest init reached after ([0-9.]+) ms", err)
        if bt: print(f"   boot timer (in VMM): {bt[0]} ms")
        if not msgs:
            print("   no kernel log; output tail:", out[-800:], err[-800:]); continue
        if a.full:
            for t, s in msgs: print(f"   [{t:10.6f}] {s}")
        gaps = sorted(((msgs[k+1][0] - msgs[k][0], k) for k in range(len(msgs) - 1)), reverse=True)[:a.top]
        print("   largest gaps between kernel messages (ms, then the message before and after):")
        for g, k in gaps:
            print(f"   {g*1000:8.1f}  [{msgs[k][0]:.6f}] {msgs[k][1][:90]}\n   {'':8}  -> {msgs[k+1][1][:90]}")
        ic = []
        for t, s in msgs:
            m = re.match(r"initcall (\S+) returned \S+ after (\d+) usecs", s)
            if m: ic.append((int(m.group(2)), m.group(1)))
        if ic:
            ic.sort(reverse=True)
            print(f"   slowest initcalls (of {len(ic)}, total {sum(u for u, _ in ic)/1000:.1f} ms):")
            for u, n in ic[:a.top]: print(f"   {u/1000:8.1f}  {n}")
        sys.stdout.flush()
