#!/usr/bin/env bash
# Model-check the handoff/ownership/reclamation protocol (handoff.pml) with
# spin, and check that the model can fail: two mutants of the reclaimer
# (free a never-published buffer; treat a published one as unpublished)
# must each be caught. Appends "model P F S" to BUILD/test-summary.txt.
#
# Usage: tests/model/run.sh BUILD_DIR
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
work=$build/model
mkdir -p "$work"
pass=0 fail=0

verify() {  # verify NAME PML EXPECT(0|nonzero)
	local name=$1 pml=$2 expect=$3 out errs
	if ! (cd "$work" && spin -a "$pml" >/dev/null && cc -O2 -DSAFETY -DNOREDUCE -o "pan_$name" pan.c); then
		echo "[FAIL] model $name: spin/cc failed"; fail=$((fail + 1)); return
	fi
	out=$(cd "$work" && "./pan_$name" -m1000000 2>&1)
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out")
	states=$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' <<<"$out")
	if [ "$expect" = 0 ] && [ "$errs" = 0 ]; then
		echo "[PASS] model $name: $states states explored, errors: 0"; pass=$((pass + 1))
	elif [ "$expect" != 0 ] && [ -n "$errs" ] && [ "$errs" != 0 ]; then
		echo "[PASS] model $name: mutant caught ($(grep -m1 -E 'violated|invalid end' <<<"$out"))"; pass=$((pass + 1))
	else
		echo "[FAIL] model $name: errors=${errs:-?} (expected $expect)"; echo "$out" | tail -20; fail=$((fail + 1))
	fi
}

command -v spin >/dev/null || { echo "spin not installed: run deploy/deps.sh"; echo "model 0 1 0" >>"$build/test-summary.txt"; exit 1; }
cp "$here/handoff.pml" "$work/handoff.pml"
sed 's|!BEFORE(low, pt) ->   /\* never published \*/|!BEFORE(low, pt) -> owner[k].kind = FREE; owner[k].id = 0; owner[k].low = 0\n:: false ->|' \
	"$here/handoff.pml" >"$work/mutant_free_unpublished.pml"
sed 's|!BEFORE(low, pt)|true|' "$here/handoff.pml" >"$work/mutant_all_unpublished.pml"
verify handoff "handoff.pml" 0
verify mutant_free_unpublished "mutant_free_unpublished.pml" 1
verify mutant_all_unpublished "mutant_all_unpublished.pml" 1
echo "model: $pass passed, $fail failed, 0 skipped"
echo "model $pass $fail 0" >>"$build/test-summary.txt"
[ "$fail" = 0 ]
