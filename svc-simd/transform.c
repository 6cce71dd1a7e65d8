/* svc-simd's chunk transforms: compress, seal, checksum and their
 * inverses, each on one chunk buffer (ipc/chunk.h).
 *
 * Compress, seal, open and decompress write a new buffer and leave their
 * input untouched (the runtime frees it once the output has left), so a
 * step killed half-way is simply redone on the intact input. Checksum
 * rewrites one header field of its input, which is idempotent. Every step
 * checks the header before it trusts a length: on the receiver these
 * bytes came off the network.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/ops/aead.h"
#include "common/ops/compress.h"
#include "ipc/chunk.h"
#include "ipc/shm.h"
#include "simd_internal.h"

static struct dwcp_chunk_hdr *chunk_at(struct dwcp_svc_ctx *ctx, uint32_t idx)
{
	return dwcp_shm_data(&ctx->at.shm, idx);
}

static uint32_t max_body(const struct dwcp_svc_ctx *ctx)
{
	return ctx->at.shm.buf_size - DWCP_CHUNK_HDR_LEN;
}

static int checked(struct dwcp_svc_ctx *ctx, const struct dwcp_buf_hdr *h,
		   const struct dwcp_chunk_hdr *c)
{
	struct dwcp_err err = { 0 };

	if (dwcp_chunk_check(c, h->len, max_body(ctx), &err) == 0)
		return 0;
	DWCP_WARN("svc-simd: stream %llu seq %llu: %s", (unsigned long long)h->stream,
		  (unsigned long long)h->seq, err.msg);
	return -1;
}

/* Take an output buffer and start it with the input's header. */
static int begin_output(struct dwcp_svc_ctx *ctx, const struct dwcp_chunk_hdr *c, uint32_t *out,
			struct dwcp_chunk_hdr **oc)
{
	if (dwcp_svc_alloc(ctx, out))
		return -EAGAIN;
	*oc = chunk_at(ctx, *out);
	**oc = *c;
	return 0;
}

static void end_output(struct dwcp_svc_ctx *ctx, uint32_t out, const struct dwcp_chunk_hdr *oc)
{
	dwcp_shm_hdr(&ctx->at.shm, out)->len = DWCP_CHUNK_HDR_LEN + oc->body_len;
}

static void drop_output(struct dwcp_svc_ctx *ctx, uint32_t out)
{
	dwcp_svc_free(ctx, out);
}

