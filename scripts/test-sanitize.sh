#!/usr/bin/env bash
# scripts/test-sanitize.sh [--integration] [CTEST ARGS...]
# (also `scripts/test.sh --sanitize ...`)
#
# The unit tests (and with --integration the integration tests, as root)
# built with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DHVRUN_SANITIZE=ON, CMakeLists.txt) in build-asan, warnings as errors.
# Nested-VM tests (labels vmhost, qemu, vm; `-LE vm` also leaves out kvm)
# and labs are left out: the sanitizer build's guest-init and hvrun-vmm are
# dynamically linked (ASan has no static runtime) and cannot run in a guest.
# Every fuzz target's corpus replays here too (Fuzz.*, label unit).
# A sanitizer report fails the test that hit it (UBSan does not recover).
# Exit status is ctest's. Environment: HVRUN_ASAN_BUILD_DIR (build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${HVRUN_ASAN_BUILD_DIR:-build-asan}
labels=unit
if [ "${1:-}" = --integration ]; then
  labels='unit|integration'
  shift
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHVRUN_SANITIZE=ON -DHVRUN_WERROR=ON >/dev/null
nice -n 19 cmake --build "$build" -j"${HVRUN_BUILD_JOBS:-$(nproc)}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure --timeout 600 -j2 -L "$labels" -LE 'vmhost|qemu|vm|labs' "$@"
