/* svc-gpu's CUDA engine for the engine tests (tests/unit/gpu): a region
 * of random bytes registered with it, or the calling test skipped with
 * "skipped: no CUDA device" where there is none (or no nvcc build). */
#ifndef DWCP_TESTS_LIB_GPU_H
#define DWCP_TESTS_LIB_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "svc-gpu/gpu_cuda.h"

struct dwcp_test_gpu {
	uint8_t *region;
	size_t len;
	struct dwcp_gpu *gpu;
	uint32_t woke;     /* set by the engine's wake call at a batch's end */
};

/** Open the engine over @p len random bytes (seed @p seed), or skip the test. */
void dwcp_test_gpu_open(struct dwcp_test_gpu *t, size_t len, uint64_t seed);

/** Close the engine and free the region (a test's .fini; twice is harmless). */
void dwcp_test_gpu_close(struct dwcp_test_gpu *t);

#endif
