#!/usr/bin/env bash
# Run the integration test binaries (make integration calls this).
#
# Usage: tests/run-integration.sh BUILD_DIR BIN...
#
# They start real supervisors and services on real hugepages, so each binary
# runs its tests one at a time (--jobs 1) and binaries run one after the
# other. Each binary gets DWCP_TEST_TIMEOUT seconds (default 900); on a
# timeout it counts as failed and the last 50 lines of its output are shown.
# Appends "integration P F S" to BUILD_DIR/test-summary.txt; see
# tests/run-criterion.sh.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR BIN..." >&2; exit 2; }
build=$1
shift
exec "$(dirname "$0")/run-criterion.sh" integration "$build" "${DWCP_TEST_TIMEOUT:-900}" 1 "$@"
