#!/usr/bin/env bash
# Network throughput and round-trip latency against plain loopback, same tools
# (busybox nc + dd, busybox ping), same run:
#  - container to container over the hvrun bridge (veth -> bridge -> veth);
#  - VM to host: a microVM (`--vm`, virtio-net -> tap -> bridge) sending to
#    the bridge's gateway address, which is the host side. On machines whose
#    /dev/kvm cannot boot Linux (PVM) this part, and a loopback baseline of
#    its own, run inside the nested test host (scripts/vmhost): compare that
#    pair with each other only.
# Everything happens inside a network namespace of the script's own; nothing
# leaves it. Prints the numbers and the ratios to loopback. As root.
#
#   scripts/bench-net.sh [MiB] [PINGS]     (default 2048 MiB, 50 pings; HVRUN=path/to/hvrun;
#                                           BENCH_NET_VM_MIB=MiB for the VM part, default 64;
#                                           BENCH_NET_VM=0 skips the VM part)
#   scripts/bench-net.sh --vm-part MiB PINGS   (the VM part alone; used inside the test host)
set -euo pipefail
cd "$(dirname "$0")/.."
VM_PART_ONLY=0
if [ "${1:-}" = --vm-part ]; then VM_PART_ONLY=1; shift; fi
MIB=${1:-2048}
PINGS=${2:-50}
VM_MIB=${BENCH_NET_VM_MIB:-64}
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
[ "$(id -u)" = 0 ] || { echo "bench-net.sh: run as root" >&2; exit 1; }
[ -x "$HVRUN" ] || { echo "bench-net.sh: $HVRUN missing (build first)" >&2; exit 1; }
[[ $MIB =~ ^[0-9]+$ && $PINGS =~ ^[0-9]+$ && $VM_MIB =~ ^[0-9]+$ ]] || { echo "bench-net.sh: MiB and PINGS must be numbers" >&2; exit 2; }

