/* The CPU chunk transforms (chunk_ops.h): compress, seal, checksum and
 * their inverses, each on one chunk buffer (ipc/chunk.h). svc-simd runs
 * them, and so does svc-gpu's CPU backend: one implementation (DESIGN §6).
 *
 * Compress, seal, open and decompress write a new buffer and leave their
 * input untouched (the runtime frees it once the output has left), so a
 * step killed half-way is simply redone on the intact input. Checksum
 * rewrites one header field of its input, which is idempotent. Every step
 * checks the header before it trusts a length: on the receiver these
 * bytes came off the network.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/keyfile.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/ops/aead.h"
#include "common/ops/codec_auto.h"
#include "common/ops/compress.h"
#include "common/ops/crc32c.h"
#include "ipc/abi.h"
#include "ipc/chunk.h"
#include "engine/chunk_ops.h"
#include "ipc/shm.h"

struct dwcp_chunk_hdr *dwcp_chunk_at(const struct dwcp_svc_ctx *ctx, uint32_t idx)
{
	return dwcp_shm_data(&ctx->at.shm, idx);
}

uint32_t dwcp_chunk_max_body(const struct dwcp_svc_ctx *ctx)
{
	return ctx->at.shm.buf_size - DWCP_CHUNK_HDR_LEN;
}

int dwcp_chunk_checked(const struct dwcp_svc_ctx *ctx, const struct dwcp_buf_hdr *h,
		       const struct dwcp_chunk_hdr *c)
{
	struct dwcp_err err = { 0 };

	if (dwcp_chunk_check(c, h->len, dwcp_chunk_max_body(ctx), &err) == 0)
		return 0;
	DWCP_WARN("%s: stream %llu seq %llu: %s", ctx->at.shm.ctl->slots[ctx->at.slot].sup.name,
		  (unsigned long long)h->stream, (unsigned long long)h->seq, err.msg);
	return -1;
}

int dwcp_chunk_begin_output(struct dwcp_svc_ctx *ctx, const struct dwcp_chunk_hdr *c,
			    uint32_t *out, struct dwcp_chunk_hdr **oc)
{
	if (dwcp_svc_alloc(ctx, out))
		return -EAGAIN;
	*oc = dwcp_chunk_at(ctx, *out);
	**oc = *c;
	return 0;
}

void dwcp_chunk_end_output(struct dwcp_svc_ctx *ctx, uint32_t out, const struct dwcp_chunk_hdr *oc)
{
	dwcp_shm_hdr(&ctx->at.shm, out)->len = DWCP_CHUNK_HDR_LEN + oc->body_len;
}

void dwcp_chunk_drop_output(struct dwcp_svc_ctx *ctx, uint32_t idx, uint32_t *out)
{
	dwcp_svc_free(ctx, *out);
	*out = idx;
}

static int engine_compress(struct dwcp_svc_ctx *ctx, struct dwcp_chunk_engine *st, uint32_t idx,
		  struct dwcp_buf_hdr *h, enum dwcp_codec codec, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx), *oc;
	int level = codec == DWCP_CODEC_ZSTD ? (int)st->zstd_level : (int)st->lz4_level;
	ssize_t n;

	if (dwcp_chunk_checked(ctx, h, c) || c->codec != DWCP_CHUNK_CODEC_NONE ||
	    c->flags & DWCP_CHUNK_F_SEALED)
		return DWCP_BUF_EBADCHUNK;
	/* Random or already compressed data would come out no smaller and be
	 * kept raw anyway: a 4 KiB entropy sample saves the compressor call
	 * (and the output buffer) for it. */
	if (!dwcp_codec_auto_may_compress(dwcp_chunk_body(c), c->body_len))
		return DWCP_BUF_OK;
	if (dwcp_chunk_begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	n = dwcp_compress(st->cc, codec, level, dwcp_chunk_body(c), c->body_len,
			  dwcp_chunk_body(oc), dwcp_chunk_max_body(ctx));
	if (n == -ENOMEM) {
		dwcp_chunk_drop_output(ctx, idx, out);
		return DWCP_BUF_ENOMEM;
	}
	if (n < 0 || (size_t)n >= c->body_len) {
		/* Incompressible (or no room): the chunk travels as it is. */
		dwcp_chunk_drop_output(ctx, idx, out);
		return DWCP_BUF_OK;
	}
	oc->codec = (uint8_t)codec;
	oc->inner_len = c->body_len;
	oc->body_len = (uint32_t)n;
	dwcp_chunk_end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

void dwcp_chunk_nonce_next(struct dwcp_chunk_nonce *n, uint8_t nonce[DWCP_AEAD_NONCE_LEN])
{
	if (n->counter == UINT32_MAX || !n->salted) {
		/* New random half before the counter could repeat. */
		if (getrandom(n->salt, sizeof(n->salt), 0) != (ssize_t)sizeof(n->salt)) {
			/* Never the old salt again (its counters are spent):
			 * the clock and the pid differ from any earlier salt's. */
			uint64_t v = dwcp_now_ns() ^ ((uint64_t)getpid() << 48);

			DWCP_WARN("getrandom failed; nonce salt from the clock");
			memcpy(n->salt, &v, sizeof(n->salt));
		}
		n->counter = 0;
		n->salted = 1;
	}
	memcpy(nonce, n->salt, sizeof(n->salt));
	n->counter++;
	memcpy(nonce + sizeof(n->salt), &n->counter, sizeof(n->counter));
}

static int engine_seal(struct dwcp_svc_ctx *ctx, struct dwcp_chunk_engine *st, uint32_t idx,
	      struct dwcp_buf_hdr *h, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx), *oc, aad;

	if (!st->key)
		return DWCP_BUF_ENOKEY;
	if (dwcp_chunk_checked(ctx, h, c) || c->flags & DWCP_CHUNK_F_SEALED)
		return DWCP_BUF_EBADCHUNK;
	if (dwcp_chunk_begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	oc->flags |= DWCP_CHUNK_F_SEALED;
	oc->crc = 0;
	dwcp_chunk_nonce_next(&st->nonce, oc->nonce);
	memset(oc->tag, 0, sizeof(oc->tag));
	dwcp_chunk_aad(oc, &aad);
	if (dwcp_aead_seal(st->key, oc->nonce, &aad, sizeof(aad), dwcp_chunk_body(c), c->body_len,
			   dwcp_chunk_body(oc), oc->tag)) {
		dwcp_chunk_drop_output(ctx, idx, out);
		return DWCP_BUF_EAUTH;
	}
	dwcp_chunk_end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

static int engine_open(struct dwcp_svc_ctx *ctx, struct dwcp_chunk_engine *st, uint32_t idx,
	      struct dwcp_buf_hdr *h, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx), *oc, aad;

	if (!st->key)
		return DWCP_BUF_ENOKEY;
	if (dwcp_chunk_checked(ctx, h, c))
		return DWCP_BUF_EBADCHUNK;
	/* A keyed receiver opens every chunk: an unsealed one did not come
	 * from a holder of the key. */
	if (!(c->flags & DWCP_CHUNK_F_SEALED))
		return DWCP_BUF_EAUTH;
	if (dwcp_chunk_begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	dwcp_chunk_aad(c, &aad);
	if (dwcp_aead_open(st->key, c->nonce, &aad, sizeof(aad), dwcp_chunk_body(c), c->body_len,
			   c->tag, dwcp_chunk_body(oc))) {
		dwcp_chunk_drop_output(ctx, idx, out);
		return DWCP_BUF_EAUTH;
	}
	oc->flags &= (uint8_t)~DWCP_CHUNK_F_SEALED;
	memset(oc->nonce, 0, sizeof(oc->nonce));
	memset(oc->tag, 0, sizeof(oc->tag));
	oc->crc = 0;
	dwcp_chunk_end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

static int engine_decompress(struct dwcp_svc_ctx *ctx, struct dwcp_chunk_engine *st, uint32_t idx,
		    struct dwcp_buf_hdr *h, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx), *oc;
	ssize_t n;

	if (dwcp_chunk_checked(ctx, h, c) || c->flags & DWCP_CHUNK_F_SEALED)
		return DWCP_BUF_EBADCHUNK;
	if (c->codec == DWCP_CHUNK_CODEC_NONE)
		return DWCP_BUF_OK;
	if (dwcp_chunk_begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	n = dwcp_decompress(st->cc, (enum dwcp_codec)c->codec, dwcp_chunk_body(c), c->body_len,
			    dwcp_chunk_body(oc), c->inner_len);
	if (n != (ssize_t)c->inner_len) {
		dwcp_chunk_drop_output(ctx, idx, out);
		return DWCP_BUF_EBADCHUNK;
	}
	oc->codec = DWCP_CHUNK_CODEC_NONE;
	oc->body_len = c->inner_len;
	oc->crc = 0;
	dwcp_chunk_end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

static int engine_checksum(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h)
{
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx);

	if (dwcp_chunk_checked(ctx, h, c))
		return DWCP_BUF_EBADCHUNK;
	c->crc = dwcp_chunk_crc(c);
	return DWCP_BUF_OK;
}

static int engine_verify(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h)
{
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx);

	if (dwcp_chunk_checked(ctx, h, c))
		return DWCP_BUF_EBADCHUNK;
	return c->crc == dwcp_chunk_crc(c) ? DWCP_BUF_OK : DWCP_BUF_EBADCRC;
}

static int load_key(struct dwcp_chunk_engine *st, const char *path, const char *who, char *reason,
		    size_t n)
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
	DWCP_INFO("%s: AES-256-GCM key from %s (%s)", who, path, dwcp_aead_key_describe(st->key));
	return 0;
}

int dwcp_chunk_engine_init(struct dwcp_chunk_engine *st, const struct dwcp_ctl_block *ctl,
			   const char *who, char *reason, size_t n)
{
	memset(st, 0, sizeof(*st));
	st->cc = dwcp_compress_ctx_create();
	if (!st->cc)
		return -ENOMEM;
	st->zstd_level = ctl->zstd_level ? ctl->zstd_level : 1;
	st->lz4_level = ctl->lz4_level ? ctl->lz4_level : DWCP_LZ4_LEVEL_FAST;
	/* A bad key file is an operator's fix, not a crash loop: the caller
	 * reports STANDBY with the reason, and SEAL/OPEN steps fail ENOKEY. */
	if (ctl->key_file[0] && load_key(st, ctl->key_file, who, reason, n))
		return 1;
	return 0;
}

void dwcp_chunk_engine_fini(struct dwcp_chunk_engine *st)
{
	dwcp_aead_key_destroy(st->key);
	dwcp_compress_ctx_destroy(st->cc);
	st->key = NULL;
	st->cc = NULL;
}

int dwcp_chunk_engine_step(struct dwcp_svc_ctx *ctx, struct dwcp_chunk_engine *st, uint32_t idx,
			   struct dwcp_buf_hdr *h, unsigned op, uint32_t *out)
{
	switch (op) {
	case DWCP_OP_CRC32C:
		h->result = dwcp_crc32c(0, dwcp_shm_data(&ctx->at.shm, idx), h->len);
		return DWCP_BUF_OK;
	case DWCP_OP_LZ4:
		return engine_compress(ctx, st, idx, h, DWCP_CODEC_LZ4, out);
	case DWCP_OP_ZSTD:
		return engine_compress(ctx, st, idx, h, DWCP_CODEC_ZSTD, out);
	case DWCP_OP_SEAL:
		return engine_seal(ctx, st, idx, h, out);
	case DWCP_OP_CHECKSUM:
		return engine_checksum(ctx, idx, h);
	case DWCP_OP_VERIFY:
		return engine_verify(ctx, idx, h);
	case DWCP_OP_OPEN:
		return engine_open(ctx, st, idx, h, out);
	case DWCP_OP_DECOMPRESS:
		return engine_decompress(ctx, st, idx, h, out);
	case DWCP_OP_UNLZ4:
		/* Named only for LZ4 chunks; another codec here is a chunk
		 * whose header changed after the program was made. */
		if (dwcp_chunk_at(ctx, idx)->codec != DWCP_CODEC_LZ4)
			return DWCP_BUF_EBADCHUNK;
		return engine_decompress(ctx, st, idx, h, out);
	default:
		return DWCP_BUF_EBADOP;
	}
}
