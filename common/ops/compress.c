/* LZ4 (block) and zstd (frame) on one buffer through liblz4 and libzstd.
 *
 * Every call goes to the library's "external state" form (LZ4 extState,
 * ZSTD_*CCtx/DCtx) so the state is the context's, allocated once. LZ4
 * counts in int, so lengths are range-checked before the casts; zstd's
 * error codes are mapped to errnos so callers see one convention.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/ops/compress.h"

struct dwcp_compress_ctx {
	void *lz4;       /* LZ4_sizeofState() bytes */
	void *lz4hc;     /* LZ4_sizeofStateHC() bytes */
	ZSTD_CCtx *zc;
	ZSTD_DCtx *zd;
};

/* Stand-in for a NULL source of length 0: the libraries want a pointer. */
static const char empty_src[1];

struct dwcp_compress_ctx *dwcp_compress_ctx_create(void)
{
	struct dwcp_compress_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		goto nomem;
	c->lz4 = malloc((size_t)LZ4_sizeofState());
	c->lz4hc = malloc((size_t)LZ4_sizeofStateHC());
	c->zc = ZSTD_createCCtx();
	c->zd = ZSTD_createDCtx();
	if (c->lz4 && c->lz4hc && c->zc && c->zd)
		return c;
	dwcp_compress_ctx_destroy(c);
nomem:
	errno = ENOMEM;
	return NULL;
}

void dwcp_compress_ctx_destroy(struct dwcp_compress_ctx *ctx)
{
	if (!ctx)
		return;
	free(ctx->lz4);
	free(ctx->lz4hc);
	ZSTD_freeCCtx(ctx->zc);
	ZSTD_freeDCtx(ctx->zd);
	free(ctx);
}

size_t dwcp_compress_bound(enum dwcp_codec codec, size_t len)
{
	size_t b;

	switch (codec) {
	case DWCP_CODEC_LZ4:
		return len > LZ4_MAX_INPUT_SIZE ? 0 : (size_t)LZ4_compressBound((int)len);
	case DWCP_CODEC_ZSTD:
		b = ZSTD_compressBound(len);
		return ZSTD_isError(b) ? 0 : b;
	}
	return 0;
}

static int clamp_int(size_t n)
{
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* LZ4 returns 0 when the output does not fit; nothing else can fail once
 * the level and length are checked. */
static ssize_t lz4_compress(struct dwcp_compress_ctx *c, int level, const char *src, size_t len,
			    char *dst, size_t cap)
{
	int n;

	if (level < 1 || level > DWCP_LZ4_LEVEL_MAX)
		return -EINVAL;
	if (len > LZ4_MAX_INPUT_SIZE)
		return -E2BIG;
	if (level < LZ4HC_CLEVEL_MIN)
		n = LZ4_compress_fast_extState(c->lz4, src, dst, (int)len, clamp_int(cap), 1);
	else
		n = LZ4_compress_HC_extStateHC(c->lz4hc, src, dst, (int)len, clamp_int(cap), level);
	return n > 0 ? n : -ENOSPC;
}

static ssize_t zstd_compress(struct dwcp_compress_ctx *c, int level, const void *src,
			     size_t len, void *dst, size_t cap)
{
	size_t n;

	if (level < DWCP_ZSTD_LEVEL_MIN || level > DWCP_ZSTD_LEVEL_MAX)
		return -EINVAL;
	n = ZSTD_compressCCtx(c->zc, dst, cap, src, len, level);
	if (!ZSTD_isError(n))
		return (ssize_t)n;
	switch (ZSTD_getErrorCode(n)) {
	case ZSTD_error_dstSize_tooSmall:
		return -ENOSPC;
	case ZSTD_error_srcSize_wrong:
		return -E2BIG;
	case ZSTD_error_memory_allocation:
		return -ENOMEM;   /* the workspace could not grow */
	default:
		return -EIO;
	}
}

ssize_t dwcp_compress(struct dwcp_compress_ctx *ctx, enum dwcp_codec codec, int level,
		      const void *src, size_t len, void *dst, size_t cap)
{
	if (!src)
		src = empty_src;   /* only legal with len 0 */
	switch (codec) {
	case DWCP_CODEC_LZ4:
		return lz4_compress(ctx, level, src, len, dst, cap);
	case DWCP_CODEC_ZSTD:
		return zstd_compress(ctx, level, src, len, dst, cap);
	}
	return -EINVAL;
}

static ssize_t lz4_decompress(const char *src, size_t len, char *dst, size_t orig_len)
{
	int n;

	if (len > INT_MAX || orig_len > INT_MAX)
		return -EBADMSG;   /* no LZ4 block of ours is that large */
	n = LZ4_decompress_safe(src, dst, (int)len, (int)orig_len);
	return n >= 0 && (size_t)n == orig_len ? (ssize_t)n : -EBADMSG;
}

/* A frame that states its content size must state @p orig_len; one that
 * does not (a streaming producer) is checked by the size it expands to. */
static ssize_t zstd_decompress(struct dwcp_compress_ctx *c, const void *src, size_t len,
			       void *dst, size_t orig_len)
{
	unsigned long long fcs = ZSTD_getFrameContentSize(src, len);
	size_t n;

	if (fcs == ZSTD_CONTENTSIZE_ERROR)
		return -EBADMSG;
	if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != orig_len)
		return -EBADMSG;
	n = ZSTD_decompressDCtx(c->zd, dst, orig_len, src, len);
	return !ZSTD_isError(n) && n == orig_len ? (ssize_t)n : -EBADMSG;
}

ssize_t dwcp_decompress(struct dwcp_compress_ctx *ctx, enum dwcp_codec codec, const void *src,
			size_t len, void *dst, size_t orig_len)
{
	char none;

	if (!src)
		src = empty_src;
	if (!dst)
		dst = &none;   /* only legal with orig_len 0: nothing is written */
	switch (codec) {
	case DWCP_CODEC_LZ4:
		return lz4_decompress(src, len, dst, orig_len);
	case DWCP_CODEC_ZSTD:
		return zstd_decompress(ctx, src, len, dst, orig_len);
	}
	return -EINVAL;
}
