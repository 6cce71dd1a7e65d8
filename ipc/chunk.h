/* The chunk: how a piece of a stream looks inside a buffer and on the
 * wire. A chunk buffer's payload is an 96-byte header followed by the
 * body; each step of the sender's program rewrites the body and records
 * what it did in the header, the receiver's program undoes the steps in
 * reverse reading only the header. The header is also the wire format
 * (little-endian, fixed layout), so it is validated field by field
 * (dwcp_chunk_check) before a receiver trusts any length in it.
 *
 *   body after step | flags / codec           | lengths
 *   read from file  | -                       | body_len = orig_len
 *   read, some kept | KEPT (MOVED)            | body_len = orig_len + trailer
 *   delta (svc-mem) | DELTA, base_hash (KEPT) | body_len = delta stream
 *   compress        | codec = LZ4/ZSTD        | inner_len = before, body_len = after
 *   seal            | SEALED, nonce, tag      | (length-preserving)
 *   checksum        | crc over header + body  |
 *
 * AES-256-GCM's associated data is the whole header with crc and tag
 * zeroed, so stream, sequence, lengths, codec and delta base are
 * authenticated with the body.
 *
 * Nonces never repeat for a key: nonce = 8 random bytes drawn when an
 * svc-simd process starts (getrandom) || a 32-bit counter that process
 * increments for every seal, re-drawing the random part before the
 * counter wraps. This holds whatever the plaintext, so a chunk re-sealed
 * after a crash (possibly with another delta base) never reuses a nonce;
 * deriving the nonce from (stream, sequence) alone could not promise that.
 */
#ifndef DWCP_IPC_CHUNK_H
#define DWCP_IPC_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/ops/hde.h"

#define DWCP_CHUNK_MAGIC    0x4b434457u   /* "DWCK" */
#define DWCP_CHUNK_VERSION  1u
#define DWCP_CHUNK_HDR_LEN  96u

#define DWCP_CHUNK_F_DELTA  0x01u   /* body is an HDE delta against base_hash */
#define DWCP_CHUNK_F_SEALED 0x02u   /* body is AES-256-GCM ciphertext */
#define DWCP_CHUNK_F_LAST   0x04u   /* last chunk of the stream */
#define DWCP_CHUNK_F_ABORT  0x08u   /* the sender gave up transfer `xfer` (its file changed):
                                     * the receiver drops it and keeps its old output. No
                                     * data (orig_len 0); seq = the transfer's chunk count,
                                     * so it is never taken for a data chunk */
#define DWCP_CHUNK_F_KEPT   0x10u   /* some pages are kept: the receiver's previous copy
                                     * of the stream has them (common/ops/hde.h, version 2). With
                                     * DELTA: the body is an HDE version 2 body. Without
                                     * (before DELTA, after UNDELTA): body = the orig_len
                                     * bytes (kept pages zero after UNDELTA) followed by
                                     * the trailer: DWCP_CHUNK_KEPT_TRAILER bytes, more
                                     * with MOVED */
#define DWCP_CHUNK_F_NOBASE 0x20u   /* DELTA uses no delta-cache base: the redo of a chunk
                                     * whose base the receiver lacked (EBASE). Its kept
                                     * pages stay kept and only its changed pages travel,
                                     * whole, instead of the whole chunk */
#define DWCP_CHUNK_F_MOVED 0x40u    /* only with KEPT: some pages are the receiver's previous
                                     * copy at other offsets (common/ops/hde.h, version 3); the
                                     * trailer is longer, by the moved mask and one source
                                     * offset per moved page */
#define DWCP_CHUNK_F_NOCACHE 0x80u  /* neither node's delta cache remembers this chunk's
                                     * pages: the stream is larger than the sender's cache,
                                     * and the sender admits only a sample of its chunks
                                     * (ipc/dcache.h, dwcp_dcache_admits) rather than copy
                                     * every page into a cache that would evict most of
                                     * them unused */
#define DWCP_CHUNK_F_ALL    0xffu
#define DWCP_CHUNK_KEPT_TRAILER DWCP_HDE_KEPT_TRAILER /* u64 digest, u64 mask (common/ops/hde.h) */
#define DWCP_CHUNK_MOVED_TRAILER_MAX DWCP_HDE_MOVED_TRAILER_MAX

#define DWCP_CHUNK_CODEC_NONE 0u    /* else enum dwcp_codec (common/ops/compress.h) */

struct dwcp_chunk_hdr {
	uint32_t magic;
	uint8_t  version;
	uint8_t  flags;
	uint8_t  codec;
	uint8_t  hdr_len;         /* DWCP_CHUNK_HDR_LEN */
	uint64_t stream;
	uint64_t seq;
	uint32_t orig_len;        /* the chunk's data, once every step is undone */
	uint32_t body_len;        /* bytes after the header */
	uint64_t base_hash;       /* XXH3-64 of the delta base; 0 when not a delta */
	uint8_t  nonce[12];
	uint32_t crc;             /* CRC32C of the header (crc = 0) and the body */
	uint8_t  tag[16];
	uint32_t inner_len;       /* body length before compression */
	uint32_t xfer;            /* the transfer (one `dwcp send` run) this chunk belongs to:
	                           * a receiver refuses a stale run's resends */
	uint64_t offset;          /* byte offset of the chunk's data in the stream; HDE keys
	                           * pages by offset / 4096, so it is a multiple of 4096 */
	uint64_t digest;          /* LAST chunk: the whole stream's digest (common/digest.h), checked by
	                           * the receiver before the file appears; 0 = none; others: 0 */
};

_Static_assert(sizeof(struct dwcp_chunk_hdr) == DWCP_CHUNK_HDR_LEN, "chunk header is wire format");
_Static_assert(offsetof(struct dwcp_chunk_hdr, nonce) == 40, "nonce offset is wire format");
_Static_assert(offsetof(struct dwcp_chunk_hdr, crc) == 52, "crc offset is wire format");
_Static_assert(offsetof(struct dwcp_chunk_hdr, tag) == 56, "tag offset is wire format");

static inline uint8_t *dwcp_chunk_body(struct dwcp_chunk_hdr *c)
{
	return (uint8_t *)c + DWCP_CHUNK_HDR_LEN;
}

/** Start a chunk header for @p orig_len bytes of data (body = the data). */
void dwcp_chunk_init(struct dwcp_chunk_hdr *c, uint64_t stream, uint64_t seq, uint64_t offset,
		     uint32_t orig_len);

/**
 * Check a header before trusting it: magic, version, header length, known
 * flags and codec, reserved zero, and that the body fits in the @p len
 * bytes the buffer says it holds and every declared length in
 * @p max_data bytes; a chunk that is no delta must carry its data whole
 * (inner_len == orig_len, and body_len == orig_len without a codec).
 * @return 0 or -EBADMSG with the field named in @p err.
 */
int dwcp_chunk_check(const struct dwcp_chunk_hdr *c, uint32_t len, uint32_t max_data,
		     struct dwcp_err *err);

/** CRC32C of header (with crc taken as 0) and body. */
uint32_t dwcp_chunk_crc(const struct dwcp_chunk_hdr *c);

/** The AEAD associated data: the header with crc and tag zeroed. */
void dwcp_chunk_aad(const struct dwcp_chunk_hdr *c, struct dwcp_chunk_hdr *aad);

#endif
