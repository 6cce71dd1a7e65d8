/* svc-gpu's chunk side of its GPU path (svc-gpu/gpu_chunk.c) held to the
 * CPU engine's chunk format, both ways: a chunk sealed or LZ4-compressed
 * through a GPU job opens and decodes the way svc-simd's engine does it
 * (engine/chunk_ops.c: dwcp_chunk_aad + AES-256-GCM, liblz4), is the very
 * bytes the CPU seals for the same nonce, and the CPU's sealed or
 * compressed chunks come back through GPU jobs; tampering, unsealed and
 * incompressible chunks get the CPU engine's answers.
 *
 * The jobs run here on the host, one thread doing what the kernel's
 * threads share (the arithmetic of svc-gpu/gcm_math.h and lz4_math.h,
 * which gcm_math_test and lz4_math_test hold to the libraries); on a GPU
 * host ops_test runs the same jobs on the device.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/ops/aead.h"
#include "common/ops/compress.h"
#include "ipc/buf_hdr.h"
#include "ipc/chunk.h"
#include "svc-gpu/gcm_math.h"
#include "svc-gpu/gpu_chunk.h"
#include "svc-gpu/lz4_math.h"

#define BUF      (262144u + DWCP_CHUNK_HDR_LEN)
#define MAX_BODY (BUF - DWCP_CHUNK_HDR_LEN)
#define BODY     (200000u)

static uint8_t *region;   /* four buffers of BUF bytes, as a pool's */
static struct dwcp_gpu_aes_tables tab;
static uint32_t lz4_table[1u << DWCP_GPU_LZ4_HASH_LOG];
static const uint8_t key[32] = { 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
				 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };

static void setup(void)
{
	region = calloc(4, BUF);
	cr_assert_not_null(region);
	dwcp_gpu_aes_tables(&tab);
}

static void teardown(void)
{
	free(region);
}

TestSuite(gpu_chunk, .init = setup, .fini = teardown);

static struct dwcp_chunk_hdr *buf(unsigned i)
{
	return (struct dwcp_chunk_hdr *)(region + (size_t)i * BUF);
}

static uint64_t off(const struct dwcp_chunk_hdr *c)
{
	return (uint64_t)((const uint8_t *)c - region);
}

/* What op_kernel does with one job, in one thread. */
static void run_job(const struct dwcp_gpu_op_job *j, struct dwcp_gpu_op_result *r)
{
	const uint8_t *in = region + j->in_off, *aad = region + j->aad_off;
	uint8_t *out = region + j->out_off, tag[16];
	uint64_t len = j->in_len, nblk = (len + 15) / 16, y[2];
	struct dwcp_gpu_gcm_key k;

	memset(r, 0, sizeof(*r));
	if (j->op == DWCP_GPU_LZ4) {
		uint64_t c = dwcp_gpu_lz4_compress(in, len, out, j->out_cap, lz4_table);

		r->len = c ? (int64_t)c : -1;
		return;
	}
	if (j->op == DWCP_GPU_UNLZ4) {
		r->len = dwcp_gpu_lz4_decompress(in, len, out, j->out_cap);
		return;
	}
	cr_assert(j->op == DWCP_GPU_SEAL || j->op == DWCP_GPU_OPEN);
	if (len > j->out_cap) {
		r->len = -1;
		return;
	}
	dwcp_gpu_gcm_key_init(&k, key, &tab);
	if (j->op == DWCP_GPU_SEAL)
		for (uint64_t b = 0; b < nblk; b++)
			dwcp_gpu_gcm_ctr(&k, j->nonce, in, out, b * 16, len - b * 16 < 16 ? len - b * 16 : 16, &tab);
	dwcp_gpu_ghash_range(&k, aad, j->aad_len, j->op == DWCP_GPU_SEAL ? out : in, len, 0,
			     dwcp_gpu_ghash_blocks(j->aad_len, len), y);
	dwcp_gpu_gcm_tag(&k, j->nonce, y, tag, &tab);
	if (j->op == DWCP_GPU_SEAL) {
		memcpy(r->tag, tag, 16);
		r->len = (int64_t)len;
		return;
	}
	if (memcmp(tag, j->tag, 16)) {
		r->len = -1;
		return;
	}
	for (uint64_t b = 0; b < nblk; b++)
		dwcp_gpu_gcm_ctr(&k, j->nonce, in, out, b * 16, len - b * 16 < 16 ? len - b * 16 : 16, &tab);
	r->len = (int64_t)len;
}

/* Step @p op of the chunk in buffer @p in through a GPU job, output in
 * buffer @p out, as svc-gpu's op_step and poll_ops do it. @return the
 * status; @p use_out says whether buffer @p out is the result. */
