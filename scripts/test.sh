#!/usr/bin/env bash
# The whole test suite: set up (idempotent), build with warnings as errors,
# run every unit and integration test through ctest. Exit status is ctest's.
# `scripts/test.sh --sanitize [--integration] [CTEST ARGS]`: the unit (and
# integration) tests under ASan+UBSan instead (scripts/test-sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --sanitize ]; then
  shift
  exec scripts/test-sanitize.sh "$@"
fi
HVRUN_WERROR=ON scripts/setup.sh --no-image
cd "${HVRUN_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j2 "$@"
