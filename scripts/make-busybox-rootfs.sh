#!/usr/bin/env bash
# Makes a minimal busybox root filesystem in DIR from Debian's busybox-static.
set -euo pipefail
dir=${1:?usage: make-busybox-rootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] || { echo "make-busybox-rootfs.sh: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"/{bin,sbin,etc,tmp,root,proc,sys,dev,home,var,usr/bin,usr/sbin}
cp "$bb" "$dir/bin/busybox"
for a in $("$dir/bin/busybox" --list); do
  [ -e "$dir/bin/$a" ] || ln -s busybox "$dir/bin/$a"
done
chmod 1777 "$dir/tmp"
cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$dir/etc/group" <<'G'
root:x:0:
nogroup:x:65534:
G
echo busybox > "$dir/etc/hostname"
