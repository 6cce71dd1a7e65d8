#!/usr/bin/env bash
# Run Criterion test binaries one after the other and count the results.
# tests/run-unit.sh and tests/run-integration.sh are thin wrappers; use them.
#
# Usage: tests/run-criterion.sh STAGE BUILD_DIR TIMEOUT_S JOBS BIN...
#   STAGE      name in the summary (unit, integration, ...); DWCP_TEST_STAGE
#              overrides it, and a BUILD_DIR other than "build" is appended
#              (build/asan -> unit-asan)
#   TIMEOUT_S  wall-clock limit per binary (timeout counts as 1 failure and
#              prints the last 50 lines of the binary's output)
#   JOBS       passed as --jobs JOBS to Criterion; "" = Criterion's default
#
# Each binary runs with --verbose so that every test leaves a [PASS],
# [FAIL] or [SKIP] line. Criterion 2.4.1's closing line is
#   [====] Synthesis: Tested: T | Passing: P | Failing: F | Crashing: C
# where Failing includes Crashing and skipped tests are not counted at all
# (not even in Tested), so skips are counted from the [SKIP] lines.
# A binary that ends without that line (it crashed, was killed, or is not a
# Criterion binary), that exits non-zero although no test failed, or whose
# output holds a sanitizer report although no test failed (Criterion ignores
# a LeakSanitizer exit status of a test that has returned) counts as one
# more failure.
#
# Output: one line per binary, then "STAGE: P passed, F failed, S skipped";
# the line "STAGE P F S" is appended to BUILD_DIR/test-summary.txt (which
# tests/run-all.sh totals). Full logs: BUILD_DIR/test-logs/. Exit status 1
# when anything failed.
#
# DWCP_TEST_DEADLINE (epoch seconds, set by tests/run-all.sh) caps every
# timeout so that the whole run ends in time; binaries not started before
# it count as failed.
set -uo pipefail

if [ $# -lt 4 ]; then
	echo "usage: $0 STAGE BUILD_DIR TIMEOUT_S JOBS BIN..." >&2
	exit 2
fi
stage=$1 build=$2 limit=$3 jobs=$4
shift 4
build=${build%/}
if [ -n "${DWCP_TEST_STAGE:-}" ]; then
	stage=$DWCP_TEST_STAGE
elif [ "$(basename "$build")" != build ]; then
	stage="$stage-$(basename "$build")"
fi
case "$limit" in ''|*[!0-9]*) echo "$0: TIMEOUT_S must be a number of seconds, got '$limit'" >&2; exit 2 ;; esac

mkdir -p "$build/test-logs"
summary="$build/test-summary.txt"
tot_p=0 tot_f=0 tot_s=0

# count_lines LOG TAG: number of Criterion report lines "[TAG] ..."
count_lines() { grep -c "^\[$2\] " "$1" || true; }

run_one() {
	local bin=$1 rel log t now start rc p f s status synth extra=""
	rel=${bin#"$build"/}
	log="$build/test-logs/${rel//\//_}.log"
	t=$limit
	if [ -n "${DWCP_TEST_DEADLINE:-}" ]; then
		now=$(date +%s)
		[ $((DWCP_TEST_DEADLINE - now)) -lt "$t" ] && t=$((DWCP_TEST_DEADLINE - now))
	fi
	if [ ! -x "$bin" ]; then
		printf '  %-8s %s: not found or not executable\n' MISSING "$rel"
		tot_f=$((tot_f + 1))
		return
	fi
	if [ "$t" -le 0 ]; then
		printf '  %-8s %s: not run, the time budget of tests/run-all.sh is used up\n' NOT-RUN "$rel"
		tot_f=$((tot_f + 1))
		return
	fi

	local args=(--verbose --color=never)
	[ -n "$jobs" ] && args+=(--jobs "$jobs")
	start=$(date +%s)
	# timeout runs the binary in a process group of its own, which a
	# Ctrl-C at the terminal does not reach: forward INT/TERM to it (it
	# passes them on to the whole group) so that no test is left running.
	timeout -k 20 "$t" "$bin" "${args[@]}" </dev/null >"$log" 2>&1 &
	running=$!
	wait "$running" 2>/dev/null   # no "Aborted" report from the shell
	rc=$?
	running=
	local took=$(( $(date +%s) - start ))

	synth=$(grep -E 'Synthesis: Tested: [0-9]+ \| Passing: [0-9]+ \| Failing: [0-9]+ \| Crashing: [0-9]+' "$log" | tail -n 1)
	s=$(count_lines "$log" SKIP)
	if { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } && [ "$took" -ge "$t" ]; then
		status=TIMEOUT
		p=$(count_lines "$log" PASS)
		f=$(( $(count_lines "$log" FAIL) + 1 ))
		extra=" (killed after ${t} s)"
	elif [ -z "$synth" ]; then
		status=CRASH
		p=$(count_lines "$log" PASS)
		f=$(( $(count_lines "$log" FAIL) + 1 ))
		extra=" (exit status $rc, no Criterion synthesis line)"
	else
		p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$synth")
		f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$synth")
		status=PASS
		[ "$f" -gt 0 ] && status=FAIL
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			status=FAIL
			f=1
			extra=" (exit status $rc although no test failed)"
		elif [ "$f" -eq 0 ] && grep -qE '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: ' "$log"; then
			# Criterion ignores a worker's exit status once its test has
			# returned, so a leak found at exit leaves the test "passing".
			status=FAIL
			f=1
			extra=" (sanitizer report in the output)"
		fi
	fi
	tot_p=$((tot_p + p)) tot_f=$((tot_f + f)) tot_s=$((tot_s + s))
	printf '  %-8s %s: %d passed, %d failed, %d skipped, %d s%s\n' \
		"$status" "$rel" "$p" "$f" "$s" "$took" "$extra"

	case $status in
	PASS) ;;
	FAIL)
		# The failing tests and their assertion messages.
		grep -vE '^\[(RUN |PASS|SKIP|====)\]' "$log" | head -n 100 | sed 's/^/      | /'
		echo "      full log: $log"
		;;
	*)
		if [ -s "$log" ]; then
			echo "      last 50 lines of output:"
			tail -n 50 "$log" | sed 's/^/      | /'
		else
			echo "      (no output)"
		fi
		echo "      full log: $log"
		;;
	esac
}

running=
interrupted() {
	[ -n "$running" ] && kill -TERM "$running" 2>/dev/null && wait "$running"
	echo "$stage: interrupted" >&2
	exit 130
}
trap interrupted INT TERM

echo "== $stage tests ($# binaries)"
for bin in "$@"; do
	run_one "$bin"
done
echo "$stage: $tot_p passed, $tot_f failed, $tot_s skipped"
echo "$stage $tot_p $tot_f $tot_s" >>"$summary"
[ "$tot_f" -eq 0 ]
