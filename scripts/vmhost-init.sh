#!/bin/bash
# PID 1 of the nested test host started by scripts/vmhost (not run by hand).
# Stage 1 (on the read-only 9p root): a tmpfs-backed overlay over the root,
# moved onto / . Stage 2 (in the overlay): the usual mounts, then the
# command from the private 9p share "vmhostio"; its exit status goes back
# into that share as the file "status", then the test host powers off.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
IO=/run/vmhost-io

halt_now() {
  sync
  dmesg -D 2>/dev/null  # no kernel chatter after the command's output
  echo b > /proc/sysrq-trigger 2>/dev/null
  # PID 1 exiting panics the kernel; panic=-1 + reboot=t + -no-reboot end QEMU.
  exit 1
}

fail() {
  echo "vmhost-init: $*" >&2
  if mountpoint -q "$IO" 2>/dev/null; then echo "$*" > "$IO/error"; fi
  halt_now
}

if [ "${1:-}" != stage2 ]; then
  mount -t proc proc /proc || fail "mount /proc failed"
  mount -t tmpfs -o mode=0755 vmhost-ov /tmp || fail "mount tmpfs on /tmp failed"
  mkdir -p /tmp/upper /tmp/work /tmp/root
  mount -t overlay overlay -o lowerdir=/,upperdir=/tmp/upper,workdir=/tmp/work /tmp/root ||
    fail "overlay over the 9p root failed"
  umount /proc
  cd /tmp/root || fail "cd /tmp/root failed"
  mount -n --move . / || fail "moving the overlay onto / failed"
  exec chroot . /bin/bash "$0" stage2
  fail "chroot into the overlay failed"
fi

mount -t proc proc /proc || fail "mount /proc failed"
mount -t sysfs sysfs /sys || fail "mount /sys failed"
mount -t devtmpfs -o mode=0755 devtmpfs /dev || fail "mount /dev failed"
exec </dev/null >/dev/ttyS0 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts || fail "mount /dev/pts failed"
ln -sf pts/ptmx /dev/ptmx 2>/dev/null
mount -t tmpfs -o mode=1777 shm /dev/shm || fail "mount /dev/shm failed"
mount -t tmpfs -o mode=0755 run /run || fail "mount /run failed"
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "mount cgroup2 failed"
mkdir -p "$IO"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmhostio "$IO" || fail "mount of the vmhostio share failed"
: > "$IO/started"  # scripts/vmhost: the test host reached its init (CMD not yet run)
[ -e /dev/kvm ] || echo "vmhost-init: warning: no /dev/kvm in the test host" >&2
hostname vmhost 2>/dev/null
stty -F /dev/ttyS0 -onlcr 2>/dev/null

/bin/bash "$IO/cmd" </dev/null >/dev/ttyS0 2>&1
echo "$?" > "$IO/status.tmp" && mv "$IO/status.tmp" "$IO/status"
halt_now
