#!/usr/bin/env bash
# Build and run the libFuzzer targets (tests/fuzz/NAME_fuzz.c); `make fuzz`
# calls it.
#
# Usage: tests/fuzz/run.sh FUZZ_BUILD_DIR NAME...
#   FUZZ_SECONDS  how long each target fuzzes (default 30)
#   FUZZ_CC       the clang that builds them (default clang-14)
#   FUZZ_SUMMARY  where "fuzz P F S" is appended (default build/test-summary.txt,
#                 which tests/run-all.sh totals)
#
# For each target, one result:
#   1. replay: every input of the committed corpus (tests/fuzz/corpus/NAME/)
#      and every regression (tests/fuzz/regress/NAME/: inputs that once
#      crashed it) runs once;
#   2. fuzz: libFuzzer mutates from that corpus for FUZZ_SECONDS, into a
#      scratch copy (FUZZ_BUILD_DIR/corpus/NAME), so the committed seeds
#      stay as they are.
# A target passes when both end without a crash (a sanitizer report, a
# broken invariant, a leak, an input that runs over 10 s or past 2 GiB);
# then its runs and coverage are printed. A crash fails it, with the input
# that reproduces it (FUZZ_BUILD_DIR/crashes/), the command that replays
# it and the tail of the report; full logs in FUZZ_BUILD_DIR/logs/.
# To keep a crash fixed: fix the source, then copy the input into
# tests/fuzz/regress/NAME/ so that every run replays it.
#
# Nothing is installed here: without clang the stage fails and names
# deploy/deps.sh, which installs clang-14 and libclang-rt-14-dev.
# DWCP_TEST_DEADLINE (epoch seconds, tests/run-all.sh) shortens the fuzzing
# so that the whole run ends in time. Exit status 1 when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

if [ $# -lt 2 ]; then
	echo "usage: $0 FUZZ_BUILD_DIR NAME..." >&2
	exit 2
fi
build=${1%/}
shift
secs=${FUZZ_SECONDS:-30}
cc=${FUZZ_CC:-clang-14}
summary=${FUZZ_SUMMARY:-build/test-summary.txt}
case "$secs" in ''|*[!0-9]*) echo "$0: FUZZ_SECONDS must be a number of seconds, got '$secs'" >&2; exit 2 ;; esac
mkdir -p "$(dirname "$summary")"

fail_stage() { # fail_stage MESSAGE: the stage cannot run at all
	echo "fuzz: $1" >&2
	echo "fuzz: 0 passed, 1 failed, 0 skipped"
	echo "fuzz 0 1 0" >>"$summary"
	exit 1
}

command -v "$cc" >/dev/null 2>&1 ||
	fail_stage "$cc not found: install it with deploy/deps.sh (as root; it installs clang-14 and libclang-rt-14-dev)"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }' |
	"$cc" -x c -fsanitize=fuzzer,address,undefined - -o /dev/null >/dev/null 2>&1 ||
	fail_stage "$cc cannot link a libFuzzer target: the runtime is missing; install libclang-rt-14-dev with deploy/deps.sh"
mkdir -p "$build/logs" "$build/crashes" "$build/corpus"
make --no-print-directory -j2 fuzz-build >"$build/logs/make.log" 2>&1 || {
	tail -n 30 "$build/logs/make.log" >&2
	fail_stage "building the fuzz targets failed (full output: $build/logs/make.log)"
}

pass=0 fail=0

# report_crash NAME LOG: what to look at and how to replay it
report_crash() {
	local name=$1 log=$2 art
	art=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/Test unit written to //')
	[ -n "$art" ] && echo "      reproducer: $art (replay: $build/${name}_fuzz $art)"
	echo "      last 40 lines of $log:"
	tail -n 40 "$log" | sed 's/^/      | /'
}

run_one() {
	local name=$1 bin="$build/${1}_fuzz" seeds="tests/fuzz/corpus/$1" regress="tests/fuzz/regress/$1"
	local log="$build/logs/$name.log" work="$build/corpus/$name" t=$secs now rc
	local dirs=("$seeds") runs cov ft nseeds

	[ -d "$regress" ] && dirs+=("$regress")
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		printf '  %-8s %s: %s or %s missing\n' FAIL "$name" "$bin" "$seeds"
		fail=$((fail + 1))
		return
	fi
	nseeds=$(find "${dirs[@]}" -type f | wc -l)
	# 1. replay the corpus and the regressions, each input once
	timeout -k 10 300 "$bin" -runs=0 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$build/crashes/$name-" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '  %-8s %s: replay of %d committed inputs crashed (exit status %d)\n' FAIL "$name" "$nseeds" "$rc"
		report_crash "$name" "$log"
		fail=$((fail + 1))
		return
	fi
	# 2. fuzz for FUZZ_SECONDS (less when run-all's budget is nearly spent)
	if [ -n "${DWCP_TEST_DEADLINE:-}" ]; then
		now=$(date +%s)
		[ $((DWCP_TEST_DEADLINE - now - 30)) -lt "$t" ] && t=$((DWCP_TEST_DEADLINE - now - 30))
		[ "$t" -lt 1 ] && t=1
	fi
	rm -rf "$work"
	mkdir -p "$work"
	timeout -k 10 $((t + 120)) "$bin" -max_total_time="$t" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/crashes/$name-" \
		"$work" "${dirs[@]}" >>"$log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '  %-8s %s: crashed while fuzzing (exit status %d)\n' FAIL "$name" "$rc"
		report_crash "$name" "$log"
		fail=$((fail + 1))
		return
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | sed 's/cov: //')
	ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | sed 's/ft: //')
	printf '  %-8s %s: %d inputs replayed; %s runs in %d s, coverage %s edges, %s features, corpus %d -> %d\n' \
		PASS "$name" "$nseeds" "${runs:-?}" "$t" "${cov:-?}" "${ft:-?}" "$nseeds" \
		"$(( $(find "$work" -type f | wc -l) + nseeds ))"
	pass=$((pass + 1))
}

running_cleanup() { echo "fuzz: interrupted" >&2; exit 130; }
trap running_cleanup INT TERM

echo "== fuzz ($# targets, ${secs} s each)"
for name in "$@"; do
	run_one "$name"
done
echo "fuzz: $pass passed, $fail failed, 0 skipped"
echo "fuzz $pass $fail 0" >>"$summary"
[ "$fail" -eq 0 ]