int simd_compress(struct dwcp_svc_ctx *ctx, struct simd_state *st, uint32_t idx,
		  struct dwcp_buf_hdr *h, enum dwcp_codec codec, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = chunk_at(ctx, idx), *oc;
	int level = codec == DWCP_CODEC_ZSTD ? (int)st->zstd_level : (int)st->lz4_level;
	ssize_t n;

	if (checked(ctx, h, c) || c->codec != DWCP_CHUNK_CODEC_NONE || c->flags & DWCP_CHUNK_F_SEALED)
		return DWCP_BUF_EBADCHUNK;
	if (begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	n = dwcp_compress(st->cc, codec, level, dwcp_chunk_body(c), c->body_len,
			  dwcp_chunk_body(oc), max_body(ctx));
	if (n == -ENOMEM) {
		drop_output(ctx, *out);
		*out = idx;
		return DWCP_BUF_ENOMEM;
	}
	if (n < 0 || (size_t)n >= c->body_len) {
		/* Incompressible (or no room): the chunk travels as it is. */
		drop_output(ctx, *out);
		*out = idx;
		return DWCP_BUF_OK;
	}
	oc->codec = (uint8_t)codec;
	oc->inner_len = c->body_len;
	oc->body_len = (uint32_t)n;
	end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

static void next_nonce(struct simd_state *st, uint8_t nonce[DWCP_AEAD_NONCE_LEN])
{
	if (st->counter == UINT32_MAX || !st->salted) {
		/* New random half before the counter could repeat. */
		if (getrandom(st->salt, sizeof(st->salt), 0) != (ssize_t)sizeof(st->salt))
			DWCP_WARN("svc-simd: getrandom failed; nonce salt from the clock");
		st->counter = 0;
		st->salted = 1;
	}
	memcpy(nonce, st->salt, sizeof(st->salt));
	st->counter++;
	memcpy(nonce + sizeof(st->salt), &st->counter, sizeof(st->counter));
}

int simd_seal(struct dwcp_svc_ctx *ctx, struct simd_state *st, uint32_t idx,
	      struct dwcp_buf_hdr *h, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = chunk_at(ctx, idx), *oc, aad;

	if (!st->key)
		return DWCP_BUF_ENOKEY;
	if (checked(ctx, h, c) || c->flags & DWCP_CHUNK_F_SEALED)
		return DWCP_BUF_EBADCHUNK;
	if (begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	oc->flags |= DWCP_CHUNK_F_SEALED;
	oc->crc = 0;
	next_nonce(st, oc->nonce);
	memset(oc->tag, 0, sizeof(oc->tag));
	dwcp_chunk_aad(oc, &aad);
	if (dwcp_aead_seal(st->key, oc->nonce, &aad, sizeof(aad), dwcp_chunk_body(c), c->body_len,
			   dwcp_chunk_body(oc), oc->tag)) {
		drop_output(ctx, *out);
		*out = idx;
		return DWCP_BUF_EAUTH;
	}
	end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

int simd_open(struct dwcp_svc_ctx *ctx, struct simd_state *st, uint32_t idx,
	      struct dwcp_buf_hdr *h, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = chunk_at(ctx, idx), *oc, aad;

	if (!st->key)
		return DWCP_BUF_ENOKEY;
	if (checked(ctx, h, c) || !(c->flags & DWCP_CHUNK_F_SEALED))
		return DWCP_BUF_EBADCHUNK;
	if (begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	dwcp_chunk_aad(c, &aad);
	if (dwcp_aead_open(st->key, c->nonce, &aad, sizeof(aad), dwcp_chunk_body(c), c->body_len,
			   c->tag, dwcp_chunk_body(oc))) {
		drop_output(ctx, *out);
		*out = idx;
		return DWCP_BUF_EAUTH;
	}
	oc->flags &= (uint8_t)~DWCP_CHUNK_F_SEALED;
	memset(oc->nonce, 0, sizeof(oc->nonce));
	memset(oc->tag, 0, sizeof(oc->tag));
	oc->crc = 0;
	end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

int simd_decompress(struct dwcp_svc_ctx *ctx, struct simd_state *st, uint32_t idx,
		    struct dwcp_buf_hdr *h, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = chunk_at(ctx, idx), *oc;
	ssize_t n;

	if (checked(ctx, h, c) || c->flags & DWCP_CHUNK_F_SEALED)
		return DWCP_BUF_EBADCHUNK;
	if (c->codec == DWCP_CHUNK_CODEC_NONE)
		return DWCP_BUF_OK;
	if (begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	n = dwcp_decompress(st->cc, (enum dwcp_codec)c->codec, dwcp_chunk_body(c), c->body_len,
			    dwcp_chunk_body(oc), c->inner_len);
	if (n != (ssize_t)c->inner_len) {
		drop_output(ctx, *out);
		*out = idx;
		return DWCP_BUF_EBADCHUNK;
	}
	oc->codec = DWCP_CHUNK_CODEC_NONE;
	oc->body_len = c->inner_len;
	oc->crc = 0;
	end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

int simd_checksum(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h)
{
	struct dwcp_chunk_hdr *c = chunk_at(ctx, idx);

	if (checked(ctx, h, c))
		return DWCP_BUF_EBADCHUNK;
	c->crc = dwcp_chunk_crc(c);
	return DWCP_BUF_OK;
}

int simd_verify(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h)
{
	struct dwcp_chunk_hdr *c = chunk_at(ctx, idx);

	if (checked(ctx, h, c))
		return DWCP_BUF_EBADCHUNK;
	return c->crc == dwcp_chunk_crc(c) ? DWCP_BUF_OK : DWCP_BUF_EBADCRC;
}
