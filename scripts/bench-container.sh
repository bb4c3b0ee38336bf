#!/usr/bin/env bash
# Container start+exit latency: `hvrun --container --rm busybox /bin/true`
# against `runc run` (and crun, when it runs on this host) and `bwrap`, all on
# the same busybox rootfs, N interleaved runs in one go. Prints medians and
# ratios vs runc. As root.
#
#   scripts/bench-container.sh [N]      (default 20; HVRUN=path/to/hvrun)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
[ "$(id -u)" = 0 ] || { echo "bench-container.sh: run as root" >&2; exit 1; }
[ -x "$HVRUN" ] || { echo "bench-container.sh: $HVRUN missing (build first)" >&2; exit 1; }

work=$(mktemp -d /tmp/hvrun-bench.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
bundle=$work/bundle
scripts/make-busybox-rootfs.sh "$bundle/rootfs" >/dev/null
root=$work/store
"$HVRUN" --root "$root" image import "$bundle/rootfs" --name busybox:latest >/dev/null

(cd "$bundle" && runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' "$bundle/config.json"

tools=(hvrun runc)
crun_ok=0
if crun run --bundle "$bundle" hvrun-bench-crun-probe >/dev/null 2>"$work/crun.err"; then
  crun_ok=1
  tools+=(crun)
else
  echo "crun: does not run here: $(head -n1 "$work/crun.err")"
fi
tools+=(bwrap)
# Where hvrun's time goes: the same run without the seccomp filter (compiled
# once by libseccomp, then loaded from /run/hvrun/seccomp: the warm-up run
# below fills that cache), and without a network namespace as well.
tools+=(hvrun-noseccomp hvrun-noseccomp-nethost)

run_one() {
  case $1 in
    hvrun) "$HVRUN" --root "$root" --container --rm busybox /bin/true ;;
    runc) runc run --bundle "$bundle" "hvrun-bench-$2" ;;
    crun) crun run --bundle "$bundle" "hvrun-bench-crun-$2" ;;
    hvrun-noseccomp) "$HVRUN" --root "$root" --container --rm --security-opt seccomp=unconfined busybox /bin/true ;;
    hvrun-noseccomp-nethost)
      "$HVRUN" --root "$root" --container --rm --security-opt seccomp=unconfined --net host busybox /bin/true ;;
    bwrap) bwrap --bind "$bundle/rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent /bin/true ;;
  esac
}

declare -A times
for t in "${tools[@]}"; do run_one "$t" warm >/dev/null; done  # warm caches
for i in $(seq 1 "$N"); do
  for t in "${tools[@]}"; do
    s=$EPOCHREALTIME
    run_one "$t" "$i" >/dev/null
    e=$EPOCHREALTIME
    times[$t]+="$(echo "$s $e" | awk '{printf "%.3f", ($2-$1)*1000}') "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
runc_med=$(echo "${times[runc]}" | median)
echo "N=$N interleaved runs of /bin/true on the same busybox rootfs ($(uname -r))"
printf "%-24s %10s %8s\n" tool "median ms" "vs runc"
for t in "${tools[@]}"; do
  m=$(echo "${times[$t]}" | median)
  printf "%-24s %10s %7sx\n" "$t" "$m" "$(awk -v a="$m" -v b="$runc_med" 'BEGIN{printf "%.2f", a/b}')"
done
[ $crun_ok = 1 ] || echo "crun    (skipped: refuses this host, see above)"
