#!/usr/bin/env bash
# Runs vm_changes.sh in a fresh nested test host, and once more in another
# when the first test host hung as a whole (scripts/vmhost exit 124: no output
# for --idle-timeout; seen when the machine is loaded, docs/architecture.md).
# Usage: vm_changes_host.sh HVRUN_BIN
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
for attempt in 1 2; do
  echo "=== test host attempt $attempt"
  "$src/scripts/vmhost" --timeout 900 --idle-timeout 400 --mem 3072 --cpus 2 -- bash "$here/vm_changes.sh" "$1"
  rc=$?
  [ $rc = 124 ] || exit $rc
done
exit 124
