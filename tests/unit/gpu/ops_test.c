/* svc-gpu's op batches (svc-gpu/gpu_cuda.h: dwcp_gpu_op_*) on a CUDA
 * device, without a node, against the CPU path a node without a GPU runs:
 * chunks sealed on the GPU are the bytes and tag svc-simd's AEAD
 * (ipsec-mb) makes, and open there; chunks svc-simd sealed open on the
 * GPU, and one with a changed byte or tag is refused; LZ4 blocks the GPU
 * makes decode with liblz4, blocks liblz4 makes decode on the GPU, and a
 * damaged block is refused; HDE bodies made on the GPU are svc-mem's
 * (common/ops/hde.h) byte for byte and the GPU decodes svc-mem's; a batch
 * of every op at once; bad jobs.
 * Run it under compute-sanitizer on a GPU host. Without a device, or in a
 * build without nvcc, every case prints "skipped: no CUDA device". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <lz4.h>

#include "common/cpu.h"
#include "common/ops/aead.h"
#include "common/ops/hde.h"
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

/* Job @p k's HDE layout in its input slice: the chunk's data at 0, the
 * bases at SLICE / 2, their references at the slice's end. */
#define HDE_BASES_AT (SLICE / 2)
#define HDE_REFS_AT  (SLICE - DWCP_HDE_MAX_PAGES * sizeof(struct dwcp_gpu_hde_ref))

