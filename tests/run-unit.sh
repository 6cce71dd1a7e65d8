#!/usr/bin/env bash
# Run the unit test binaries (make unit / make test-asan call this).
#
# Usage: tests/run-unit.sh BUILD_DIR BIN...
#
# Tests inside one binary run in parallel (Criterion's default job count,
# DWCP_UNIT_JOBS overrides it). Each binary gets DWCP_UNIT_TIMEOUT seconds
# (default 300). Appends "unit P F S" to BUILD_DIR/test-summary.txt
# ("unit-asan" for build/asan); see tests/run-criterion.sh.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR BIN..." >&2; exit 2; }
build=$1
shift
exec "$(dirname "$0")/run-criterion.sh" unit "$build" "${DWCP_UNIT_TIMEOUT:-300}" "${DWCP_UNIT_JOBS:-}" "$@"