static int gpu_step(unsigned op, unsigned in, unsigned out, const uint8_t nonce[12], bool *use_out)
{
	struct dwcp_gpu_op_job job;
	struct dwcp_gpu_op_result res;
	bool need;
	int st = gpu_chunk_admit(op, buf(in), &need);

	*use_out = false;
	if (st != DWCP_BUF_OK || !need)
		return st;
	*buf(out) = *buf(in);   /* dwcp_chunk_begin_output */
	gpu_chunk_prepare(op, buf(in), off(buf(in)), buf(out), off(buf(out)), MAX_BODY, nonce, &job);
	run_job(&job, &res);
	return gpu_chunk_finish(op, buf(in), buf(out), &res, use_out);
}

/* svc-simd's seal (engine/chunk_ops.c engine_seal) of buffer @p in into @p out. */
static void cpu_seal(unsigned in, unsigned out, const uint8_t nonce[12])
{
	struct dwcp_aead_key *ak = dwcp_aead_key_create(DWCP_AEAD_BACKEND_DEFAULT, key, NULL);
	struct dwcp_chunk_hdr *c = buf(in), *oc = buf(out), aad;

	cr_assert_not_null(ak);
	*oc = *c;
	oc->flags |= DWCP_CHUNK_F_SEALED;
	oc->crc = 0;
	memcpy(oc->nonce, nonce, 12);
	memset(oc->tag, 0, sizeof(oc->tag));
	dwcp_chunk_aad(oc, &aad);
	cr_assert_eq(dwcp_aead_seal(ak, oc->nonce, &aad, sizeof(aad), dwcp_chunk_body(c), c->body_len,
				    dwcp_chunk_body(oc), oc->tag), 0);
	dwcp_aead_key_destroy(ak);
}

/* svc-simd's open (engine_open): 0 when the chunk authenticates, the
 * plaintext into @p pt. */
static int cpu_open(unsigned in, uint8_t *pt)
{
	struct dwcp_aead_key *ak = dwcp_aead_key_create(DWCP_AEAD_OPENSSL, key, NULL);
	struct dwcp_chunk_hdr *c = buf(in), aad;
	int rc;

	cr_assert_not_null(ak);
	dwcp_chunk_aad(c, &aad);
	rc = dwcp_aead_open(ak, c->nonce, &aad, sizeof(aad), dwcp_chunk_body(c), c->body_len, c->tag, pt);
	dwcp_aead_key_destroy(ak);
	return rc;
}

/* A chunk of @p len bytes in buffer @p i: text when @p text, else random. */
static void make_chunk(unsigned i, uint32_t len, bool text, unsigned seed)
{
	static const char words[][8] = { "vm ", "page ", "disk ", "host ", "moves ", "dwcp " };
	struct dwcp_chunk_hdr *c = buf(i);
	uint8_t *p = dwcp_chunk_body(c);

	dwcp_chunk_init(c, 42, seed, (uint64_t)seed * 4096, len);
	c->xfer = 3;
	srand(seed);
	for (uint32_t k = 0; k < len;) {
		if (!text) {
			p[k++] = (uint8_t)rand();
			continue;
		}
		for (const char *w = words[rand() % 6]; *w && k < len; w++)
			p[k++] = (uint8_t)*w;
	}
}

static void expect_valid(unsigned i)
{
	struct dwcp_err err = { 0 };

	cr_expect_eq(dwcp_chunk_check(buf(i), DWCP_CHUNK_HDR_LEN + buf(i)->body_len, MAX_BODY, &err), 0,
		     "the result is not a valid chunk: %s", err.msg);
}

Test(gpu_chunk, a_gpu_seal_is_the_cpus_to_the_byte_and_opens_on_the_cpu)
{
	const uint8_t nonce[12] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1 };
	uint8_t *pt = malloc(BODY);
	bool use;

	cr_assert_not_null(pt);
	make_chunk(0, BODY, true, 1);
	cr_assert_eq(gpu_step(DWCP_OP_SEAL, 0, 1, nonce, &use), DWCP_BUF_OK);
	cr_assert(use, "a seal's result is its output");
	expect_valid(1);
	cr_expect(buf(1)->flags & DWCP_CHUNK_F_SEALED);
	cpu_seal(0, 2, nonce);
	cr_expect_eq(memcmp(buf(1), buf(2), DWCP_CHUNK_HDR_LEN + BODY), 0,
		     "the GPU's sealed chunk differs from svc-simd's for the same nonce");
	cr_assert_eq(cpu_open(1, pt), 0, "svc-simd cannot open the GPU's chunk");
	cr_expect_eq(memcmp(pt, dwcp_chunk_body(buf(0)), BODY), 0);
	/* A sealed chunk is not sealed again. */
	cr_expect_eq(gpu_step(DWCP_OP_SEAL, 1, 3, nonce, &use), DWCP_BUF_EBADCHUNK);
	cr_expect_not(use);
	free(pt);
}

