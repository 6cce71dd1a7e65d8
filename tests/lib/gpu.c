/* svc-gpu's CUDA engine for the engine tests (gpu.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "tests/lib/gpu.h"
#include "tests/lib/util.h"

static void wake(void *arg)
{
	__atomic_store_n((uint32_t *)arg, 1, __ATOMIC_RELEASE);
}

void dwcp_test_gpu_close(struct dwcp_test_gpu *t)
{
	dwcp_gpu_close(t->gpu);
	t->gpu = NULL;
	free(t->region);
	t->region = NULL;
}

void dwcp_test_gpu_open(struct dwcp_test_gpu *t, size_t len, uint64_t seed)
{
	char why[256] = "";
	int rc;

	t->len = len;
	t->region = aligned_alloc(2u << 20, len);   /* len: a multiple of 2 MiB */
	cr_assert_not_null(t->region);
	dwcp_test_fill_random(t->region, len, &seed);
	rc = dwcp_gpu_open(&t->gpu, 0, t->region, len, wake, &t->woke, why, sizeof(why));
	if (rc == -ENODEV) {
		fprintf(stderr, "skipped: no CUDA device: %s\n", why);
		dwcp_test_gpu_close(t);   /* Criterion runs no .fini after a skip */
		cr_skip_test("skipped: no CUDA device");
	}
	cr_assert_eq(rc, 0, "dwcp_gpu_open: %s", why);
}
