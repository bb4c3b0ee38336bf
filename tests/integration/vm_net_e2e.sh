#!/usr/bin/env bash
# VM networking end to end, standalone (not yet part of VmE2E: see below).
# Boots the nested test host and, inside it, a microVM on a bridge
# br-test (10.99.0.1/24, no route out of the test host), through the VM
# backend's test hook HVRUN_VM_TEST_NETCFG. TCP both ways with busybox nc;
# checks the tap is gone after the VM. Exit 0 when every check passed.
#   tests/integration/vm_net_e2e.sh [HVRUN_BIN]     (as root)
# Status: unproven. On 2026-11-29, with the shared machine at load 7-9 (other
# test hosts running), the guest sent no packet within ~3 minutes; even the
# plain `uname` VM scenario hit its 150 s limit twice in the same conditions,
# so slowness and a bug could not be told apart. Run on a quiet machine.
set -uo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)
HV=${1:-$HERE/build/cli/hvrun}
if [ "${VM_NET_INSIDE:-}" != 1 ]; then
  exec "$HERE/scripts/vmhost" --timeout 900 --idle-timeout 300 --mem 3072 --cpus 2 --env VM_NET_INSIDE=1 -- bash "$0" "$HV"
fi
export HVRUN_ROOT=/tmp/hvrun-vm-net
# VM networking: a bridge on the test host (no route out of it), a VM whose
# card is a tap on it; TCP both ways with busybox nc. The network config
# comes through the VM backend's test hook (HVRUN_VM_TEST_NETCFG).
s_net() {
  ip link del br-test 2>/dev/null
  ip link add br-test type bridge && ip addr add 10.99.0.1/24 dev br-test && ip link set br-test up || return 1
  rm -f /tmp/vm-net-got
  busybox nc -l -p 7001 </dev/null >/tmp/vm-net-got & local lst=$!
  HVRUN_VM_TEST_NETCFG='{"bridge":"br-test","ifname":"eth0","address":"10.99.0.2","prefix":24,"gateway":"10.99.0.1","mac":"02:42:0a:63:00:02","mtu":1500}' \
    "$HV" --vm --rm busybox sh -c 'ip addr show dev eth0 | grep -o "inet [0-9./]*"; ip route | grep default;
      echo guest-to-host | nc 10.99.0.1 7001 && echo sent-to-host;
      nc -l -p 7002 </dev/null | sed "s/^/guest-got: /"' >/tmp/vm-net-out 2>&1 & local vm=$!
  # until the guest has connected (or the VM is gone: then the listener is killed)
  while kill -0 $lst 2>/dev/null && kill -0 $vm 2>/dev/null; do sleep 0.1; done
  kill $lst 2>/dev/null; wait $lst; echo "host-got: $(cat /tmp/vm-net-got)"
  local ok=0
  for _ in $(seq 150); do
    if echo host-to-guest | busybox nc -w 2 10.99.0.2 7002 2>/dev/null; then ok=1; break; fi
    sleep 0.2
  done
  echo "host-connected: $ok"
  wait $vm; local rc=$?
  cat /tmp/vm-net-out
  echo "taps-left: $(ip -o link show master br-test 2>/dev/null | wc -l)"
  ip link del br-test
  return $rc
}

( while sleep 30; do echo "[still running: ${SECONDS}s]"; done ) & ticker=$!
rm -rf "$HVRUN_ROOT"
"$HERE/scripts/make-busybox-rootfs.sh" /tmp/vm-net-rootfs
"$HV" image import /tmp/vm-net-rootfs --name busybox:latest >/dev/null || { echo "import failed"; exit 1; }
s_net >/tmp/vm-net.out 2>&1; rc=$?
kill $ticker
cat /tmp/vm-net.out
fail=0
for want in "inet 10.99.0.2/24" "default via 10.99.0.1" "host-got: guest-to-host" "sent-to-host" \
            "host-connected: 1" "guest-got: host-to-guest" "taps-left: 0"; do
  grep -qF "$want" /tmp/vm-net.out || { echo "MISSING: $want"; fail=1; }
done
[ $rc = 0 ] || { echo "scenario rc=$rc"; fail=1; }
[ $fail = 0 ] && echo "vm-net: PASS" || echo "vm-net: FAIL"
exit $fail
