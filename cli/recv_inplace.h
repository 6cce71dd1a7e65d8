/* `dwcp recv --inplace`: a new version written into the previous copy
 * itself, as rsync's --inplace does, trading the atomic rename for speed.
 *
 * Only the pages that travelled are written: changed and new pages with
 * pwrite, pages of zeros as holes punched (or zeros written where the
 * file system cannot punch; and runs of them shorter than 64 KiB written
 * with the pages around them while writes go direct, recv_fd.h), zero
 * pages beyond the old end not at all
 * (the final truncate extends the file with zeros). Kept pages (unchanged
 * since the version the receiver's record vouches for) are not touched:
 * the receive still reads them from the file for the whole-file digest,
 * but never writes them. At the end the file is truncated to the new
 * size; the caller syncs it once (recv_out_commit) and records it.
 *
 * Crash safety: before the first byte is changed the record is withdrawn
 * durably (recv_base_forget), so a receive killed at any instruction
 * leaves no record vouching for a half-written file as the previous
 * version: the next send finds no base. What does vouch for part of it
 * is a prefix record of what this transfer wrote (a failure's or a
 * checkpoint's, cli/recv_partial.h): the next receive in place resumes
 * from that, and the rest travels. The whole-file digest closes the transfer
 * as in the atomic path; a mismatch leaves a file that is no complete
 * version, which the caller reports loudly.
 *
 * Concurrency: one thread (the receive's); one struct per output.
 */
#ifndef DWCP_CLI_RECV_INPLACE_H
#define DWCP_CLI_RECV_INPLACE_H

#include <stdbool.h>
#include <stdint.h>

#include "recv_base.h"

struct recv_inplace {
	uint64_t size;             /* the file's size now (what lies beyond reads as zeros) */
	bool rewriting;            /* the record was withdrawn: the file is being changed */
	bool no_punch;             /* the file system cannot punch holes: zeros are written */
	bool fixed;                /* a block device: size is its size, never changed */
	uint64_t written_pages;    /* pages written (changed, new, or zeroed) */
};

/** Start writing into the output itself, @p size bytes long now. */
void recv_inplace_begin(struct recv_inplace *ip, uint64_t size);

/**
 * Write the pages of the chunk at @p offset (@p len bytes at @p data)
 * that are not in @p mask (the kept ones, left as they are) into @p w.
 * The first change withdraws @p b's record; each refreshes @p b's
 * identity (the receive's own writes are not "changed behind its back").
 * @p mask is opaque beyond "bit i: page i is kept"; @p zeros: the pages
 * of zeros (recv_zero_pages), punched as holes.
 * @return 0 or -errno (-errno of withdrawing the record: nothing written;
 *         -EFBIG: past the end of a block device, nothing written).
 */
int recv_inplace_write(struct recv_inplace *ip, struct recv_base *b, struct recv_fd *w,
		       const uint8_t *data, uint64_t offset, uint32_t len, uint64_t mask, uint64_t zeros);

/**
 * The new version is @p size bytes: truncate @p w to it (withdrawing the
 * record first if nothing was written yet). A block device (fixed) keeps
 * its size: what lies past @p size stays as it was. @return 0 or -errno.
 */
int recv_inplace_end(struct recv_inplace *ip, struct recv_base *b, struct recv_fd *w, uint64_t size);

#endif
