#!/usr/bin/env bash
# VM-mode scenarios, run INSIDE the nested test host (scripts/vmhost) by
# vm_e2e_test.cpp: one test-host boot, many microVMs. Each scenario's output
# is framed by "=== BEGIN name" / "=== END name rc=N" lines for the test to
# pick apart. Usage: vm_scenarios.sh HVRUN_BIN
set -uo pipefail
HV=${1:?usage: vm_scenarios.sh HVRUN_BIN}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
export HVRUN_ROOT=/tmp/hvrun-vm-e2e
rm -rf "$HVRUN_ROOT"
"$HERE/scripts/make-busybox-rootfs.sh" /tmp/vm-e2e-rootfs
"$HV" image import /tmp/vm-e2e-rootfs --name busybox:latest >/dev/null || { echo "import failed"; exit 1; }

begin() { echo "=== BEGIN $1"; }
end() { echo "=== END $1 rc=$2"; }
wait_status() {  # NAME STATUS: wait until inspect shows it (30 s at most)
  for _ in $(seq 300); do
    "$HV" inspect "$1" 2>/dev/null | grep -q "\"Status\": *\"$2\"" && return 0
    sleep 0.1
  done
  return 1
}

begin host-uname; uname -r; end host-uname 0

begin uname; "$HV" --vm --rm busybox uname -r; end uname $?

begin exit-code; "$HV" --vm --rm busybox sh -c 'echo before-exit; exit 7'; end exit-code $?

begin stdin; echo piped-into-the-vm | "$HV" --vm -i --rm busybox sh -c 'cat; echo stdin-closed'; end stdin $?

begin stderr; "$HV" --vm --rm busybox sh -c 'echo to-stderr >&2' 2>/tmp/vm-e2e-err >/dev/null; rc=$?
echo "stderr-got: $(cat /tmp/vm-e2e-err)"; end stderr $rc

begin oom
"$HV" --vm --name oom --memory 32m busybox sh -c 'x=aaaaaaaa; while :; do x=$x$x; done'; rc=$?
"$HV" inspect oom | grep -E '"OOMKilled"'; "$HV" rm oom >/dev/null; end oom $rc

begin signal
"$HV" --vm -d --name sig busybox sh -c 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done' >/dev/null
for _ in $(seq 300); do "$HV" logs sig 2>/dev/null | grep -q ready && break; sleep 0.1; done
"$HV" kill -s TERM sig; wait_status sig exited
"$HV" inspect sig | grep -E '"ExitCode"'; "$HV" logs sig; "$HV" rm sig >/dev/null; end signal 0

begin detach-logs-stop
"$HV" --vm -d --name bg busybox sh -c 'echo started-in-background; trap "exit 0" TERM; while :; do sleep 0.1; done' >/dev/null
for _ in $(seq 300); do "$HV" logs bg 2>/dev/null | grep -q started && break; sleep 0.1; done
"$HV" ps | grep -c ' bg$' | sed 's/^/running-count: /'
"$HV" logs bg
"$HV" stop -t 10 bg; echo "stop-rc: $?"
"$HV" ps -a | grep ' bg$'
"$HV" rm bg >/dev/null; echo "after-rm: $("$HV" ps -aq | wc -l)"; end detach-logs-stop 0

begin tty
printf 'echo hi-from-tty; stty size; exit 5\n' | script -qec "stty rows 30 cols 100 2>/dev/null; $HV --vm -it --rm busybox sh" /dev/null; end tty $?

begin two-at-once
"$HV" --vm --rm busybox sh -c 'sleep 1; echo vm-one' > /tmp/vm-e2e-1 & p1=$!
"$HV" --vm --rm busybox sh -c 'sleep 1; echo vm-two' > /tmp/vm-e2e-2 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
cat /tmp/vm-e2e-1 /tmp/vm-e2e-2; echo "rcs: $r1 $r2"; end two-at-once 0