Test(gpu_chunk, the_cpus_sealed_chunk_opens_on_the_gpu_and_a_tampered_one_does_not)
{
	const uint8_t nonce[12] = { 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144 };
	struct dwcp_chunk_hdr want;
	bool use;

	make_chunk(0, BODY + 5, false, 2);
	cpu_seal(0, 1, nonce);
	cr_assert_eq(gpu_step(DWCP_OP_OPEN, 1, 2, NULL, &use), DWCP_BUF_OK);
	cr_assert(use);
	expect_valid(2);
	/* engine_open's header: the input's, unsealed, nonce, tag and crc zero. */
	want = *buf(1);
	want.flags &= (uint8_t)~DWCP_CHUNK_F_SEALED;
	memset(want.nonce, 0, sizeof(want.nonce));
	memset(want.tag, 0, sizeof(want.tag));
	want.crc = 0;
	cr_expect_eq(memcmp(buf(2), &want, sizeof(want)), 0, "the opened header is not svc-simd's");
	cr_expect_eq(memcmp(dwcp_chunk_body(buf(2)), dwcp_chunk_body(buf(0)), BODY + 5), 0);

	/* One bit of the body, then one of the header (the associated data). */
	dwcp_chunk_body(buf(1))[777] ^= 0x10;
	cr_expect_eq(gpu_step(DWCP_OP_OPEN, 1, 2, NULL, &use), DWCP_BUF_EAUTH);
	cr_expect_not(use, "a chunk that does not authenticate has no output");
	dwcp_chunk_body(buf(1))[777] ^= 0x10;
	buf(1)->seq ^= 1;
	cr_expect_eq(gpu_step(DWCP_OP_OPEN, 1, 2, NULL, &use), DWCP_BUF_EAUTH);
	buf(1)->seq ^= 1;
	cr_expect_eq(gpu_step(DWCP_OP_OPEN, 1, 2, NULL, &use), DWCP_BUF_OK, "the intact chunk opens again");
	/* A keyed node takes nothing unsealed. */
	cr_expect_eq(gpu_step(DWCP_OP_OPEN, 0, 2, NULL, &use), DWCP_BUF_EAUTH);
}

Test(gpu_chunk, a_gpu_lz4_chunk_decodes_with_liblz4_and_the_cpus_decodes_on_the_gpu)
{
	struct dwcp_compress_ctx *cc = dwcp_compress_ctx_create();
	uint8_t *back = malloc(BODY);
	ssize_t n;
	bool use;

	cr_assert(cc && back);
	make_chunk(0, BODY, true, 3);
	cr_assert_eq(gpu_step(DWCP_OP_LZ4, 0, 1, NULL, &use), DWCP_BUF_OK);
	cr_assert(use, "text shrinks");
	expect_valid(1);
	cr_expect_eq(buf(1)->codec, DWCP_CODEC_LZ4);
	cr_expect_eq(buf(1)->inner_len, BODY);
	cr_expect_lt(buf(1)->body_len, BODY / 2);
	n = dwcp_decompress(cc, DWCP_CODEC_LZ4, dwcp_chunk_body(buf(1)), buf(1)->body_len, back, BODY);
	cr_assert_eq(n, (ssize_t)BODY, "liblz4 does not decode the GPU's chunk");
	cr_expect_eq(memcmp(back, dwcp_chunk_body(buf(0)), BODY), 0);

	/* The GPU's own block back through a GPU job (as DECOMPRESS and as
	 * UNLZ4, the op a receiver names for LZ4 chunks), and liblz4's. */
	for (unsigned op = DWCP_OP_DECOMPRESS; op; op = op == DWCP_OP_DECOMPRESS ? DWCP_OP_UNLZ4 : 0) {
		memset(dwcp_chunk_body(buf(2)), 0, BODY);
		cr_assert_eq(gpu_step(op, 1, 2, NULL, &use), DWCP_BUF_OK, "op %u", op);
		cr_assert(use);
		expect_valid(2);
		cr_expect_eq(buf(2)->codec, DWCP_CHUNK_CODEC_NONE);
		cr_expect_eq(memcmp(dwcp_chunk_body(buf(2)), dwcp_chunk_body(buf(0)), BODY), 0, "op %u", op);
	}
	*buf(1) = *buf(0);
	n = dwcp_compress(cc, DWCP_CODEC_LZ4, DWCP_LZ4_LEVEL_FAST, dwcp_chunk_body(buf(0)), BODY,
			  dwcp_chunk_body(buf(1)), MAX_BODY);
	cr_assert_gt(n, 0);
	buf(1)->codec = DWCP_CODEC_LZ4;
	buf(1)->inner_len = BODY;
	buf(1)->body_len = (uint32_t)n;
	memset(dwcp_chunk_body(buf(2)), 0, BODY);
	cr_assert_eq(gpu_step(DWCP_OP_DECOMPRESS, 1, 2, NULL, &use), DWCP_BUF_OK);
	cr_expect(use);
	cr_expect_eq(memcmp(dwcp_chunk_body(buf(2)), dwcp_chunk_body(buf(0)), BODY), 0,
		     "liblz4's chunk decodes differently on the GPU");

	/* A block cut short is refused, not half-decoded into the stream. */
	buf(1)->body_len -= 9;
	cr_expect_eq(gpu_step(DWCP_OP_DECOMPRESS, 1, 2, NULL, &use), DWCP_BUF_EBADCHUNK);
	cr_expect_not(use);
	free(back);
	dwcp_compress_ctx_destroy(cc);
}

