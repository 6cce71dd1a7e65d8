/* svc-simd: the SIMD compute service. Its steps are the CPU
 * implementations in common/ops/ (the same code svc-gpu's CPU backend
 * links, DESIGN §6); this file brings the engines up and maps opcodes to
 * them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpu.h"
#include "common/keyfile.h"
#include "common/log.h"
#include "common/ops/aead.h"
#include "common/ops/crc32c.h"
#include "ipc/shm.h"
#include "ipc/svc_runtime.h"
#include "simd_internal.h"

static int load_key(struct simd_state *st, const char *path, char *reason, size_t n)
{
	struct dwcp_cpu_features cpu;
	struct dwcp_err err = { 0 };
	uint8_t key[DWCP_AEAD_KEY_LEN];

	if (dwcp_keyfile_read(path, key, &err)) {
		snprintf(reason, n, "%s", err.msg);
		return err.code;
	}
	dwcp_cpu_detect(&cpu);
	st->key = dwcp_aead_key_create(DWCP_AEAD_BACKEND_DEFAULT, key, &cpu);
	if (!st->key)
		st->key = dwcp_aead_key_create(DWCP_AEAD_OPENSSL, key, &cpu);
	explicit_bzero(key, sizeof(key));
	if (!st->key) {
		snprintf(reason, n, "cannot set up AES-256-GCM: %s", strerror(errno));
		return -errno;
	}
	DWCP_INFO("svc-simd: AES-256-GCM key from %s (%s)", path, dwcp_aead_key_describe(st->key));
	return 0;
}

static int simd_init(struct dwcp_svc_ctx *ctx, char *reason, size_t n)
{
	const struct dwcp_ctl_block *ctl = ctx->at.shm.ctl;
	struct simd_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	ctx->priv = st;
	st->cc = dwcp_compress_ctx_create();
	if (!st->cc)
		return -ENOMEM;
	st->zstd_level = ctl->zstd_level ? ctl->zstd_level : 1;
	st->lz4_level = ctl->lz4_level ? ctl->lz4_level : DWCP_LZ4_LEVEL_FAST;
	/* A bad key file is an operator's fix, not a crash loop: STANDBY says
	 * why, the rest of the node runs, and SEAL/OPEN steps fail ENOKEY. */
	if (ctl->key_file[0] && load_key(st, ctl->key_file, reason, n))
		return 1;
	return 0;
}

static void simd_fini(struct dwcp_svc_ctx *ctx)
{
	struct simd_state *st = ctx->priv;

	if (!st)
		return;
	dwcp_aead_key_destroy(st->key);
	dwcp_compress_ctx_destroy(st->cc);
	free(st);
}

static int simd_step(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op,
		     uint32_t *out)
{
	struct simd_state *st = ctx->priv;

	switch (op) {
	case DWCP_OP_CRC32C:
		h->result = dwcp_crc32c(0, dwcp_shm_data(&ctx->at.shm, idx), h->len);
		return DWCP_BUF_OK;
	case DWCP_OP_LZ4:
		return simd_compress(ctx, st, idx, h, DWCP_CODEC_LZ4, out);
	case DWCP_OP_ZSTD:
		return simd_compress(ctx, st, idx, h, DWCP_CODEC_ZSTD, out);
	case DWCP_OP_SEAL:
		return simd_seal(ctx, st, idx, h, out);
	case DWCP_OP_CHECKSUM:
		return simd_checksum(ctx, idx, h);
	case DWCP_OP_VERIFY:
		return simd_verify(ctx, idx, h);
	case DWCP_OP_OPEN:
		return simd_open(ctx, st, idx, h, out);
	case DWCP_OP_DECOMPRESS:
		return simd_decompress(ctx, st, idx, h, out);
	case DWCP_OP_BENCH_RAW_ECHO:
		return simd_bench_raw_echo(ctx, idx, h);
	default:
		return DWCP_BUF_EBADOP;
	}
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-simd", .init = simd_init,
					     .step = simd_step, .fini = simd_fini };

	return dwcp_svc_main(argc, argv, &svc);
}
