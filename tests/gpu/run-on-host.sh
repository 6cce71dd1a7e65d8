#!/usr/bin/env bash
# Every GPU check of svc-gpu on a GPU host, from the .gpuhost/ folder that
# tests/gpu/pack.sh made; the log goes to $OUT/gpuhost.log (the device
# tool brings $OUT back). Each step has its own time limit, so one that
# hangs still leaves the others' results.
#
# Usage: bash .gpuhost/run.sh [GROUP ...]   (default: all of them, in this order)
#   math       the kernels' arithmetic and the chunk format, on the CPU (seconds)
#   device     the CUDA engine's and the op batches' tests on the GPU
#   sanitizer  the same under compute-sanitizer
#   bench      dwcp bench gpu
#   nodes      gpu_test: two nodes with svc-gpu on the GPU
#   transfer   dwcp bench transfer --workers $(nproc) (the 16-core scaling table)
#   extents    dwcp bench transfer --extents (one stream of an image laid out in runs:
#              its serial points, without the page-by-page image's worst-case receive)
# The device tool runs one command for at most 600 s: split the groups over calls.
set -uo pipefail
groups=" ${*:-math device sanitizer bench nodes transfer extents} "
want() { [[ $groups == *" $1 "* ]]; }
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp}
log=$out/gpuhost.log
export LD_LIBRARY_PATH=$here/lib
exec > >(tee -a "$log") 2>&1

step() { # step LIMIT_S NAME CMD...
	local limit=$1 name=$2 t0 rc
	shift 2
	echo "== $name"
	t0=$(date +%s)
	timeout "$limit" "$@"
	rc=$?
	echo "-- $name: rc=$rc, $(($(date +%s) - t0)) s"
}

date; uname -a; nproc; free -g | head -2
nvidia-smi -L || echo "no nvidia-smi"
mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages || mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
echo 4096 > /proc/sys/vm/nr_hugepages
grep -E 'HugePages_(Total|Free)' /proc/meminfo
cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)

if want math; then
	step 60 "the CRC math against ISA-L" "$here/build/tests/unit/gpu/crc32c_math_test"
	step 60 "the AES-256-GCM math against ipsec-mb, OpenSSL, the spec" "$here/build/tests/unit/gpu/gcm_math_test"
	step 60 "the LZ4 math against liblz4" "$here/build/tests/unit/gpu/lz4_math_test"
	step 60 "the HDE math against svc-mem's codec" "$here/build/tests/unit/gpu/hde_math_test"
	step 60 "GPU chunk jobs against svc-simd's chunk format" "$here/build/tests/unit/gpu/gpu_chunk_test"
fi
if want device; then
	step 120 "the CUDA engine's known answers" "$here/build/tests/unit/gpu/engine_test" --jobs 1
	step 180 "GCM and LZ4 batches against the CPU path" "$here/build/tests/unit/gpu/ops_test" --jobs 1
fi
if want sanitizer && [ -n "$cs" ]; then
	step 300 "the same under compute-sanitizer" "$cs" --tool memcheck --error-exitcode 9 \
		"$here/build/tests/unit/gpu/engine_test" --jobs 1 --no-early-exit
	step 300 "the op batches under compute-sanitizer" "$cs" --tool memcheck --error-exitcode 9 \
		"$here/build/tests/unit/gpu/ops_test" --jobs 1 --no-early-exit
elif want sanitizer; then
	echo "skipped: no compute-sanitizer"
fi
want bench && step 120 "dwcp bench gpu: per op and the pipeline beside one core and PCIe" "$here/build/bin/dwcp" bench gpu
want nodes && step 600 "nodes with svc-gpu on the GPU (transfer, kill -9)" "$here/build/tests/integration/gpu_test" --jobs 1
want transfer && step 900 "dwcp bench transfer: the scaling table on this host" \
	"$here/build/bin/dwcp" bench transfer --size 1024 --workers "$(nproc)"
want extents && step 300 "dwcp bench transfer --extents: one stream, the image in runs" \
	"$here/build/bin/dwcp" bench transfer --size 1024 --extents
date
