#!/usr/bin/env bash
# dwcp's RDMA bench: svc-rdma's RC transport core (64 KiB chunks by RDMA
# WRITE WITH IMMEDIATE into lent buffers, tests/rdma/rc_loop) beside
# perftest's ib_write_bw and ib_write_lat on the same device in the same
# run, and the ratios. Without an RDMA device here it runs in the Soft-RoCE
# guest of tests/rdma/vm.sh (software RDMA on an emulated CPU: absolute
# figures are tiny and mean nothing, the ratios are what count). Then one
# `dwcp send` between two whole nodes by RDMA and the same by TCP.
#
#   bench/rdma.sh [BUILD_DIR] [N]     defaults: build, 2048 chunks
#   (dwcp bench rdma [N] runs this)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=$(realpath --relative-to=. "${1:-build}")   # make's targets are relative
n=${2:-2048}
make -s "$build/tests/rdma/rc_loop" all >/dev/null || { echo "bench/rdma.sh: build failed" >&2; exit 1; }
node_mb=${NODE_MB:-64}
# (the kernel hands NAME=VALUE arguments it does not know to init's environment)
out=$(DWCP_RDMA_GUEST_ENV="N=$n NODE_MB=$node_mb" DWCP_RDMA_GUEST=bench/rdma-guest.sh DWCP_RDMA_SUMMARY=/dev/null tests/rdma/vm.sh "$build" 2>&1)
echo "$out" | grep -q '^BENCH ' || { echo "$out"; echo "bench/rdma.sh: no figures (see above)" >&2; exit 1; }
get() { echo "$out" | awk -v k="$1" '$1 == "BENCH" && $2 == k { print $3 }'; }
how() { echo "$out" | awk -v k="$1" '$1 == "BENCH" && $2 == k { print $4 }'; }
ours_bw=$(get rc_write_bw_MBps); ref_bw=$(get ib_write_bw_MBps)
ours_lat=$(get rc_write_lat_us); ref_lat=$(get ib_write_lat_us)
echo "dwcp bench rdma: rxe0 (Soft-RoCE in a QEMU guest), 64 KiB messages, $n each"
printf '%-46s %12s %12s %8s\n' "" "dwcp" "perftest" "ratio"
printf '%-46s %12s %12s %8s\n' "RDMA WRITE (with immediate) MB/s" "${ours_bw:-?}" "${ref_bw:-?}" \
	"$(awk -v a="${ours_bw:-0}" -v b="${ref_bw:-0}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "?" }')"
printf '%-46s %12s %12s %8s\n' "latency per 64 KiB message, us (lower is better)" "${ours_lat:-?}" "${ref_lat:-?}" \
	"$(awk -v a="${ours_lat:-0}" -v b="${ref_lat:-0}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "?" }')"
node_rdma=$(get node_rdma_MBps); node_tcp=$(get node_tcp_MBps)
printf '%-46s %12s %12s %8s\n' "" "by RDMA" "by TCP" "ratio"
printf '%-46s %12s %12s %8s\n' "whole nodes: dwcp send of $node_mb MiB, MB/s" "${node_rdma:-?}" "${node_tcp:-?}" \
	"$(awk -v a="${node_rdma:-0}" -v b="${node_tcp:-0}" 'BEGIN { if (b > 0 && a > 0) printf "%.2fx", a / b; else print "?" }')"
echo "(dwcp: into a buffer lent through a memory window, invalidated and lent again per chunk; latency is a"
echo " write plus the grant coming back, halved; perftest: ib_write_bw / ib_write_lat -s 65536, typical latency;"
echo " whole nodes: two keyed nodes in the guest, the send's own time; its summary said transport" \
	"$(how node_rdma_MBps), then $(how node_tcp_MBps) with the sender's svc-rdma drained)"
