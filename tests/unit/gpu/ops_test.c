/* svc-gpu's op batches (svc-gpu/gpu_cuda.h: dwcp_gpu_op_*) on a CUDA
 * device, without a node, against the CPU path a node without a GPU runs:
 * chunks sealed on the GPU are the bytes and tag svc-simd's AEAD
 * (ipsec-mb) makes, and open there; chunks svc-simd sealed open on the
 * GPU, and one with a changed byte or tag is refused; LZ4 blocks the GPU
 * makes decode with liblz4, blocks liblz4 makes decode on the GPU, and a
 * damaged block is refused; a batch of every op at once; bad jobs.
 * Run it under compute-sanitizer on a GPU host. Without a device, or in a
 * build without nvcc, every case prints "skipped: no CUDA device". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <lz4.h>

#include "common/ops/aead.h"
#include "svc-gpu/gpu_cuda.h"
#include "tests/lib/gpu.h"
#include "tests/lib/util.h"

#define REGION (256ull << 20)
#define SLICE  (1u << 20)     /* a job: input (its AAD at the end, a decoded copy in the middle) and output slices */
#define JOBS   (REGION / SLICE / 2)

static struct dwcp_test_gpu tg;
static uint8_t key[32];

static void teardown(void)
{
	dwcp_test_gpu_close(&tg);
}

static void open_or_skip(void)
{
	uint64_t seed = 8;

	dwcp_test_gpu_open(&tg, REGION, 7);
	dwcp_test_fill_random(key, sizeof(key), &seed);
	cr_assert_eq(dwcp_gpu_set_key(tg.gpu, key), 0, "set key: %s", dwcp_gpu_error(tg.gpu));
}

