#!/usr/bin/env bash
# The unit and integration tests once more as on a host without KVM: in a
# private mount namespace where an empty file is bound over /dev/kvm (every
# hvrun, hvrun-vmm and test process started there sees no usable KVM). On a
# host that has no /dev/kvm the main run already is that run: skipped (77).
#
#   tests/no-kvm.sh HVRUN UNIT_TEST_BINARY INTEGRATION_TEST_BINARY [GTEST_FILTER]
set -euo pipefail
hv=$1 unit=$2 integ=$3 filter=${4:-*}
if [ ! -e /dev/kvm ]; then
  echo "no-kvm.sh: skipped: this host has no /dev/kvm, so the suite's main run already is the no-KVM run"
  exit 77
fi
if [ "$(id -u)" != 0 ]; then
  echo "no-kvm.sh: skipped: hiding /dev/kvm needs root (a mount namespace); CI runs as root"
  exit 77
fi
exec unshare -m --propagation private bash -c '
  set -e
  empty=$(mktemp)
  trap "rm -f $empty" EXIT
  mount --bind "$empty" /dev/kvm
  [ ! -c /dev/kvm ] || { echo "no-kvm.sh: /dev/kvm is still a device"; exit 1; }
  echo "no-kvm.sh: /dev/kvm hidden; hvrun check says: $("$1" check --json | grep -m1 "\"kind\"")"
  "$2" --gtest_brief=1 --gtest_color=no
  "$3" --gtest_brief=1 --gtest_color=no --gtest_filter="$4"' \
  _ "$hv" "$unit" "$integ" "$filter"