Test(gpu_chunk, what_the_gpu_leaves_to_the_cpu_and_what_it_refuses)
{
	const uint8_t nonce[12] = { 0 };
	bool use, need;

	/* Random data: the probe keeps it raw (no job), as svc-simd's does. */
	make_chunk(0, BODY, false, 4);
	cr_expect_eq(gpu_chunk_admit(DWCP_OP_LZ4, buf(0), &need), DWCP_BUF_OK);
	cr_expect_not(need, "random data costs no LZ4 job");
	/* Past the probe, an output no smaller than the input is not kept. */
	make_chunk(0, 8192, true, 5);
	srand(9);
	for (unsigned k = 4096; k < 8192; k++)
		dwcp_chunk_body(buf(0))[k] = (uint8_t)rand();
	cr_expect_eq(gpu_step(DWCP_OP_LZ4, 0, 1, NULL, &use), DWCP_BUF_OK);
	if (use)
		cr_expect_lt(buf(1)->body_len, 8192u, "an output is kept only when smaller");
	/* An empty chunk needs nothing; a compressed or sealed one is not compressed again. */
	make_chunk(0, 0, true, 6);
	cr_expect_eq(gpu_chunk_admit(DWCP_OP_LZ4, buf(0), &need), DWCP_BUF_OK);
	cr_expect_not(need);
	make_chunk(0, BODY, true, 7);
	cr_assert_eq(gpu_step(DWCP_OP_LZ4, 0, 1, NULL, &use), DWCP_BUF_OK);
	cr_expect_eq(gpu_step(DWCP_OP_LZ4, 1, 2, NULL, &use), DWCP_BUF_EBADCHUNK);
	cr_assert_eq(gpu_step(DWCP_OP_SEAL, 0, 2, nonce, &use), DWCP_BUF_OK);
	cr_expect_eq(gpu_step(DWCP_OP_LZ4, 2, 3, NULL, &use), DWCP_BUF_EBADCHUNK);
	cr_expect_eq(gpu_step(DWCP_OP_DECOMPRESS, 2, 3, NULL, &use), DWCP_BUF_EBADCHUNK);
	/* DECOMPRESS: nothing for a raw chunk; zstd is the CPU's. UNLZ4 is
	 * named for LZ4 chunks only: anything else is refused, as svc-simd does. */
	cr_expect_eq(gpu_chunk_admit(DWCP_OP_DECOMPRESS, buf(0), &need), DWCP_BUF_OK);
	cr_expect_not(need);
	cr_expect_eq(gpu_chunk_admit(DWCP_OP_UNLZ4, buf(0), &need), DWCP_BUF_EBADCHUNK, "UNLZ4 of a raw chunk");
	cr_expect_eq(gpu_chunk_admit(DWCP_OP_UNLZ4, buf(2), &need), DWCP_BUF_EBADCHUNK, "UNLZ4 of a sealed chunk");
	cr_expect(gpu_chunk_runs(DWCP_OP_DECOMPRESS, buf(1)), "LZ4 decodes on the GPU");
	buf(1)->codec = DWCP_CODEC_ZSTD;
	cr_expect_not(gpu_chunk_runs(DWCP_OP_DECOMPRESS, buf(1)), "the GPU has no zstd");
	cr_expect_eq(gpu_chunk_admit(DWCP_OP_UNLZ4, buf(1), &need), DWCP_BUF_EBADCHUNK, "UNLZ4 of a zstd chunk");
	cr_expect_not(gpu_chunk_runs(DWCP_OP_ZSTD, buf(0)));
	cr_expect_not(gpu_chunk_runs(DWCP_OP_CHECKSUM, buf(0)), "CRC batches are not op jobs");
}
