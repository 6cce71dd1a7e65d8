#!/usr/bin/env bash
# Pack what the GPU host needs into .gpuhost/ (git-ignored; name it in the
# device tool's `carry`): the binaries, the GPU tests, the shared libraries
# they load that the host lacks (../shared/notes/gpu-host.md), and run.sh,
# which runs every GPU check there and writes its log under $OUT.
#
# Usage (here, after `make all` and the GPU tests are built):
#   tests/gpu/pack.sh
# There: bash .gpuhost/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { echo "pack.sh: $*" >&2; exit 1; }
gpu_tests="engine_test ops_test crc32c_math_test gcm_math_test lz4_math_test hde_math_test gpu_chunk_test"
make -j"$(nproc)" all $(for t in $gpu_tests; do printf 'build/tests/unit/gpu/%s ' "$t"; done) \
	build/tests/integration/gpu_test >/dev/null || die "the build failed (run make to see why)"
nm build/bin/svc-gpu | grep ' T dwcp_gpu_open' >/dev/null ||
	die "build/bin/svc-gpu has no CUDA engine (no nvcc at /usr/local/cuda/bin?)"
rm -rf .gpuhost
mkdir -p .gpuhost/lib .gpuhost/build/tests/unit/gpu .gpuhost/build/tests/integration
cp -r build/bin .gpuhost/build/bin
rm -f .gpuhost/build/bin/*.d   # make's dependency files, not programs
for t in $gpu_tests; do cp "build/tests/unit/gpu/$t" .gpuhost/build/tests/unit/gpu/; done
cp build/tests/integration/gpu_test .gpuhost/build/tests/integration/
# The device tool carries 64 MiB in all: the copies lose their DWARF (symbols stay).
strip --strip-debug .gpuhost/build/bin/* .gpuhost/build/tests/*/*/*
for b in .gpuhost/build/bin/* .gpuhost/build/tests/*/*/*; do ldd "$b" | awk '$3 ~ /^\// {print $3}'; done | sort -u |
	grep -vE 'libc\.so|libm\.so|libpthread|libdl\.so|ld-linux|librt\.so' |
	xargs -I{} cp -L {} .gpuhost/lib/
cp tests/gpu/run-on-host.sh .gpuhost/run.sh
echo "packed .gpuhost ($(du -sh .gpuhost | cut -f1)): carry .gpuhost, run: bash .gpuhost/run.sh"