static int wait_done(int s, struct dwcp_gpu_op_result *out)
{
	for (int i = 0; i < 600000; i++) {
		int rc = dwcp_gpu_op_done(tg.gpu, s, out);

		if (rc)
			return rc;
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
	return 0;
}

/* Job @p k's input at slice 2k, its output at slice 2k + 1 (its AAD at the input slice's end). */
static struct dwcp_gpu_op_job job(unsigned k, uint32_t op, uint64_t len)
{
	struct dwcp_gpu_op_job j = { .op = op, .in_off = 2ull * k * SLICE, .in_len = len,
				     .out_off = (2ull * k + 1) * SLICE, .out_cap = SLICE,
				     .aad_off = 2ull * k * SLICE + SLICE - 64, .aad_len = 64 };

	for (unsigned i = 0; i < 12; i++)
		j.nonce[i] = (uint8_t)(k * 31 + i);
	return j;
}

static uint64_t len_of(unsigned k)
{
	static const uint64_t lens[] = { 0, 1, 15, 16, 17, 4096, 65536 + 5, 262144, 262144 + 4095 };

	return lens[k % (sizeof(lens) / sizeof(lens[0]))];
}

Test(gpu_ops, seal_and_open_agree_with_svc_simd_both_ways, .fini = teardown, .timeout = 120)
{
	static struct dwcp_gpu_op_job j[JOBS];
	static struct dwcp_gpu_op_result r[JOBS];
	struct dwcp_aead_key *ak;
	uint8_t tag[16];
	int s;

	open_or_skip();
	ak = dwcp_aead_key_create(DWCP_AEAD_IPSEC_MB, key, NULL);
	cr_assert_not_null(ak);
	for (unsigned k = 0; k < JOBS; k++)
		j[k] = job(k, DWCP_GPU_SEAL, len_of(k));
	s = dwcp_gpu_op_start(tg.gpu, j, JOBS);
	cr_assert_geq(s, 0, "start: %d %s", s, dwcp_gpu_error(tg.gpu));
	cr_assert_eq(wait_done(s, r), 1, "batch: %s", dwcp_gpu_error(tg.gpu));
	for (unsigned k = 0; k < JOBS; k++) {
		uint8_t *want = malloc(SLICE);

		cr_assert_eq(r[k].len, (int64_t)j[k].in_len, "seal job %u", k);
		cr_assert_eq(dwcp_aead_seal(ak, j[k].nonce, tg.region + j[k].aad_off, 64, tg.region + j[k].in_off, j[k].in_len,
					    want, tag), 0);
		cr_expect_eq(memcmp(tg.region + j[k].out_off, want, j[k].in_len), 0, "seal job %u: ciphertext", k);
		cr_expect_eq(memcmp(r[k].tag, tag, 16), 0, "seal job %u: tag", k);
		free(want);
		/* Open it back on the GPU: the ciphertext is the input now. */
		j[k] = (struct dwcp_gpu_op_job){ .op = DWCP_GPU_OPEN, .in_off = j[k].out_off, .in_len = j[k].in_len,
						 .out_off = j[k].in_off + SLICE / 2, .out_cap = SLICE / 2,
						 .aad_off = j[k].aad_off, .aad_len = 64 };
		memcpy(j[k].nonce, job(k, 0, 0).nonce, 12);
		memcpy(j[k].tag, tag, 16);
		if (k % 3 == 1)
			j[k].tag[k % 16] ^= 1;   /* refused */
	}
	s = dwcp_gpu_op_start(tg.gpu, j, JOBS);
	cr_assert_geq(s, 0, "start: %d %s", s, dwcp_gpu_error(tg.gpu));
	cr_assert_eq(wait_done(s, r), 1, "batch: %s", dwcp_gpu_error(tg.gpu));
	for (unsigned k = 0; k < JOBS; k++) {
		if (k % 3 == 1) {
			cr_expect_eq(r[k].len, -1, "open job %u: a changed tag was accepted", k);
			continue;
		}
		cr_assert_eq(r[k].len, (int64_t)j[k].in_len, "open job %u", k);
		cr_expect_eq(memcmp(tg.region + j[k].out_off, tg.region + j[k].out_off - SLICE / 2, j[k].in_len), 0,
			     "open job %u: plaintext", k);
	}
	dwcp_aead_key_destroy(ak);
}

Test(gpu_ops, lz4_blocks_cross_with_liblz4, .fini = teardown, .timeout = 120)
{
	static struct dwcp_gpu_op_job j[JOBS];
	static struct dwcp_gpu_op_result r[JOBS];
	uint8_t *back = malloc(SLICE);
	int s;

	open_or_skip();
	cr_assert_not_null(back);
	/* Inputs a chunk holds: a zero page, text-like runs, random bytes. */
	for (unsigned k = 0; k < JOBS; k++) {
		uint8_t *in = tg.region + 2ull * k * SLICE;
		uint64_t len = len_of(k);

		for (uint64_t i = 0; k % 3 != 2 && i < len; i++)
			in[i] = k % 3 == 0 ? 0 : (uint8_t)("dwcp moves pages "[i % 17]);
		j[k] = job(k, DWCP_GPU_LZ4, len);
	}
	s = dwcp_gpu_op_start(tg.gpu, j, JOBS);
	cr_assert_geq(s, 0, "start: %d %s", s, dwcp_gpu_error(tg.gpu));
	cr_assert_eq(wait_done(s, r), 1, "batch: %s", dwcp_gpu_error(tg.gpu));
	for (unsigned k = 0; k < JOBS; k++) {
		int d;

		cr_assert_gt(r[k].len, 0, "lz4 job %u", k);
		d = LZ4_decompress_safe((const char *)tg.region + j[k].out_off, (char *)back, (int)r[k].len, SLICE);
		cr_assert_eq(d, (int)j[k].in_len, "lz4 job %u: liblz4 says %d", k, d);
		cr_expect_eq(memcmp(back, tg.region + j[k].in_off, j[k].in_len), 0, "lz4 job %u", k);
		/* Now liblz4's block of the same input, decoded on the GPU (one in
		 * four damaged: refused or decoded within its room, never past). */
		d = LZ4_compress_default((const char *)tg.region + j[k].in_off, (char *)tg.region + j[k].out_off,
					 (int)j[k].in_len, SLICE);
		cr_assert_gt(d, 0);
		j[k] = (struct dwcp_gpu_op_job){ .op = DWCP_GPU_UNLZ4, .in_off = j[k].out_off, .in_len = (uint64_t)d,
						 .out_off = j[k].in_off + SLICE / 2, .out_cap = j[k].in_len };
		if (k % 4 == 3)
			tg.region[j[k].in_off] ^= 0xf0;   /* the first token's literal length */
	}
	s = dwcp_gpu_op_start(tg.gpu, j, JOBS);
	cr_assert_geq(s, 0, "start: %d %s", s, dwcp_gpu_error(tg.gpu));
	cr_assert_eq(wait_done(s, r), 1, "batch: %s", dwcp_gpu_error(tg.gpu));
	for (unsigned k = 0; k < JOBS; k++) {
		if (k % 4 == 3) {
			cr_expect(r[k].len == -1 || (uint64_t)r[k].len <= j[k].out_cap, "unlz4 job %u: %lld", k,
				  (long long)r[k].len);
			continue;
		}
		cr_assert_eq(r[k].len, (int64_t)j[k].out_cap, "unlz4 job %u", k);
		cr_expect_eq(memcmp(tg.region + j[k].out_off, tg.region + j[k].out_off - SLICE / 2, j[k].out_cap), 0,
			     "unlz4 job %u", k);
	}
	free(back);
}

Test(gpu_ops, bad_jobs_are_refused, .fini = teardown)
{
	static struct dwcp_gpu_op_job j[DWCP_GPU_BATCH_MAX + 1];
	struct dwcp_gpu_op_result r[3];
	int s;

	open_or_skip();
	cr_expect_eq(dwcp_gpu_op_start(tg.gpu, j, 0), -EINVAL);
	cr_expect_eq(dwcp_gpu_op_start(tg.gpu, j, DWCP_GPU_BATCH_MAX + 1), -EINVAL);
	j[0] = job(0, 99, 100);                          /* no such op */
	j[1] = job(1, DWCP_GPU_SEAL, 100);
	j[1].out_cap = 99;                               /* no room */
	j[2] = job(2, DWCP_GPU_LZ4, 262144);
	j[2].out_cap = 10;                               /* a block that cannot fit */
	s = dwcp_gpu_op_start(tg.gpu, j, 3);
	cr_assert_geq(s, 0, "start: %s", dwcp_gpu_error(tg.gpu));
	cr_assert_eq(wait_done(s, r), 1, "batch: %s", dwcp_gpu_error(tg.gpu));
	for (unsigned k = 0; k < 3; k++)
		cr_expect_eq(r[k].len, -1, "bad job %u accepted", k);
	/* Ranges outside the registered region never reach the device. */
	j[0] = job(0, DWCP_GPU_SEAL, 100);
	j[0].out_off = REGION - 10;
	cr_expect_eq(dwcp_gpu_op_start(tg.gpu, j, 1), -EINVAL, "output past the region");
	j[0] = job(0, DWCP_GPU_LZ4, 100);
	j[0].in_off = ~0ull - 50;
	cr_expect_eq(dwcp_gpu_op_start(tg.gpu, j, 1), -EINVAL, "input offset that wraps");
	j[0] = job(0, DWCP_GPU_OPEN, 100);
	j[0].aad_len = REGION;
	cr_expect_eq(dwcp_gpu_op_start(tg.gpu, j, 1), -EINVAL, "associated data past the region");
}
