/* svc-gpu's self-tests (gpu_internal.h): before the GPU sees a chunk, it
 * computes what the CPU computes on buffers of the node's region, and
 * only what agrees is published. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/log.h"
#include "common/ops/aead.h"
#include "common/ops/compress.h"
#include "common/ops/crc32c.h"
#include "common/timeutil.h"
#include "engine/chunk_ops.h"
#include "gpu_internal.h"

#define CRC_FIELD ((uint64_t)offsetof(struct dwcp_chunk_hdr, crc))

/* The CRC of a chunk the way the step sees it, on the CPU: the check. */
static uint32_t cpu_crc(const uint8_t *msg, uint64_t len)
{
	const uint8_t zero[4] = { 0 };
	uint32_t crc = dwcp_crc32c(0, msg, CRC_FIELD);

	crc = dwcp_crc32c(crc, zero, 4);
	return dwcp_crc32c(crc, msg + CRC_FIELD + 4, len - CRC_FIELD - 4);
}

/* A pool buffer for a self-test: a restart under load may find the pool
 * empty for a moment. @return 0, or -EAGAIN after 1 s (@p why). */
static int alloc_wait(struct dwcp_svc_ctx *ctx, uint32_t *idx, char *why, size_t n)
{
	for (int tries = 0; dwcp_svc_alloc(ctx, idx); tries++) {
		if (tries == 1000) {
			snprintf(why, n, "no pool buffer free for the GPU self-test for 1 s");
			return -EAGAIN;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return 0;
}

/* Before any chunk: CRCs of buffers of this region, of lengths that
 * split unevenly over a block, computed by the GPU and by ISA-L. A
 * device, driver or kernel that disagrees leaves svc-gpu on the CPU. */
int gpu_selftest_crc(struct dwcp_gpu *g, struct dwcp_svc_ctx *ctx, char *why, size_t n)
{
	static const uint32_t lens[] = { DWCP_CHUNK_HDR_LEN, DWCP_CHUNK_HDR_LEN + 1, 4096 + 13, 65536 + 96 };
	struct dwcp_gpu_crc_job job[4];
	uint32_t idx[4], out[4], want[4];
	uint64_t seed = 0x9e3779b97f4a7c15ull, deadline;
	unsigned k, got = 0;
	int slot, rc = 0;

	for (k = 0; k < 4; k++) {
		uint8_t *p;
		uint32_t len = lens[k] < ctx->at.shm.buf_size ? lens[k] : ctx->at.shm.buf_size;

		if ((rc = alloc_wait(ctx, &idx[k], why, n)))
			goto out;
		got++;
		p = dwcp_shm_data(&ctx->at.shm, idx[k]);
		for (uint32_t i = 0; i < len; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			p[i] = (uint8_t)(seed >> 56);
		}
		job[k] = (struct dwcp_gpu_crc_job){ .off = (uint64_t)(p - ctx->at.shm.data), .len = len,
						    .zero_off = CRC_FIELD };
		want[k] = cpu_crc(p, len);
	}
	slot = dwcp_gpu_crc_start(g, job, 4);
	if (slot < 0) {
		snprintf(why, n, "GPU self-test: %s", dwcp_gpu_error(g));
		rc = -EIO;
		goto out;
	}
	deadline = dwcp_now_ns() + 5000000000ull;
	while ((rc = dwcp_gpu_crc_done(g, slot, out)) == 0 && dwcp_now_ns() < deadline)
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	if (rc <= 0) {
		snprintf(why, n, "GPU self-test: %s", rc ? dwcp_gpu_error(g) : "no result within 5 s");
		rc = -EIO;
		goto out;
	}
	rc = 0;
	for (k = 0; k < 4; k++)
		if (out[k] != want[k]) {
			snprintf(why, n, "GPU self-test: CRC32C of %llu bytes is %08x on the GPU, %08x on the CPU",
				 (unsigned long long)job[k].len, out[k], want[k]);
			rc = -EIO;
			break;
		}
out:
	for (k = 0; k < got; k++)
		dwcp_svc_free(ctx, idx[k]);
	return rc;
}

/* Pseudo-text from a few words: what LZ4 shrinks, different each call. */
static void fill_text(uint8_t *p, uint32_t len, uint64_t *seed)
{
	static const char *const words[] = { "dwcp ", "moves ", "memory ", "pages ", "between ", "hosts. " };

	for (uint32_t i = 0; i < len;) {
		const char *w;

		*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
		w = words[(*seed >> 33) % 6];
		for (; *w && i < len; w++)
			p[i++] = (uint8_t)*w;
	}
}

static int op_wait(struct dwcp_gpu *g, int slot, struct dwcp_gpu_op_result *res)
{
	uint64_t deadline = dwcp_now_ns() + 5000000000ull;
	int rc;

	while ((rc = dwcp_gpu_op_done(g, slot, res)) == 0 && dwcp_now_ns() < deadline)
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	return rc;
}

/* The op self-test's judgement of the GPU's results, against the CPU's
 * AES-GCM (@p ak; NULL: no key) and liblz4. @return 0, -EPROTO (they
 * differ: @p why) or -ENOMEM. */
static int op_self_check(struct dwcp_aead_key *ak, const uint8_t *const b[4], uint32_t len,
			 const uint8_t cpu_tag[16], const struct dwcp_gpu_op_result *res, char *why, size_t n)
{
	struct dwcp_compress_ctx *cc = dwcp_compress_ctx_create();
	uint8_t *back = malloc(len);
	int rc = -EPROTO;

	if (!cc || !back) {
		snprintf(why, n, "GPU op self-test: out of memory");
		rc = -ENOMEM;
	} else if (res[0].len <= 0 || res[0].len >= (int64_t)len ||
		   dwcp_decompress(cc, DWCP_CODEC_LZ4, b[1], (size_t)res[0].len, back, len) != (ssize_t)len ||
		   memcmp(back, b[0] + DWCP_CHUNK_HDR_LEN, len)) {
		snprintf(why, n, "GPU op self-test: liblz4 does not decode the GPU's LZ4 block (%lld bytes)",
			 (long long)res[0].len);
	} else if (ak && (res[1].len != (int64_t)len || memcmp(b[2], b[3], len) ||
			  memcmp(res[1].tag, cpu_tag, 16))) {
		snprintf(why, n, "GPU op self-test: AES-256-GCM sealed on the GPU differs from the CPU's");
	} else if (ak && (res[2].len != (int64_t)len || memcmp(b[2] + len, b[0] + DWCP_CHUNK_HDR_LEN, len))) {
		snprintf(why, n, "GPU op self-test: the GPU does not open what the CPU sealed");
	} else {
		rc = 0;
	}
	free(back);
	dwcp_compress_ctx_destroy(cc);
	return rc;
}

/* Before any chunk of an op batch: an LZ4 block liblz4 must decode, and
 * with a key a seal that must be the CPU's AES-GCM to the byte (same
 * ciphertext and tag for the same key, nonce and data) and an open of
 * what the CPU sealed. @return 0; -EPROTO when the GPU's results differ
 * (it runs only its CRCs then); -EIO for a device error, after which the
 * context may be lost (no GPU engine then); -EAGAIN, -ENOMEM.
 * Buffers: 0 the data (a chunk-header-sized AAD, then the data), 1 LZ4's
 * output, 2 the GPU's ciphertext then the GPU's opening, 3 the CPU's
 * ciphertext. */
int gpu_selftest_ops(struct dwcp_gpu *g, struct dwcp_svc_ctx *ctx, const uint8_t *key, char *why, size_t n)
{
	struct dwcp_aead_key *ak = NULL;
	struct dwcp_gpu_op_job job[3];
	struct dwcp_gpu_op_result res[3];
	const uint8_t nonce[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	uint8_t cpu_tag[16], *b[4];
	uint32_t idx[4], len = ctx->at.shm.buf_size / 2 - DWCP_CHUNK_HDR_LEN;
	uint64_t seed = 0x2545f4914f6cdd1dull;
	unsigned got = 0, njobs = key ? 3 : 1;
	int slot, rc = 0;

	if (len > 65536 + 13)
		len = 65536 + 13;
	for (; got < 4; got++) {
		if ((rc = alloc_wait(ctx, &idx[got], why, n)))
			goto out;
		b[got] = dwcp_shm_data(&ctx->at.shm, idx[got]);
	}
	fill_text(b[0], DWCP_CHUNK_HDR_LEN + len, &seed);
	job[0] = (struct dwcp_gpu_op_job){ .op = DWCP_GPU_LZ4, .in_off = (uint64_t)(b[0] - ctx->at.shm.data) +
			DWCP_CHUNK_HDR_LEN, .in_len = len, .out_off = (uint64_t)(b[1] - ctx->at.shm.data),
			.out_cap = ctx->at.shm.buf_size };
	if (key) {
		struct dwcp_cpu_features cpu;

		dwcp_cpu_detect(&cpu);
		ak = dwcp_aead_key_create(DWCP_AEAD_BACKEND_DEFAULT, key, &cpu);
		if (!ak)
			ak = dwcp_aead_key_create(DWCP_AEAD_OPENSSL, key, &cpu);
		if (!ak || dwcp_aead_seal(ak, nonce, b[0], DWCP_CHUNK_HDR_LEN, b[0] + DWCP_CHUNK_HDR_LEN, len,
					  b[3], cpu_tag)) {
			snprintf(why, n, "GPU op self-test: the CPU's AES-256-GCM failed");
			rc = -EPROTO;
			goto out;
		}
		job[1] = job[0];
		job[1].op = DWCP_GPU_SEAL;
		job[1].out_off = (uint64_t)(b[2] - ctx->at.shm.data);
		job[1].aad_off = (uint64_t)(b[0] - ctx->at.shm.data);
		job[1].aad_len = DWCP_CHUNK_HDR_LEN;
		memcpy(job[1].nonce, nonce, 12);
		job[2] = job[1];
		job[2].op = DWCP_GPU_OPEN;
		job[2].in_off = (uint64_t)(b[3] - ctx->at.shm.data);
		job[2].out_off += len;
		job[2].out_cap = ctx->at.shm.buf_size - len;
		memcpy(job[2].tag, cpu_tag, 16);
		if ((rc = dwcp_gpu_set_key(g, key))) {
			snprintf(why, n, "GPU op self-test: %s", dwcp_gpu_error(g));
			goto out;
		}
	}
	slot = dwcp_gpu_op_start(g, job, njobs);
	rc = slot < 0 ? slot : op_wait(g, slot, res);
	if (rc == 0) {
		/* The batch may still write into these buffers: they must not
		 * go back to the pool while it can. Leaving ends the context;
		 * the supervisor frees what this process held after that. */
		DWCP_ERR("svc-gpu: GPU op self-test: no result within 5 s; exiting (a later start tries again)");
		_exit(EXIT_FAILURE);
	}
	if (rc < 0) {
		snprintf(why, n, "GPU op self-test: %s", rc == -EIO ? dwcp_gpu_error(g) : strerror(-rc));
		rc = -EIO;
		goto out;
	}
	rc = op_self_check(ak, (const uint8_t *const *)b, len, cpu_tag, res, why, n);
out:
	dwcp_aead_key_destroy(ak);
	for (unsigned k = 0; k < got; k++)
		dwcp_svc_free(ctx, idx[k]);
	return rc;
}
