/* LZ4 and zstd compression of one buffer (DESIGN §5, §6).
 *
 * Output is the reference formats, decodable by the reference libraries'
 * own simple calls: an LZ4 *block* (LZ4_decompress_safe) and a zstd
 * *frame* (ZSTD_decompress). A block carries neither its codec nor its
 * original length, so the chunk header on the wire carries both (codec id
 * below, original length beside it) and the receiver passes them back here;
 * decompression insists the data expands to exactly that length.
 *
 * All library state lives in a context created once per thread: LZ4's
 * fast and HC states and zstd's compression and decompression contexts,
 * so a call allocates nothing. (zstd sizes its workspace on the first call
 * at a level and keeps it; only a switch to a much larger level, or a long
 * run far below the size it grew to, makes it reallocate.)
 *
 * Concurrency: a context is used by one thread at a time; distinct
 * contexts are independent. Every function is reentrant.
 */
#ifndef DWCP_COMMON_OPS_COMPRESS_H
#define DWCP_COMMON_OPS_COMPRESS_H

#include <stddef.h>
#include <sys/types.h>

/** Codec ids as carried in the chunk header: values never change. */
enum dwcp_codec {
	DWCP_CODEC_LZ4 = 1,    /* LZ4 block format */
	DWCP_CODEC_ZSTD = 2,   /* zstd frame, with its content size */
};

/* LZ4 levels follow the lz4 command line: 1-2 the fast compressor, 3-12
 * LZ4 HC at that level. The output format is the same for all levels. */
#define DWCP_LZ4_LEVEL_FAST       1
#define DWCP_LZ4_LEVEL_HC_DEFAULT 9
#define DWCP_LZ4_LEVEL_MAX        12
#define DWCP_ZSTD_LEVEL_MIN       1
#define DWCP_ZSTD_LEVEL_MAX       19
/**
 * zstd's entropy coder writes a word at a time, so a zstd call needs a few
 * bytes of capacity beyond the size it finally returns (8 or 9 with zstd
 * 1.5.4, from measurement, not a documented zstd limit; LZ4 needs none).
 * Only a caller that sizes @p cap tightly sees it; with
 * dwcp_compress_bound() there is always room.
 */
#define DWCP_ZSTD_HEADROOM        16u

struct dwcp_compress_ctx;

/**
 * Create a context (all the library state one thread needs).
 * @return the context, or NULL with errno = ENOMEM.
 */
struct dwcp_compress_ctx *dwcp_compress_ctx_create(void);

/** Free @p ctx; NULL is allowed. */
void dwcp_compress_ctx_destroy(struct dwcp_compress_ctx *ctx);

/**
 * Output capacity that always suffices to compress @p len bytes.
 * @return the bound, or 0 for an unknown codec or a @p len too large.
 */
size_t dwcp_compress_bound(enum dwcp_codec codec, size_t len);

/**
 * Compress @p len bytes of @p src into @p dst.
 * @param level  LZ4: 1..12 (see above); zstd: 1..19
 * @param cap    capacity of @p dst; dwcp_compress_bound() always suffices
 * @return the compressed size, or
 *         -EINVAL   unknown codec or level out of range,
 *         -E2BIG    @p len above what the codec takes (LZ4: ~2 GiB),
 *         -ENOSPC   the output does not fit in @p cap,
 *         -ENOMEM   zstd could not grow its workspace (first use of a level),
 *         -EIO      any other library failure.
 */
ssize_t dwcp_compress(struct dwcp_compress_ctx *ctx, enum dwcp_codec codec, int level,
		      const void *src, size_t len, void *dst, size_t cap);

/**
 * Decompress @p len bytes of @p src into @p dst, which must come out at
 * exactly @p orig_len bytes (the length the chunk header declared).
 * Never reads or writes outside the given buffers.
 * @return @p orig_len, or
 *         -EINVAL   unknown codec,
 *         -EBADMSG  corrupt or truncated input, or input that does not
 *                   expand to exactly @p orig_len bytes (also a zstd frame
 *                   whose content size says otherwise).
 */
ssize_t dwcp_decompress(struct dwcp_compress_ctx *ctx, enum dwcp_codec codec, const void *src,
			size_t len, void *dst, size_t orig_len);

#endif
