/* HDE chunk encoding: how a chunk's data travels as "what differs from the
 * version the receiver already has" (DESIGN §5). The DWCP_OP_DELTA step
 * (svc-mem) turns a chunk body of raw data into an HDE body and sets
 * DWCP_CHUNK_F_DELTA; DWCP_OP_UNDELTA turns it back. The previous versions
 * (the bases) live in each node's delta cache (ipc/dcache.h), one per
 * 4 KiB page; this file is only the codec, pure functions over memory.
 *
 * Wire format (version 1). It travels between hosts, so a decoder rejects
 * every body that is not exactly this. A chunk of orig_len bytes
 * (0..DWCP_HDE_MAX_DATA) is P = ceil(orig_len / 4096) pages; page i is
 * bytes [4096 i, min(4096 (i + 1), orig_len)), so only the last may be
 * short. The body is
 *
 *     byte 0      version, DWCP_HDE_VERSION
 *     P records, one per page in page order; the body ends exactly after
 *     the last. A record is a kind byte and its fields:
 *       1 ZERO    -                      the page is all zero bytes
 *       2 SAME    u64 base               the page is the receiver's cached
 *                                        version whose hash is base
 *       3 XOR     u64 base, u16 dlen,    the page is that version XOR the
 *                 dlen bytes             dwcp_delta stream (common/ops/
 *                                        delta.h, block length = the page's
 *                                        length); 1 <= dlen < page length
 *       4 RAW     page-length bytes      the page itself
 *
 * Version 2 (a chunk flagged DWCP_CHUNK_F_KEPT, ipc/chunk.h) is the same
 * with one more record kind and a trailer:
 *
 *     byte 0      version, DWCP_HDE_VERSION_KEPT
 *     P records as above, plus
 *       5 KEPT    -                      the page is the receiver's previous
 *                                        copy of the stream at this offset
 *                                        (its file, not its delta cache)
 *     the trailer, DWCP_HDE_KEPT_TRAILER bytes: u64 digest, u64 mask
 *
 * mask has bit i set exactly for the KEPT records (none beyond P); digest
 * (never 0) is the whole-file digest (common/digest.h)
 * of the version whose pages are kept: the receiver uses its copy only
 * when it verified that very digest when it wrote it. The sender found
 * those pages unchanged in its page index (common/fpindex.h), so no cache
 * entry is involved. The decoder writes zeros for a KEPT page; the
 * receiving sink fills it from its copy. The same trailer follows the raw
 * data of a kept chunk before DELTA and after UNDELTA (ipc/chunk.h). A
 * version 2 trailer has at least one mask bit.
 *
 * Version 3 (a chunk flagged DWCP_CHUNK_F_KEPT | DWCP_CHUNK_F_MOVED) adds
 * pages that moved: content the previous version had at another offset,
 * usually not page-aligned there (a file rewritten with a line in front
 * lands in new blocks, its old bytes shifted; the sender found them with
 * a rolling checksum, cli/send_moves.h).
 *
 *     byte 0      version, DWCP_HDE_VERSION_KEPT_MOVED
 *     P records as in version 2, plus
 *       6 MOVED   -                      the page is the receiver's previous
 *                                        copy's 4096 bytes at byte offset
 *                                        src (the trailer's); whole pages only
 *     the trailer, 24 + 8 n bytes: u64 src x n (one per moved page, in page
 *                 order), u64 moved, u64 digest, u64 mask
 *
 * moved has bit i set exactly for the MOVED records (n bits, at least one,
 * none in common with mask); the trailer is read from its end (its last 16
 * bytes are version 2's). The decoder writes zeros for a MOVED page; the
 * sink reads it from its copy, which the digest vouches for as for KEPT,
 * and refuses a src whose page would end beyond that copy. A src with bit
 * 63 set (DWCP_HDE_SRC_NEW) names instead the page-aligned offset of a page
 * of the version being sent that an earlier chunk carried (the same page
 * again, as a journal holds copies of metadata blocks): the sink reads it
 * from what it has written so far, and refuses one at or beyond that.
 *
 * Integers are little-endian. base is the XXH3-64 (seed 0) of the base
 * page's bytes (its real length, no padding), so a receiver whose cached
 * version differs, or that has none, sees it and fails the chunk
 * (-ENODATA here, DWCP_BUF_EBASE on the buffer: "resend this chunk raw")
 * rather than rebuilding a wrong page. A SAME or XOR base must have the
 * page's length.
 *
 * The chunk header's base_hash is the XXH3-64 (seed 0) of the u64 bases of
 * the SAME and XOR records, in page order, as little-endian bytes; 0 when
 * no record has a base. The decoder checks it against the records.
 *
 * The encoder picks, per page: ZERO when the page is all zeros; SAME when
 * it equals its base and is longer than 8 bytes (a SAME record is 9, so a
 * shorter last page is cheaper RAW); XOR when the delta record is smaller
 * than a RAW one; RAW otherwise. So no record is longer than RAW, and the
 * body is at most DWCP_HDE_BOUND(orig_len) bytes. Decoders accept any
 * valid choice (a SAME for a short page, too).
 *
 * Concurrency: every function is reentrant and allocation-free; a codec
 * struct is read-only after dwcp_hde_codec_init and may be shared.
 */
