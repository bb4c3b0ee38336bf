#!/usr/bin/env bash
# Inside the nested test host: part of the corpus built with
# `hvrun build --isolation vm` (every RUN step in its own microVM) against
# the same builds with --isolation container: the trees and configs must be
# the same. The cases are those whose RUN steps make whiteouts, opaque
# directories, owners and exec-form commands.
# Usage: vm_isolation.sh HVRUN_BIN
set -uo pipefail
HV=${1:?usage: vm_isolation.sh HVRUN_BIN}
here=$(cd "$(dirname "$0")" && pwd)
work=/tmp/hvrun-vm-build
mkdir -p "$work" && mount -t tmpfs -o mode=0700 hvrun-vm-build "$work"  # overlay uppers need a real file system
export HVRUN_NETWORK=none PYTHONUNBUFFERED=1  # progress reaches the console (vmhost --idle-timeout) as it happens
python3 "$here/compare.py" --hvrun "$HV" --peer hvrun-container --isolation vm --workdir "$work/w" \
  --case 03-user-run-chown --case 07-whiteout-deletes --case 08-opaque-dir --case 20-run-exec-form
rc=$?
echo "VM-BUILD: exit $rc"
exit $rc
