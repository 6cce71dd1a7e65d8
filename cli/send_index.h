/* `dwcp send`'s page index of a stream (common/fpindex.h): the previous
 * version's, read to find the pages that did not change ("kept": they
 * do not travel, common/ops/hde.h version 2), and this version's, written as the
 * pages are first read and put in place only once every chunk was
 * acknowledged (so it describes what the receiver has). The new index
 * holds each page's weak key (common/ops/weaksum.h) beside its XXH3-128,
 * for the next send to find pages that moved to unaligned offsets.
 *
 * Resuming: a send that fails after the receiver acknowledged a prefix
 * of the file (whatever ended it: a signal, the link, a timeout) puts
 * the new index of that prefix beside the index (NAME.resume), its digest
 * a token of the interrupted transfer (dwcp_digest_resume_token), and
 * keeps that file up to date as the send goes (checkpoints: a send killed
 * outright leaves the last one). The
 * next send of the stream to that peer compares its pages with that
 * prefix instead of the previous version: while the receiver still holds
 * the interrupted transfer's data (its `dwcp recv` kept running, or kept
 * it as a partial copy: cli/recv.c, cli/recv_partial.h) the unchanged
 * pages do not travel again. Pages past the prefix are compared with the
 * last whole version's index as usual, so resuming a resend loses no
 * delta. A receiver that does not hold the data refuses those pages, and
 * they travel (send.c's EKEPT redo). Any completed send removes the
 * resume index.
 *
 * Concurrency: one thread (the send's).
 */
#ifndef DWCP_CLI_SEND_INDEX_H
#define DWCP_CLI_SEND_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "common/fpindex.h"
#include "io_async.h"
#include "common/ops/weaksum.h"
#include "ipc/streams.h"

struct send_index {
	struct dwcp_fpindex old;   /* the last whole version's, or resuming, the interrupted
	                            * send's prefix; map NULL: nothing to keep from */
	struct dwcp_fpindex whole; /* resuming: the last whole version's, for the pages
	                            * past the prefix; map NULL: none */
	struct dwcp_fpindex_writer w;
	struct dwcp_fpindex_cp cp; /* the resume index as the send goes (checkpoints) */
	struct io_async cp_sync;   /* syncs each checkpoint off the send's thread */
	bool cp_sync_on;           /* cp_sync runs */
	bool writing;              /* w is open */
	bool keep;                 /* pages of old may be kept (delta on, receiver agrees) */
	bool keep_whole;           /* pages of whole may be kept */
	struct dwcp_weaksum_impl weak;   /* selected once at open */
	uint64_t kept_pages;
	uint64_t resumed_bytes;    /* old is an interrupted send's prefix of this many bytes */
	char path[PATH_MAX];
	char resume_path[PATH_MAX];   /* "": none can be kept */
};

/** The index directory of node config @p nc ("" = the built-in default). */
const char *send_index_dir(const struct dwcp_node_conf *nc);

/**
 * Open the previous index of (@p instance, @p stream, @p peer) and start
 * writing the new one. Failures only cost the saving (a warning on
 * stderr unless @p quiet): the send goes on, every page travelling.
 * @p keep false: nothing is kept (--no-delta, [stream] delta = false).
 */
void send_index_open(struct send_index *x, const struct dwcp_node_conf *nc, const char *instance,
		     const char *stream, const char *peer, bool keep, bool quiet);

/** Whether the new index is being written (send_index_pages wants keys). */
static inline bool send_index_writing(const struct send_index *x)
{
	return x->writing;
}

/**
 * The weak keys of the @p n pages of a chunk's @p len bytes at @p data
 * (n = ceil(len / 4096); a short last page zero-padded), for
 * send_index_pages. Reads only what send_index_open set: `dwcp send`'s
 * reader thread sums them while the send's thread goes on.
 */
void send_index_page_keys(const struct send_index *x, const uint8_t *data, uint32_t len, unsigned n,
			  uint32_t *keys);

/**
 * A chunk's first read: its @p n page hashes (common/digest.h) and weak
 * keys (send_index_page_keys; read only while send_index_writing) go into
 * the new index. @return the mask of its pages that equal the previous
 * version's at the same page numbers (0 when nothing may be kept; a chunk
 * must be page-aligned at @p offset and at most 64 pages).
 */
uint64_t send_index_pages(struct send_index *x, uint64_t offset, unsigned n,
			  const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH], const uint32_t *keys);

/**
 * As send_index_pages for a chunk read again (a redo): only the mask,
 * nothing added to the new index or counted.
 */
uint64_t send_index_kept(const struct send_index *x, uint64_t offset, unsigned n,
			 const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH]);

/**
 * The whole-file digest (or resume token) of the version the pages of a
 * chunk at @p offset are kept from; 0: none are. A resumed send keeps
 * pages of its prefix from the interrupted send's, the rest from the
 * last whole version's.
 */
uint64_t send_index_digest_at(const struct send_index *x, uint64_t offset);

/** Whether any page may be kept (a resend: there is a previous version). */
bool send_index_resend(const struct send_index *x);

/**
 * The receiver does not hold the version a chunk at @p offset kept pages
 * of: keep nothing more from that one.
 */
void send_index_stop_keeping_at(struct send_index *x, uint64_t offset);

/**
 * Every chunk was acknowledged: put the new index (@p size bytes,
 * @p digest) in place. A failure is a warning (the next send moves every
 * page). @return 0 or -errno.
 */
int send_index_commit(struct send_index *x, uint64_t size, uint64_t digest, bool quiet);

/**
 * The send failed with its first @p n_pages pages acknowledged: keep the
 * new index of them as the resume index, digest @p token
 * (dwcp_digest_resume_token of this transfer). Nothing without pages or
 * a new index. Failures are a warning (the next send resumes nothing).
 * @return true when saved.
 */
bool send_index_save_resume(struct send_index *x, uint64_t n_pages, uint64_t token, bool quiet);

/**
 * The receiver has acknowledged the first @p n_pages pages: bring the
 * resume index up to them (dwcp_fpindex_checkpoint), so that a send
 * killed outright (SIGKILL) still resumes from there, and sync it in a
 * thread of its own, so that one whose host crashed does too (once the
 * sync is done). Failures cost only the checkpoints (a warning unless
 * @p quiet).
 */
void send_index_checkpoint(struct send_index *x, uint64_t n_pages, uint64_t token, bool quiet);

/** Unmap the old index, drop an uncommitted new one. Idempotent. */
void send_index_close(struct send_index *x);

#endif
