/* The whole-stream digest that closes every transfer (as rsync's whole-file
 * checksum does): `dwcp send` computes it over the data it read, the LAST
 * chunk carries it (ipc/chunk.h: digest), and `dwcp recv` computes it over
 * the data it wrote and refuses to put a file at --out when the two differ.
 * Every chunk is checked on its own already (CRC32C, AES-GCM); this catches
 * what per-chunk checks cannot: a step that rebuilt the wrong data
 * consistently (a delta against the wrong base), or a stream put together
 * from the wrong pieces.
 *
 * Definition: XXH3-64 over the sequence of XXH3-128 hashes (16 bytes each,
 * little-endian low then high half) of the stream's 4 KiB pages in order,
 * the last page possibly short; 0 is never a digest (0 becomes 1), since
 * 0 in a chunk header means "none". Two levels, so that a receiver that
 * rebuilds unchanged pages from its previous copy can take their hashes
 * from a page index instead of reading them again.
 *
 * Concurrency: a struct dwcp_digest belongs to one thread.
 */
#ifndef DWCP_COMMON_DIGEST_H
#define DWCP_COMMON_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include <xxhash.h>

#include "common/ops/xxh3.h"

#define DWCP_DIGEST_PAGE 4096u
#define DWCP_DIGEST_PAGE_HASH 16u   /* XXH3-128, low half then high, little-endian */

struct dwcp_digest {
	XXH3_state_t *outer;
	uint64_t pages;
	struct dwcp_xxh3_impl xxh3;   /* the page hashes: this CPU's fastest XXH3 (AVX2: ~3x libxxhash's SSE2) */
};

/** @return 0 or -ENOMEM. */
int dwcp_digest_init(struct dwcp_digest *d);

void dwcp_digest_fini(struct dwcp_digest *d);

/**
 * Add @p len bytes of the stream, in order. Every call but the last must
 * be a multiple of DWCP_DIGEST_PAGE (chunks are).
 */
void dwcp_digest_update(struct dwcp_digest *d, const void *data, size_t len);

/**
 * As dwcp_digest_update, and also store each page's XXH3-128 (the 16
 * bytes the digest takes, DWCP_DIGEST_PAGE_HASH each) in @p hashes, one
 * per page of @p len bytes: a page index (common/fpindex.h) is then had
 * without hashing twice.
 */
void dwcp_digest_update_pages(struct dwcp_digest *d, const void *data, size_t len,
			      uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH]);

/**
 * Only the page hashes of @p len bytes (as dwcp_digest_update_pages
 * stores them), adding nothing to a digest: for data read again. @p x:
 * the XXH3 code to use (a digest's own, or dwcp_xxh3_select()'s).
 */
void dwcp_digest_page_hashes(const struct dwcp_xxh3_impl *x, const void *data, size_t len,
			     uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH]);

/**
 * Add @p n pages whose hashes dwcp_digest_page_hashes computed, in order:
 * the same digest as dwcp_digest_update over their data (`dwcp send`
 * hashes pages on its reader thread and folds them in order here).
 */
void dwcp_digest_add_hashes(struct dwcp_digest *d, const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH],
			    size_t n);

/** The digest of everything added (never 0). */
uint64_t dwcp_digest_final(const struct dwcp_digest *d);

/**
 * What stands for a whole-file digest when a send resumes an interrupted
 * one (cli/send_index.h, cli/recv.c): both ends know the interrupted
 * transfer's @p xfer (every chunk carries it) and @p stream id, so both
 * name the partial copy it left alike. Never 0; equal to a real digest
 * with probability 2^-64.
 */
static inline uint64_t dwcp_digest_resume_token(uint64_t stream, uint32_t xfer)
{
	const uint64_t in[3] = { 0x656d75736572ull /* "resume" */, stream, xfer };
	const uint64_t t = XXH3_64bits(in, sizeof(in));

	return t ? t : 1;
}

#endif
