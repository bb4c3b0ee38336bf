#!/usr/bin/env bash
# Volume (virtio-9p) benchmark: our VMM's 9P2000.L server (what `hvrun --vm
# -v DIR:/x` uses) against QEMU's virtio-9p (-fsdev local,
# security_model=passthrough), same guest kernel, same initramfs, same mount
# options, same share (a fresh tmpfs). As root.
#
#   scripts/bench-9p.sh [N]      (N paired runs, default 5)
#
# The initramfs's /init (scripts/bench-9p-init.c) times, inside the guest:
# write  BENCH_MIB MiB (default 32) in 256 KiB writes + fsync,
# read   it back, and
# meta   BENCH_FILES (default 300) small files: create, stat, unlink.
# Prints each run and the medians with the ratio ours/QEMU (time: lower is
# better). Where /dev/kvm cannot boot Linux (PVM, see
# shared/notes/kvm-on-these-machines.md) it runs itself inside the nested
# test host (scripts/vmhost): absolute numbers are then TCG-slow, the ratios
# are what to compare. Environment: HVRUN_VMM, HVRUN_GUEST_KERNEL_DIR,
# BENCH_MIB, BENCH_FILES, BENCH_9P_TIMEOUT (seconds per run, default 120).
# QEMU runs microvm with acpi=off: then it announces its virtio-mmio devices
# on the kernel command line, as our VMM does (the guest kernel has no ACPI).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || { echo "bench-9p.sh: N must be a positive number" >&2; exit 2; }
KDIR=${HVRUN_GUEST_KERNEL_DIR:-/var/cache/hvrun/kernels/guest}
VMM=${HVRUN_VMM:-$PWD/build/vmm/tool/hvrun-vmm}
WORK=$PWD/build/bench-9p
die() { echo "bench-9p.sh: $*" >&2; exit 1; }

if [ "${BENCH_9P_INSIDE:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || die "run as root"
  [ -x "$VMM" ] || die "$VMM missing (build: ninja -C build hvrun-vmm, or set HVRUN_VMM)"
  [ -f "$KDIR/vmlinux" ] || die "no guest kernel in $KDIR (scripts/build-kernel.sh)"
  grep -q '^CONFIG_9P_FS=y' "$KDIR/.config" || die "the guest kernel in $KDIR has no 9p (rebuild: scripts/build-kernel.sh)"
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found"
  mkdir -p "$WORK/initramfs/dev"
  gcc -static -O2 -s -o "$WORK/initramfs/init" scripts/bench-9p-init.c
  [ -e "$WORK/initramfs/dev/console" ] || mknod -m 600 "$WORK/initramfs/dev/console" c 5 1
  (cd "$WORK/initramfs" && printf '%s\n' dev dev/console init | cpio --quiet -o -H newc -R 0:0) > "$WORK/initramfs.cpio"
  if [ -d /sys/module/kvm_pvm ] || ! grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
    echo "bench-9p.sh: this /dev/kvm cannot boot Linux; running inside the nested test host (scripts/vmhost)"
    exec scripts/vmhost --timeout 1200 --cpus 2 --env BENCH_9P_INSIDE=1 --env HVRUN_VMM="$VMM" \
      --env HVRUN_GUEST_KERNEL_DIR="$KDIR" --env BENCH_MIB="${BENCH_MIB:-32}" \
      --env BENCH_FILES="${BENCH_FILES:-300}" --env BENCH_9P_TIMEOUT="${BENCH_9P_TIMEOUT:-120}" -- "$0" "$N"
  fi
fi

[ -e /dev/kvm ] || die "no /dev/kvm"
SHARE=/tmp/bench-9p-share
mkdir -p "$SHARE"
mountpoint -q "$SHARE" || mount -t tmpfs -o size=1g bench-9p "$SHARE" || die "tmpfs for the share"
trap 'umount "$SHARE" 2>/dev/null || true' EXIT

exec /usr/bin/python3 - "$N" "$VMM" "$KDIR/vmlinux" "$WORK/initramfs.cpio" "$SHARE" <<'PY'
import os, re, statistics, subprocess, sys

N, VMM, KERNEL, INITRD, SHARE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
TIMEOUT = float(os.environ.get("BENCH_9P_TIMEOUT", "120"))
ENV = f" BENCH_MIB={os.environ.get('BENCH_MIB', '32')} BENCH_FILES={os.environ.get('BENCH_FILES', '300')}"
CMDLINE = "console=ttyS0 reboot=t panic=-1 quiet" + ENV
LINE = re.compile(rb"BENCH-9P write_ms=([\d.]+) read_ms=([\d.]+) meta_ms=([\d.]+)")

peers = {
    "hvrun-vmm": [VMM, "--kernel", KERNEL, "--initrd", INITRD, "--cmdline", CMDLINE, "--mem", "256M",
                  "--share", f"{SHARE},tag=share"],
    "qemu": ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-enable-kvm", "-cpu", "host", "-nodefaults",
             "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-m", "256M",
             "-kernel", KERNEL, "-initrd", INITRD, "-append", CMDLINE,
             "-fsdev", f"local,id=share,path={SHARE},security_model=passthrough",
             "-device", "virtio-9p-device,fsdev=share,mount_tag=share"],
}
res = {k: [] for k in peers}
failed = {k: 0 for k in peers}
for i in range(N):
    order = list(peers) if i % 2 == 0 else list(reversed(peers))
    for name in order:
        try:
            p = subprocess.run(peers[name], stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
            out = p.stdout + p.stderr + f" [exit {p.returncode}]".encode()
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"") + f" [timed out after {TIMEOUT:.0f} s]".encode()
        m = LINE.search(out)
        if not m:
            failed[name] += 1
            tail = out.decode(errors="replace").strip().splitlines()[-3:]
            print(f"run {i + 1} {name}: no result: {' | '.join(tail)}", flush=True)
            continue
        w, r, meta = (float(x) for x in m.groups())
        res[name].append((w, r, meta))
        print(f"run {i + 1} {name:9s}: write {w:8.1f} ms  read {r:8.1f} ms  meta {meta:8.1f} ms", flush=True)

if not res["hvrun-vmm"] or not res["qemu"]:
    sys.exit("bench-9p.sh: a peer produced no result (see above)")
mib, files = os.environ.get("BENCH_MIB", "32"), os.environ.get("BENCH_FILES", "300")
print(f"\nmedians over {len(res['hvrun-vmm'])} (ours) / {len(res['qemu'])} (QEMU) runs "
      f"[{mib} MiB write+fsync, read back; {files} files create+stat+unlink]:")
for k, label in enumerate(("write", "read", "meta")):
    o = statistics.median(x[k] for x in res["hvrun-vmm"])
    q = statistics.median(x[k] for x in res["qemu"])
    extra = ""
    if k < 2:
        extra = f"   ({float(mib) / (o / 1000):.1f} vs {float(mib) / (q / 1000):.1f} MiB/s)"
    print(f"  {label:5s}: ours {o:9.1f} ms  QEMU {q:9.1f} ms  ours/QEMU {o / q:5.2f}x{extra}")
if any(failed.values()):
    print(f"runs without a result: {failed}")
PY
