/* svc-gpu's CUDA engine (svc-gpu/gpu_cuda.h) on a CUDA device, without a
 * node: known-answer checks of its CRC32C batches against ISA-L on a
 * registered region of random bytes (the chunk's crc field read as zero,
 * lengths that split unevenly over a block), every batch slot in flight
 * at once, the wake call at the end of a batch, bad batch sizes. Run it
 * under compute-sanitizer on a GPU host. Without a device, or in a build
 * without nvcc, every case prints "skipped: no CUDA device". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "common/ops/crc32c.h"
#include "svc-gpu/gpu_cuda.h"
#include "tests/lib/gpu.h"
#include "tests/lib/util.h"

#define REGION (64ull << 20)
#define ZERO_OFF 80u   /* anywhere in the header: the test does not need the real one */

static struct dwcp_test_gpu tg;

static void teardown(void)
{
	dwcp_test_gpu_close(&tg);
}

static void open_or_skip(void)
{
	dwcp_test_gpu_open(&tg, REGION, 99);
}

static uint32_t cpu_crc(uint64_t off, uint64_t len)
{
	static const uint8_t zero[4];
	const uint8_t *m = tg.region + off;
	uint32_t crc;

	if (len < ZERO_OFF + 4)
		return dwcp_crc32c(0, m, len);
	crc = dwcp_crc32c(0, m, ZERO_OFF);
	crc = dwcp_crc32c(crc, zero, 4);
	return dwcp_crc32c(crc, m + ZERO_OFF + 4, len - ZERO_OFF - 4);
}

static void random_jobs(struct dwcp_gpu_crc_job *j, unsigned n, uint64_t *seed)
{
	for (unsigned k = 0; k < n; k++) {
		uint64_t len = 96 + dwcp_test_rand(seed) % (262144 + 1);
		uint64_t off = (dwcp_test_rand(seed) % ((REGION - len) / 4096)) * 4096;

		j[k] = (struct dwcp_gpu_crc_job){ .off = off, .len = len, .zero_off = ZERO_OFF };
	}
	j[0].len = 96;
	j[n - 1].len = 1;   /* shorter than the crc field's place: nothing zeroed */
	j[n - 1].zero_off = ZERO_OFF;
}

/* Wait for slot @p s (hang guard 30 s). */
static int wait_done(int s, uint32_t *out)
{
	for (int i = 0; i < 300000; i++) {
		int rc = dwcp_gpu_crc_done(tg.gpu, s, out);

		if (rc)
			return rc;
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
	return 0;
}

Test(gpu_engine, a_batch_of_crcs_equals_isal, .fini = teardown)
{
	static struct dwcp_gpu_crc_job j[DWCP_GPU_BATCH_MAX];
	static uint32_t out[DWCP_GPU_BATCH_MAX];
	uint64_t seed = 5;
	int s;

	open_or_skip();
	cr_expect(strstr(dwcp_gpu_describe(tg.gpu), "SMs)"), "%s", dwcp_gpu_describe(tg.gpu));
	random_jobs(j, DWCP_GPU_BATCH_MAX, &seed);
	s = dwcp_gpu_crc_start(tg.gpu, j, DWCP_GPU_BATCH_MAX);
	cr_assert_geq(s, 0, "start: %d %s", s, dwcp_gpu_error(tg.gpu));
	cr_assert_eq(wait_done(s, out), 1, "batch: %s", dwcp_gpu_error(tg.gpu));
	for (unsigned k = 0; k < DWCP_GPU_BATCH_MAX; k++)
		cr_expect_eq(out[k], cpu_crc(j[k].off, j[k].len), "job %u: %llu bytes at %llu", k,
			     (unsigned long long)j[k].len, (unsigned long long)j[k].off);
	cr_expect_eq(__atomic_load_n(&tg.woke, __ATOMIC_ACQUIRE), 1u, "no wake at the end of the batch");
}

Test(gpu_engine, every_slot_in_flight_then_busy, .fini = teardown)
{
	static struct dwcp_gpu_crc_job j[DWCP_GPU_SLOTS][64];
	static uint32_t out[64];
	uint64_t seed = 6;
	int s[DWCP_GPU_SLOTS];

	open_or_skip();
	for (unsigned b = 0; b < DWCP_GPU_SLOTS; b++) {
		random_jobs(j[b], 64, &seed);
		s[b] = dwcp_gpu_crc_start(tg.gpu, j[b], 64);
		cr_assert_geq(s[b], 0, "batch %u: %s", b, dwcp_gpu_error(tg.gpu));
	}
	cr_expect_eq(dwcp_gpu_crc_start(tg.gpu, j[0], 64), -EBUSY, "a fifth batch while four are in flight");
	for (unsigned b = 0; b < DWCP_GPU_SLOTS; b++) {
		cr_assert_eq(wait_done(s[b], out), 1, "batch %u: %s", b, dwcp_gpu_error(tg.gpu));
		for (unsigned k = 0; k < 64; k++)
			cr_expect_eq(out[k], cpu_crc(j[b][k].off, j[b][k].len), "batch %u job %u", b, k);
	}
	cr_expect_geq(dwcp_gpu_crc_start(tg.gpu, j[0], 64), 0, "a slot is free again");
}

Test(gpu_engine, a_batch_of_no_jobs_or_too_many_is_refused, .fini = teardown)
{
	static struct dwcp_gpu_crc_job j[DWCP_GPU_BATCH_MAX + 1];

	open_or_skip();
	cr_expect_eq(dwcp_gpu_crc_start(tg.gpu, j, 0), -EINVAL);
	cr_expect_eq(dwcp_gpu_crc_start(tg.gpu, j, DWCP_GPU_BATCH_MAX + 1), -EINVAL);
}
