#!/usr/bin/env bash
# Network throughput and round-trip latency, container to container over the
# hvrun bridge (veth -> bridge -> veth) against plain loopback, same tools
# (busybox nc + dd, busybox ping), same run. Everything happens inside a
# network namespace of the script's own; nothing leaves it. Prints the
# numbers and the ratios container/loopback. As root.
#
#   scripts/bench-net.sh [MiB] [PINGS]     (default 2048 MiB, 50 pings; HVRUN=path/to/hvrun)
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-2048}
PINGS=${2:-50}
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
[ "$(id -u)" = 0 ] || { echo "bench-net.sh: run as root" >&2; exit 1; }
[ -x "$HVRUN" ] || { echo "bench-net.sh: $HVRUN missing (build first)" >&2; exit 1; }

ns=hvbench$$
work=$(mktemp -d /tmp/hvrun-bench-net.XXXXXX)
hv() { nsenter --net=/run/netns/$ns "$HVRUN" --root "$work/store" "$@"; }
cleanup() {
  for id in $(hv ps -aq 2>/dev/null); do hv rm -f "$id" >/dev/null 2>&1 || true; done
  ip netns del $ns 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
ip netns add $ns
ip netns exec $ns ip link set lo up
scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
hv image import "$work/rootfs" --name busybox:latest >/dev/null

# Microseconds to push $MIB MiB through `nc HOST PORT`, timed where dd runs
# (busybox date has no %N: /proc/uptime, 10 ms steps; hence the large default).
send_script='s=$(cut -d" " -f1 /proc/uptime); dd if=/dev/zero bs=1M count='$MIB' 2>/dev/null | busybox nc $0 $1; e=$(cut -d" " -f1 /proc/uptime); awk -v s=$s -v e=$e "BEGIN { printf \"%d\n\", (e - s) * 1e6 }"'

# Loopback: server and client in the namespace, no container.
# (busybox nc ends a connection at EOF on its stdin: servers read a pipe that
# stays open). busybox nc moves data in small chunks, so both sides are far
# below what the kernel can do: the ratio is the point, not the MiB/s.
setsid nsenter --net=/run/netns/$ns busybox sh -c 'sleep 600 | busybox nc -l -p 5002 >/dev/null' &
srv=$!
sleep 0.3
lo_us=$(nsenter --net=/run/netns/$ns busybox sh -c "$send_script" 127.0.0.1 5002)
kill -- -$srv 2>/dev/null || true  # its own process group (setsid)
wait $srv 2>/dev/null || true
lo_rtt=$(nsenter --net=/run/netns/$ns busybox ping -c "$PINGS" -i 0.05 -q 127.0.0.1 | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')

# Container to container over the default bridge.
hv run -d --net bridge --name sink busybox sh -c 'sleep 600 | nc -l -p 5001 | wc -c' >/dev/null
sleep 0.3
ctr_us=$(hv run --rm --net bridge busybox sh -c "for i in \$(seq 50); do nc -z sink 5001 2>/dev/null && break; sleep 0.1; done; $send_script" sink 5001 | tail -1)
ctr_rtt=$(hv run --rm --net bridge busybox ping -c "$PINGS" -i 0.05 -q sink | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')

mbps() { awk -v mib="$MIB" -v us="$1" 'BEGIN { printf "%.0f", mib / (us / 1e6) }'; }
lo_tp=$(mbps "$lo_us"); ctr_tp=$(mbps "$ctr_us")
printf '%-34s %12s %14s\n' "" "MiB/s" "avg RTT (ms)"
printf '%-34s %12s %14s\n' "loopback (same netns)" "$lo_tp" "$lo_rtt"
printf '%-34s %12s %14s\n' "container -> container (bridge)" "$ctr_tp" "$ctr_rtt"
awk -v a="$ctr_tp" -v b="$lo_tp" -v c="$ctr_rtt" -v d="$lo_rtt" \
  'BEGIN { printf "ratio container/loopback: throughput %.2fx, RTT %.2fx\n", a / b, c / d }'
echo "VM -> host: needs the VM backend wiring (tap on netcfg.bridge, guest eth0 from netcfg); not measured here"
