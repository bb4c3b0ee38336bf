#!/usr/bin/env bash
# Builds hvrun's kernels from Debian's linux-source-6.1 into a cache outside
# the checkout.
#
#   scripts/build-kernel.sh [all|guest|testhost]...   build (default: all)
#   scripts/build-kernel.sh --print-path NAME         print the built kernel's dir
#                                                     (exit 1 if not built)
#
# Kernels:
#   guest     kernel-configs/guest.config                 (the microVM guest)
#   testhost  kernel-configs/guest.config + testhost.config (scripts/vmhost)
#
# Each kernel goes to $HVRUN_KERNEL_CACHE (default /var/cache/hvrun/kernels)
# as NAME-KEY/{vmlinux,bzImage,.config,release}, KEY = hash of the fragments,
# the source package version and the recipe (the function make_kernel below;
# progress output is not part of it). NAME -> NAME-KEY is a symlink
# kept up to date. A warm cache returns at once; concurrent runs serialise on
# a lock; a failed build leaves nothing behind. The build fails, listing them,
# if any CONFIG_X=y asked for in a fragment is not =y in the final .config.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
CONFIGS=$HERE/kernel-configs
CACHE=${HVRUN_KERNEL_CACHE:-/var/cache/hvrun/kernels}
SRC_TAR=${HVRUN_KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
SRC_PKG=linux-source-6.1

die() { echo "build-kernel.sh: $*" >&2; exit 1; }

fragments() {
  case "$1" in
    guest) echo "$CONFIGS/guest.config" ;;
    testhost) echo "$CONFIGS/guest.config $CONFIGS/testhost.config" ;;
    *) die "unknown kernel '$1' (want guest, testhost or all)" ;;
  esac
}

source_version() {
  local v
  v=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null || true)
  [ -f "$SRC_TAR" ] || die "kernel source $SRC_TAR missing (apt-get install $SRC_PKG)"
  echo "$SRC_PKG=$v size=$(stat -c %s "$SRC_TAR")"
}

key_of() {
  local name=$1 f
  {
    echo "name=$name"
    source_version
    for f in $(fragments "$name"); do
      [ -f "$f" ] || die "missing config fragment $f"
      echo "== $(basename "$f")"; cat "$f"
    done
    echo "== recipe"; declare -f make_kernel verify_config
  } | sha256sum | cut -c1-16
}

entry_dir() { echo "$CACHE/$1-$(key_of "$1")"; }

complete() { [ -s "$1/release" ] && [ -f "$1/vmlinux" ] && [ -f "$1/bzImage" ]; }

# Every CONFIG_X=y requested must be =y in the final .config.
verify_config() {
  local config=$1; shift
  local missing=() opt
  while read -r opt; do
    grep -qx "$opt=y" "$config" || missing+=("$opt (got: $(grep -E "^$opt=|^# $opt is not set" "$config" || echo absent))")
  done < <(grep -hoE '^CONFIG_[A-Za-z0-9_]+=y' "$@" | sed 's/=y$//' | sort -u)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "build-kernel.sh: these requested options did not reach the final .config:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    return 1
  fi
}

SRCDIR=""
WORK=""
cleanup() { [ -z "$WORK" ] || rm -rf "$WORK"; }
trap cleanup EXIT

unpack_source() {
  [ -n "$SRCDIR" ] && return 0
  echo "build-kernel.sh: unpacking $SRC_TAR" >&2
  tar -C "$WORK" -xJf "$SRC_TAR" || die "cannot unpack $SRC_TAR"
  SRCDIR=$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -1)
  [ -n "$SRCDIR" ] || die "no linux-source-* directory in $SRC_TAR"
}

