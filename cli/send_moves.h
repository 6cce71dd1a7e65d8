/* `dwcp send`'s search for moved pages: content of the previous version
 * that now sits at another offset, usually not page-aligned there.
 *
 * A disk image changes that way whenever a file is rewritten: the package
 * manager writes the new version into free blocks and renames it over the
 * old one, and a line added in front shifts all of the old bytes. The
 * page index (common/fpindex.h) finds only pages at their old offsets;
 * this finds the others as rsync does: a rolling weak checksum
 * (common/ops/weaksum.h) over the changed pages at every byte offset,
 * looked up among the previous version's pages (their keys are in its
 * index), each hit confirmed with the page's XXH3-128. A run of M
 * consecutive old pages found at new offsets o, o + 4096, ... makes every
 * new page inside [o, o + 4096 M) that version's bytes at a known offset:
 * the page travels as a MOVED record (common/ops/hde.h version 3), 9 bytes
 * instead of its compressed data.
 *
 * A changed page equal to one an earlier chunk of the same send carried
 * (a file-system journal holds copies of the metadata blocks it logs) is
 * moved too, from the receiver's output: found by the page hash the
 * sender computes anyway, in a table of this version's changed pages (24
 * bytes a page, at most 48 MiB).
 *
 * The receiver reads a moved page from its previous copy when it writes
 * the chunk. With `dwcp recv --inplace` that copy is the file being
 * rewritten, in chunk order, so a source page must still hold the previous
 * version then: it is one at or after the chunk's first page (nothing
 * there has been written yet), or a page found unchanged (kept pages are
 * never written). Only such sources are used, so both receive modes work
 * with the same chunks.
 *
 * Cost: the table of the previous version's keys (8 bytes a slot, two
 * slots a page, built on the first changed page, at most 2^24 slots or
 * 128 MiB: above 8 Mi pages, 32 GiB, one page in N is entered, and a run
 * is still found from its first entered page on),
 * and about a nanosecond per changed byte rolled. A stream whose changes
 * do not match (after 64 MiB rolled, less than 1/16 found) is rolled only
 * in one chunk out of 16 from then on.
 *
 * Concurrency: one per `dwcp send`, used by its one thread.
 */
#ifndef DWCP_CLI_SEND_MOVES_H
#define DWCP_CLI_SEND_MOVES_H

#include <stdint.h>

#include "common/digest.h"
#include "common/fpindex.h"

struct send_moves;

/**
 * @param old       the previous version's index (kept open by the caller
 *                  while this lives)
 * @param new_size  the size of the file being sent
 * @return the state; NULL when @p old has no weak keys (an index written
 *         before they existed: nothing is searched) or on ENOMEM.
 */
struct send_moves *send_moves_create(const struct dwcp_fpindex *old, uint64_t new_size);

void send_moves_destroy(struct send_moves *m);

/**
 * The chunk of @p n pages from page @p first, with page hashes @p hashes,
 * was read for the first time (after send_moves_find on it) and @p kept
 * are the pages found unchanged: they may be sources of later chunks'
 * moved pages, and so may its other non-zero pages as pages of this
 * version.
 */
void send_moves_note(struct send_moves *m, uint64_t first, unsigned n, uint64_t kept,
		     const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH]);

/**
 * The pages of a chunk of @p len bytes (page hashes @p hashes) worth a
 * search: neither in @p kept nor all zeros (told by their hash: HDE sends
 * zero pages as 1-byte records anyway).
 */
uint64_t send_moves_candidates(const struct send_moves *m, uint32_t len, uint64_t kept,
			       const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH]);

/**
 * Search the chunk of @p len bytes at @p data (file offset @p offset,
 * page-aligned, at most 64 pages, page hashes @p hashes) for moved pages
 * among @p candidates (whole pages that are neither kept nor zero).
 * @p before and @p after: the file's 4096 bytes before and after the
 * chunk (zero-padded past its end), or NULL; with them, runs that cross
 * the chunk's edges move its first and last pages too.
 * @return the mask of the moved pages; @p src[i] receives page i's source
 *         (common/ops/hde.h: an offset in the previous version, or with
 *         DWCP_HDE_SRC_NEW one of an earlier page of this version).
 */
uint64_t send_moves_find(struct send_moves *m, const uint8_t *data, uint32_t len, uint64_t offset,
			 const uint8_t *before, const uint8_t *after, uint64_t candidates,
			 const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH], uint64_t src[64]);

/** Bytes rolled so far (for the summary and tests). */
uint64_t send_moves_rolled(const struct send_moves *m);

#endif
