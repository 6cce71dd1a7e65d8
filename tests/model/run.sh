#!/usr/bin/env bash
# Model-check the handoff/ownership/reclamation protocol with spin:
#   handoff.pml      client -> L1 -> service -> L2 -> client, service killed
#                    at any step, reclaim + restart + adopt
#   upgrade.pml      planned upgrade (takeover): successor attaches, old
#                    drains and exits, reclaim, "go", adopt; old or new
#                    killed at any step
#   outofplace.pml   out-of-place steps (output sent, then input freed);
#                    with -DKEEP_STEP kept ones (svc-gpu: KEEP, later pass_out);
#                    the sink deduplicates by sequence number
#   keep.pml         KEEP step (svc-net TRANSMIT until ACK, then pass)
#   clientdeath.pml  a client killed at any step; reclaim, drain, a new
#                    client discards stale deliveries (deliver_gen)
# Each is an exhaustive search (no bitstate): "N states explored, errors: 0".
#
# Then that the models can fail: one mutant per model (two for handoff)
# must be caught, and two claims that are false by design must be refuted
# with a counterexample: duplicates after an out-of-place step (printed:
# where the service was killed) and duplicates on svc-net's wire.
# Appends "model P F S" to BUILD/test-summary.txt.
#
# Usage: tests/model/run.sh BUILD_DIR
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
work=$build/model
mkdir -p "$work"
pass=0 fail=0
t_all=$(date +%s)

# verify NAME PML EXPECT [SPIN_FLAGS...]
#   EXPECT 0: exhaustive, no error; 1: a mutant, must be caught;
#   refute: a false claim, must be refuted (prints where the service died)
verify() {
	local name=$1 pml=$2 expect=$3 out errs states t0 took
	shift 3
	local dir=$work/$name
	rm -rf "$dir" && mkdir -p "$dir" && cp "$here"/*.pml "$dir"/
	if [ -f "$work/$pml" ]; then cp "$work/$pml" "$dir/$pml"; fi   # a sed mutant
	t0=$(date +%s)
	if ! (cd "$dir" && spin "$@" -a "$pml" >/dev/null &&
	      cc -w -O2 -DSAFETY -DNOREDUCE -DCOLLAPSE $([ "$expect" = refute ] && echo -DBFS) \
		 -o pan pan.c); then
		echo "[FAIL] model $name: spin/cc failed"; fail=$((fail + 1)); return
	fi
	out=$(cd "$dir" && ./pan -m2000000 2>&1)
	took=$(( $(date +%s) - t0 ))
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out")
	states=$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' <<<"$out")
	if grep -q "max search depth too small" <<<"$out"; then
		echo "[FAIL] model $name: search depth too small (incomplete search)"; fail=$((fail + 1))
	elif [ "$expect" = 0 ] && [ "$errs" = 0 ]; then
		echo "[PASS] model $name: $states states explored, errors: 0 (${took} s)"; pass=$((pass + 1))
	elif [ "$expect" = 1 ] && [ -n "$errs" ] && [ "$errs" != 0 ]; then
		echo "[PASS] model $name: mutant caught ($(grep -m1 -E 'violated|invalid end' <<<"$out" | sed 's/^pan:1: //'))"
		pass=$((pass + 1))
	elif [ "$expect" = refute ] && [ -n "$errs" ] && [ "$errs" != 0 ]; then
		echo "[PASS] model $name: refuted as expected ($(grep -m1 -E 'violated' <<<"$out" | sed 's/^pan:1: //')); shortest trail:"
		# where the service was killed: the statement before each taken kill point
		(cd "$dir" && spin "$@" -t -p "$pml" 2>/dev/null) |
			grep -E '^ *[0-9]+:[[:space:]]+proc +[0-9]+ \(svc' |
			awk '/\[\(\(kills<[0-9]+\)\)\]/ { if (prev != "") print "         killed after " prev; next }
			     { sub(/^ *[0-9]+:[[:space:]]+proc +[0-9]+ \(svc:[0-9]+\) /, ""); prev = $0 }'
		pass=$((pass + 1))
	else
		echo "[FAIL] model $name: errors=${errs:-?} (expected $expect)"; echo "$out" | tail -20; fail=$((fail + 1))
	fi
}

command -v spin >/dev/null || { echo "spin not installed: run deploy/deps.sh"; echo "model 0 1 0" >>"$build/test-summary.txt"; exit 1; }
# handoff.pml's reclaimer mutants (sed): free a never-published buffer;
# treat a published one as unpublished
sed 's|!BEFORE(low, pt) ->   /\* never published \*/|!BEFORE(low, pt) -> owner[k].kind = FREE; owner[k].id = 0; owner[k].low = 0\n:: false ->|' \
	"$here/handoff.pml" >"$work/mutant_free_unpublished.pml"
sed 's|!BEFORE(low, pt)|true|' "$here/handoff.pml" >"$work/mutant_all_unpublished.pml"

verify handoff handoff.pml 0
verify upgrade upgrade.pml 0
verify outofplace outofplace.pml 0
verify outofplace_keep outofplace.pml 0 -DKEEP_STEP
verify keep keep.pml 0
verify clientdeath clientdeath.pml 0

verify mutant_free_unpublished mutant_free_unpublished.pml 1
verify mutant_all_unpublished mutant_all_unpublished.pml 1
# upgrade: "go" (and a restart) before the reclaimer finished
verify mutant_go_before_reclaim upgrade.pml 1 -DMUTANT_GO_BEFORE_RECLAIM
# out-of-place: the input freed before its output left
verify mutant_free_input_first outofplace.pml 1 -DMUTANT_FREE_INPUT_FIRST
# a kept step passed on without adopting its output: the input leaks
verify mutant_keep_no_adopt outofplace.pml 1 -DKEEP_STEP -DMUTANT_KEEP_NO_ADOPT
# KEEP: a transmitted chunk passed on at once, not kept until its ACK
verify mutant_no_keep keep.pml 1 -DMUTANT_NO_KEEP
# client death: the new client keeps what is addressed to an older generation
verify mutant_no_gen_check clientdeath.pml 1 -DMUTANT_NO_GEN_CHECK

# duplicates are real without the sink's dedup ...
verify dup_after_outofplace outofplace.pml refute -DCLAIM_NO_DUP
# ... and svc-net's wire carries a chunk again after a death
verify dup_on_wire keep.pml refute -DCLAIM_NO_WIRE_DUP

echo "model: $pass passed, $fail failed, 0 skipped ($(( $(date +%s) - t_all )) s)"
echo "model $pass $fail 0" >>"$build/test-summary.txt"
[ "$fail" = 0 ]
