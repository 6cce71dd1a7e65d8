#!/usr/bin/env bash
# Everything CI runs (.ci/run), on a fresh Debian 12 machine, as root:
#
#   deploy/deps.sh             packages (apt is skipped when all are there)
#   deploy/hugepages.sh 1024   hugepages for the integration tests
#   make all                   every binary
#   make unit                  Criterion unit tests          } = make test
#   make integration           real supervisor and services  }
#   make model                 spin model check of the handoff protocol }
#   make rdma                  svc-rdma's verbs tests in a Soft-RoCE guest (QEMU;
#                              "skipped: no RDMA device" where it cannot boot)
#   make test-asan             unit tests under ASan/UBSan
#   make fuzz                  libFuzzer targets: committed corpus and regressions
#                              replayed, then FUZZ_SECONDS (30) of fuzzing each
#   make check                 tests/check-style.sh
#
# Every stage runs even when an earlier one failed. The test runners append
# "stage passed failed skipped" to build/test-summary.txt and
# build/asan/test-summary.txt; a stage that fails without recording a
# failure there (a build error, make check) is added as one failure. The
# last line is the total:
#   N passed, N failed, N skipped
# Exit status 0 only when nothing failed and every stage succeeded.
#
# The whole run is bounded by DWCP_TOTAL_BUDGET seconds (default 3300, i.e.
# 55 minutes): test binaries still running then are killed, and binaries
# and stages not started by then are not run; all of these count as failed.
#
# `make test` is run as its two halves, `make unit` then `make integration`,
# so that both run even when the first fails, and so that the test binaries
# can be built with -j without unit and integration tests running at once.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if [ "$(id -u)" -ne 0 ]; then
	echo "run-all.sh: must run as root (it installs packages, reserves hugepages and starts DPDK processes): sudo ./tests/run-all.sh" >&2
	exit 2
fi

start=$(date +%s)
export DWCP_TEST_DEADLINE=$((start + ${DWCP_TOTAL_BUDGET:-3300}))
# UBSan only reports by default; make a report fail the test.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
jobs=$(nproc 2>/dev/null || echo 2)

summaries=(build/test-summary.txt build/asan/test-summary.txt)
rm -f "${summaries[@]}"
mkdir -p build

declare -a stage_lines=()
errors=0

# count of lines and of recorded failures in the summary files
recorded() {
	cat "${summaries[@]}" 2>/dev/null | awk '{ n++; f += $3 } END { printf "%d %d\n", n, f }'
}

# stage NAME CMD...: run one stage, record its outcome.
stage() {
	local name=$1 before after rc t0 took
	shift
	echo
	echo "===== $name: $*"
	before=$(recorded)
	t0=$(date +%s)
	if [ "$t0" -ge "$DWCP_TEST_DEADLINE" ]; then
		echo "not run: the time budget (DWCP_TOTAL_BUDGET=${DWCP_TOTAL_BUDGET:-3300} s) is used up"
		echo "$name 0 1 0" >>build/test-summary.txt
		errors=$((errors + 1))
		stage_lines+=("$(printf '%-12s NOT RUN (time budget used up)' "$name")")
		return
	fi
	"$@" </dev/null
	rc=$?
	took=$(( $(date +%s) - t0 ))
	after=$(recorded)
	if [ "$rc" -eq 0 ]; then
		stage_lines+=("$(printf '%-12s ok after %d s' "$name" "$took")")
		return
	fi
	errors=$((errors + 1))
	# A failing stage whose test runner recorded no failure (it did not get
	# to run, or this is not a test stage) counts as one failure.
	if [ "${after#* }" -eq "${before#* }" ]; then
		echo "$name 0 1 0" >>build/test-summary.txt
	fi
	stage_lines+=("$(printf '%-12s FAILED (exit status %d) after %d s' "$name" "$rc" "$took")")
}

stage deps        ./deploy/deps.sh
stage hugepages   ./deploy/hugepages.sh 1024
stage build       make -j"$jobs" all
stage unit        make -j"$jobs" unit
stage integration make -j"$jobs" integration
stage chaos       make -j"$jobs" chaos
stage model       make model
stage rdma        make rdma
stage unit-asan   make -j"$jobs" test-asan
stage fuzz        make fuzz
stage check       make check

echo
echo "===== summary ($(( $(date +%s) - start )) s)"
printf '%s\n' "${stage_lines[@]}"
cat "${summaries[@]}" 2>/dev/null | awk '{ printf "  %-20s %d passed, %d failed, %d skipped\n", $1, $2, $3, $4 }'
read -r p f s < <(cat "${summaries[@]}" 2>/dev/null |
	awk '{ p += $2; f += $3; s += $4 } END { printf "%d %d %d\n", p, f, s }')
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ] && [ "$errors" -eq 0 ]