#ifndef DWCP_IPC_HDE_H
#define DWCP_IPC_HDE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cpu.h"
#include "common/ops/delta.h"
#include "common/ops/xxh3.h"

#define DWCP_HDE_VERSION   1u
#define DWCP_HDE_VERSION_KEPT 2u
#define DWCP_HDE_VERSION_KEPT_MOVED 3u
#define DWCP_HDE_PAGE      4096u
#define DWCP_HDE_MAX_PAGES 64u
#define DWCP_HDE_MAX_DATA  (DWCP_HDE_PAGE * DWCP_HDE_MAX_PAGES)

/* Record kinds (the first byte of a record). */
#define DWCP_HDE_ZERO 1u
#define DWCP_HDE_SAME 2u
#define DWCP_HDE_XOR  3u
#define DWCP_HDE_RAW  4u
#define DWCP_HDE_KEPT 5u
#define DWCP_HDE_MOVED 6u

/** A MOVED source in the version being sent (see above), not the previous one. */
#define DWCP_HDE_SRC_NEW (1ull << 63)

/* Fixed bytes of a record, before its variable part. */
#define DWCP_HDE_SAME_LEN 9u     /* kind + base */
#define DWCP_HDE_XOR_HDR  11u    /* kind + base + dlen */

/** Body bytes that always suffice for @p orig_len bytes of data. */
#define DWCP_HDE_BOUND(orig_len) \
	(1u + ((uint32_t)(orig_len) + DWCP_HDE_PAGE - 1) / DWCP_HDE_PAGE + (uint32_t)(orig_len))

/* A kept chunk's trailer: u64 digest, u64 mask; a moved chunk's adds a
 * u64 count and up to 64 u64 sources. The chunk format (ipc/chunk.h)
 * bounds its bodies with these. */
#define DWCP_HDE_KEPT_TRAILER 16u
_Static_assert(DWCP_HDE_MAX_PAGES == 64 && DWCP_HDE_MAX_DATA == 64u * 4096u,
	       "a kept mask is 64 bits; the chunk format checks kept chunks against 64 pages");

#define DWCP_HDE_MOVED_TRAILER_MAX (DWCP_HDE_KEPT_TRAILER + 8u + 64u * 8u)

/** Body bytes that always suffice for a kept chunk (version 2 or 3). */
#define DWCP_HDE_BOUND_KEPT(orig_len) (DWCP_HDE_BOUND(orig_len) + DWCP_HDE_MOVED_TRAILER_MAX)

/** What a kept chunk's trailer says. */
struct dwcp_hde_kept {
	uint64_t mask;             /* bit i: page i is kept */
	uint64_t digest;           /* whole-file digest of the version kept from */
	uint64_t moved;            /* bit i: page i is that version's 4096 bytes at src[i] */
	uint64_t src[DWCP_HDE_MAX_PAGES];
};

/** The trailer's length: DWCP_HDE_KEPT_TRAILER, or more with moved pages. */
size_t dwcp_hde_kept_len(const struct dwcp_hde_kept *k);

/** Write the trailer of @p k at @p p (dwcp_hde_kept_len(k) bytes). */
void dwcp_hde_kept_put(uint8_t *p, const struct dwcp_hde_kept *k);

/**
 * Read and check the trailer that ends at @p p + @p len, for a chunk of
 * @p n_pages pages; @p moved: the chunk is MOVED (version 3). Checks:
 * digest not 0, no mask bit beyond the pages, mask and moved disjoint,
 * moved not 0 exactly when @p moved, some bit in either, the trailer
 * within @p len. @p tlen receives the trailer's length.
 * @return 0 or -EBADMSG.
 */
int dwcp_hde_kept_get(const uint8_t *p, size_t len, bool moved, unsigned n_pages,
		      struct dwcp_hde_kept *k, size_t *tlen);

/** Pages of a chunk of @p len bytes. */
static inline unsigned dwcp_hde_pages(uint32_t len)
{
	return (len + DWCP_HDE_PAGE - 1) / DWCP_HDE_PAGE;
}

/** Length of page @p i of a chunk of @p len bytes. */
static inline uint32_t dwcp_hde_page_len(uint32_t len, unsigned i)
{
	uint32_t off = i * DWCP_HDE_PAGE;

	return len - off < DWCP_HDE_PAGE ? len - off : DWCP_HDE_PAGE;
}

/** The scan and hash code paths the codec uses (chosen once). */
struct dwcp_hde_codec {
	struct dwcp_delta_impl delta;
	struct dwcp_xxh3_impl xxh3;
};

/** Fill @p x with the fastest code paths @p cpu can run. */
void dwcp_hde_codec_init(struct dwcp_hde_codec *x, const struct dwcp_cpu_features *cpu);