ns=hvbench$$
work=$(mktemp -d /tmp/hvrun-bench-net.XXXXXX)
hv() { nsenter --net=/run/netns/$ns "$HVRUN" --root "$work/store" "$@"; }
cleanup() {
  for id in $(hv ps -aq 2>/dev/null); do hv rm -f "$id" >/dev/null 2>&1 || true; done
  ip netns del $ns 2>/dev/null || true
  umount "$work/store" 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
if [ "${BENCH_NET_INSIDE:-}" = 1 ]; then mkdir -p "$work/store" && mount -t tmpfs -o mode=0700 hvrun-bench "$work/store"; fi
ip netns add $ns
ip netns exec $ns ip link set lo up
scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
hv image import "$work/rootfs" --name busybox:latest >/dev/null

# Microseconds to push N MiB through `nc HOST PORT`, timed where dd runs
# (busybox date has no %N: /proc/uptime, 10 ms steps; hence the large default).
send_script() {
  echo 's=$(cut -d" " -f1 /proc/uptime); dd if=/dev/zero bs=1M count='$1' 2>/dev/null | busybox nc $0 $1; e=$(cut -d" " -f1 /proc/uptime); awk -v s=$s -v e=$e "BEGIN { printf \"%d\n\", (e - s) * 1e6 }"'
}
mbps() { awk -v mib="$1" -v us="$2" 'BEGIN { printf "%.0f", mib / (us / 1e6) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Loopback: server and client in the namespace, no container.
# (busybox nc ends a connection at EOF on its stdin: servers read a pipe that
# stays open). busybox nc moves data in small chunks, so both sides are far
# below what the kernel can do: the ratio is the point, not the MiB/s.
# A sink in the namespace (host side) on PORT: reads until killed.
start_sink() {
  setsid nsenter --net=/run/netns/$ns busybox sh -c "sleep 900 | busybox nc -l -p $1 >/dev/null" &
  sink=$!
  sleep 0.3
}
stop_sink() {
  kill -- -$sink 2>/dev/null || true  # its own process group (setsid)
  wait $sink 2>/dev/null || true
}
loopback() {  # MiB -> "us rtt"
  start_sink 5002
  local us rtt
  us=$(nsenter --net=/run/netns/$ns busybox sh -c "$(send_script "$1")" 127.0.0.1 5002)
  stop_sink
  rtt=$(nsenter --net=/run/netns/$ns busybox ping -c "$PINGS" -i 0.05 -q 127.0.0.1 | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
  echo "$us $rtt"
}
rtt_of() { sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p'; }

# VM -> host over the default bridge: the sink listens in the namespace, the
# VM sends to the bridge's gateway address (the default network's gateway).
vm_part() {
  local lo vm_us vm_rtt gw
  gw=$(hv network inspect hvrun | sed -n 's/.*"gateway": *"\([0-9.]*\)".*/\1/p' | head -1)
  read -r lo_us lo_rtt <<<"$(loopback "$VM_MIB")"
  start_sink 5003
  vm_us=$(hv run --vm --rm --net bridge busybox sh -c "$(send_script "$VM_MIB")" $gw 5003 | tail -1)
  stop_sink
  vm_rtt=$(hv run --vm --rm --net bridge busybox ping -c "$PINGS" -i 0.05 -q $gw | rtt_of)
  local lo_tp vm_tp
  lo_tp=$(mbps "$VM_MIB" "$lo_us"); vm_tp=$(mbps "$VM_MIB" "$vm_us")
  printf '%-34s %12s %14s\n' "loopback ($where, $VM_MIB MiB)" "$lo_tp" "$lo_rtt"
  printf '%-34s %12s %14s\n' "VM -> host (virtio-net, tap)" "$vm_tp" "$vm_rtt"
  echo "ratio VM->host/loopback ($where): throughput $(ratio "$vm_tp" "$lo_tp")x, RTT $(ratio "$vm_rtt" "$lo_rtt")x"
}

if [ $VM_PART_ONLY = 1 ]; then
  where="test host"; [ "${BENCH_NET_INSIDE:-}" = 1 ] || where="this host"
  vm_part
  exit 0
fi

read -r lo_us lo_rtt <<<"$(loopback "$MIB")"

# Container to container over the default bridge.
hv run -d --net bridge --name sink busybox sh -c 'sleep 600 | nc -l -p 5001 | wc -c' >/dev/null
sleep 0.3
ctr_us=$(hv run --rm --net bridge busybox sh -c "for i in \$(seq 50); do nc -z sink 5001 2>/dev/null && break; sleep 0.1; done; $(send_script "$MIB")" sink 5001 | tail -1)
ctr_rtt=$(hv run --rm --net bridge busybox ping -c "$PINGS" -i 0.05 -q sink | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')

lo_tp=$(mbps "$MIB" "$lo_us"); ctr_tp=$(mbps "$MIB" "$ctr_us")
printf '%-34s %12s %14s\n' "" "MiB/s" "avg RTT (ms)"
printf '%-34s %12s %14s\n' "loopback (same netns)" "$lo_tp" "$lo_rtt"
printf '%-34s %12s %14s\n' "container -> container (bridge)" "$ctr_tp" "$ctr_rtt"
echo "ratio container/loopback: throughput $(ratio "$ctr_tp" "$lo_tp")x, RTT $(ratio "$ctr_rtt" "$lo_rtt")x"

[ "${BENCH_NET_VM:-1}" = 1 ] || exit 0
echo
if [ -d /sys/module/kvm_pvm ] || ! grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
  echo "VM part: this /dev/kvm cannot boot Linux; running it inside the nested test host (scripts/vmhost)"
  scripts/vmhost --mem 3072 --timeout 900 --env BENCH_NET_INSIDE=1 --env HVRUN="$HVRUN" \
    --env BENCH_NET_VM_MIB="$VM_MIB" -- "$0" --vm-part "$MIB" "$PINGS"
else
  where="this host"
  vm_part
fi
