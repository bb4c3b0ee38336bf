#!/usr/bin/env bash
# microVM snapshots at the VMM (`hvrun vmm --snapshot-to` / `--restore`),
# run INSIDE the nested test host (scripts/vmhost; ctest:
# VmmSnapshot.AGuestGoesOnFromItsSnapshotInTwoClonesThatDiverge). The
# project's guest kernel boots a busybox /init that counts in a shell
# variable, appends each count to a file in its tmpfs root and reads a
# word from its serial console. SIGUSR2 writes a snapshot and stops the VM;
# two clones restored from it at once go on counting from where it stopped,
# with the file as it was, and each takes its own word: they diverge.
# Hostile snapshot files are refused with one line, never half-restored.
# Prints "VMM-SNAPSHOT: PASS" when all checks hold.
# A second guest does the same on an ext4 disk (virtio-blk) with its console
# on virtio-console: each clone writes its own copy of the disk.
# Usage: vmm_snapshot.sh HVRUN_BIN
set -uo pipefail
HV=${1:?usage: vmm_snapshot.sh HVRUN_BIN}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
W=/tmp/vmm-snapshot
fails=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else fail "$1"; fi; }
step() { echo "--- $(date +%T) $*"; }
# wait_for FILE REGEX SECONDS
wait_for() {
  for _ in $(seq $(($3 * 10))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

KDIR=$("$HERE/scripts/build-kernel.sh" --print-path guest) || { echo "VMM-SNAPSHOT: 1 FAILED (no guest kernel)"; exit 1; }
rm -rf "$W" && mkdir -p "$W/root/bin" "$W/root/proc" "$W/root/tmp"
# The snapshots on a tmpfs: the test host's root is an overlayfs.
mkdir -p "$W/snaps" && mount -t tmpfs -o size=1g vmm-snaps "$W/snaps"
cp /bin/busybox "$W/root/bin/busybox"
cat > "$W/root/init" <<'EOF'
#!/bin/busybox sh
PATH=/bin
/bin/busybox mount -t proc proc /proc
i=0 word=none
while :; do
  i=$((i + 1))
  echo $i >> /tmp/log
  if read -t 1 line; then word=$line; fi
  echo "count $i lines $(/bin/busybox wc -l < /tmp/log) word $word"
done
EOF
chmod 0755 "$W/root/init"
(cd "$W/root" && find . | cpio --quiet -o -H newc -R 0:0) > "$W/init.cpio" || { echo "VMM-SNAPSHOT: 1 FAILED (cpio)"; exit 1; }
S=$W/snaps/snap

step "boot, count to 3, snapshot and stop (SIGUSR2)"
"$HV" vmm --kernel "$KDIR/vmlinux" --initrd "$W/init.cpio" --mem 128M --snapshot-to "$S" </dev/null >"$W/boot.out" 2>"$W/boot.err" &
pid=$!
if wait_for "$W/boot.out" '^count 3 ' 240; then ok "the guest boots and counts"; else fail "the guest boots and counts"; tail -20 "$W/boot.out"; fi
kill -USR2 $pid
timeout 60 tail --pid=$pid -f /dev/null; wait $pid; rc=$?
check "the VMM stops after the snapshot with status 0 (got $rc)" '[ $rc = 0 ]'
check "it says where the snapshot went" 'grep -q "snapshot written to $S" "$W/boot.err"'
cat "$W/boot.err"
last=$(grep -oE '^count [0-9]+' "$W/boot.out" | tail -1 | cut -d' ' -f2)
echo "last count before the snapshot: $last"
check "the snapshot file is there" '[ -s "$S" ]'

step "two clones of the snapshot at once, each given its own word"
# Each clone's serial input is a FIFO that gets its word 3 s after the start.
mkfifo "$W/a.in" "$W/b.in"
{ sleep 3; echo apple; } >"$W/a.in" &
{ sleep 3; echo banana; } >"$W/b.in" &
"$HV" vmm --restore "$S" <"$W/a.in" >"$W/a.out" 2>"$W/a.err" &
a=$!
"$HV" vmm --restore "$S" <"$W/b.in" >"$W/b.out" 2>"$W/b.err" &
b=$!
want=$((last + 4))
wait_for "$W/a.out" "^count $want .*word apple" 120
wait_for "$W/b.out" "^count $want .*word banana" 120
for c in a b; do
  echo "clone $c:"; grep -E '^count' "$W/$c.out" | head -8; cat "$W/$c.err"
done
for c in a b; do
  check "clone $c goes on from count $last (no reboot: no count 1)" '! grep -qE "^count 1 " "$W/$c.out" && grep -qE "^count $((last + 2)) " "$W/$c.out"'
  check "clone $c kept the file of its counts (lines = count)" 'grep -qE "^count $((last + 2)) lines $((last + 2)) " "$W/$c.out"'
done
check "clone a took its own word" 'grep -q "word apple" "$W/a.out" && ! grep -q banana "$W/a.out"'
check "clone b took its own word" 'grep -q "word banana" "$W/b.out" && ! grep -q apple "$W/b.out"'
check "clones keep running: a reaches count $want" 'grep -qE "^count $want " "$W/a.out"'
check "clones keep running: b reaches count $want" 'grep -qE "^count $want " "$W/b.out"'
# Copy-on-write: each clone's guest memory maps the snapshot file privately.
vmm_pids=$(pgrep -x hvrun-vmm | tr '\n' ' ')
for p in $vmm_pids; do
  grep -q "$S" /proc/$p/maps 2>/dev/null && echo "pid $p maps the snapshot: $(awk -v f="$S" '$0 ~ f {n++} END {print n}' /proc/$p/maps) mapping(s)"
done
check "the clones map the snapshot file (copy-on-write)" 'for p in $vmm_pids; do grep -q "$S" /proc/$p/maps || exit 1; done; true'
kill -TERM $a $b
wait $a; ra=$?
wait $b; rb=$?
check "SIGTERM stops both clones with status 0 (got $ra $rb)" '[ $ra = 0 ] && [ $rb = 0 ]'


step "virtio devices: a disk and a virtio console, snapshot and two clones on copies of the disk"
# init2 logs each count to a file on the ext4 disk (vda) and syncs it; its
# console is hvc0 (virtio-console, --console-stdio), input included.
mkdir -p "$W/root2/bin" "$W/root2/proc" "$W/root2/dev" "$W/root2/mnt"
cp /bin/busybox "$W/root2/bin/busybox"
cat > "$W/root2/init" <<'EOF2'
#!/bin/busybox sh
PATH=/bin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t ext4 /dev/vda /mnt || echo "MOUNT FAILED"
exec </dev/hvc0 >/dev/hvc0 2>&1
i=0 word=none
while :; do
  i=$((i + 1))
  echo "$i $word" >> /mnt/log
  /bin/busybox sync
  if read -t 1 line; then word=$line; fi
  echo "disk-count $i lines $(/bin/busybox wc -l < /mnt/log) word $word"
done
EOF2
chmod 0755 "$W/root2/init"
(cd "$W/root2" && find . | cpio --quiet -o -H newc -R 0:0) > "$W/init2.cpio"
truncate -s 32M "$W/snaps/disk.ext4" && mkfs.ext4 -q -F "$W/snaps/disk.ext4"
S2=$W/snaps/snap2
"$HV" vmm --kernel "$KDIR/vmlinux" --initrd "$W/init2.cpio" --mem 128M --disk "$W/snaps/disk.ext4" --console-stdio \
  --snapshot-to "$S2" </dev/null >"$W/boot2.out" 2>"$W/boot2.err" &
pid=$!
if wait_for "$W/boot2.out" '^disk-count 3 ' 240; then ok "the disk guest boots and counts"; else fail "the disk guest boots and counts"; tail -20 "$W/boot2.out"; fi
kill -USR2 $pid
timeout 60 tail --pid=$pid -f /dev/null; wait $pid; rc=$?
check "the disk guest's VMM stops after the snapshot (rc $rc)" '[ $rc = 0 ] && grep -q "snapshot written to $S2" "$W/boot2.err"'
last2=$(grep -oE '^disk-count [0-9]+' "$W/boot2.out" | tail -1 | cut -d' ' -f2)
# Each clone gets its own copy of the disk as it was at the snapshot.
cp --sparse=always "$W/snaps/disk.ext4" "$W/snaps/a.ext4"
cp --sparse=always "$W/snaps/disk.ext4" "$W/snaps/b.ext4"
mkfifo "$W/a2.in" "$W/b2.in"
{ sleep 3; echo apple; } >"$W/a2.in" &
{ sleep 3; echo banana; } >"$W/b2.in" &
"$HV" vmm --restore "$S2" --disk "$W/snaps/a.ext4" --console-stdio <"$W/a2.in" >"$W/a2.out" 2>"$W/a2.err" &
a=$!
"$HV" vmm --restore "$S2" --disk "$W/snaps/b.ext4" --console-stdio <"$W/b2.in" >"$W/b2.out" 2>"$W/b2.err" &
b=$!
want=$((last2 + 4))
wait_for "$W/a2.out" "^disk-count $want .*word apple" 120
wait_for "$W/b2.out" "^disk-count $want .*word banana" 120
kill -TERM $a $b; wait $a; wait $b
for c in a b; do echo "disk clone $c:"; grep -E '^disk-count' "$W/${c}2.out" | head -6; cat "$W/${c}2.err"; done
for c in a b; do
  check "disk clone $c goes on from count $last2 over virtio-console" 'grep -qE "^disk-count $((last2 + 2)) lines $((last2 + 2)) " "$W/${c}2.out" && ! grep -qE "^disk-count 1 " "$W/${c}2.out"'
  debugfs -R "cat /log" "$W/snaps/$c.ext4" 2>/dev/null > "$W/$c.log"
  n=$(wc -l < "$W/$c.log")
  check "disk clone $c's disk holds every count 1..$n in order (got $n lines)" '[ "$n" -ge $want ] && [ "$(cut -d" " -f1 "$W/$c.log" | tr "\n" " ")" = "$(seq 1 $n | tr "\n" " ")" ]'
done
check "disk clone a wrote apple, not banana, on its disk" 'grep -q apple "$W/a.log" && ! grep -q banana "$W/a.log"'
check "disk clone b wrote banana, not apple, on its disk" 'grep -q banana "$W/b.log" && ! grep -q apple "$W/b.log"'

step "a jailed VMM as the engine starts it: a snapshot into the fd it was given (SIGRTMIN+4), restored jailed"
# hvrun-vmm --launch-fd (vmm/tool/launch.hpp) with a jail: its own root, the
# unprivileged uid, per-thread seccomp filters. It opens no files: the
# snapshot goes into fd 4, the outcome line into fd 6.
launch() {  # OUT.json [restore_from]
  python3 - "$1" "$KDIR/vmlinux" "$W/init.cpio" "${2:-}" <<'PY'
import json, sys
out, kernel, initrd, restore = sys.argv[1:5]
j = {"kernel": "" if restore else kernel, "initrd": "" if restore else initrd,
     "cmdline": "console=ttyS0 reboot=k panic=1", "mem_bytes": 128 << 20, "vcpus": 1,
     "disks": [], "consoles": [], "nics": [], "shares": [], "serial_out_fd": 1, "serial_in_fd": -1,
     "raw_kernel": False, "debug": False,
     "relay": {"monitor": -1, "hvc2": -1, "hvc2_vmm": -1, "gate": -1, "input": -1, "tty": False},
     "file_binds": [], "result_fd": 5, "jail": {"uid": 65534, "gid": 65534},
     "snapshot_fd": 4, "snapshot_done_fd": 6}
if restore: j["restore_from"] = restore
json.dump(j, open(out, "w"))
PY
}
launch "$W/boot3.json"
: > "$W/snaps/snap3"
"$HV" vmm --launch-fd 3 3<"$W/boot3.json" 4<>"$W/snaps/snap3" 5>"$W/boot3.result" 6>"$W/boot3.done" \
  </dev/null >"$W/boot3.out" 2>"$W/boot3.err" &
pid=$!
if wait_for "$W/boot3.out" '^count 3 ' 240; then ok "the jailed VMM's guest boots and counts"; else fail "the jailed VMM's guest boots and counts"; tail -5 "$W/boot3.out" "$W/boot3.err"; fi
kill -s RTMIN+4 $pid
timeout 60 tail --pid=$pid -f /dev/null; wait $pid; rc=$?
cat "$W/boot3.done" "$W/boot3.err"
check "the jailed VMM wrote the snapshot into its fd and stopped (rc $rc)" '[ $rc = 0 ] && grep -q "^snapshot written to fd 4" "$W/boot3.done" && [ -s "$W/snaps/snap3" ]'
last3=$(grep -oE '^count [0-9]+' "$W/boot3.out" | tail -1 | cut -d' ' -f2)
launch "$W/restore3.json" "$W/snaps/snap3"
"$HV" vmm --launch-fd 3 3<"$W/restore3.json" 4<>"$W/snaps/snap3-again" 5>"$W/restore3.result" 6>"$W/restore3.done" \
  </dev/null >"$W/restore3.out" 2>"$W/restore3.err" &
pid=$!
wait_for "$W/restore3.out" "^count $((last3 + 3)) " 120
check "a jailed VMM restores it and the guest goes on from count $last3" 'grep -qE "^count $((last3 + 2)) lines $((last3 + 2)) " "$W/restore3.out" && ! grep -qE "^count 1 " "$W/restore3.out"'
kill -s RTMIN+3 $pid
wait_for "$W/restore3.done" "^snapshot" 60
check "the restored jailed VMM snapshots again and goes on" 'grep -q "^snapshot written to fd 4" "$W/restore3.done" && kill -0 $pid'
kill -TERM $pid; wait $pid; rc=$?
cat "$W/restore3.err"
check "the restored jailed VMM stops on SIGTERM (rc $rc)" '[ $rc = 0 ]'
# A VM must not rewrite the file it was restored from (its memory maps it):
# refused with a line, and the VM goes on.
"$HV" vmm --launch-fd 3 3<"$W/restore3.json" 4<>"$W/snaps/snap3" 5>"$W/self.result" 6>"$W/self.done" \
  </dev/null >"$W/self.out" 2>"$W/self.err" &
pid=$!
wait_for "$W/self.out" "^count $((last3 + 2)) " 120
kill -s RTMIN+3 $pid
wait_for "$W/self.done" "^snapshot" 60
cat "$W/self.done"
check "a snapshot into the file the VM was restored from is refused and the VM goes on" \
  'grep -q "^snapshot failed: the snapshot file is the one this VM was restored from" "$W/self.done" && kill -0 $pid'
kill -TERM $pid; wait $pid
# The snapshot of a clone (its memory mapped from the first snapshot) restores too.
again=$(grep -oE '^count [0-9]+' "$W/restore3.out" | tail -1 | cut -d' ' -f2)
timeout 60 "$HV" vmm --restore "$W/snaps/snap3-again" </dev/null >"$W/again.out" 2>"$W/again.err" &
pid=$!
wait_for "$W/again.out" "^count $((again + 3)) " 60
kill -TERM $pid 2>/dev/null; wait $pid
echo "restored from the clone's snapshot:"; grep -aE '^count' "$W/again.out" | head -3; cat "$W/again.err"
check "a snapshot taken of a restored clone restores and goes on (from about count $again)" \
  'grep -qE "^count $((again + 3)) " "$W/again.out" && ! grep -qE "^count 1 " "$W/again.out"'

step "hostile or foreign snapshot files are refused with one line"
refused() {  # WHAT FILE EXTRA-ARGS... : exit 125, one line of error
  local what=$1 f=$2
  shift 2
  timeout 60 "$HV" vmm --restore "$f" "$@" </dev/null >"$W/h.out" 2>"$W/h.err"
  local rc=$? lines
  lines=$(wc -l < "$W/h.err")
  echo "  $what: rc $rc: $(cat "$W/h.err")"
  check "$what is refused (rc 125, one line)" '[ $rc = 125 ] && [ "$lines" = 1 ] && ! grep -q "^count" "$W/h.out"'
}
head -c 100000 "$S" > "$W/snaps/trunc"
refused "a truncated snapshot" "$W/snaps/trunc"
cp "$S" "$W/snaps/flip" && printf '\xff' | dd of="$W/snaps/flip" bs=1 seek=5000 conv=notrunc status=none
refused "a snapshot with a flipped byte in its state" "$W/snaps/flip"
refused "a snapshot restored with other devices" "$S" --console-stdio
refused "a missing snapshot" "$W/snaps/none"

if [ $fails = 0 ]; then echo "VMM-SNAPSHOT: PASS"; else echo "VMM-SNAPSHOT: $fails FAILED"; fi
