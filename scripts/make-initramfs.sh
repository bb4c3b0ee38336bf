#!/usr/bin/env bash
# Packs the microVM's initramfs (cpio newc): /init = guest-init (static),
# /spec.json = the GuestSpec (contract/guest_spec.hpp).
#
#   scripts/make-initramfs.sh OUT.cpio GUEST_INIT SPEC.json
set -euo pipefail
die() { echo "make-initramfs.sh: $*" >&2; exit 1; }
[ $# -eq 3 ] || die "usage: make-initramfs.sh OUT.cpio GUEST_INIT SPEC.json"
out=$1 init=$2 spec=$3
[ -x "$init" ] || die "guest-init $init is missing or not executable"
[ -f "$spec" ] || die "spec $spec is missing"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$init" "$stage/init"
# Debug info only slows the guest's initramfs unpacking.
if command -v strip >/dev/null; then strip --strip-debug "$stage/init"; fi
install -m 0644 "$spec" "$stage/spec.json"
(cd "$stage" && printf '%s\n' init spec.json | cpio --quiet -o -H newc -R 0:0) > "$out.tmp" || die "cpio failed"
mv "$out.tmp" "$out"