Test(gpu_ops, hde_bodies_are_svc_mems_and_decode_both_ways, .fini = teardown, .timeout = 120)
{
	static struct dwcp_gpu_op_job j[JOBS];
	static struct dwcp_gpu_op_result r[JOBS];
	static struct dwcp_hde_base cpu_bases[JOBS][DWCP_HDE_MAX_PAGES];
	struct dwcp_cpu_features cpu;
	struct dwcp_hde_codec x;
	uint8_t *body = malloc(DWCP_HDE_BOUND(DWCP_HDE_MAX_DATA));
	uint64_t seed = 21;
	int s;

	open_or_skip();
	cr_assert_not_null(body);
	dwcp_cpu_detect(&cpu);
	dwcp_hde_codec_init(&x, &cpu);
	for (unsigned k = 0; k < JOBS; k++) {
		uint8_t *in = tg.region + 2ull * k * SLICE;
		struct dwcp_gpu_hde_ref *refs = (struct dwcp_gpu_hde_ref *)(in + HDE_REFS_AT);
		uint32_t len = (uint32_t)(len_of(k) > DWCP_HDE_MAX_DATA ? DWCP_HDE_MAX_DATA : len_of(k));
		unsigned pages = dwcp_hde_pages(len);

		/* Page i: the base's copy with i % 5 kinds of change: none,
		 * zeros, a few bytes, half of it, all of it; every seventh has
		 * no base. */
		for (unsigned i = 0; i < pages; i++) {
			uint32_t plen = dwcp_hde_page_len(len, i);
			uint8_t *p = in + (size_t)i * DWCP_HDE_PAGE, *b = in + HDE_BASES_AT + (size_t)i * DWCP_HDE_PAGE;

			memcpy(p, b, plen);
			if (i % 5 == 1)
				memset(p, 0, plen);
			for (uint32_t q = 0; i % 5 == 2 && q < plen; q += 700)
				p[q] ^= 0x3c;
			for (uint32_t q = plen / 2; i % 5 == 3 && q < plen; q++)
				p[q] ^= (uint8_t)(q * 7 + 1);
			if (i % 5 == 4)
				dwcp_test_fill_random(p, plen, &seed);
			refs[i] = (struct dwcp_gpu_hde_ref){ .off = (uint64_t)(b - tg.region), .len = plen,
							     .hash = x.xxh3.h64(b, plen, 0) };
			if (i % 7 == 6)
				refs[i].off = DWCP_GPU_NO_BASE;
			cpu_bases[k][i] = (struct dwcp_hde_base){ .data = i % 7 == 6 ? NULL : b, .len = plen,
								  .hash = refs[i].hash };
		}
		j[k] = (struct dwcp_gpu_op_job){ .op = DWCP_GPU_HDE, .in_off = 2ull * k * SLICE, .in_len = len,
						 .out_off = (2ull * k + 1) * SLICE, .out_cap = SLICE,
						 .aad_off = 2ull * k * SLICE + HDE_REFS_AT,
						 .aad_len = pages * sizeof(struct dwcp_gpu_hde_ref) };
	}
	s = dwcp_gpu_op_start(tg.gpu, j, JOBS);
	cr_assert_geq(s, 0, "start: %d %s", s, dwcp_gpu_error(tg.gpu));
	cr_assert_eq(wait_done(s, r), 1, "batch: %s", dwcp_gpu_error(tg.gpu));
	for (unsigned k = 0; k < JOBS; k++) {
		ssize_t n = dwcp_hde_encode(&x, tg.region + j[k].in_off, (uint32_t)j[k].in_len, cpu_bases[k], body,
					    DWCP_HDE_BOUND(DWCP_HDE_MAX_DATA), NULL);

		cr_assert_gt(n, 0);
		cr_assert_eq(r[k].len, (int64_t)n, "hde job %u: %lld bytes, svc-mem's %zd", k, (long long)r[k].len, n);
		cr_expect_eq(memcmp(tg.region + j[k].out_off, body, (size_t)n), 0, "hde job %u: the bodies differ", k);
		/* Decode svc-mem's body (the same bytes) on the GPU, into the
		 * output slice's second half. */
		j[k].op = DWCP_GPU_UNHDE;
		j[k].out_cap = j[k].in_len;
		j[k].in_off = j[k].out_off;
		j[k].in_len = (uint64_t)n;
		j[k].out_off += SLICE / 2;
	}
	s = dwcp_gpu_op_start(tg.gpu, j, JOBS);
	cr_assert_geq(s, 0, "start: %d %s", s, dwcp_gpu_error(tg.gpu));
	cr_assert_eq(wait_done(s, r), 1, "batch: %s", dwcp_gpu_error(tg.gpu));
	for (unsigned k = 0; k < JOBS; k++) {
		cr_assert_eq(r[k].len, (int64_t)j[k].out_cap, "unhde job %u: %lld", k, (long long)r[k].len);
		cr_expect_eq(memcmp(tg.region + j[k].out_off, tg.region + 2ull * k * SLICE, j[k].out_cap), 0,
			     "unhde job %u decoded otherwise", k);
	}
	free(body);
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
	/* HDE: one base reference per page, each base inside the region. */
	{
		struct dwcp_gpu_hde_ref *refs = (struct dwcp_gpu_hde_ref *)(tg.region + HDE_REFS_AT);

		memset(refs, 0, 2 * sizeof(*refs));
		refs[0] = (struct dwcp_gpu_hde_ref){ .off = 0, .len = 4096 };
		refs[1] = (struct dwcp_gpu_hde_ref){ .off = REGION - 100, .len = 4096 };
		j[0] = (struct dwcp_gpu_op_job){ .op = DWCP_GPU_HDE, .in_off = 0, .in_len = 8192,
						 .out_off = SLICE, .out_cap = SLICE, .aad_off = HDE_REFS_AT,
						 .aad_len = 2 * sizeof(*refs) };
		cr_expect_eq(dwcp_gpu_op_start(tg.gpu, j, 1), -EINVAL, "a base past the region");
		refs[1].off = DWCP_GPU_NO_BASE;
		j[0].aad_len = sizeof(*refs);
		cr_expect_eq(dwcp_gpu_op_start(tg.gpu, j, 1), -EINVAL, "one reference for two pages");
		refs[1] = (struct dwcp_gpu_hde_ref){ .off = 0, .len = 4097 };
		j[0].aad_len = 2 * sizeof(*refs);
		cr_expect_eq(dwcp_gpu_op_start(tg.gpu, j, 1), -EINVAL, "a base longer than a page");
	}
}
