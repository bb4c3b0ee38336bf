#!/usr/bin/env bash
# What hvrun-vmm's jail (vmm/jail.hpp) costs: `hvrun --vm --rm busybox
# /bin/true` end to end, jailed vs HVRUN_VMM_JAIL=off, paired and
# interleaved (order alternating) in one run. Goal: jailed <= 1.05x. As root.
#
#   scripts/bench-vm-jail.sh [N]     (N pairs, default 10)
#
# Where /dev/kvm cannot boot Linux, it runs itself inside the nested test
# host (scripts/vmhost), as bench-vm.sh does. A run past BENCH_VM_TIMEOUT
# (default 30 s) counts as a test-host hang and is left out, but reported.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || { echo "bench-vm-jail.sh: N must be a positive number" >&2; exit 2; }
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
TIMEOUT=${BENCH_VM_TIMEOUT:-30}
if [ -z "${BENCH_VM_INSIDE:-}" ] && ! "$HVRUN" check --json 2>/dev/null | grep -q '"boots_linux": *true'; then
  exec scripts/vmhost --timeout $((N * 2 * TIMEOUT + 300)) --idle-timeout 240 --mem 3072 \
    --env BENCH_VM_INSIDE=1 --env HVRUN="$HVRUN" --env BENCH_VM_TIMEOUT="$TIMEOUT" -- bash "$0" "$N"
fi
export HVRUN_ROOT=/tmp/hvrun-bench-jail HVRUN_NETWORK=none
mkdir -p "$HVRUN_ROOT"
mountpoint -q "$HVRUN_ROOT" || mount -t tmpfs -o mode=0700 hvrun-bench "$HVRUN_ROOT"
scripts/make-busybox-rootfs.sh /tmp/bench-jail-rootfs >/dev/null
"$HVRUN" image import /tmp/bench-jail-rootfs --name busybox:latest >/dev/null
"$HVRUN" --vm --rm busybox /bin/true  # warm: the image's disk is made once

one() {  # MODE -> ms, or "hang"
  local t0 t1
  t0=$(date +%s%N)
  if [ "$1" = jailed ]; then
    timeout -k 2 "$TIMEOUT" "$HVRUN" --vm --rm busybox /bin/true || { echo hang; return; }
  else
    HVRUN_VMM_JAIL=off timeout -k 2 "$TIMEOUT" "$HVRUN" --vm --rm busybox /bin/true || { echo hang; return; }
  fi
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
jailed=() plain=() hangs=0
for i in $(seq "$N"); do
  if [ $((i % 2)) = 1 ]; then order="jailed plain"; else order="plain jailed"; fi
  for m in $order; do
    v=$(one $m)
    if [ "$v" = hang ]; then hangs=$((hangs + 1)); continue; fi
    if [ $m = jailed ]; then jailed+=("$v"); else plain+=("$v"); fi
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mj=$(median "${jailed[@]}") mp=$(median "${plain[@]}")
echo "hvrun --vm --rm busybox /bin/true, $N pairs (hung runs left out: $hangs)"
echo "  jailed:   median ${mj} ms  (${jailed[*]})"
echo "  unjailed: median ${mp} ms  (${plain[*]})"
awk -v a="$mj" -v b="$mp" 'BEGIN {printf "  ratio jailed/unjailed: %.3fx (goal <= 1.05x)\n", a / b}'