# The recipe: configure (tinyconfig + fragments) and build. Its text is part
# of the cache key, so change it only to change the kernel.
make_kernel() {
  local name=$1 out=$2 log=$3 frags
  frags=$(fragments "$name")
  # shellcheck disable=SC2086
  if ! { make -C "$SRCDIR" O="$out" tinyconfig &&
         (cd "$SRCDIR" && scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" $frags) &&
         make -C "$SRCDIR" O="$out" olddefconfig; } >"$log" 2>&1; then
    tail -20 "$log" >&2; echo "build-kernel.sh: configuring the $name kernel failed" >&2; return 1
  fi
  # shellcheck disable=SC2086
  verify_config "$out/.config" $frags || { echo "build-kernel.sh: the $name kernel config is incomplete (fix kernel-configs/)" >&2; return 1; }
  if ! make -C "$SRCDIR" O="$out" -j"$(nproc)" bzImage >>"$log" 2>&1; then
    tail -30 "$log" >&2; echo "build-kernel.sh: building the $name kernel failed" >&2; return 1
  fi
}

# Progress (not part of the key): the build steps make has logged so far
# (CC, LD, AR, ... lines) against the count a full build of that kernel
# took when measured, every 15 s, until the build ends.
usual_steps() { case "$1" in guest) echo 1600 ;; testhost) echo 1700 ;; esac; }
usual_minutes() { case "$1" in guest) echo "7-9" ;; testhost) echo "8-10" ;; esac; }
show_progress() {
  local name=$1 log=$2 pid=$3 t0=$4 total steps pct
  total=$(usual_steps "$name")
  while kill -0 "$pid" 2>/dev/null; do
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 1
    done
    steps=$(grep -cE '^  [A-Z0-9_]+ ' "$log" 2>/dev/null || true)
    pct=$(( ${steps:-0} * 100 / total )); [ "$pct" -le 99 ] || pct=99
    echo "build-kernel.sh: $name kernel: ${steps:-0} build steps (~$pct%), $((SECONDS - t0)) s" >&2
  done
}

build_one() {
  local name=$1 dir out log
  dir=$(entry_dir "$name")
  mkdir -p "$CACHE"
  exec {lockfd}>"$CACHE/.lock-$name"
  flock "$lockfd"
  if ! complete "$dir"; then
    [ -n "$WORK" ] || WORK=$(mktemp -d "$CACHE/.work.XXXXXX")
    unpack_source
    out=$WORK/out-$name
    log=$WORK/build-$name.log
    mkdir -p "$out"
    echo "build-kernel.sh: building the $name kernel ($(basename "$dir")): usually $(usual_minutes "$name") min on 2 cores, once per machine (cached); log $log" >&2
    local t0=$SECONDS
    make_kernel "$name" "$out" "$log" &
    local pid=$!
    show_progress "$name" "$log" "$pid" "$t0"
    wait "$pid" || die "building the $name kernel failed (log $log)"
    local stage=$WORK/stage-$name
    mkdir -p "$stage"
    cp "$out/vmlinux" "$stage/vmlinux"
    cp "$out/arch/x86/boot/bzImage" "$stage/bzImage"
    cp "$out/.config" "$stage/.config"
    make -s -C "$SRCDIR" O="$out" kernelrelease > "$stage/release.tmp" 2>/dev/null
    [ -s "$stage/release.tmp" ] || die "cannot read the $name kernel release"
    mv "$stage/release.tmp" "$stage/release"
    rm -rf "$dir"
    mv -T "$stage" "$dir"
    echo "build-kernel.sh: $name kernel $(cat "$dir/release") built in $((SECONDS - t0)) s" >&2
  fi
  ln -sfn "$(basename "$dir")" "$CACHE/.$name.link"
  mv -T "$CACHE/.$name.link" "$CACHE/$name"
  flock -u "$lockfd"
  exec {lockfd}>&-
  echo "$dir"
}

if [ "${1:-}" = "--print-path" ]; then
  [ $# -eq 2 ] || die "usage: build-kernel.sh --print-path guest|testhost"
  d=$(entry_dir "$2")
  complete "$d" || die "the $2 kernel is not built (run scripts/build-kernel.sh $2)"
  echo "$d"
  exit 0
fi

names=()
for a in "${@:-all}"; do
  case "$a" in
    all) names+=(guest testhost) ;;
    guest|testhost) names+=("$a") ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument '$a' (want guest, testhost, all or --print-path NAME)" ;;
  esac
done
for n in "${names[@]}"; do build_one "$n"; done
