#!/usr/bin/env bash
# Commit latency: a container that wrote 100 MB of changes (100 files of
# 1 MiB from /dev/urandom, plus a deleted lower file) made into an image,
# `hvrun commit` against `podman commit`, both on the same busybox rootfs,
# N paired runs (the order within a pair alternates). Each side's container
# is made and filled before its clock starts; only the commit is timed.
# Prints medians and the ratio hvrun/podman. As root.
#
# podman runs with isolated storage (--root/--runroot in a scratch dir),
# --storage-driver overlay, --runtime runc, --net none, and commits with
# its defaults (uncompressed layer into containers-storage, paused). Its
# containers get --ulimit nofile/nproc 1024: podman's defaults are above the
# hard limits of some sandboxes (runc: "error setting rlimit").
#
#   scripts/bench-commit.sh [N]      (default 10; HVRUN=path/to/hvrun, MB=100)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
MB=${MB:-100}
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
[ "$(id -u)" = 0 ] || { echo "bench-commit.sh: run as root" >&2; exit 1; }
[ -x "$HVRUN" ] || { echo "bench-commit.sh: $HVRUN missing (build first)" >&2; exit 1; }
command -v podman >/dev/null || { echo "bench-commit.sh: podman is not installed" >&2; exit 1; }

work=$(mktemp -d /var/tmp/hvrun-bench-commit.XXXXXX)
P=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay --runtime runc
   --cgroup-manager cgroupfs --events-backend none)
cleanup() {
  "${P[@]}" rm -af >/dev/null 2>&1 || true
  "${P[@]}" rmi -af >/dev/null 2>&1 || true
  umount -R "$work/podman/overlay" 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
export HVRUN_NETWORK=none
root=$work/store
scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
echo gone > "$work/rootfs/etc/gone"
"$HVRUN" --root "$root" image import "$work/rootfs" --name bench-base:latest >/dev/null
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"${P[@]}" import -q "$work/rootfs.tar" bench-base:latest >/dev/null

fill="i=0; while [ \$i -lt $MB ]; do head -c 1048576 /dev/urandom > /f\$i; i=\$((i+1)); done; rm /etc/gone; sync"

now() { echo "${EPOCHREALTIME/./}"; }  # microseconds
ms() { echo "scale=3; $1 / 1000" | bc; }

hv_once() {  # prints the commit's microseconds
  "$HVRUN" --root "$root" run --name "hv$1" bench-base sh -c "$fill" >/dev/null
  local t0 t1
  t0=$(now)
  "$HVRUN" --root "$root" commit "hv$1" "bench-hv:$1" >/dev/null
  t1=$(now)
  "$HVRUN" --root "$root" rm "hv$1" >/dev/null
  "$HVRUN" --root "$root" image rm "bench-hv:$1" >/dev/null
  echo $((t1 - t0))
}
pd_once() {
  "${P[@]}" run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --net none --name "pd$1" bench-base sh -c "$fill" >/dev/null
  local t0 t1
  t0=$(now)
  "${P[@]}" commit -q "pd$1" "bench-pd:$1" >/dev/null
  t1=$(now)
  "${P[@]}" rm "pd$1" >/dev/null
  "${P[@]}" rmi "bench-pd:$1" >/dev/null
  echo $((t1 - t0))
}

# One of each first (warm caches), not counted.
hv_once warm >/dev/null
pd_once warm >/dev/null
hv=() pd=()
for i in $(seq 1 "$N"); do
  if ((i % 2)); then
    hv+=("$(hv_once "$i")"); pd+=("$(pd_once "$i")")
  else
    pd+=("$(pd_once "$i")"); hv+=("$(hv_once "$i")")
  fi
  echo "pair $i: hvrun $(ms "${hv[-1]}") ms, podman $(ms "${pd[-1]}") ms" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
mh=$(median "${hv[@]}")
mp=$(median "${pd[@]}")
echo "commit of a container with $MB MB of changes, $N paired runs (median)"
printf '%-8s %10s ms\n' hvrun "$(ms "$mh")" podman "$(ms "$mp")"
printf 'ratio hvrun/podman: %.2fx\n' "$(echo "scale=4; $mh / $mp" | bc)"