/** A page's previous version. data NULL: there is none. */
struct dwcp_hde_base {
	const uint8_t *data;
	uint32_t len;
	uint64_t hash;             /* XXH3-64 of the len bytes; the caller vouches for it */
};

/** What the encoder chose, per page. */
struct dwcp_hde_summary {
	unsigned n_pages;
	uint8_t kind[DWCP_HDE_MAX_PAGES];
	uint64_t base_hash;        /* the chunk header's base_hash */
};

/** XXH3-64 of each page of @p data (@p len bytes) into @p hashes. */
void dwcp_hde_page_hashes(const struct dwcp_hde_codec *x, const void *data, uint32_t len,
			  uint64_t hashes[DWCP_HDE_MAX_PAGES]);

/**
 * Encode @p len bytes of @p data as an HDE body.
 * @param bases  one per page (dwcp_hde_pages(len)), or NULL for none; a
 *               base whose length differs from its page's is not used
 * @param out    receives the body; must not overlap @p data or the bases
 * @param cap    capacity of @p out; DWCP_HDE_BOUND(len) always suffices
 * @param sum    receives the kinds and the base_hash (may be NULL)
 * @return the body length; -ENOSPC when it does not fit in @p cap (@p out
 *         then unspecified); -EINVAL when @p len > DWCP_HDE_MAX_DATA
 */
ssize_t dwcp_hde_encode(const struct dwcp_hde_codec *x, const void *data, uint32_t len,
			const struct dwcp_hde_base *bases, void *out, size_t cap,
			struct dwcp_hde_summary *sum);

/**
 * As dwcp_hde_encode, for a kept chunk: the pages in @p kept's mask get
 * KEPT records and those in its moved mask MOVED records (no base
 * needed), the others the usual choice, and the body is version 2 (3 with
 * moved pages) with @p kept's trailer. @p kept NULL or both masks 0: as
 * dwcp_hde_encode. DWCP_HDE_BOUND_KEPT(len) always suffices.
 * @return as dwcp_hde_encode; -EINVAL also for masks beyond the pages,
 *         overlapping, or a moved page shorter than 4096 bytes.
 */
ssize_t dwcp_hde_encode_kept(const struct dwcp_hde_codec *x, const void *data, uint32_t len,
			     const struct dwcp_hde_base *bases, const struct dwcp_hde_kept *kept,
			     void *out, size_t cap, struct dwcp_hde_summary *sum);

/** One record of a parsed body; pointers point into the body. */
struct dwcp_hde_rec {
	uint8_t kind;
	uint32_t page_len;
	uint64_t base;             /* SAME, XOR */
	const uint8_t *payload;    /* XOR: the delta stream; RAW: the page */
	uint32_t payload_len;
};

/**
 * Check a whole body for @p orig_len bytes of data and split it into
 * records: version, every kind, every length, nothing after the last
 * (but, in version 2, the trailer, checked too: KEPT records exactly
 * where its mask says). Delta streams are checked when applied.
 * @return the number of records (pages), or -EBADMSG.
 */
int dwcp_hde_parse(const void *body, size_t body_len, uint32_t orig_len,
		   struct dwcp_hde_rec recs[DWCP_HDE_MAX_PAGES]);

/**
 * The trailer of a body dwcp_hde_parse accepted: 1 and @p k filled for
 * version 2 or 3, 0 for version 1.
 */
int dwcp_hde_kept_of(const void *body, size_t body_len, unsigned n_pages, struct dwcp_hde_kept *k);

/** The base_hash (see above) of @p n parsed records. */
uint64_t dwcp_hde_base_hash(const struct dwcp_hde_codec *x, const struct dwcp_hde_rec *recs,
			    unsigned n);

/**
 * Rebuild one page (r->page_len bytes) into @p out.
 * @param base  its previous version, NULL or data NULL when none; used
 *              only by SAME and XOR, and only when its hash and length
 *              are the record's
 * @param out   must not overlap the base or the body
 * A KEPT or MOVED record writes zeros (the sink fills the page from its copy).
 * @return 0; -ENODATA when the record needs a base and @p base is not it;
 *         -EBADMSG when the delta stream is corrupt (out untouched)
 */
int dwcp_hde_apply(const struct dwcp_hde_codec *x, const struct dwcp_hde_rec *r,
		   const struct dwcp_hde_base *base, void *out);

/**
 * Decode a whole body: parse, check @p base_hash (the chunk header's),
 * check every needed base is given, apply every record.
 * @param bases  one per page, or NULL, as for the encoder
 * @param out    receives @p orig_len bytes
 * @return 0; -EBADMSG for a corrupt body or a base_hash that does not
 *         match it; -ENODATA when a base is missing or differs (nothing
 *         written then); on -EBADMSG from a delta stream, @p out is
 *         partly written
 */
int dwcp_hde_decode(const struct dwcp_hde_codec *x, const void *body, size_t body_len,
		    uint32_t orig_len, uint64_t base_hash, const struct dwcp_hde_base *bases,
		    void *out);

#endif
