#!/usr/bin/env bash
# hvrun build against podman build, same Containerfile, same machine, paired
# (the order within a pair alternates), N pairs:
#   cold     a fresh store holding only the base image: every step runs
#   cached   the same build again: every step from the cache
#   changed  one source file changed: the steps from its COPY on rerun
# Prints medians and the ratios hvrun/podman (goals: cold <= 1.0x,
# cached <= 0.5x, changed <= 0.7x). As root.
#
# The Containerfile is a small app: 200 source files COPY'd, two RUN steps
# that make and delete files, a config file COPY'd late, ENV/WORKDIR/CMD.
# podman runs with isolated storage (--root/--runroot in a scratch dir),
# --storage-driver overlay, --runtime runc, --isolation oci, --layers,
# --network none; hvrun with --network none and container isolation.
#
#   scripts/bench-build.sh [N]      (default 5; HVRUN=path/to/hvrun)
set -euo pipefail
shopt -s inherit_errexit  # a failed build inside $(timed ...) stops the script
cd "$(dirname "$0")/.."
N=${1:-5}
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
[ "$(id -u)" = 0 ] || { echo "bench-build.sh: run as root" >&2; exit 1; }
[ -x "$HVRUN" ] || { echo "bench-build.sh: $HVRUN missing (build first)" >&2; exit 1; }
command -v podman >/dev/null || { echo "bench-build.sh: podman is not installed" >&2; exit 1; }

work=$(mktemp -d /var/tmp/hvrun-bench-build.XXXXXX)
P=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay --runtime runc
   --cgroup-manager cgroupfs --events-backend none)
cleanup() {
  "${P[@]}" rmi -af >/dev/null 2>&1 || true
  umount -R "$work/podman/overlay" 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
export HVRUN_NETWORK=none

scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

ctx=$work/ctx
mkdir -p "$ctx/src"
for i in $(seq 1 200); do printf 'source file %d\n%0500d\n' "$i" 0 > "$ctx/src/f$i.txt"; done
echo "setting=1" > "$ctx/app.conf"
cat > "$ctx/Containerfile" <<'CF'
FROM bench-base
ENV APP=/app
WORKDIR /app
COPY src/ /app/src/
RUN i=0; while [ $i -lt 300 ]; do echo $i > /app/gen$i; i=$((i+1)); done && rm /etc/passwd
RUN cat /app/src/*.txt | wc -l > /app/lines && rm -rf /app/src/f1*.txt
COPY app.conf /app/app.conf
RUN cp /app/app.conf /app/app.conf.bak
CMD ["cat", "/app/app.conf"]
CF

now() { echo "${EPOCHREALTIME/./}"; }  # microseconds
ms() { echo "scale=1; $1 / 1000" | bc; }

fresh_hv() { rm -rf --one-file-system "$work/hv"; "$HVRUN" --root "$work/hv" image import "$work/rootfs" --name bench-base:latest >/dev/null; }
fresh_pm() {
  "${P[@]}" rmi -af >/dev/null 2>&1 || true
  "${P[@]}" import -q "$work/rootfs.tar" bench-base:latest >/dev/null
}
hv_build() { "$HVRUN" --root "$work/hv" build -q --network none -t app:1 "$ctx" >/dev/null; }
pm_build() { "${P[@]}" build -q --layers --isolation oci --network none -t app:1 "$ctx" >/dev/null 2>&1; }

timed() {  # CMD... -> microseconds
  local t0 t1
  t0=$(now); "$@"; t1=$(now); echo $((t1 - t0))
}

declare -A T
one_tool() {  # hv|pm k: appends cold, cached, changed times
  local t=$1 k=$2
  echo "setting=1" > "$ctx/app.conf"
  if [ "$t" = hv ]; then fresh_hv; else fresh_pm; fi
  T[$t-cold]+=" $(timed ${t}_build)"
  T[$t-cached]+=" $(timed ${t}_build)"
  echo "setting=$k" > "$ctx/app.conf"
  T[$t-changed]+=" $(timed ${t}_build)"
}
# One warm-up pair (page cache, binaries), not counted.
one_tool hv 0; one_tool pm 0; T=()
for k in $(seq 1 "$N"); do
  if [ $((k % 2)) = 1 ]; then one_tool hv "$k"; one_tool pm "$k"; else one_tool pm "$k"; one_tool hv "$k"; fi
done

# Both made the image the last build asked for (the changed app.conf).
got_hv=$("$HVRUN" --root "$work/hv" run --rm --network none app:1)
got_pm=$("${P[@]}" run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 app:1)
[ "$got_hv" = "$got_pm" ] && [ "$got_hv" = "setting=$N" ] ||
  { echo "bench-build.sh: the images differ: hvrun '$got_hv', podman '$got_pm' (want setting=$N)" >&2; exit 1; }
"$HVRUN" --root "$work/hv" run --rm --network none app:1 sh -c 'test -f /app/gen299 && test ! -e /etc/passwd && cat /app/lines' |
  grep -qx 400 || { echo "bench-build.sh: hvrun's image lacks the RUN steps' files" >&2; exit 1; }

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
printf '%-8s %12s %12s %8s %6s\n' case "hvrun ms" "podman ms" ratio goal
for c in cold cached changed; do
  h=$(echo "${T[hv-$c]}" | median); p=$(echo "${T[pm-$c]}" | median)
  goal=$([ $c = cold ] && echo 1.0 || { [ $c = cached ] && echo 0.5 || echo 0.7; })
  printf '%-8s %12s %12s %7.2fx %5sx\n' "$c" "$(ms "$h")" "$(ms "$p")" "$(echo "scale=4; $h / $p" | bc)" "$goal"
done
echo "N=$N pairs; $(nproc) cores; podman $(podman --version | awk '{print $3}'), storage overlay, runc"
