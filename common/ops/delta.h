/* HDE block delta: zero-block detection, XOR of buffers, and the XOR delta
 * codec that carries a changed block as "what differs from the copy the
 * receiver already has" (DESIGN §5; compare QEMU's XBZRLE).
 *
 * An unchanged block costs a few bytes, a block with a few changed bytes
 * costs about those bytes, and a rewritten block costs its length plus a
 * few bytes (the caller then compresses the delta, or sends the block raw
 * when that is smaller). The byte scans are the hot part, so they come in
 * scalar, SSE4.2 and AVX2 code paths; which one runs is a value the caller
 * keeps (struct dwcp_delta_impl, filled once from the CPU features).
 *
 * Wire format (version 1). It travels between hosts: a decoder rejects
 * every stream that is not exactly this.
 *
 *     byte 0       version, DWCP_DELTA_VERSION
 *     varint       N, the block length; must equal the length the decoder
 *                  is given
 *     records, one after another, until they cover exactly N bytes; the
 *     stream ends exactly after the last one:
 *       varint     Z, bytes equal in old and new (XOR zero)
 *       varint     L, bytes that follow Z and differ
 *       L bytes    old XOR new for those L bytes
 *
 * varint is unsigned LEB128 (7 bits a byte, low group first, high bit set
 * on every byte but the last), at most 10 bytes, minimal (no trailing 0x00
 * group). A record must cover at least one byte (Z + L >= 1). N == 0 is a
 * stream of two bytes and no records. The encoder ends a changed run only
 * at DWCP_DELTA_MIN_GAP equal bytes (or at the end of the block), because a
 * shorter gap costs more as a record than as literal bytes; decoders do not
 * rely on that.
 *
 * Concurrency: every function is reentrant and allocation-free; an impl
 * struct is read-only after it is filled and may be shared by threads.
 */
#ifndef DWCP_COMMON_OPS_DELTA_H
#define DWCP_COMMON_OPS_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cpu.h"

#define DWCP_DELTA_VERSION 1u
/** Equal bytes that end a changed run in the encoder's output. */
#define DWCP_DELTA_MIN_GAP 4u
/**
 * Output capacity with which dwcp_delta_encode() never fails: the block
 * plus the version byte, the length, one record's two varints, and 7 bytes
 * for each changed run longer than 2 MiB (a longer varint).
 */
#define DWCP_DELTA_BOUND(len) ((size_t)(len) + 32u + 7u * ((size_t)(len) >> 21))

/** Code paths, for tests and benches; dwcp_delta_select() picks the best. */
enum dwcp_delta_variant {
	DWCP_DELTA_SCALAR,   /* 8-byte words, any CPU */
	DWCP_DELTA_SSE42,
	DWCP_DELTA_AVX2,
};

struct dwcp_delta_impl {
	/** True when all @p len bytes of @p buf are zero (true for len 0). */
	bool (*is_zero)(const void *buf, size_t len);
	/**
	 * dst[i] = a[i] ^ b[i] for i < @p len. @p dst may be @p a or @p b
	 * itself, but must not overlap either in any other way.
	 */
	void (*xor_buf)(void *dst, const void *a, const void *b, size_t len);
	/** How many leading bytes @p a and @p b have equal (the zero-run scan). */
	size_t (*same_len)(const void *a, const void *b, size_t len);
	const char *name;   /* "scalar", "sse4.2", "avx2" */
};

/** Fill @p impl with the fastest code path @p cpu can run. */
void dwcp_delta_select(struct dwcp_delta_impl *impl, const struct dwcp_cpu_features *cpu);

/**
 * Fill @p impl with one given code path.
 * @return 0, -ENOTSUP when @p cpu lacks the instructions (impl untouched),
 *         -EINVAL for an unknown variant.
 */
int dwcp_delta_select_variant(struct dwcp_delta_impl *impl, enum dwcp_delta_variant v,
			      const struct dwcp_cpu_features *cpu);

/**
 * Encode @p new_blk as a delta against @p old_blk, both @p len bytes.
 * @param out  receives the stream; must not overlap the blocks
 * @param cap  capacity of @p out; DWCP_DELTA_BOUND(len) always suffices
 * @return the stream length, or -ENOSPC when it does not fit in @p cap
 *         (the contents of @p out are then unspecified)
 */
ssize_t dwcp_delta_encode(const struct dwcp_delta_impl *impl, const void *old_blk,
			  const void *new_blk, size_t len, void *out, size_t cap);

/**
 * Rebuild the new block from @p old_blk (@p len bytes) and a delta stream.
 * The whole stream is checked before anything is written, so on error
 * @p out is untouched; never reads or writes outside the given buffers.
 * @param out  receives @p len bytes; may be @p old_blk itself (update in
 *             place) but must not overlap it or @p delta in any other way
 * @return 0, or -EBADMSG when the stream is corrupt or truncated, is of
 *         another version, or describes a block of a length other than @p len
 */
int dwcp_delta_decode(const struct dwcp_delta_impl *impl, const void *old_blk, size_t len,
		      const void *delta, size_t delta_len, void *out);

#endif
